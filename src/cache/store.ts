import type { CacheClock } from '../clock.ts';
import { cachedumpClass } from './cachedump.ts';
import type { CasCounter } from './cas.ts';
import { ChangeKind, ChangeStream } from './changes.ts';
import * as C from './counters.ts';
import { relativeExptime } from './exptime.ts';
import { keyView, murmur3 } from './hash.ts';
import type { HashIndex } from './hash-index.ts';
import type { ItemAllocator } from './item-allocator.ts';
import { checkKey, ItemTable, type Handle, type StoreBuffers, type StoreOptions } from './items.ts';
import type { ItemValues } from './item-values.ts';
import type { LinkedItems } from './linked-items.ts';
import { DEAD_FLUSHED, type ItemLiveness } from './liveness.ts';
import type { LruLists } from './lru.ts';
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
  F_PREV,
  F_TIME,
  HEADER_BYTES,
  IT_ACTIVE,
  IT_CHUNKED,
  IT_FETCHED,
  IT_KEY_BINARY,
  IT_STALE,
  IT_TOKEN_SENT,
  itemTotal,
  memcachedItemTotal,
} from './layout.ts';
import { parseU64, U64_MAX } from './numeric.ts';
import { Replica } from './replica.ts';
import { S_CRAWL_BUCKET, S_SWEEP_BUCKET, S_SWEEP_FROM } from './shared-scalars.ts';
import type { SlabAllocator } from './slabs.ts';
import { statsGeneral, statsItems, statsSizes, statsSlabs, type StatsView } from './stats-report.ts';

export type { VersionSource } from './cas.ts';
export { StoreKeyError, type Handle, type StoreBuffers, type StoreOptions } from './items.ts';
export type { RemoteResult } from './replica.ts';

export type StoreMode = 'set' | 'add' | 'replace' | 'append' | 'prepend' | 'cas';
export type StoreResult = 'STORED' | 'NOT_STORED' | 'EXISTS' | 'NOT_FOUND' | 'TOO_LARGE' | 'NO_MEMORY';
export type ArithResult = bigint | 'NOT_FOUND' | 'NON_NUMERIC' | 'NO_MEMORY' | 'EXISTS';

const META_MARKS = IT_STALE | IT_TOKEN_SENT | IT_KEY_BINARY;
/** Who hears of evictions (SlabStore.onEviction). */
export interface EvictionListener {
  /** Whether anyone listens now. */
  wanted(): boolean;
  evicted(key: Buffer, fetched: boolean, ttl: number, lastAccess: number, clsid: number, size: number): void;
}

/** The largest buffer whose DataView the store keeps for the next key (a connection's read buffer is 16 KB). */
const VIEWED_MAX = 64 * 1024;

/**
 * memcached's item store, as clients see it: the semantics of every command (set family, cas, incr/decr,
 * touch/gat, delete, flush_all, the meta commands' marks), with memcached's stats and LRU behaviour, on an
 * ItemTable (items.ts). Every change a command makes is published to `changes`, the store's change stream, which
 * replication subscribes to; `replica` is the face replication reads and applies peers' changes through.
 *
 * LRU: a fetch marks an item ACTIVE (cheap, no relinking) and relinks it at most once a minute; when a class
 * must evict, active tail items get a second chance (moved to the head, flag cleared), like memcached's
 * COLD->WARM move. Before evicting, a class may take a page from a class with older items or spare chunks
 * (memcached's slab_automove, see eviction.ts).
 *
 * Handles from get/gat/touch/peek stay valid across further reads (a lazy expiry only frees the expired item
 * itself); store/arith/delete/unlink/flushAll/reclaimExpired and the replica's applies may free or move any item.
 */
/** The outcomes of `slabs reassign` memcached 1.6.18 can give (BUSY aside: a move here is done at once). */
export type SlabReassignResult = 'OK' | 'SAME' | 'BADCLASS' | 'NOSPARE';

export class SlabStore {
  /** chunk size per class id (index 1..) */
  readonly slabClassSizes: readonly number[];
  /** One record per change a command made (changes.ts); nothing is recorded until replication subscribes. */
  readonly changes: ChangeStream;
  /** The store as replication sees it. */
  readonly replica: Replica;
  /** The item the last successful store(), arith() or renewCas() wrote (0 before any). */
  lastWritten: Handle = 0;

