import { hotWords, newScalars, S_HASH_EXPANSIONS, S_HASH_MASK, S_HASH_POWER, W_HASH_MASK } from './shared-scalars.ts';
import { keyView, murmur3 } from './hash.ts';
import { B_NKEY, F_HNEXT, HEADER_BYTES } from './layout.ts';

const MAX_POWER = 31;

/** Item keys start 4-byte aligned in the slabs (HEADER_BYTES is a multiple of 4): this u32 field of the item. */
const KEY_WORD = HEADER_BYTES / 4;
/** Typed arrays use the platform's byte order; keys are compared as 32-bit words read that way. */
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/**
 * The largest table items in `arenaBytes` of slabs can need: every item takes at least HEADER_BYTES + 1 bytes, and
 * the table doubles only past 1.5 items per bucket.
 */
export function maxHashPower(arenaBytes: number, initialPower: number): number {
  const maxItems = Math.floor(arenaBytes / (HEADER_BYTES + 1));
  const needed = Math.max(0, Math.ceil(Math.log2(Math.max(1, maxItems / 1.5))));
  return Math.min(MAX_POWER, Math.max(initialPower, needed));
}

/**
 * memcached's assoc.c: a power-of-two array of bucket heads (u32 item handles
 * in a SharedArrayBuffer), chained through each item's hash-next field, keyed
 * by murmur3 of the key bytes. Doubles, all at once, when items exceed 1.5 per
 * bucket. Worker threads would lock a bucket stripe (Atomics) around
 * find/insert/remove and take a global lock to expand.
 *
 * The buffer is growable up to the largest table the slabs can need (address space only; pages are touched as the
 * table grows), and doubles in place: bucket b's chain splits between b and b + the old size. So no old table is
 * left for the garbage collector to free, which at -m 1024 was up to 32 MB of resident memory until a full GC.
 */
export class HashIndex {
  readonly #bytes: Buffer;
  readonly #view: DataView;
  readonly #u32: Uint32Array;
  /**
   * The table as far as this thread last saw it: a fixed-length view, made again when the mask shows the table
   * grew (here or in another worker). A length-tracking view of a growable buffer would follow it by itself, but
   * V8 reads its length with a runtime call on every access (about 20 ns against 3).
   */
  #buckets: Uint32Array;
  readonly #table: SharedArrayBuffer;
  readonly #maxPower: number;
  /** The store's shared scalars: mask, power and expansions of the table. */
  readonly #s: Float64Array;
  /** The mask again, as u32 (read on every lookup). */
  readonly #w: Uint32Array;

  /** table: another thread's table to attach to (its size is in scalars), else a new one. */
  constructor(bytes: Buffer, u32: Uint32Array, power: number, scalars: Float64Array = newScalars(), table?: SharedArrayBuffer) {
    this.#bytes = bytes;
    this.#view = keyView(bytes);
    this.#u32 = u32;
    this.#s = scalars;
    this.#w = hotWords(scalars);
    const initial = Math.min(power, MAX_POWER);
    this.#maxPower = maxHashPower(bytes.length, initial);
    if (table === undefined) {
      this.#table = new SharedArrayBuffer(4 * 2 ** initial, { maxByteLength: 4 * 2 ** this.#maxPower });
      scalars[S_HASH_POWER] = initial;
      scalars[S_HASH_MASK] = this.#w[W_HASH_MASK] = 2 ** initial - 1;
    } else {
      this.#table = table;
    }
    this.#buckets = new Uint32Array(this.#table, 0, this.#w[W_HASH_MASK] + 1);
  }

  /** The view of the table, made again if the table grew since this thread made it. */
  #current(): Uint32Array {
    const mask = this.#w[W_HASH_MASK];
    const buckets = this.#buckets;
    return mask < buckets.length ? buckets : (this.#buckets = new Uint32Array(this.#table, 0, mask + 1));
  }

  get table(): SharedArrayBuffer {
    return this.#table;
  }

  get power(): number {
    return this.#s[S_HASH_POWER];
  }

  get mask(): number {
    return this.#s[S_HASH_MASK];
  }

  get byteLength(): number {
    return this.#table.byteLength;
  }

  get expansions(): number {
    return this.#s[S_HASH_EXPANSIONS];
  }

  /** First item of bucket `i` (0 = empty); follow F_HNEXT for the rest. */
  head(i: number): number {
    return this.#current()[i];
  }

