import { describe, expect, it } from 'vitest';
import { CacheClock } from '../../../src/clock.ts';
import { FakeCacheTime, FakeClock } from '../../support/fake-clock.ts';
import { relativeExptime } from '../../../src/cache/exptime.ts';
import { keyView, murmur3 } from '../../../src/cache/hash.ts';
import { memcachedItemTotal } from '../../../src/cache/layout.ts';
import { parseU64 } from '../../../src/cache/numeric.ts';
import { computeSlabClassSizes, SlabConfigError } from '../../../src/cache/slab-classes.ts';

// memcached 1.6.18 -vv with default flags.
const MEMCACHED_DEFAULT_CLASSES = [
  96, 120, 152, 192, 240, 304, 384, 480, 600, 752, 944, 1184, 1480, 1856, 2320, 2904, 3632, 4544, 5680, 7104, 8880,
  11104, 13880, 17352, 21696, 27120, 33904, 42384, 52984, 66232, 82792, 103496, 129376, 161720, 202152, 252696,
  315872, 394840, 524288,
];

describe('slab classes', () => {
  it('match memcached for the default flags', () => {
    expect(computeSlabClassSizes(48, 48, 1.25, 512 * 1024, 1024 * 1024).slice(1)).toEqual(MEMCACHED_DEFAULT_CLASSES);
  });

  it('follow -n, -f and slab_chunk_max', () => {
    const sizes = computeSlabClassSizes(48, 100, 2, 16 * 1024, 1024 * 1024).slice(1);
    expect(sizes).toEqual([152, 304, 608, 1216, 2432, 4864, 16384]);
    expect(computeSlabClassSizes(48, 48, 1.25, 512 * 1024, 1024 * 1024).length).toBe(40);
  });

  it('reject impossible settings', () => {
    expect(() => computeSlabClassSizes(48, 48, 1, 512 * 1024, 1024 * 1024)).toThrow(SlabConfigError);
    expect(() => computeSlabClassSizes(48, 0, 1.25, 512 * 1024, 1024 * 1024)).toThrow(/chunk size/);
    expect(() => computeSlabClassSizes(48, 48, 1.25, 2048 * 1024, 1024 * 1024)).toThrow(/slab_chunk_max/);
  });
});

describe('murmur3', () => {
  it('matches the reference vectors', () => {
    const h = (s: string, seed = 0) => murmur3(keyView(Buffer.from(s)), 0, Buffer.byteLength(s), seed);
    expect(h('')).toBe(0);
    expect(h('', 1)).toBe(0x514e28b7);
    expect(h('hello')).toBe(0x248bfa47);
    expect(h('The quick brown fox jumps over the lazy dog')).toBe(0x2e4ff723);
  });

  it('hashes a slice of a larger buffer', () => {
    const buf = Buffer.from('xxhelloyy');
    expect(murmur3(keyView(buf), 2, 5)).toBe(murmur3(keyView(Buffer.from('hello')), 0, 5));
  });

  it('hashes a Buffer at any offset into its memory, any start and any length like memcached (little-endian words)', () => {
    // memcached's MurmurHash3_x86_32 on x86, spelled out byte by byte
    const reference = (b: Uint8Array): number => {
      let h = 0;
      const rounds = b.length >>> 2;
      const mix = (k: number) => {
        const m = Math.imul(k, 0xcc9e2d51);
        return Math.imul((m << 15) | (m >>> 17), 0x1b873593);
      };
      for (let i = 0; i < rounds; i++) {
        h ^= mix(b[4 * i] | (b[4 * i + 1] << 8) | (b[4 * i + 2] << 16) | (b[4 * i + 3] << 24));
        h = (Math.imul((h << 13) | (h >>> 19), 5) + 0xe6546b64) | 0;
      }
      let k = 0;
      for (let i = b.length - 1; i >= rounds * 4; i--) k = (k << 8) | b[i];
      if ((b.length & 3) !== 0) h ^= mix(k);
      h ^= b.length;
      h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
      h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
      return (h ^ (h >>> 16)) >>> 0;
    };
    const text = Buffer.from('0123456789abcdefghijklmnopqrstuvwxyz\x80\xff\x00'.repeat(3), 'latin1');
    for (const offset of [0, 1, 3]) {
      const bytes = Buffer.alloc(text.length + offset).subarray(offset);
      text.copy(bytes);
      const view = keyView(bytes);
      for (let start = 0; start < 8; start++) {
        for (let len = 0; len <= 70; len++) {
          expect(murmur3(view, start, len), `offset ${offset} start ${start} len ${len}`).toBe(reference(bytes.subarray(start, start + len)));
        }
      }
    }
  });
});

describe('memcached item size (ITEM_ntotal)', () => {
  it('matches observed memcached sizes', () => {
    expect(memcachedItemTotal(3, 5, 0, true)).toBe(67);
    expect(memcachedItemTotal(3, 5, 0, false)).toBe(59);
    expect(memcachedItemTotal(1, 1, 7, true)).toBe(65); // observed: set b 7 0 1
    expect(memcachedItemTotal(2, 2, 5, true)).toBe(67);
  });
});

describe('exptime rules', () => {
  const time = new FakeCacheTime(1_700_000_000);
  time.set(100);
  const clock = time.clock;
  it('0 never expires', () => expect(relativeExptime(0, clock)).toBe(0));
  it('up to 30 days is relative', () => {
    expect(relativeExptime(10, clock)).toBe(110);
    expect(relativeExptime(2592000, clock)).toBe(2592100);
  });
  it('beyond 30 days is absolute unix time', () => {
    expect(relativeExptime(2592001, clock)).toBe(1);
    expect(relativeExptime(1_700_000_000, clock)).toBe(1);
    expect(relativeExptime(1_700_000_500, clock)).toBe(500);
  });
  it('negative is expired at once', () => expect(relativeExptime(-1, clock)).toBe(1));
  it('clamps to the u32 the item header stores', () => expect(relativeExptime(2 ** 40, clock)).toBe(2 ** 32 - 1));
});

describe('CacheClock', () => {
  it('starts at 62 seconds like memcached, and counts whole seconds of its clock when ticked', () => {
    const ms = new FakeClock(5000);
    const c = new CacheClock(ms, 1_700_000_000_500);
    expect(c.now()).toBe(62);
    expect(c.started).toBe(1_700_000_000 - 62);
    ms.advance(999);
    expect(c.tick()).toBe(62);
    ms.advance(1);
    expect(c.now()).toBe(62); // cached until the next tick
    expect(c.tick()).toBe(63);
  });
});

describe('parseU64 (safe_strtoull)', () => {
  const p = (s: string) => parseU64(Buffer.from(s), 0, Buffer.byteLength(s));
  it('parses numbers with whitespace around', () => {
    expect(p('0')).toBe(0n);
    expect(p('42')).toBe(42n);
    expect(p('99 ')).toBe(99n);
    expect(p('  7')).toBe(7n);
    expect(p('+5')).toBe(5n);
    expect(p('5 junk')).toBe(5n);
    expect(p('18446744073709551615')).toBe(18446744073709551615n);
    expect(p('123456789012345678')).toBe(123456789012345678n);
  });
  it('rejects what memcached rejects', () => {
    for (const bad of ['', ' ', 'abc', '12abc', '18446744073709551616', '-1', '-5', '1.5']) expect(p(bad)).toBe(-1n);
    expect(p('-0')).toBe(0n);
  });
});