  readonly #t: ItemTable;
  readonly #clock: CacheClock;
  readonly #casEnabled: boolean;
  readonly #pageSize: number;
  readonly #slabs: SlabAllocator;
  readonly #bytes: Buffer;
  readonly #u32: Uint32Array;
  readonly #u64: BigUint64Array;
  readonly #largestClass: number;
  readonly #index: HashIndex;
  readonly #lru: LruLists;
  readonly #values: ItemValues;
  readonly #liveness: ItemLiveness;
  readonly #items: LinkedItems;
  readonly #allocator: ItemAllocator;
  readonly #cas: CasCounter;
  readonly #cls: Float64Array;
  readonly #g: Float64Array;
  /** Scratch for a delete's version words (low, high). */
  readonly #version = new Uint32Array(2);
  /** clock.now() read once at the start of each public operation. */
  #now = 0;
  /** #memoryView()'s latest buffer and its view. */
  #viewed: ArrayBufferLike | null = null;
  #memory: DataView = new DataView(new ArrayBuffer(0));
  /** Shared scalars: the crawler's next bucket; a flush_all's sweep: the clock second from which it may run (0: none pending), and its next bucket. */
  readonly #s: Float64Array;

  constructor(opts: StoreOptions) {
    const t = new ItemTable(opts);
    this.#t = t;
    this.slabClassSizes = t.slabClassSizes;
    this.#clock = t.clock;
    this.#casEnabled = t.casEnabled;
    this.#pageSize = t.pageSize;
    this.#slabs = t.slabs;
    this.#bytes = t.bytes;
    this.#u32 = t.u32;
    this.#u64 = t.u64;
    this.#largestClass = t.largestClass;
    this.#index = t.index;
    this.#lru = t.lru;
    this.#values = t.values;
    this.#liveness = t.liveness;
    this.#items = t.links;
    this.#allocator = t.allocator;
    this.#cas = t.cas;
    this.#cls = t.cls;
    this.#g = t.g;
    this.#s = t.scalars;
    this.changes = new ChangeStream();
    this.replica = new Replica(t, this.changes);
  }

  /** The store's shared memory: another thread makes a SlabStore with the same options and `attach` set to it. */
  get buffers(): StoreBuffers {
    return this.#t.buffers;
  }

  // ------------------------------------------------------------------ commands

