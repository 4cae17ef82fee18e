import { describe, expect, it } from 'vitest';
import { keyEnd, keysFit, keyViews, nextKey } from '../../../src/proto/text/key-list.ts';

const b = (s: string) => Buffer.from(s, 'latin1');
const keysOf = (s: string) => keyViews(b(s), 0, s.length).map((k) => k.toString('latin1'));

describe('the keys of a multiget line', () => {
  it('are the words between spaces, any number of spaces', () => {
    expect(keysOf('a  bb ccc')).toEqual(['a', 'bb', 'ccc']);
    expect(keysOf('  a ')).toEqual(['a']);
    expect(keysOf('')).toEqual([]);
    expect(keysOf('a\tb\rc')).toEqual(['a\tb\rc']);
  });

  it('end at a NUL byte, as memcached reads the line as a C string', () => {
    expect(keysOf('a b\0c d')).toEqual(['a', 'b']);
    expect(keysOf('a \0 c')).toEqual(['a']);
  });

  it('are walked with nextKey/keyEnd', () => {
    const line = b(' x yy ');
    const k = nextKey(line, 0, line.length);
    expect([k, keyEnd(line, k, line.length)]).toEqual([1, 2]);
    expect(nextKey(line, 5, line.length)).toBe(line.length);
  });

  it('fit when none is longer than 250 bytes (after a NUL nothing counts)', () => {
    expect(keysFit(b(`a ${'k'.repeat(250)} b`), 0, 256)).toBe(true);
    const long = `a ${'k'.repeat(251)} b`;
    expect(keysFit(b(long), 0, long.length)).toBe(false);
    const hidden = `a\0${'k'.repeat(300)}`;
    expect(keysFit(b(hidden), 0, hidden.length)).toBe(true);
  });
});
