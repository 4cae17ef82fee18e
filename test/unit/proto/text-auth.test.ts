import { describe, expect, it } from 'vitest';
import { AsciiAuthReader, AuthReplies, MAX_DATA, MAX_LINE, type AuthStep } from '../../../src/proto/text/auth.ts';

/** Every step the reader gives for `input`, pushed in pieces of `piece` bytes, and what is left after. */
function steps(input: string, piece = input.length || 1): { steps: Array<string>; rest: string } {
  const r = new AsciiAuthReader();
  const out: string[] = [];
  const bytes = Buffer.from(input, 'latin1');
  for (let i = 0; i < bytes.length; i += piece) {
    r.push(bytes.subarray(i, i + piece));
    for (let s: AuthStep | null = r.take(); s !== null; s = r.take()) {
      out.push(show(s));
      if (s.kind === 'credentials' || s.kind === 'close' || s.kind === 'too_long') return { steps: out, rest: r.rest().toString('latin1') + bytes.subarray(i + piece).toString('latin1') };
    }
  }
  return { steps: out, rest: r.rest().toString('latin1') };
}

function show(s: AuthStep): string {
  switch (s.kind) {
    case 'reply': return s.reply.toString('latin1').trimEnd();
    case 'credentials': return `credentials ${s.user.toString('latin1')}/${s.pass.toString('latin1')}`;
    case 'too_long': return `too_long ${s.length}`;
    case 'close': return 'close';
  }
}

describe('AsciiAuthReader (memcached -Y)', () => {
  it.each([1, 3, 1000])('reads "set <key> <flags> <exptime> <bytes>" and "user pass" in pieces of %i bytes', (piece) => {
    expect(steps('set x 0 0 12\r\nalice secret\r\nget a\r\n', piece)).toEqual({ steps: ['credentials alice/secret'], rest: 'get a\r\n' });
  });

  it('answers anything else "CLIENT_ERROR unauthenticated", line by line', () => {
    expect(steps('get foo\r\nversion\r\nSET x 0 0 1\r\nset x 0 0\r\nset x 0 0 -1\r\nset x 0 0 1a\r\n').steps).toEqual(Array(6).fill('CLIENT_ERROR unauthenticated'));
  });

  it('accepts what memcached\'s tokenizer accepts: extra tokens, runs of spaces, a bare \\n, +N', () => {
    expect(steps('set x 0 0 12 noreply\r\nalice secret\r\n').steps).toEqual(['credentials alice/secret']);
    expect(steps('  set  x 0 0   12\nalice secret\r\n').steps).toEqual(['credentials alice/secret']);
    expect(steps('set x 0 0 +13\r\nalice  secret\r\n').steps).toEqual(['credentials alice/secret']);
    expect(steps('set x 0 0 17\r\nalice secret more\r\n').steps).toEqual(['credentials alice/secret']);
  });

  it('a data block without \\r\\n at its end, and one without two tokens', () => {
    expect(steps('set x 0 0 12\r\nalice secretXXset x 0 0 5\r\nalice\r\n').steps)
      .toEqual(['CLIENT_ERROR bad command line termination', 'CLIENT_ERROR bad authentication token format']);
    expect(steps('set x 0 0 12\r\nalice:secret\r\n').steps).toEqual(['CLIENT_ERROR bad authentication token format']);
  });

  it('pending: the bytes held', () => {
    const r = new AsciiAuthReader();
    r.push(Buffer.from('set x 0 0 12\r\nali'));
    expect(r.take()).toBeNull();
    expect(r.pending).toBe(3);
  });

  it('a line longer than MAX_LINE without a newline closes', () => {
    expect(steps('x'.repeat(MAX_LINE)).steps).toEqual([]);
    expect(steps('x'.repeat(MAX_LINE + 1)).steps).toEqual(['close']);
  });

  it('a data block longer than MAX_DATA is refused before it is read', () => {
    expect(steps(`set x 0 0 ${MAX_DATA + 1}\r\n`).steps).toEqual([`too_long ${MAX_DATA + 1}`]);
    expect(steps('set x 0 0 4294967295\r\n').steps).toEqual(['too_long 4294967295']);
    expect(steps('set x 0 0 4294967296\r\n').steps).toEqual(['CLIENT_ERROR unauthenticated']);
  });

  it('the replies are memcached\'s strings', () => {
    expect(Object.values(AuthReplies).map((r) => r.toString('latin1'))).toEqual([
      'CLIENT_ERROR unauthenticated\r\n', 'CLIENT_ERROR authentication failure\r\n',
      'CLIENT_ERROR bad command line termination\r\n', 'CLIENT_ERROR bad authentication token format\r\n', 'STORED\r\n',
    ]);
  });
});
