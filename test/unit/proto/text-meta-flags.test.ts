import { describe, expect, it } from 'vitest';
import { decodeBase64Key, MetaCommandError, parseMetaFlags } from '../../../src/proto/text/meta-flags.ts';

function errorOf(flags: string[], key = 'k'): string {
  try {
    parseMetaFlags(key, flags);
  } catch (err) {
    if (err instanceof MetaCommandError) return err.reply.toString('latin1');
    throw err;
  }
  return 'no error';
}

describe('decodeBase64Key (memcached base64_decode)', () => {
  it('decodes what Node encodes', () => {
    for (const s of ['a', 'ab', 'abc', 'key:1', '\x00\xff binary']) {
      const b = Buffer.from(s, 'latin1');
      expect(decodeBase64Key(b.toString('base64'))).toEqual(b);
    }
  });

  it('skips characters outside the alphabet and stops after padding', () => {
    expect(decodeBase64Key('Y!Q==')).toEqual(Buffer.from('a'));
    expect(decodeBase64Key('YQ==YWJj')).toEqual(Buffer.from('a'));
  });

  it('fails where memcached returns 0', () => {
    expect(decodeBase64Key('YQ')).toBeNull(); // not a multiple of four
    expect(decodeBase64Key('!!')).toBeNull(); // nothing to decode
    expect(decodeBase64Key('Y===')).toBeNull(); // three pad characters
    expect(decodeBase64Key('====')).toBeNull();
  });
});

describe('parseMetaFlags (memcached _meta_flag_preparse)', () => {
  it('reads every flag into its field', () => {
    const f = parseMetaFlags('YWJj', ['b', 'T30', 'N5', 'R10', 'F7', 'C99', 'J3', 'D4', 'MD', 'q', 'v', 'u', 'I', 'O1', 'k']);
    expect(f.key).toEqual(Buffer.from('abc'));
    expect(f).toMatchObject({
      keyBinary: true, newTtl: true, exptime: 30, vivify: true, autovivExptime: 5, recacheTime: 10, clientFlags: 7,
      hasCas: true, reqCas: 99n, initial: 3n, delta: 4n, mode: 'D', noReply: true, value: true, noUpdate: true, setStale: true,
    });
    expect(f.tokens).toContain('O1');
  });

  it('defaults: delta 1, initial 0, no mode', () => {
    expect(parseMetaFlags('k', [])).toMatchObject({ delta: 1n, initial: 0n, mode: '', hasCas: false, key: Buffer.from('k') });
  });

  it('a repeated or unknown flag stops at once, over an earlier bad value', () => {
    expect(errorOf(['T1a', 'T2'])).toBe('CLIENT_ERROR duplicate flag\r\n');
    expect(errorOf(['T1a', 'x', 'D1a'])).toBe('CLIENT_ERROR invalid flag\r\n');
    expect(errorOf(['\x80'])).toBe('CLIENT_ERROR duplicate flag\r\n');
  });

  it('a bad value is remembered and the last one found is reported', () => {
    expect(errorOf(['T1a', 'D1a'])).toBe('CLIENT_ERROR invalid numeric delta value\r\n');
    expect(errorOf(['D1a', 'T1a'])).toBe('CLIENT_ERROR bad token in command line format\r\n');
    expect(errorOf(['J-1'])).toBe('CLIENT_ERROR invalid numeric initial value\r\n');
    expect(errorOf(['MDD'])).toBe('CLIENT_ERROR incorrect length for M token\r\n');
    expect(errorOf(['b'], 'YQ')).toBe('CLIENT_ERROR error decoding key\r\n');
  });

  it('a bad F sets no error of its own', () => {
    expect(errorOf(['F1a'])).toBe('CLIENT_ERROR bad command line format\r\n');
    expect(errorOf(['T1a', 'F1a'])).toBe('CLIENT_ERROR bad token in command line format\r\n');
    expect(errorOf(['F1a', 'C-'])).toBe('CLIENT_ERROR bad token in command line format\r\n');
  });
});
