import { describe, expect, it } from 'vitest';
import { copyIntoSlab } from '../../../src/cache/copy-in.ts';

describe('copyIntoSlab', () => {
  it('copies short and long ranges, whole sources and parts, into shared memory without touching its neighbours', () => {
    const slab = Buffer.from(new SharedArrayBuffer(4096));
    for (const n of [0, 1, 31, 32, 33, 1000]) {
      const bytes = Buffer.from(Array.from({ length: n + 10 }, (_, i) => (i * 7 + n) & 0xff));
      for (const [start, end] of [[0, n], [5, 5 + n], [10, 10 + n]]) {
        const src = start === 0 ? bytes.subarray(0, n) : bytes;
        slab.fill(0xee);
        copyIntoSlab(src, start, end, slab, 101);
        expect(slab.subarray(101, 101 + n).equals(src.subarray(start, end)), `${n} ${start}`).toBe(true);
        expect(slab[100]).toBe(0xee);
        expect(slab[101 + n]).toBe(0xee);
      }
    }
  });
});
