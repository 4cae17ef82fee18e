import { cachedumpClass } from './cachedump.ts';
import { CasCounter, type VersionSource } from './cas.ts';
import type { CacheClock } from '../clock.ts';
import * as C from './counters.ts';
import { Evictor } from './eviction.ts';
import { relativeExptime } from './exptime.ts';
import { keyView, murmur3 } from './hash.ts';
import { HashIndex, nextScanCursor } from './hash-index.ts';
import { ItemAllocator } from './item-allocator.ts';
import { ItemValues } from './item-values.ts';
import { LinkedItems } from './linked-items.ts';
import { DEAD_FLUSHED, ItemLiveness } from './liveness.ts';
import { LruLists } from './lru.ts';
import {
  B_CLSID,
  B_ITFLAGS,
  B_NKEY,
  F_CAS_HI,
  F_CAS_LO,
  F_EXPTIME,
  F_FLAGS,
  F_HNEXT,
  F_NBYTES,
  F_TIME,
  HEADER_BYTES,
  IT_ACTIVE,
  IT_CHUNKED,
  IT_FETCHED,
  IT_KEY_BINARY,
  IT_LINKED,
  IT_STALE,
  IT_TOKEN_SENT,
  itemTotal,
  KEY_MAX_LENGTH,
  MEMCACHED_ITEM_HEADER,
  memcachedItemTotal,
} from './layout.ts';
import { parseU64, U64_MAX } from './numeric.ts';
import { computeSlabClassSizes } from './slab-classes.ts';
import { SlabAllocator } from './slabs.ts';
import { statsGeneral, statsItems, statsSizes, statsSlabs, type StatsView } from './stats-report.ts';

export type { VersionSource } from './cas.ts';

export interface StoreOptions {
  /** -m in bytes: upper bound of slab page memory. */
  memoryLimitBytes: number;
  /** -I: slab page size and maximum item size. */
  pageSize: number;
  /** -f */
  growthFactor: number;
  /** -n: smallest value+key space (memcached's chunk_size). */
  minChunk: number;
  /** -o slab_chunk_max (default pageSize / 2): largest chunk class. */
  slabChunkMax: number;
  /** false with -M: answer NO_MEMORY instead of evicting. */
  evictions: boolean;
  /** false with -C: CAS values are reported as 0. */
  casEnabled: boolean;
  /** -o hashpower: initial hash table size 2^n (0 = default 16). */
  hashPower: number;
  /** -o track_sizes: enables `stats sizes`. */
  trackSizes: boolean;
  clock: CacheClock;
  /** Where CAS values come from; default memcached's counter 1, 2, 3 ... */
  versions?: VersionSource;
}

export type StoreMode = 'set' | 'add' | 'replace' | 'append' | 'prepend' | 'cas';
export type RemoteResult = 'APPLIED' | 'STALE' | 'TOO_LARGE' | 'NO_MEMORY';
export type StoreResult = 'STORED' | 'NOT_STORED' | 'EXISTS' | 'NOT_FOUND' | 'TOO_LARGE' | 'NO_MEMORY';
export type ArithResult = bigint | 'NOT_FOUND' | 'NON_NUMERIC' | 'NO_MEMORY' | 'EXISTS';
/** An item handle: an integer >= 0, valid until the next mutating call on the store. */
export type Handle = number;

const META_MARKS = IT_STALE | IT_TOKEN_SENT | IT_KEY_BINARY;

export class StoreKeyError extends RangeError {
  override name = 'StoreKeyError';
}

const DEFAULT_HASH_POWER = 16;

/**
 * memcached's item store: items live in slab chunks of one SharedArrayBuffer
 * (layout.ts), found through a chained hash table of u32 handles, kept in one
 * LRU list per slab class.
 *
 * LRU: a fetch marks an item ACTIVE (cheap, no relinking) and relinks it at
 * most once a minute; when a class must evict, active tail items get a second
 * chance (moved to the head, flag cleared), like memcached's COLD->WARM move.
 * Before evicting, a class may take a page from a class with older items or
 * spare chunks (memcached's slab_automove, see eviction.ts).
 *
 * Handles from get/gat/touch/peek stay valid across further reads (a lazy
 * expiry only frees the expired item itself); store/arith/delete/unlink/
 * flushAll/reclaimExpired/applyRemote* may free or move any item.
 *
 * Worker threads: items, hash table, LRU links and counters are in
 * SharedArrayBuffers; a shared store would take a per-bucket lock (Atomics on
 * a lock table) around lookups and #overwrite, a per-class lock around
 * LRU/slab changes, as memcached does, and keep the few scalar fields (CAS
 * counter in cas.ts, flush watermark in liveness.ts, last page move in
 * eviction.ts) in a shared array too.
 */