  /** set/add/replace/append/prepend/cas; `cas` is read for mode 'cas', and by append/prepend when not 0 (binary protocol). */
  store(mode: StoreMode, key: Buffer, flags: number, exptime: number, data: Buffer, cas: bigint): StoreResult {
    checkKey(key);
    const t = this.#t;
    // (the table's now too: an overwrite stamps the item with it)
    const now = (this.#now = t.now = this.#clock.now());
    const g = this.#g;
    if (memcachedItemTotal(key.length, data.length, flags, this.#casEnabled) > this.#pageSize) {
      g[C.G_STORE_TOO_LARGE]++;
      if (mode === 'set') this.unlink(key);
      return 'TOO_LARGE';
    }
    const kv = this.#memoryView(key);
    const hv = murmur3(kv, key.byteOffset, key.length);
    const old = this.#lookupFrom(kv, key.byteOffset, key.length, hv, true);
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
        this.#lru.bumpIfStale(old, now);
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
      newExptime = relativeExptime(exptime, this.#clock, now);
    }

    if (old !== 0 && mode !== 'append' && mode !== 'prepend' && t.fitsInPlace(old, key.length, nbytes)) {
      t.overwrite(old, newFlags, newExptime, data, 0, data.length, true);
      this.#wrote(old);
      return 'STORED';
    }
    const h = this.#allocator.allocate(key, newFlags, newExptime, nbytes, now, old);
    if (h === 0) {
      g[C.G_STORE_NO_MEMORY]++;
      // memcached unlinks the old value of a failed set so stale data is not served.
      if (mode === 'set' && old !== 0) this.#unlinkLive(old, hv);
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
    this.#wrote(h);
    return 'STORED';
  }

  /**
   * The meta commands' N on a miss (mg, ma): adds the item. Not a set in the stats: memcached stores it without
   * counting cmd_set (nor, for ma, a miss: see arith()'s countMiss).
   */
  vivify(key: Buffer, value: Buffer): StoreResult {
    const r = this.store('add', key, 0, 0, value, 0n);
    const cls = r === 'STORED' ? this.#bytes[this.lastWritten * 8 + B_CLSID] : r === 'NOT_STORED' ? this.#slabs.classFor(itemTotal(key.length, value.length)) || this.#largestClass : 0;
    if (cls !== 0) this.#cls[cls * C.C_FIELDS + C.C_CMD_SET]--;
    return r;
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
    return this.getAt(this.#memoryView(key), key.byteOffset, key.length);
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
    return this.getAndTouchAt(this.#memoryView(key), key.byteOffset, key.length, exptime);
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
    const h = this.#touchLookup(this.#memoryView(key), key.byteOffset, key.length, exptime);
    if (h === 0) return false;
    this.#lru.bumpIfStale(h, this.#now);
    return true;
  }

  /** The part touch and gat share: counts the touch, finds the live item and sets its exptime; 0 on a miss. */
  #touchLookup(src: DataView, start: number, n: number, exptime: number): Handle | 0 {
    const g = this.#g;
    g[C.G_CMD_TOUCH]++;
    const now = (this.#now = this.#clock.now());
    const h = this.#lookupFrom(src, start, n, murmur3(src, start, n), true);
    if (h === 0) {
      g[C.G_TOUCH_MISSES]++;
      return 0;
    }
    this.#cls[this.#bytes[h * 8 + B_CLSID] * C.C_FIELDS + C.C_TOUCH_HITS]++;
    this.#u32[h * 2 + F_EXPTIME] = relativeExptime(exptime, this.#clock, now);
    if (this.changes.active) this.#record(ChangeKind.TOUCH, h);
    return h;
  }

  delete(key: Buffer): boolean {
    this.#now = this.#clock.now();
    const kv = this.#memoryView(key);
    const hv = murmur3(kv, key.byteOffset, key.length);
    const h = this.#lookupFrom(kv, key.byteOffset, key.length, hv, true);
    if (h === 0) {
      this.#g[C.G_DELETE_MISSES]++;
      return false;
    }
    this.#cls[this.#bytes[h * 8 + B_CLSID] * C.C_FIELDS + C.C_DELETE_HITS]++;
    this.#unlinkLive(h, hv);
    return true;
  }

  /**
   * Removes the key without stats: memcached drops the old value of a refused set, so that stale data is not
   * served. Returns whether a live item was removed (a dead one found is reclaimed too).
   */
  unlink(key: Buffer): boolean {
    const kv = this.#memoryView(key);
    const hv = murmur3(kv, key.byteOffset, key.length);
    const h = this.#index.findAt(kv, key.byteOffset, key.length, hv);
    if (h === 0) return false;
    if (this.#liveness.deadReason(h, this.#clock.now()) !== 0) {
      this.#items.unlink(h, hv);
      return false;
    }
    this.#unlinkLive(h, hv);
    return true;
  }

  /**
   * incr/decr by an unsigned 64-bit delta. Returns the new value. `cas` (meta's C, 0 = none) must match the item's.
   * `countMiss` false: a miss is not counted (meta's ma with N creates the item instead, see vivify()).
   */
  arith(key: Buffer, incr: boolean, delta: bigint, cas = 0n, countMiss = true): ArithResult {
    const now = (this.#now = this.#clock.now());
    const kv = this.#memoryView(key);
    const hv = murmur3(kv, key.byteOffset, key.length);
    const h = this.#lookupFrom(kv, key.byteOffset, key.length, hv, true);
    if (h === 0) {
      if (countMiss) this.#g[incr ? C.G_INCR_MISSES : C.G_DECR_MISSES]++;
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
    const priorVersion = this.#u64[h];
    if (digits.length <= nbytes) {
      bytes.write(digits, valueAt, 'latin1');
      bytes.fill(0x20, valueAt + digits.length, valueAt + nbytes);
      this.#cas.assign(h);
      this.#lru.bumpIfStale(h, now);
      this.#wroteArith(h, incr, priorVersion, current, value);
      return value;
    }
    const fresh = this.#allocator.allocate(key, u32[h * 2 + F_FLAGS], u32[h * 2 + F_EXPTIME], digits.length, now, h);
    if (fresh === 0) return 'NO_MEMORY';
    bytes.write(digits, fresh * 8 + HEADER_BYTES + nkey, 'latin1');
    this.#cas.assign(fresh);
    this.#items.unlink(h, hv);
    this.#items.link(fresh, hv);
    this.#wroteArith(fresh, incr, priorVersion, current, value);
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
    // memcached's LRU maintainer frees flushed items within moments, so that curr_items and bytes drop: the server
    // runs sweepFlushed() on its next tick (a get until then counts get_flushed, as memcached's does).
    this.#s[S_SWEEP_FROM] = Math.max(this.#casEnabled ? newOldest - 1 : newOldest, 1);
    this.#s[S_SWEEP_BUCKET] = 0;
    if (this.changes.active) {
      const delay = Math.max(0, newOldest - now);
      const version = this.#cas.versionAfter(delay * 1000);
      this.changes.flushed(delay, Number(version >> 32n), Number(version & 0xffffffffn));
    }
  }

  // ------------------------------------------------------------------ slab administration

  /**
   * `slabs reassign SRC DST` (memcached's do_slabs_reassign): SRC's first page, its items freed, goes to DST
   * (0: the global pool); SRC -1 picks a class with a spare page. Done at once, so never BUSY.
   */
  reassignSlabPage(src: number, dst: number): SlabReassignResult {
    if (src === dst) return 'SAME';
    const slabs = this.#slabs;
    if (src === -1) src = this.#pickAnySpare(dst);
    const largest = this.#largestClass;
    if (src < 0 || src > largest || dst < 0 || dst > largest) return 'BADCLASS';
    if (slabs.classPages(src) < 2) return 'NOSPARE';
    const page = slabs.firstPageOf(src);
    const now = (this.#now = this.#clock.now());
    if (src !== 0) this.#t.evictor.emptyPage(page, now, true);
    slabs.reassignPage(page, dst);
    this.#g[C.G_SLABS_MOVED]++;
    return 'OK';
  }

  #pickCursor = 0;

  /** memcached's slabs_reassign_pick_any: the next class after the last one picked that has two pages or more. */
  #pickAnySpare(dst: number): number {
    const largest = this.#largestClass;
    for (let tries = largest; tries > 0; tries--) {
      this.#pickCursor = this.#pickCursor >= largest ? 1 : this.#pickCursor + 1;
      if (this.#pickCursor !== dst && this.#slabs.classPages(this.#pickCursor) > 1) return this.#pickCursor;
    }
    return -1;
  }

  /**
   * `cache_memlimit`: the pages classes may take before evicting. Pages already in use stay with their
   * classes. The memory is reserved at start, so the limit cannot go above the start-up one: false then.
   */
  setMemoryLimit(bytes: number): boolean {
    const pages = Math.floor(bytes / this.#pageSize);
    if (pages > this.#slabs.startLimitPages) return false;
    this.#slabs.limitPages = pages;
    return true;
  }

  /**
   * Told of each item evicted from an LRU tail (`watch evictions`) while `wanted()` says someone listens: its key,
   * whether it was fetched, its TTL left (-1: none), seconds since its last access, its class in memcached's sizes
   * and its value length. While nobody listens the key is not copied out.
   */
  set onEviction(listener: EvictionListener | null) {
    this.#t.evictor.onEvict = listener === null ? null : (h, now) => {
      if (!listener.wanted()) return;
      const key = this.#t.itemKey(h);
      const exptime = this.#u32[h * 2 + F_EXPTIME];
      const size = this.#u32[h * 2 + F_NBYTES];
      const flags = this.#u32[h * 2 + F_FLAGS];
      const clsid = this.#slabs.classFor(memcachedItemTotal(key.length, size, flags, this.#casEnabled));
      listener.evicted(key, (this.#bytes[h * 8 + B_ITFLAGS] & IT_FETCHED) !== 0, exptime === 0 ? -1 : exptime - now, now - this.#u32[h * 2 + F_TIME], clsid, size);
    };
  }

  /** `slabs automove 0|1|2`: 0 stops classes taking pages from each other when they run out of chunks. */
  setSlabAutomove(level: number): void {
    this.#t.evictor.automove = level;
  }

  // ------------------------------------------------------------------ item accessors

  itemFlags(h: Handle): number {
    return this.#u32[h * 2 + F_FLAGS];
  }

  /** The item's CAS, or 0n when CAS is disabled (-C). */
  itemCas(h: Handle): bigint {
    return this.#casEnabled ? this.#u64[h] : 0n;
  }

  itemValueLength(h: Handle): number {
    return this.#u32[h * 2 + F_NBYTES];
  }

  /** Copy the value into target at offset; returns bytes copied. */
  copyValue(h: Handle, target: Buffer, offset: number): number {
    return this.#values.copyOut(h, target, offset);
  }

  /** A copy of the key bytes. */
  itemKey(h: Handle): Buffer {
    return this.#t.itemKey(h);
  }

  /** Remaining TTL in seconds, 0 = never expires. */
  itemTtl(h: Handle): number {
    return this.#t.itemTtl(h);
  }

  /** Look up without touching LRU or stats; -1 if missing/expired. */
  peek(key: Buffer): Handle | -1 {
    return this.#t.peek(key);
  }

  /** Live items in chunks (lru_crawler metadump; see ItemTable.scan). */
  scan(cursor: number, limit: number, fn: (h: Handle) => void): number {
    return this.#t.scan(cursor, limit, fn);
  }

  get itemCount(): number {
    return this.#g[C.G_CURR_ITEMS];
  }

  // ------------------------------------------------------------------ meta protocol

  /** The live item with this key, or -1 (a dead one found is reclaimed). No stats, no LRU bump. */
  findLive(key: Buffer): Handle | -1 {
    this.#now = this.#clock.now();
    const kv = this.#memoryView(key);
    const h = this.#lookupFrom(kv, key.byteOffset, key.length, murmur3(kv, key.byteOffset, key.length), true);
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

  /**
   * Sets the exptime of an item the same command just stored or changed (its change is recorded already, and a
   * reader sends the item as it is then).
   */
  setItemExptime(h: Handle, storeTime: number): void {
    this.#u32[h * 2 + F_EXPTIME] = storeTime;
  }

  /** A touch of item h by a meta command (mg T): sets its exptime, a change of its own. */
  touchItem(h: Handle, storeTime: number): void {
    this.#u32[h * 2 + F_EXPTIME] = storeTime;
    if (this.changes.active) this.#record(ChangeKind.TOUCH, h);
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
    this.#wrote(h);
  }

  // ------------------------------------------------------------------ background work

  /** Crawler step: examine about `budget` items, free the expired/flushed ones. Returns items reclaimed. */
  reclaimExpired(budget: number): number {
    const now = (this.#now = this.#clock.now());
    const itemsBefore = this.#g[C.G_CURR_ITEMS];
    let checked = 0;
    let visited = 0;
    // At most one pass over the table per call, and a bounded number of empty buckets.
    const index = this.#index;
    const maxBuckets = Math.min(Math.max(budget * 8, 64), index.mask + 1);
    while (checked < budget && visited < maxBuckets && this.#g[C.G_CURR_ITEMS] > 0) {
      const bucket = this.#s[S_CRAWL_BUCKET] & index.mask;
      checked += this.#freeDeadIn(bucket, now, true);
      this.#s[S_CRAWL_BUCKET] = (bucket + 1) & index.mask;
      visited++;
    }
    return itemsBefore - this.#g[C.G_CURR_ITEMS];
  }

  /**
   * Frees the dead (expired or flushed) items of one hash bucket, counted as memcached's LRU maintainer counts them,
   * and as its crawler does when `crawler`; returns the items examined.
   */
  #freeDeadIn(bucket: number, now: number, crawler: boolean): number {
    const bytes = this.#bytes;
    let checked = 0;
    for (let h = this.#index.head(bucket); h !== 0; ) {
      const next = this.#u32[h * 2 + F_HNEXT];
      const row = bytes[h * 8 + B_CLSID] * C.C_FIELDS;
      checked++;
      if (crawler) this.#cls[row + C.C_CRAWLER_CHECKED]++;
      if (this.#liveness.deadReason(h, now) !== 0) {
        if (crawler) this.#cls[row + C.C_CRAWLER_RECLAIMED]++;
        this.#cls[row + C.C_RECLAIMED]++;
        if ((bytes[h * 8 + B_ITFLAGS] & IT_FETCHED) === 0) this.#cls[row + C.C_EXPIRED_UNFETCHED]++;
        this.#items.unlink(h, -1);
      }
      h = next;
    }
    return checked;
  }

  /** Whether a flush_all has taken effect and its sweep has items left to examine (see sweepFlushed()). */
  flushSweepDue(): boolean {
    return this.#s[S_SWEEP_FROM] !== 0 && this.#clock.now() >= this.#s[S_SWEEP_FROM];
  }

  /**
   * A step of a flush_all's sweep: once the flush has taken effect, examine about `budget` items and free the dead
   * ones (flushed or expired), counted as memcached's LRU maintainer counts them (reclaimed, expired_unfetched).
   * Not recorded in the change stream: the flush itself was. Returns whether more remains (or the flush is yet to
   * take effect).
   */
  sweepFlushed(budget: number): boolean {
    if (this.#s[S_SWEEP_FROM] === 0) return false;
    const now = (this.#now = this.#clock.now());
    if (now < this.#s[S_SWEEP_FROM]) return true;
    const index = this.#index;
    let checked = 0;
    // The table may double between steps: bucket b then splits into b and b + old size, both still ahead of or at
    // the cursor when b was not swept yet, so one pass up to the current size sees every item.
    while (checked < budget && this.#s[S_SWEEP_BUCKET] <= index.mask && this.#g[C.G_CURR_ITEMS] > 0) {
      checked += 1 + this.#freeDeadIn(this.#s[S_SWEEP_BUCKET], now, false); // an empty bucket costs a little too
      this.#s[S_SWEEP_BUCKET]++;
    }
    if (this.#s[S_SWEEP_BUCKET] <= index.mask && this.#g[C.G_CURR_ITEMS] > 0) return true;
    this.#s[S_SWEEP_FROM] = 0;
    return false;
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
    const t = this.#t;
    return {
      g: this.#g,
      cls: this.#cls,
      slabs: this.#slabs,
      memoryLimit: t.memoryLimit,
      hashPower: this.#index.power,
      hashBytes: this.#index.byteLength,
      now: this.#clock.now(),
      tailTime: (cls) => this.#lru.tailTime(cls),
      sizes: t.trackSizes ? t.sizes : null,
    };
  }

  /** `stats cachedump <cls> <limit>`: one `ITEM ...` line per item, most recently used first (cachedump.ts). */
  cachedump(classId: number, limit: number): string[] | 'BAD_CLASS' {
    if (!Number.isInteger(classId) || classId < 1 || classId > 63) return 'BAD_CLASS';
    if (classId > this.#largestClass) return [];
    // Flushed items a sweep has yet to free are not listed (memcached frees them within moments); expired ones are.
    const now = this.#clock.now();
    const flushed = (h: number) => this.#liveness.deadReason(h, now) === DEAD_FLUSHED;
    return cachedumpClass(this.#lru, this.#bytes, this.#u32, this.#clock.started, classId, limit, flushed);
  }

  /** `stats reset`: zero history counters; item counts, bytes and pages stay. */
  resetStats(): void {
    C.resetHistory(this.#cls, this.#g);
  }

  // ------------------------------------------------------------------ warm restart (warm-file.ts)

  /** Every live item, class by class from its LRU tail to its head: the order restoreItem() rebuilds it from. */
  forEachByLru(fn: (h: Handle) => void): void {
    const now = this.#clock.now();
    for (let cls = 1; cls <= this.#largestClass; cls++) {
      for (let h = this.#lru.tail(cls); h !== 0; h = this.#u32[h * 2 + F_PREV]) {
        if (this.#liveness.deadReason(h, now) === 0) fn(h);
      }
    }
  }

  itemKeyLength(h: Handle): number {
    return this.#bytes[h * 8 + B_NKEY];
  }

  /** Copies the key into target at offset; returns its length. */
  copyKeyTo(h: Handle, target: Buffer, offset: number): number {
    const start = h * 8 + HEADER_BYTES;
    const n = this.#bytes[h * 8 + B_NKEY];
    this.#bytes.copy(target, offset, start, start + n);
    return n;
  }

  /** The item's stored CAS words [high, low], also with -C (where the clients see 0). */
  itemCasWords(h: Handle): [number, number] {
    return [this.#u32[h * 2 + F_CAS_HI], this.#u32[h * 2 + F_CAS_LO]];
  }

  /** The item's last access as a unix time (seconds). */
  itemAccessUnix(h: Handle): number {
    return this.#clock.started + this.#u32[h * 2 + F_TIME];
  }

  /** A store-clock second (an exptime, 0 = never) as a unix time. */
  unixTime(t: number): number {
    return t === 0 ? 0 : this.#clock.started + t;
  }

  /**
   * Links a saved item at its class's LRU head, with its saved CAS, exptime and last access (unix seconds, 0 =
   * never expires). An item that has expired meanwhile is not restored. Returns whether it was linked (false: no
   * memory, or expired).
   */
  restoreItem(key: Buffer, flags: number, exptimeUnix: number, accessUnix: number, casHigh: number, casLow: number, marks: number, value: Buffer): boolean {
    checkKey(key);
    const now = (this.#now = this.#t.now = this.#clock.now());
    const started = this.#clock.started;
    const exptime = exptimeUnix === 0 ? 0 : exptimeUnix - started;
    if (exptimeUnix !== 0 && exptime <= now) return false;
    const access = Math.min(now, Math.max(1, accessUnix - started));
    const kv = keyView(key);
    const hv = murmur3(kv, 0, key.length);
    const old = this.#index.findAt(kv, 0, key.length, hv);
    if (old !== 0) this.#items.unlink(old, hv);
    const h = this.#allocator.allocate(key, flags >>> 0, exptime, value.length, now, 0);
    if (h === 0) return false;
    this.#u32[h * 2 + F_TIME] = access;
    this.#values.write(h, 0, value);
    this.#u32[h * 2 + F_CAS_HI] = casHigh;
    this.#u32[h * 2 + F_CAS_LO] = casLow;
    if (this.#cas.counting) this.#cas.observe(casHigh, casLow);
    this.#bytes[h * 8 + B_ITFLAGS] |= marks & (IT_FETCHED | IT_ACTIVE | META_MARKS);
    this.#items.link(h, hv);
    return true;
  }

  // ------------------------------------------------------------------ internals

  /**
   * A DataView of all the memory `key` is a view of, for the key at key.byteOffset. The keys of a connection's
   * commands are views of one read buffer: the view is made once per buffer rather than once per command (a
   * DataView costs a runtime call). Only a buffer of up to VIEWED_MAX bytes is kept for the next key, so that a large
   * one is not held.
   */
  #memoryView(key: Buffer): DataView {
    const memory = key.buffer;
    if (memory === this.#viewed) return this.#memory;
    const view = new DataView(memory);
    if (memory.byteLength <= VIEWED_MAX) {
      this.#viewed = memory;
      this.#memory = view;
    }
    return view;
  }

  /**
   * find + lazy expiry, as ItemTable.lookup (which the replica face uses): the client path keeps its own copy on
   * this class's fields, which measured about 4 % fewer instructions per request than calling through the table.
   */
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

  #notStored(nkey: number, nbytes: number): StoreResult {
    this.#countSet(nkey, nbytes);
    return 'NOT_STORED';
  }

  /** cmd_set of a store that allocated nothing: counted in the class the item would have used. */
  #countSet(nkey: number, nbytes: number): void {
    const cls = this.#slabs.classFor(itemTotal(nkey, nbytes)) || this.#largestClass;
    this.#cls[cls * C.C_FIELDS + C.C_CMD_SET]++;
  }

  /** Item h was stored or changed by a command: remembered for the command's reply, published as a SET. */
  #wrote(h: number): void {
    this.lastWritten = h;
    if (this.changes.active) this.#record(ChangeKind.SET, h);
  }

  /** Item h was changed by incr/decr: published as an ARITH, which replication ships as an operation. */
  #wroteArith(h: number, incr: boolean, priorVersion: bigint, prior: bigint, value: bigint): void {
    this.lastWritten = h;
    if (!this.changes.active) return;
    const u32 = this.#u32;
    this.changes.arith(this.#bytes, h * 8 + HEADER_BYTES, this.#bytes[h * 8 + B_NKEY], h, u32[h * 2 + F_CAS_HI], u32[h * 2 + F_CAS_LO], this.#slabs.pageMoves, incr, priorVersion, prior, value);
  }

  #record(kind: typeof ChangeKind.SET | typeof ChangeKind.TOUCH, h: number): void {
    const u32 = this.#u32;
    this.changes.item(kind, this.#bytes, h * 8 + HEADER_BYTES, this.#bytes[h * 8 + B_NKEY], h, u32[h * 2 + F_CAS_HI], u32[h * 2 + F_CAS_LO], this.#slabs.pageMoves);
  }

  /** A command removes live item h: published as a DELETE (with the version its tombstone carries), then unlinked. */
  #unlinkLive(h: number, hv: number): void {
    if (this.changes.active) {
      const v = this.#version;
      this.#cas.nextVersion(v);
      this.changes.deleted(this.#bytes, h * 8 + HEADER_BYTES, this.#bytes[h * 8 + B_NKEY], v[1], v[0]);
    }
    this.#items.unlink(h, hv);
  }
}