  /** The item whose key is at [from, from + n) of src (see keyView()) and hashes to hv; 0 when none. */
  findAt(src: DataView, from: number, n: number, hv: number): number {
    const bytes = this.#bytes;
    let h = this.#current()[hv & this.#w[W_HASH_MASK]];
    while (h !== 0) {
      if (bytes[h * 8 + B_NKEY] === n && this.#keyIs(h, src, from, n)) return h;
      h = this.#u32[h * 2 + F_HNEXT];
    }
    return 0;
  }

  /** Whether item h's key is src's [from, from + n), compared a word at a time: a byte loop costs 2-3x more. */
  #keyIs(h: number, src: DataView, from: number, n: number): boolean {
    const u32 = this.#u32;
    const first = h * 2 + KEY_WORD;
    const words = n >>> 2;
    for (let j = 0; j < words; j++) {
      if ((u32[first + j] | 0) !== src.getInt32(from + 4 * j, LITTLE_ENDIAN)) return false;
    }
    const bytes = this.#bytes;
    const start = h * 8 + HEADER_BYTES;
    for (let i = words * 4; i < n; i++) if (bytes[start + i] !== src.getUint8(from + i)) return false;
    return true;
  }

  /** Links item h; `count` is the number of items afterwards, to decide on growth. */
  insert(h: number, hv: number, count: number): void {
    const buckets = this.#current();
    const bucket = hv & this.#w[W_HASH_MASK];
    this.#u32[h * 2 + F_HNEXT] = buckets[bucket];
    buckets[bucket] = h;
    if (count > (this.#s[S_HASH_MASK] + 1) * 1.5 && this.#s[S_HASH_POWER] < this.#maxPower) this.#expand();
  }

  remove(h: number, hv: number): void {
    const u32 = this.#u32;
    const buckets = this.#current();
    const bucket = hv & this.#w[W_HASH_MASK];
    let cur = buckets[bucket];
    if (cur === h) {
      buckets[bucket] = u32[h * 2 + F_HNEXT];
      return;
    }
    while (cur !== 0 && u32[cur * 2 + F_HNEXT] !== h) cur = u32[cur * 2 + F_HNEXT];
    if (cur !== 0) u32[cur * 2 + F_HNEXT] = u32[h * 2 + F_HNEXT];
  }

  /** Hash of the key stored in item h. */
  hashOf(h: number): number {
    return murmur3(this.#view, h * 8 + HEADER_BYTES, this.#bytes[h * 8 + B_NKEY]);
  }

  #expand(): void {
    const half = this.#s[S_HASH_MASK] + 1;
    this.#table.grow(8 * half); // the new upper half reads 0: empty buckets
    const buckets = (this.#buckets = new Uint32Array(this.#table, 0, 2 * half));
    const u32 = this.#u32;
    for (let b = 0; b < half; b++) {
      let low = 0;
      let high = 0;
      for (let h = buckets[b]; h !== 0; ) {
        const next = u32[h * 2 + F_HNEXT];
        if ((this.hashOf(h) & half) === 0) {
          u32[h * 2 + F_HNEXT] = low;
          low = h;
        } else {
          u32[h * 2 + F_HNEXT] = high;
          high = h;
        }
        h = next;
      }
      buckets[b] = low;
      buckets[b + half] = high;
    }
    this.#s[S_HASH_MASK] = this.#w[W_HASH_MASK] = 2 * half - 1;
    this.#s[S_HASH_POWER]++;
    this.#s[S_HASH_EXPANSIONS]++;
  }
}

/**
 * Next bucket of a reverse-binary scan (as in Redis' SCAN): incrementing the
 * reversed cursor visits buckets so that a table that doubles between calls
 * neither skips nor repeats the items already there. 0 = wrapped around.
 */
export function nextScanCursor(v: number, mask: number): number {
  v = (v | ~mask) >>> 0;
  v = reverseBits(v);
  v = (v + 1) >>> 0;
  return reverseBits(v);
}

function reverseBits(v: number): number {
  v = ((v >>> 1) & 0x55555555) | ((v & 0x55555555) << 1);
  v = ((v >>> 2) & 0x33333333) | ((v & 0x33333333) << 2);
  v = ((v >>> 4) & 0x0f0f0f0f) | ((v & 0x0f0f0f0f) << 4);
  v = ((v >>> 8) & 0x00ff00ff) | ((v & 0x00ff00ff) << 8);
  return ((v >>> 16) | (v << 16)) >>> 0;
}