export class SlabStore {
  /** chunk size per class id (index 1..) */
  readonly slabClassSizes: readonly number[];

  readonly #clock: CacheClock;
  readonly #casEnabled: boolean;
  readonly #trackSizes: boolean;
  readonly #pageSize: number;
  readonly #memoryLimit: number;
  readonly #slabs: SlabAllocator;
  readonly #bytes: Buffer;
  readonly #u32: Uint32Array;
  readonly #u64: BigUint64Array;
  readonly #largestClass: number;
  readonly #largestChunk: number;

  readonly #index: HashIndex;
  readonly #lru: LruLists;
  readonly #values: ItemValues;
  readonly #liveness: ItemLiveness;
  readonly #items: LinkedItems;
  readonly #allocator: ItemAllocator;
  readonly #cas: CasCounter;
  readonly #cls: Float64Array;
  readonly #g: Float64Array;
  readonly #sizes: Float64Array;

  /** clock.now() read once at the start of each public operation. */
  #now = 0;
  #crawlBucket = 0;

  constructor(opts: StoreOptions) {
    this.#clock = opts.clock;
    this.#casEnabled = opts.casEnabled;
    this.#trackSizes = opts.trackSizes;
    this.#pageSize = opts.pageSize;
    this.#memoryLimit = opts.memoryLimitBytes;
    const sizes = computeSlabClassSizes(
      MEMCACHED_ITEM_HEADER,
      opts.minChunk,
      opts.growthFactor,
      opts.slabChunkMax,
      opts.pageSize,
    );
    this.slabClassSizes = Object.freeze(sizes);
    this.#slabs = new SlabAllocator(sizes, opts.pageSize, opts.memoryLimitBytes);
    this.#bytes = this.#slabs.bytes;
    this.#u32 = this.#slabs.u32;
    this.#u64 = new BigUint64Array(this.#slabs.memory);
    this.#largestClass = this.#slabs.largestClass;
    this.#largestChunk = sizes[this.#largestClass];
    this.#index = new HashIndex(this.#bytes, this.#u32, opts.hashPower > 0 ? opts.hashPower : DEFAULT_HASH_POWER);
    this.#lru = new LruLists(this.#bytes, this.#u32, sizes.length);
    this.#values = new ItemValues(this.#bytes, this.#u32, this.#largestChunk);
    this.#liveness = new ItemLiveness(this.#u32);
    this.#cas = new CasCounter(this.#u32, opts.versions);
    this.#cls = new Float64Array(new SharedArrayBuffer(sizes.length * C.C_FIELDS * 8));
    this.#g = new Float64Array(new SharedArrayBuffer(C.G_FIELDS * 8));
    this.#sizes = new Float64Array(new SharedArrayBuffer(opts.trackSizes ? (Math.ceil(opts.pageSize / 32) + 2) * 8 : 0));
    const counters = { cls: this.#cls, g: this.#g, sizes: this.#sizes };
    this.#items = new LinkedItems(this.#index, this.#lru, this.#slabs, counters, opts.trackSizes, opts.casEnabled);
    const evictor = new Evictor(this.#slabs, this.#lru, this.#items, this.#liveness, counters, opts.evictions);
    this.#allocator = new ItemAllocator(this.#slabs, evictor, this.#items);
  }

  // ------------------------------------------------------------------ commands

  /** set/add/replace/append/prepend/cas; `cas` is read for mode 'cas', and by append/prepend when not 0 (binary protocol). */
  store(mode: StoreMode, key: Buffer, flags: number, exptime: number, data: Buffer, cas: bigint): StoreResult {
    checkKey(key);
    this.#now = this.#clock.now();
    const g = this.#g;
    if (memcachedItemTotal(key.length, data.length, flags, this.#casEnabled) > this.#pageSize) {
      g[C.G_STORE_TOO_LARGE]++;
      if (mode === 'set') this.unlink(key);
      return 'TOO_LARGE';
    }
    const kv = keyView(key);
    const hv = murmur3(kv, 0, key.length);
    const old = this.#lookupFrom(kv, 0, key.length, hv, true);
    let nbytes = data.length;
    let newFlags = flags >>> 0;
    let newExptime = 0;
    if (mode === 'append' || mode === 'prepend') {
      if (old === 0) return this.#notStored(key.length, nbytes);
      if (cas !== 0n && this.#effectiveCas(old) !== cas) {
        this.#countSet(key.length, nbytes);
        return 'EXISTS';
      }
      nbytes += this.#u32[old * 2 + F_NBYTES];
      newFlags = this.#u32[old * 2 + F_FLAGS];
      newExptime = this.#u32[old * 2 + F_EXPTIME];
      if (memcachedItemTotal(key.length, nbytes, newFlags, this.#casEnabled) > this.#pageSize) {
        g[C.G_STORE_TOO_LARGE]++;
        return 'TOO_LARGE';
      }
    } else {
      if (mode === 'add' && old !== 0) {
        this.#lru.bumpIfStale(old, this.#now);
        return this.#notStored(key.length, nbytes);
      }
      if (mode === 'replace' && old === 0) return this.#notStored(key.length, nbytes);
      if (mode === 'cas') {
        if (old === 0) {
          g[C.G_CAS_MISSES]++;
          this.#countSet(key.length, nbytes);
          return 'NOT_FOUND';
        }
        const oldCls = this.#bytes[old * 8 + B_CLSID];
        if (this.#effectiveCas(old) !== cas) {
          this.#cls[oldCls * C.C_FIELDS + C.C_CAS_BADVAL]++;
          this.#countSet(key.length, nbytes);
          return 'EXISTS';
        }
        this.#cls[oldCls * C.C_FIELDS + C.C_CAS_HITS]++;
      }
      newExptime = relativeExptime(exptime, this.#clock, this.#now);
    }

    if (old !== 0 && mode !== 'append' && mode !== 'prepend' && this.#fitsInPlace(old, key.length, nbytes)) {
      this.#overwrite(old, newFlags, newExptime, data);
      this.lastWritten = old;
      return 'STORED';
    }
    const h = this.#allocator.allocate(key, newFlags, newExptime, nbytes, this.#now, old);
    if (h === 0) {
      g[C.G_STORE_NO_MEMORY]++;
      // memcached unlinks the old value of a failed set so stale data is not served.
      if (mode === 'set' && old !== 0) this.#items.unlink(old, hv);
      return 'NO_MEMORY';
    }
    this.#cls[this.#bytes[h * 8 + B_CLSID] * C.C_FIELDS + C.C_CMD_SET]++;
    if (mode === 'append') {
      this.#values.copyBetween(old, h, 0);
      this.#values.write(h, nbytes - data.length, data);
    } else if (mode === 'prepend') {
      this.#values.write(h, 0, data);
      this.#values.copyBetween(old, h, data.length);
    } else {
      this.#values.write(h, 0, data);
    }
    this.#cas.assign(h);
    if (old !== 0) this.#items.unlink(old, hv);
    this.#items.link(h, hv);
    this.lastWritten = h;
    return 'STORED';
  }

  /** The slab class whose chunks hold `size` bytes (0 when larger than every class). */
  slabClassFor(size: number): number {
    return this.#slabs.classFor(size);
  }

  /** Counts a set that a protocol refused before reaching store() (cmd_set, in the class it would use). */
  countRefusedSet(nkey: number, nbytes: number): void {
    this.#countSet(nkey, nbytes);
  }

  /** Counts cmd_get/get_hits/misses, LRU bump, lazy expiry. */
  get(key: Buffer): Handle | -1 {
    return this.getAt(keyView(key), 0, key.length);
  }

  /** get() of the key at [start, start + n) of src (see keyView()), so that callers need not make a Buffer of it. */
  getAt(src: DataView, start: number, n: number): Handle | -1 {
    const g = this.#g;
    this.#now = this.#clock.now();
    g[C.G_CMD_GET]++;
    const h = this.#lookupFrom(src, start, n, murmur3(src, start, n), true);
    if (h === 0) {
      g[C.G_GET_MISSES]++;
      return -1;
    }
    this.#cls[this.#bytes[h * 8 + B_CLSID] * C.C_FIELDS + C.C_GET_HITS]++;
    this.#fetched(h);
    return h;
  }

  /** gat/gats: get and update the exptime (counts as a touch, like memcached). */
  getAndTouch(key: Buffer, exptime: number): Handle | -1 {
    return this.getAndTouchAt(keyView(key), 0, key.length, exptime);
  }

  /** getAndTouch() of the key at [start, start + n) of src. */
  getAndTouchAt(src: DataView, start: number, n: number, exptime: number): Handle | -1 {
    // memcached counts gat as a touch only (cmd_touch, touch_hits/misses), not in cmd_get.
    const h = this.#touchLookup(src, start, n, exptime);
    if (h === 0) return -1;
    this.#fetched(h);
    return h;
  }

  touch(key: Buffer, exptime: number): boolean {
    const h = this.#touchLookup(keyView(key), 0, key.length, exptime);
    if (h === 0) return false;
    this.#lru.bumpIfStale(h, this.#now);
    return true;
  }

  /** The part touch and gat share: counts the touch, finds the live item and sets its exptime; 0 on a miss. */
  #touchLookup(src: DataView, start: number, n: number, exptime: number): Handle | 0 {
    const g = this.#g;
    g[C.G_CMD_TOUCH]++;
    this.#now = this.#clock.now();
    const h = this.#lookupFrom(src, start, n, murmur3(src, start, n), true);
    if (h === 0) {
      g[C.G_TOUCH_MISSES]++;
      return 0;
    }
    this.#cls[this.#bytes[h * 8 + B_CLSID] * C.C_FIELDS + C.C_TOUCH_HITS]++;
    this.#u32[h * 2 + F_EXPTIME] = relativeExptime(exptime, this.#clock, this.#now);
    return h;
  }

  delete(key: Buffer): boolean {
    this.#now = this.#clock.now();
    const kv = keyView(key);
    const hv = murmur3(kv, 0, key.length);
    const h = this.#lookupFrom(kv, 0, key.length, hv, true);
    if (h === 0) {
      this.#g[C.G_DELETE_MISSES]++;
      return false;
    }
    this.#cls[this.#bytes[h * 8 + B_CLSID] * C.C_FIELDS + C.C_DELETE_HITS]++;
    this.#items.unlink(h, hv);
    return true;
  }

  /** Remove without stats; used after a too-large set (memcached unlinks the old item). */
  unlink(key: Buffer): void {
    const kv = keyView(key);
    const hv = murmur3(kv, 0, key.length);
    const h = this.#index.findAt(kv, 0, key.length, hv);
    if (h !== 0) this.#items.unlink(h, hv);
  }

  /** incr/decr by an unsigned 64-bit delta. Returns the new value. `cas` (meta's C, 0 = none) must match the item's. */
  arith(key: Buffer, incr: boolean, delta: bigint, cas = 0n): ArithResult {
    this.#now = this.#clock.now();
    const kv = keyView(key);
    const hv = murmur3(kv, 0, key.length);
    const h = this.#lookupFrom(kv, 0, key.length, hv, true);
    if (h === 0) {
      this.#g[incr ? C.G_INCR_MISSES : C.G_DECR_MISSES]++;
      return 'NOT_FOUND';
    }
    const u32 = this.#u32;
    const bytes = this.#bytes;
    const nbytes = u32[h * 2 + F_NBYTES];
    const nkey = bytes[h * 8 + B_NKEY];
    const valueAt = h * 8 + HEADER_BYTES + nkey;
    if (nbytes === 0 || (bytes[h * 8 + B_ITFLAGS] & IT_CHUNKED) !== 0) return 'NON_NUMERIC';
    if (cas !== 0n && this.#effectiveCas(h) !== cas) return 'EXISTS';
    const current = parseU64(bytes, valueAt, nbytes);
    if (current < 0n) return 'NON_NUMERIC';
    const value = incr ? (current + delta) & U64_MAX : current < delta ? 0n : current - delta;
    const cls = bytes[h * 8 + B_CLSID];
    this.#cls[cls * C.C_FIELDS + (incr ? C.C_INCR_HITS : C.C_DECR_HITS)]++;
    const digits = value.toString();
    if (digits.length <= nbytes) {
      bytes.write(digits, valueAt, 'latin1');
      bytes.fill(0x20, valueAt + digits.length, valueAt + nbytes);
      this.#cas.assign(h);
      this.#lru.bumpIfStale(h, this.#now);
      this.lastWritten = h;
      return value;
    }
    const fresh = this.#allocator.allocate(key, u32[h * 2 + F_FLAGS], u32[h * 2 + F_EXPTIME], digits.length, this.#now, h);
    if (fresh === 0) return 'NO_MEMORY';
    bytes.write(digits, fresh * 8 + HEADER_BYTES + nkey, 'latin1');
    this.#cas.assign(fresh);
    this.#items.unlink(h, hv);
    this.#items.link(fresh, hv);
    this.lastWritten = fresh;
    return value;
  }

  /** flush_all [exptime]: exptime as sent (0 = now). Items last updated at or before that time become invalid. */
  flushAll(exptime: number): void {
    const now = (this.#now = this.#clock.now());
    const newOldest = exptime > 0 ? relativeExptime(exptime, this.#clock, now) : now;
    if (this.#casEnabled) {
      // One second earlier plus a CAS watermark: items stored later in this same second survive.
      this.#liveness.setOldestLive(newOldest - 1);
      if (newOldest - 1 <= now) this.#cas.setFlushWatermark(this.#liveness);
    } else {
      this.#liveness.setOldestLive(newOldest);
    }
  }

  // ------------------------------------------------------------------ item accessors

  itemFlags(h: Handle): number {
    return this.#u32[h * 2 + F_FLAGS];
  }

  /** The item's CAS, or 0n when CAS is disabled (-C). */
  itemCas(h: Handle): bigint {
    return this.#casEnabled ? this.#u64[h] : 0n;
  }

  /** The item's stored CAS even when CAS is disabled (-C): its replication version. */
  itemVersion(h: Handle): bigint {
    return this.#u64[h];
  }

  /** itemVersion() as two u32 numbers, high and low word: no BigInt (replication's hot path). */
  itemVersionHigh(h: Handle): number {
    return this.#u32[h * 2 + F_CAS_HI];
  }

  itemVersionLow(h: Handle): number {
    return this.#u32[h * 2 + F_CAS_LO];
  }

  itemValueLength(h: Handle): number {
    return this.#u32[h * 2 + F_NBYTES];
  }

  itemKeyLength(h: Handle): number {
    return this.#bytes[h * 8 + B_NKEY];
  }

  /** Copies the key and then the value into target at offset; returns the offset after them. */
  copyKeyAndValue(h: Handle, target: Buffer, offset: number): number {
    return this.#values.copyKeyAndValueOut(h, target, offset);
  }

  /** Copy the value into target at offset; returns bytes copied. */
  copyValue(h: Handle, target: Buffer, offset: number): number {
    return this.#values.copyOut(h, target, offset);
  }

  /** A copy of the key bytes. */
  itemKey(h: Handle): Buffer {
    const start = h * 8 + HEADER_BYTES;
    const key = Buffer.allocUnsafe(this.#bytes[h * 8 + B_NKEY]);
    this.#bytes.copy(key, 0, start, start + key.length);
    return key;
  }

  /** Remaining TTL in seconds, 0 = never expires. */
  itemTtl(h: Handle): number {
    const exptime = this.#u32[h * 2 + F_EXPTIME];
    return exptime === 0 ? 0 : Math.max(1, exptime - this.#clock.now());
  }

  // ------------------------------------------------------------------ meta protocol

  /** The live item with this key, or -1 (a dead one found is reclaimed). No stats, no LRU bump. */
  findLive(key: Buffer): Handle | -1 {
    this.#now = this.#clock.now();
    const kv = keyView(key);
    const h = this.#lookupFrom(kv, 0, key.length, murmur3(kv, 0, key.length), true);
    return h === 0 ? -1 : h;
  }

  /** Counts a meta get of h (-1: a miss) as a get, or as a touch when it set a TTL; `bump` marks it fetched. */
  countMetaGet(h: Handle | -1, touched: boolean, bump: boolean): void {
    const g = this.#g;
    if (h < 0) {
      g[C.G_CMD_GET]++;
      g[C.G_GET_MISSES]++;
      return;
    }
    g[touched ? C.G_CMD_TOUCH : C.G_CMD_GET]++;
    this.#cls[this.#bytes[h * 8 + B_CLSID] * C.C_FIELDS + (touched ? C.C_TOUCH_HITS : C.C_GET_HITS)]++;
    if (bump) {
      this.#now = this.#clock.now();
      this.#fetched(h);
    }
  }

  /** The item's IT_* bits (IT_FETCHED, IT_STALE, IT_TOKEN_SENT, IT_KEY_BINARY are the ones meta commands read). */
  itemMarks(h: Handle): number {
    return this.#bytes[h * 8 + B_ITFLAGS];
  }

  /** Sets, then clears, meta marks (IT_STALE, IT_TOKEN_SENT, IT_KEY_BINARY) on item h. */
  mark(h: Handle, set: number, clear = 0): void {
    const at = h * 8 + B_ITFLAGS;
    this.#bytes[at] = (this.#bytes[at] | (set & META_MARKS)) & ~(clear & META_MARKS);
  }

  /** Seconds since the item was stored or last bumped (memcached's last access). */
  itemIdleSeconds(h: Handle): number {
    return this.#clock.now() - this.#u32[h * 2 + F_TIME];
  }

  /** The item's exptime on the store's clock, 0 = never (compare with storeTime()). */
  itemExptime(h: Handle): number {
    return this.#u32[h * 2 + F_EXPTIME];
  }

  setItemExptime(h: Handle, storeTime: number): void {
    this.#u32[h * 2 + F_EXPTIME] = storeTime;
  }

  /** A protocol exptime (relative, absolute or negative; 0 = never) on the store's clock. */
  storeTime(exptime: number): number {
    return relativeExptime(exptime, this.#clock);
  }

  /** The store's clock: seconds since start. */
  get now(): number {
    return this.#clock.now();
  }

  /** Gives item h a new CAS, as a change of its value would. */
  renewCas(h: Handle): void {
    this.#cas.assign(h);
    this.lastWritten = h;
  }

  // ------------------------------------------------------------------ background work

  /** Crawler step: examine about `budget` items, free the expired/flushed ones. Returns items reclaimed. */
  reclaimExpired(budget: number): number {
    const now = (this.#now = this.#clock.now());
    const bytes = this.#bytes;
    let reclaimed = 0;
    let checked = 0;
    let visited = 0;
    // At most one pass over the table per call, and a bounded number of empty buckets.
    const index = this.#index;
    const maxBuckets = Math.min(Math.max(budget * 8, 64), index.mask + 1);
    while (checked < budget && visited < maxBuckets && this.#g[C.G_CURR_ITEMS] > 0) {
      const bucket = this.#crawlBucket & index.mask;
      let h = index.head(bucket);
      while (h !== 0) {
        const next = this.#u32[h * 2 + F_HNEXT];
        const row = bytes[h * 8 + B_CLSID] * C.C_FIELDS;
        this.#cls[row + C.C_CRAWLER_CHECKED]++;
        checked++;
        if (this.#liveness.deadReason(h, now) !== 0) {
          this.#cls[row + C.C_CRAWLER_RECLAIMED]++;
          this.#cls[row + C.C_RECLAIMED]++;
          if ((bytes[h * 8 + B_ITFLAGS] & IT_FETCHED) === 0) this.#cls[row + C.C_EXPIRED_UNFETCHED]++;
          this.#items.unlink(h, -1);
          reclaimed++;
        }
        h = next;
      }
      this.#crawlBucket = (bucket + 1) & index.mask;
      visited++;
    }
    return reclaimed;
  }

  // ------------------------------------------------------------------ stats

  /** Item-related fields of plain `stats`, in memcached's order (the server merges them with mergeGeneralStats()). */
  statsGeneral(): Array<[string, string | number | bigint]> {
    return statsGeneral(this.#statsView());
  }

  /** `stats items`: ['items:1:number', 3], ... for classes holding items. */
  statsItems(): Array<[string, string | number]> {
    return statsItems(this.#statsView());
  }

  /** `stats slabs`: ['1:chunk_size', 96], ..., ['active_slabs', n], ['total_malloced', n] */
  statsSlabs(): Array<[string, string | number]> {
    return statsSlabs(this.#statsView());
  }

  /** `stats sizes`: [['96', 3], ...] in 32-byte buckets of memcached's item size, or [['sizes_status', 'disabled']]. */
  statsSizes(): Array<[string, string | number]> {
    return statsSizes(this.#statsView());
  }

  #statsView(): StatsView {
    return {
      g: this.#g,
      cls: this.#cls,
      slabs: this.#slabs,
      memoryLimit: this.#memoryLimit,
      hashPower: this.#index.power,
      hashBytes: this.#index.byteLength,
      now: this.#clock.now(),
      tailTime: (cls) => this.#lru.tailTime(cls),
      sizes: this.#trackSizes ? this.#sizes : null,
    };
  }

  /** `stats cachedump <cls> <limit>`: one `ITEM ...` line per item, most recently used first (cachedump.ts). */
  cachedump(classId: number, limit: number): string[] | 'BAD_CLASS' {
    if (!Number.isInteger(classId) || classId < 1 || classId > 63) return 'BAD_CLASS';
    if (classId > this.#largestClass) return [];
    return cachedumpClass(this.#lru, this.#bytes, this.#u32, this.#clock.started, classId, limit);
  }

  /** `stats reset`: zero history counters; item counts, bytes and pages stay. */
  resetStats(): void {
    C.resetHistory(this.#cls, this.#g);
  }

  // ------------------------------------------------------------------ replication-facing

  /**
   * The item the last successful store() or arith() wrote (0 before any): replication notes it with the change
   * so that sending the change seldom needs a lookup (see itemStillAtFrom).
   */
  lastWritten: Handle = 0;

  /** Changes whenever a slab page moves to another class; a handle kept across a change may point inside an item. */
  get layoutVersion(): number {
    return this.#slabs.pageMoves;
  }

  /**
   * h if it still holds the live item whose key is src[start, start + n) with version (high, low), else -1: a
   * cheap check of a handle remembered a moment ago (by the same layoutVersion). Replaced, deleted, evicted and
   * expired items fail it.
   */
  itemStillAtFrom(h: Handle, src: Uint8Array, start: number, n: number, high: number, low: number): Handle | -1 {
    const bytes = this.#bytes;
    const u32 = this.#u32;
    const at = h * 8;
    if ((bytes[at + B_ITFLAGS] & IT_LINKED) === 0 || u32[h * 2 + F_CAS_LO] !== low || u32[h * 2 + F_CAS_HI] !== high) return -1;
    if (bytes[at + B_NKEY] !== n) return -1;
    for (let i = 0; i < n; i++) if (bytes[at + HEADER_BYTES + i] !== src[start + i]) return -1;
    return this.#liveness.deadReason(h, this.#clock.now()) === 0 ? h : -1;
  }

  /** Look up without touching LRU or stats; -1 if missing/expired. */
  peek(key: Buffer): Handle | -1 {
    const kv = keyView(key);
    const h = this.#index.findAt(kv, 0, key.length, murmur3(kv, 0, key.length));
    return h !== 0 && this.#liveness.deadReason(h, this.#clock.now()) === 0 ? h : -1;
  }

  /**
   * Store a replicated item keeping the given CAS (version); applied only if cas > existing item's
   * cas (or absent). ttlSeconds: remaining TTL, 0 = never, negative = already expired.
   */
  applyRemote(key: Buffer, flags: number, ttlSeconds: number, data: Buffer, cas: bigint): RemoteResult {
    return this.applyRemoteFrom(key, 0, key.length, data, 0, data.length, flags, ttlSeconds, Number(cas >> 32n), Number(cas & 0xffffffffn));
  }

  /**
   * applyRemote() with the key at keySrc[keyStart, +nkey), the value at valueSrc[valueStart, +nbytes) and the
   * version as its high and low u32 words: a replicated frame is applied straight from the receive buffer,
   * without a view per key and value or a BigInt.
   */
  applyRemoteFrom(
    keySrc: Buffer, keyStart: number, nkey: number, valueSrc: Buffer, valueStart: number, nbytes: number,
    flags: number, ttlSeconds: number, casHigh: number, casLow: number,
  ): RemoteResult {
    if (nkey === 0 || nkey > KEY_MAX_LENGTH) checkKey(keySrc.subarray(keyStart, keyStart + nkey));
    this.#now = this.#clock.now();
    if (memcachedItemTotal(nkey, nbytes, flags, this.#casEnabled) > this.#pageSize) return 'TOO_LARGE';
    const kv = keyView(keySrc);
    const hv = murmur3(kv, keyStart, nkey);
    const old = this.#lookupFrom(kv, keyStart, nkey, hv, false);
    const u32 = this.#u32;
    if (old !== 0) {
      const oh = u32[old * 2 + F_CAS_HI];
      if (oh > casHigh || (oh === casHigh && u32[old * 2 + F_CAS_LO] >= casLow)) return 'STALE';
    }
    const exptime = ttlSeconds === 0 ? 0 : ttlSeconds < 0 ? 1 : this.#now + ttlSeconds;
    // Checked here rather than in observe(): with a VersionSource (always, under replication) the call
    // never runs and so takes nothing from V8's inlining budget for this function.
    if (this.#cas.counting) this.#cas.observe(casHigh, casLow);
    // A newer version of a key usually has the same size: rewrite its chunk instead of allocating, unlinking
    // and relinking (each a hash-chain walk).
    if (old !== 0 && this.#fitsInPlace(old, nkey, nbytes)) {
      this.#overwriteFrom(old, flags >>> 0, exptime, valueSrc, valueStart, nbytes, false);
      u32[old * 2 + F_CAS_LO] = casLow;
      u32[old * 2 + F_CAS_HI] = casHigh;
      return 'APPLIED';
    }
    const h = this.#allocator.allocateFrom(keySrc, keyStart, nkey, flags >>> 0, exptime, nbytes, this.#now, old);
    if (h === 0) return 'NO_MEMORY';
    this.#values.writeFrom(h, 0, valueSrc, valueStart, nbytes);
    u32[h * 2 + F_CAS_LO] = casLow;
    u32[h * 2 + F_CAS_HI] = casHigh;
    if (old !== 0) this.#items.unlink(old, hv);
    this.#items.link(h, hv);
    return 'APPLIED';
  }

  /** Delete a replicated item only if its cas <= the given version. */
  applyRemoteDelete(key: Buffer, cas: bigint): boolean {
    this.#now = this.#clock.now();
    const kv = keyView(key);
    const hv = murmur3(kv, 0, key.length);
    const h = this.#lookupFrom(kv, 0, key.length, hv, false);
    if (h === 0 || this.#u64[h] > cas) return false;
    this.#items.unlink(h, hv);
    return true;
  }

  /**
   * A replicated touch: sets the remaining TTL (0 = never) if the item still has the touched version. Like the
   * other replicated changes it is not a client command, so no stats count it.
   */
  applyRemoteTouch(key: Buffer, ttlSeconds: number, cas: bigint): boolean {
    this.#now = this.#clock.now();
    const kv = keyView(key);
    const h = this.#lookupFrom(kv, 0, key.length, murmur3(kv, 0, key.length), false);
    if (h === 0 || this.#u64[h] !== cas) return false;
    this.#u32[h * 2 + F_EXPTIME] = ttlSeconds === 0 ? 0 : this.#now + ttlSeconds;
    this.#lru.bumpIfStale(h, this.#now);
    return true;
  }

  /**
   * Iterate live items in chunks for a full sync: returns the next cursor (0 when done). Uses a
   * reverse-binary bucket cursor, so items present for the whole scan are visited exactly once even
   * if the hash table grows between calls. Whole buckets are visited, so a call may pass `limit`.
   */
  scan(cursor: number, limit: number, fn: (h: Handle) => void): number {
    const now = this.#clock.now();
    let v = cursor >>> 0;
    let count = 0;
    do {
      const mask = this.#index.mask;
      for (let h = this.#index.head(v & mask); h !== 0; h = this.#u32[h * 2 + F_HNEXT]) {
        if (this.#liveness.deadReason(h, now) !== 0) continue;
        fn(h);
        count++;
      }
      v = nextScanCursor(v, mask);
    } while (v !== 0 && count < limit);
    return v;
  }

  get itemCount(): number {
    return this.#g[C.G_CURR_ITEMS];
  }

  // ------------------------------------------------------------------ internals: lookup

  /** find + lazy expiry: a dead item is unlinked and reported missing. The key is src's [start, start + n). */
  #lookupFrom(src: DataView, start: number, n: number, hv: number, countStats: boolean): number {
    const h = this.#index.findAt(src, start, n, hv);
    if (h === 0) return 0;
    const dead = this.#liveness.deadReason(h, this.#now);
    if (dead === 0) return h;
    if (countStats) this.#g[dead === DEAD_FLUSHED ? C.G_GET_FLUSHED : C.G_GET_EXPIRED]++;
    this.#items.unlink(h, hv);
    return 0;
  }

  #effectiveCas(h: number): bigint {
    return this.#casEnabled ? this.#u64[h] : 0n;
  }

  /** A get's mark on the item: fetched and active (second chance at eviction), bumped at most once a minute. */
  #fetched(h: number): void {
    this.#bytes[h * 8 + B_ITFLAGS] |= IT_FETCHED | IT_ACTIVE;
    this.#lru.bumpIfStale(h, this.#now);
  }

  // ------------------------------------------------------------------ internals: writes

  #notStored(nkey: number, nbytes: number): StoreResult {
    this.#countSet(nkey, nbytes);
    return 'NOT_STORED';
  }

  /** cmd_set of a store that allocated nothing: counted in the class the item would have used. */
  #countSet(nkey: number, nbytes: number): void {
    const cls = this.#slabs.classFor(itemTotal(nkey, nbytes)) || this.#largestClass;
    this.#cls[cls * C.C_FIELDS + C.C_CMD_SET]++;
  }

  /** Whether a new value for item h's key would land in h's own class (so its chunk can be reused). */
  #fitsInPlace(h: number, nkey: number, nbytes: number): boolean {
    const bytes = this.#bytes;
    return (
      (bytes[h * 8 + B_ITFLAGS] & IT_CHUNKED) === 0 &&
      this.#slabs.classFor(itemTotal(nkey, nbytes)) === bytes[h * 8 + B_CLSID]
    );
  }

  /**
   * Replaces a linked item's value in its own chunk: same effect as linking a new item (new CAS,
   * LRU head, total_items), without touching the allocator or the hash chain. Safe only while one
   * thread owns the store; shared readers would need the item's bucket lock here.
   * local = false: a replicated item, which is not a cmd_set and whose version the caller writes.
   */
  #overwrite(h: number, flags: number, exptime: number, data: Buffer, local = true): void {
    this.#overwriteFrom(h, flags, exptime, data, 0, data.length, local);
  }

  #overwriteFrom(h: number, flags: number, exptime: number, src: Buffer, start: number, nbytes: number, local: boolean): void {
    const u32 = this.#u32;
    const oldTotal = this.#items.ntotal(h);
    u32[h * 2 + F_TIME] = this.#now;
    u32[h * 2 + F_EXPTIME] = exptime;
    u32[h * 2 + F_NBYTES] = nbytes;
    u32[h * 2 + F_FLAGS] = flags;
    this.#bytes[h * 8 + B_ITFLAGS] = IT_LINKED;
    this.#values.writeFrom(h, 0, src, start, nbytes);
    if (local) this.#cas.assign(h);
    const newTotal = this.#items.ntotal(h);
    const cls = this.#bytes[h * 8 + B_CLSID];
    const row = cls * C.C_FIELDS;
    if (local) this.#cls[row + C.C_CMD_SET]++;
    this.#cls[row + C.C_MEM_REQUESTED] += newTotal - oldTotal;
    this.#g[C.G_BYTES] += newTotal - oldTotal;
    this.#g[C.G_TOTAL_ITEMS]++;
    if (this.#trackSizes) {
      this.#sizes[Math.ceil(oldTotal / 32)]--;
      this.#sizes[Math.ceil(newTotal / 32)]++;
    }
    if (this.#lru.head(cls) !== h) {
      this.#lru.remove(h, cls);
      this.#lru.pushHead(h, cls);
    }
  }
}

function checkKey(key: Buffer): void {
  if (key.length === 0 || key.length > KEY_MAX_LENGTH) {
    throw new StoreKeyError(`key length must be 1..${KEY_MAX_LENGTH} bytes, got ${key.length}`);
  }
}
