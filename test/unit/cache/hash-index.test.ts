import { describe, expect, it } from 'vitest';
import { keyView } from '../../../src/cache/hash.ts';
import { HashIndex } from '../../../src/cache/hash-index.ts';
import { B_NKEY, HEADER_BYTES } from '../../../src/cache/layout.ts';

describe('HashIndex.findAt', () => {
  it('finds each of many same-length keys in one chain, from any offset, and nothing for a key one byte off', () => {
    const memory = new SharedArrayBuffer(1 << 20);
    const bytes = Buffer.from(memory);
    const index = new HashIndex(bytes, new Uint32Array(memory), 4);
    const hv = 7; // every item in the same bucket, so each lookup compares keys
    for (const n of [1, 3, 4, 5, 8, 13, 64, 250]) {
      const base = Buffer.from(Array.from({ length: n }, (_, i) => 0x61 + (i % 26)));
      // one key per byte position, differing from `base` only there; handles 8-byte units apart
      const keys = Array.from({ length: n }, (_, pos) => {
        const key = Buffer.from(base);
        key[pos] ^= 0x20;
        return key;
      });
      const handles = keys.map((key, i) => {
        const h = 64 + i * 40;
        bytes[h * 8 + B_NKEY] = n;
        key.copy(bytes, h * 8 + HEADER_BYTES);
        index.insert(h, hv, 1);
        return h;
      });
      for (const offset of [0, 1, 2, 3]) {
        const src = Buffer.alloc(n + 8, 0x2e);
        keys.forEach((key, i) => {
          key.copy(src, offset);
          expect(index.findAt(keyView(src), offset, n, hv), `n=${n} pos=${i} offset=${offset}`).toBe(handles[i]);
        });
        base.copy(src, offset);
        expect(index.findAt(keyView(src), offset, n, hv), `base n=${n} offset=${offset}`).toBe(0);
      }
      for (const h of handles) index.remove(h, hv);
    }
  });
});
