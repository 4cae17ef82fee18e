import { describe, expect, it } from 'vitest';
import { MAX_TOKENS, Tokens } from '../../../src/proto/text/tokens.ts';
import { rng } from './text-fixtures.ts';

/** memcached's tokenize_command, transcribed byte by byte: the reference for Tokens.split. */
function reference(b: Buffer, s: number, e: number): { words: [number, number][]; truncated: boolean } {
  const words: [number, number][] = [];
  let from = s;
  let i = s;
  for (; i < e; i++) {
    if (b[i] === 0x20) {
      if (from !== i) {
        words.push([from, i]);
        if (words.length === MAX_TOKENS - 1) return { words, truncated: i + 1 < e && b[i + 1] !== 0 };
      }
      from = i + 1;
    } else if (b[i] === 0) {
      break;
    }
  }
  if (from !== i) words.push([from, i]);
  return { words, truncated: false };
}

describe('Tokens.split', () => {
  it('splits like memcached: spaces only, NUL ends the line, 23 words at most', () => {
    const r = rng(0x70c5);
    const alphabet = [0x20, 0x20, 0x20, 0x00, 0x09, 0x0d, 0x1f, 0x21, 0x61, 0x7f, 0xff];
    const t = new Tokens();
    for (let round = 0; round < 20_000; round++) {
      const pick = () => alphabet[Math.floor(r() * alphabet.length)];
      // every other line has 20-30 short words, around memcached's limit of 23
      const bytes = round % 2 === 0
        ? Array.from({ length: Math.floor(r() * 90) }, pick)
        : Array.from({ length: 20 + Math.floor(r() * 11) }, () => [...Array.from({ length: 1 + Math.floor(r() * 2) }, pick), 0x20]).flat();
      const s = Math.floor(r() * 3);
      const b = Buffer.from([...Array.from({ length: s }, pick), ...bytes, pick(), pick()]);
      const e = s + bytes.length;
      const want = reference(b, s, e);
      const n = t.split(b, s, e);
      const got = Array.from({ length: n }, (_, k): [number, number] => [t.start[k], t.end[k]]);
      if (JSON.stringify([got, t.truncated]) !== JSON.stringify([want.words, want.truncated])) {
        expect({ line: [...b.subarray(s, e)], got, truncated: t.truncated }).toEqual({ line: [...b.subarray(s, e)], got: want.words, truncated: want.truncated });
      }
      expect(t.count).toBe(n);
    }
  });
});
