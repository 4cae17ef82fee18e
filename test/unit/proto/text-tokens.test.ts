import { describe, expect, it } from 'vitest';
import { MAX_TOKENS, NO_LF, Tokens, UNSURE } from '../../../src/proto/text/tokens.ts';
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

describe('Tokens.splitLine', () => {
  it('finds the \\n and splits the line before it as split() does, or says it cannot', () => {
    const r = rng(0x11fe);
    const alphabet = [0x20, 0x20, 0x20, 0x0a, 0x00, 0x09, 0x0d, 0x0d, 0x1f, 0x21, 0x61, 0x7f, 0xff];
    const t = new Tokens();
    const seen = { lines: 0, noLf: 0, unsure: 0 };
    for (let round = 0; round < 30_000; round++) {
      const pick = () => alphabet[Math.floor(r() * alphabet.length)];
      const bytes = round % 3 === 0
        ? Array.from({ length: 20 + Math.floor(r() * 11) }, () => [...Array.from({ length: 1 + Math.floor(r() * 2) }, pick), 0x20]).flat()
        : Array.from({ length: Math.floor(r() * 40) }, pick);
      if (round % 2 === 0) bytes.push(...(r() < 0.5 ? [0x0d, 0x0a] : [0x0a]));
      const s = Math.floor(r() * 3);
      const b = Buffer.from([...Array.from({ length: s }, () => 0x0a), ...bytes, 0x0a]);
      const e = s + bytes.length;
      const found = b.indexOf(0x0a, s);
      const nl = found < e ? found : NO_LF;
      const got = t.splitLine(b, s, e);
      if (got === UNSURE) {
        // only a NUL or the word limit may stop it before the end of the line
        const line = b.subarray(s, nl === NO_LF ? e : nl);
        expect(line.includes(0) || reference(b, s, s + line.length).words.length >= MAX_TOKENS - 1, JSON.stringify([...line])).toBe(true);
        seen.unsure++;
        continue;
      }
      expect(got, JSON.stringify([...b.subarray(s, e)])).toBe(nl);
      if (got === NO_LF) {
        seen.noLf++;
        continue;
      }
      const le = nl - s > 1 && b[nl - 1] === 0x0d ? nl - 1 : nl;
      const want = reference(b, s, le);
      const words = Array.from({ length: t.count }, (_, k): [number, number] => [t.start[k], t.end[k]]);
      expect({ line: [...b.subarray(s, nl)], words, truncated: t.truncated }).toEqual({ line: [...b.subarray(s, nl)], words: want.words, truncated: false });
      seen.lines++;
    }
    // every outcome is exercised
    expect(Math.min(seen.lines, seen.noLf, seen.unsure)).toBeGreaterThan(1000);
  });
});
