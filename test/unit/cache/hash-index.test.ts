import { describe, expect, it } from 'vitest';
import { keyView } from '../../../src/cache/hash.ts';
import { HashIndex, maxHashPower } from '../../../src/cache/hash-index.ts';
import { B_NKEY, F_HNEXT, HEADER_BYTES } from '../../../src/cache/layout.ts';
import { newScalars } from '../../../src/cache/shared-scalars.ts';

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

describe('HashIndex growth', () => {
  /** n items with keys "key:<i>" in a fresh arena, 56 bytes apart; inserted one by one as the store would. */
  function filled(n: number, power: number, arenaBytes = 1 << 22) {
    const memory = new SharedArrayBuffer(arenaBytes);
    const bytes = Buffer.from(memory);
    const u32 = new Uint32Array(memory);
    const index = new HashIndex(bytes, u32, power);
    const handles: number[] = [];
    for (let i = 0; i < n; i++) {
      const h = 8 + i * 7;
      const key = Buffer.from(`key:${i}`);
      bytes[h * 8 + B_NKEY] = key.length;
      key.copy(bytes, h * 8 + HEADER_BYTES);
      index.insert(h, index.hashOf(h), i + 1);
      handles.push(h);
    }
    return { bytes, u32, index, handles };
  }

  it('doubles in place past 1.5 items per bucket, every item in the bucket its hash names, once', () => {
    const { bytes, u32, index, handles } = filled(20_000, 4);
    expect(index.power).toBe(14); // 20,000 / 1.5 > 2^13
    expect(index.expansions).toBe(10);
    expect(index.byteLength).toBe(4 * 2 ** 14);
    const seen = new Set<number>();
    for (let b = 0; b <= index.mask; b++) {
      for (let h = index.head(b); h !== 0; h = u32[h * 2 + F_HNEXT]) {
        expect(index.hashOf(h) & index.mask).toBe(b);
        expect(seen.has(h)).toBe(false);
        seen.add(h);
      }
    }
    expect(seen.size).toBe(handles.length);
    for (const h of handles) {
      const view = keyView(bytes);
      expect(index.findAt(view, h * 8 + HEADER_BYTES, bytes[h * 8 + B_NKEY], index.hashOf(h))).toBe(h);
    }
    for (const h of handles.filter((_, i) => i % 2 === 0)) index.remove(h, index.hashOf(h));
    const view = keyView(bytes);
    handles.forEach((h, i) => expect(index.findAt(view, h * 8 + HEADER_BYTES, bytes[h * 8 + B_NKEY], index.hashOf(h))).toBe(i % 2 ? h : 0));
  });

  it('stops at the largest table the arena can need', () => {
    // 1 MiB of slabs holds at most 1 MiB / 41 = 25,575 items: 2^15 buckets hold them at 1.5 or fewer each.
    expect(maxHashPower(1 << 20, 4)).toBe(15);
    expect(maxHashPower(1 << 20, 16)).toBe(16); // a larger -o hashpower is kept
    expect(maxHashPower(64 << 20, 16)).toBe(21);
    expect(maxHashPower(2 ** 40, 16)).toBe(31);
    const { index } = filled(60, 4, 1 << 12); // 4 KiB: 99 items at most, 2^7 buckets
    expect(index.power).toBe(6);
    index.insert(8 + 60 * 7, 0, 1_000_000); // a count past anything the arena holds
    expect(index.power).toBe(7);
    index.insert(8 + 61 * 7, 0, 1_000_000);
    expect([index.power, maxHashPower(1 << 12, 4)]).toEqual([7, 7]);
  });

  it('a second index on the same memory (another worker) follows the table as the first grows it, and grows it in turn', () => {
    const memory = new SharedArrayBuffer(1 << 22);
    const bytes = Buffer.from(memory);
    const u32 = new Uint32Array(memory);
    const scalars = newScalars();
    const a = new HashIndex(bytes, u32, 4, scalars);
    const b = new HashIndex(bytes, u32, 4, scalars, a.table);
    const view = keyView(bytes);
    const handles: number[] = [];
    const find = (index: HashIndex, h: number) => index.findAt(view, h * 8 + HEADER_BYTES, bytes[h * 8 + B_NKEY], index.hashOf(h));
    // each index in turn inserts a thousand items (growing the table the other last saw), then both find them all
    for (let i = 0; i < 8000; i++) {
      const h = 8 + i * 7;
      const key = Buffer.from(`key:${i}`);
      bytes[h * 8 + B_NKEY] = key.length;
      key.copy(bytes, h * 8 + HEADER_BYTES);
      const index = Math.floor(i / 1000) % 2 === 0 ? a : b;
      index.insert(h, index.hashOf(h), i + 1);
      handles.push(h);
    }
    expect(a.power).toBe(13);
    expect([a.expansions, b.byteLength]).toEqual([9, 4 * 2 ** 13]);
    for (const h of handles) expect([find(a, h), find(b, h)]).toEqual([h, h]);
    for (const h of handles.filter((_, i) => i % 2 === 0)) (h % 3 === 0 ? a : b).remove(h, a.hashOf(h));
    handles.forEach((h, i) => expect([find(a, h), find(b, h)]).toEqual(i % 2 ? [h, h] : [0, 0]));
  });
});
