import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AuthFileError, loadAuthFile, parseAuthFile } from '../../../src/server/auth-file.ts';

const b = (s: string) => Buffer.from(s, 'latin1');

describe('parseAuthFile', () => {
  it('reads user:password lines; the password runs to the end of the line and may hold colons', () => {
    const c = parseAuthFile('alice:secret\nbob:pa:ss\r\ncarol:x\n', 'auth');
    expect(c.size).toBe(3);
    expect(c.check(b('alice'), b('secret'))).toBe(true);
    expect(c.check(b('bob'), b('pa:ss'))).toBe(true);
    expect(c.check(b('carol'), b('x'))).toBe(true);
    // a last line without a newline keeps its last character (memcached's fgets loses it)
    expect(parseAuthFile('dave:pw', 'auth').check(b('dave'), b('pw'))).toBe(true);
  });

  it('refuses wrong users, wrong passwords, and one user with another one\'s password', () => {
    const c = parseAuthFile('alice:secret\nbob:other\n', 'auth');
    expect(c.check(b('alice'), b('secreT'))).toBe(false);
    expect(c.check(b('alice'), b('secret '))).toBe(false);
    expect(c.check(b('alice'), b('other'))).toBe(false);
    expect(c.check(b('bob'), b('secret'))).toBe(false);
    expect(c.check(b('mallory'), b('secret'))).toBe(false);
    expect(c.check(b(''), b(''))).toBe(false);
  });

  it.each([
    ['', 'auth: no user:password entries'],
    ['\n', 'auth:1: empty line; every line must be user:password'],
    ['alice:secret\n\nbob:x\n', 'auth:2: empty line; every line must be user:password'],
    ['alice:secret\nnocolon\n', "auth:2: malformed entry, should be 'user:password'"],
    [':secret\n', 'auth:1: empty user name'],
    ['alice:\n', "auth:1: empty password for user 'alice'"],
    ['alice:two words\n', 'auth:1: a user name or password cannot contain a space, a NUL or a CR'],
    ['al ice:x\n', 'auth:1: a user name or password cannot contain a space, a NUL or a CR'],
    ['alice:x\0y\n', 'auth:1: a user name or password cannot contain a space, a NUL or a CR'],
  ])('%j is an error naming the line', (text, message) => {
    expect(() => parseAuthFile(text, 'auth')).toThrow(new AuthFileError(message));
  });
});

describe('loadAuthFile', () => {
  const dir = mkdtempSync(join(tmpdir(), 'authfile-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads a file', () => {
    const f = join(dir, 'ok');
    writeFileSync(f, 'alice:secret\n');
    expect(loadAuthFile(f).check(b('alice'), b('secret'))).toBe(true);
  });

  it('a missing file is memcached\'s message', () => {
    expect(() => loadAuthFile(join(dir, 'none'))).toThrow(`Could not open authfile [${join(dir, 'none')}] for reading: No such file or directory`);
  });

  it('an unreadable file', () => {
    const f = join(dir, 'locked');
    writeFileSync(f, 'alice:secret\n');
    chmodSync(f, 0);
    // root reads anything: then the file simply loads
    if (process.getuid?.() === 0) expect(loadAuthFile(f).size).toBe(1);
    else expect(() => loadAuthFile(f)).toThrow(/Permission denied/);
  });

  it('a directory', () => {
    expect(() => loadAuthFile(dir)).toThrow(AuthFileError);
  });
});
