import type { CacheClock } from '../clock.ts';
import { CasCounter, type VersionSource } from './cas.ts';
import * as C from './counters.ts';
import { Evictor } from './eviction.ts';
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
  IT_CHUNKED,
  IT_LINKED,
  itemTotal,
  KEY_MAX_LENGTH,
  MEMCACHED_ITEM_HEADER,
} from './layout.ts';
import { computeSlabClassSizes } from './slab-classes.ts';
import { newScalars } from './shared-scalars.ts';
import { SlabAllocator, type SlabBuffers } from './slabs.ts';

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
  /** Attach to the memory of a store made by another thread (with the same options) instead of making new. */
  attach?: StoreBuffers;
}

/** Every SharedArrayBuffer of an ItemTable: what another thread needs to attach to the same store. */
export interface StoreBuffers {
  slabs: SlabBuffers;
  table: SharedArrayBuffer;
  lruEnds: SharedArrayBuffer;
  scalars: SharedArrayBuffer;
  cls: SharedArrayBuffer;
  g: SharedArrayBuffer;
  sizes: SharedArrayBuffer;
}

/** An item handle: an integer >= 0, valid until the next mutating call on the store. */
export type Handle = number;

export class StoreKeyError extends RangeError {
  override name = 'StoreKeyError';
}

const DEFAULT_HASH_POWER = 16;

export function checkKey(key: Buffer): void {
  if (key.length === 0 || key.length > KEY_MAX_LENGTH) {
    throw new StoreKeyError(`key length must be 1..${KEY_MAX_LENGTH} bytes, got ${key.length}`);
  }
}

/**
 * The item table under both faces of the store: items in slab chunks of one SharedArrayBuffer (layout.ts), found
 * through a chained hash table of u32 handles, kept in one LRU list per slab class, with their counters. The client
 * face (SlabStore, memcached's commands) and the replica face (Replica, what replication reads and applies) are
 * built on one ItemTable; its fields are theirs to use and no one else's.
 *
 * Worker threads: items, hash table, LRU links, counters and the few scalar fields (shared-scalars.ts) are in
 * SharedArrayBuffers (`buffers`); another thread attaches to them with the `attach` option. Nothing here locks:
 * threads sharing a table serialize every operation on it (LOCKING.md).
 */
export class ItemTable {
  /** chunk size per class id (index 1..) */
  readonly slabClassSizes: readonly number[];
  readonly clock: CacheClock;
  readonly casEnabled: boolean;
  readonly trackSizes: boolean;
  readonly pageSize: number;
  readonly memoryLimit: number;
  readonly slabs: SlabAllocator;
  readonly bytes: Buffer;
  readonly u32: Uint32Array;
  readonly u64: BigUint64Array;
  readonly largestClass: number;
  readonly index: HashIndex;
  readonly lru: LruLists;
  readonly values: ItemValues;
  readonly liveness: ItemLiveness;
  readonly links: LinkedItems;
  readonly allocator: ItemAllocator;
  readonly evictor: Evictor;
  readonly cas: CasCounter;
  /** Per-class and global counters (counters.ts), and item counts per size bucket (track_sizes). */
  readonly cls: Float64Array;
  readonly g: Float64Array;
  readonly sizes: Float64Array;
  /** The scalar fields shared by every thread on this table (shared-scalars.ts). */
  readonly scalars: Float64Array;
  /** clock.now() read once at the start of each public operation of either face. */
  now = 0;

  constructor(opts: StoreOptions) {
    this.clock = opts.clock;
    this.casEnabled = opts.casEnabled;
    this.trackSizes = opts.trackSizes;
    this.pageSize = opts.pageSize;
    this.memoryLimit = opts.memoryLimitBytes;
    const sizes = computeSlabClassSizes(MEMCACHED_ITEM_HEADER, opts.minChunk, opts.growthFactor, opts.slabChunkMax, opts.pageSize);
    this.slabClassSizes = Object.freeze(sizes);
    const a = opts.attach;
    this.scalars = a?.scalars ? new Float64Array(a.scalars, 0, newScalars().length) : newScalars();
    this.slabs = new SlabAllocator(sizes, opts.pageSize, opts.memoryLimitBytes, this.scalars, a?.slabs);
    this.bytes = this.slabs.bytes;
    this.u32 = this.slabs.u32;
    this.u64 = new BigUint64Array(this.slabs.memory);
    this.largestClass = this.slabs.largestClass;
    this.index = new HashIndex(this.bytes, this.u32, opts.hashPower > 0 ? opts.hashPower : DEFAULT_HASH_POWER, this.scalars, a?.table);
    this.lru = new LruLists(this.bytes, this.u32, sizes.length, a?.lruEnds);
    this.values = new ItemValues(this.bytes, this.u32, sizes[this.largestClass]);
    this.liveness = new ItemLiveness(this.u32, this.scalars);
    this.cas = new CasCounter(this.u32, opts.versions, this.scalars);
    this.cls = new Float64Array(a?.cls ?? new SharedArrayBuffer(sizes.length * C.C_FIELDS * 8));
    this.g = new Float64Array(a?.g ?? new SharedArrayBuffer(C.G_FIELDS * 8));
    this.sizes = new Float64Array(a?.sizes ?? new SharedArrayBuffer(opts.trackSizes ? (Math.ceil(opts.pageSize / 32) + 2) * 8 : 0));
    const counters = { cls: this.cls, g: this.g, sizes: this.sizes };
    this.links = new LinkedItems(this.index, this.lru, this.slabs, counters, opts.trackSizes, opts.casEnabled);
    this.evictor = new Evictor(this.slabs, this.lru, this.links, this.liveness, counters, opts.evictions, this.scalars);
    this.allocator = new ItemAllocator(this.slabs, this.evictor, this.links);
  }

  /** What another thread passes as the `attach` option to work on this same table. */
  get buffers(): StoreBuffers {
    const sab = (a: { buffer: ArrayBufferLike }) => a.buffer as SharedArrayBuffer;
    return {
      slabs: this.slabs.buffers,
      table: this.index.table,
      lruEnds: this.lru.buffer,
      scalars: sab(this.scalars),
      cls: sab(this.cls),
      g: sab(this.g),
      sizes: sab(this.sizes),
    };
  }

  // ------------------------------------------------------------------ item fields

  itemFlags(h: Handle): number {
    return this.u32[h * 2 + F_FLAGS];
  }

  /** The item's CAS, or 0n when CAS is disabled (-C). */
  itemCas(h: Handle): bigint {
    return this.casEnabled ? this.u64[h] : 0n;
  }

  /** The item's stored CAS even when CAS is disabled (-C): its replication version. */
  itemVersion(h: Handle): bigint {
    return this.u64[h];
  }

  /** itemVersion() as two u32 numbers, high and low word: no BigInt (replication's hot path). */
  itemVersionHigh(h: Handle): number {
    return this.u32[h * 2 + F_CAS_HI];
  }

  itemVersionLow(h: Handle): number {
    return this.u32[h * 2 + F_CAS_LO];
  }

  itemValueLength(h: Handle): number {
    return this.u32[h * 2 + F_NBYTES];
  }

  itemKeyLength(h: Handle): number {
    return this.bytes[h * 8 + B_NKEY];
  }

  /** Copies the key and then the value into target at offset; returns the offset after them. */
  copyKeyAndValue(h: Handle, target: Buffer, offset: number): number {
    return this.values.copyKeyAndValueOut(h, target, offset);
  }

  /** Copy the value into target at offset; returns bytes copied. */
  copyValue(h: Handle, target: Buffer, offset: number): number {
    return this.values.copyOut(h, target, offset);
  }

  /** A copy of the key bytes. */
  itemKey(h: Handle): Buffer {
    const start = h * 8 + HEADER_BYTES;
    const key = Buffer.allocUnsafe(this.bytes[h * 8 + B_NKEY]);
    this.bytes.copy(key, 0, start, start + key.length);
    return key;
  }

  /** Remaining TTL in seconds, 0 = never expires. */
  itemTtl(h: Handle): number {
    const exptime = this.u32[h * 2 + F_EXPTIME];
    return exptime === 0 ? 0 : Math.max(1, exptime - this.clock.now());
  }

  /** The item's exptime on the store's clock, 0 = never. */
  itemExptime(h: Handle): number {
    return this.u32[h * 2 + F_EXPTIME];
  }

  get itemCount(): number {
    return this.g[C.G_CURR_ITEMS];
  }

  /** Changes whenever a slab page moves to another class; a handle kept across a change may point inside an item. */
  get layoutVersion(): number {
    return this.slabs.pageMoves;
  }

  // ------------------------------------------------------------------ lookups

  /** find + lazy expiry: a dead item is unlinked and reported missing. The key is src's [start, start + n). */
  lookup(src: DataView, start: number, n: number, hv: number, countStats: boolean): number {
    const h = this.index.findAt(src, start, n, hv);
    if (h === 0) return 0;
    const dead = this.liveness.deadReason(h, this.now);
    if (dead === 0) return h;
    if (countStats) this.g[dead === DEAD_FLUSHED ? C.G_GET_FLUSHED : C.G_GET_EXPIRED]++;
    this.links.unlink(h, hv);
    return 0;
  }

  /** Look up without touching LRU or stats; -1 if missing/expired. */
  peek(key: Buffer): Handle | -1 {
    const kv = keyView(key);
    const h = this.index.findAt(kv, 0, key.length, murmur3(kv, 0, key.length));
    return h !== 0 && this.liveness.deadReason(h, this.clock.now()) === 0 ? h : -1;
  }

  /** Whether h is linked and live now (no stats, no LRU bump). */
  isLive(h: Handle): boolean {
    return (this.bytes[h * 8 + B_ITFLAGS] & IT_LINKED) !== 0 && this.liveness.deadReason(h, this.clock.now()) === 0;
  }

  /**
   * Iterate live items in chunks (a full sync, lru_crawler metadump): returns the next cursor (0 when done). Uses a
   * reverse-binary bucket cursor, so items present for the whole scan are visited exactly once even if the hash
   * table grows between calls. Whole buckets are visited, so a call may pass `limit`.
   */
  scan(cursor: number, limit: number, fn: (h: Handle) => void): number {
    const now = this.clock.now();
    let v = cursor >>> 0;
    let count = 0;
    do {
      const mask = this.index.mask;
      for (let h = this.index.head(v & mask); h !== 0; h = this.u32[h * 2 + F_HNEXT]) {
        if (this.liveness.deadReason(h, now) !== 0) continue;
        fn(h);
        count++;
      }
      v = nextScanCursor(v, mask);
    } while (v !== 0 && count < limit);
    return v;
  }

  // ------------------------------------------------------------------ writes

  /** Whether a new value for item h's key would land in h's own class (so its chunk can be reused). */
  fitsInPlace(h: number, nkey: number, nbytes: number): boolean {
    const bytes = this.bytes;
    return (bytes[h * 8 + B_ITFLAGS] & IT_CHUNKED) === 0 && this.slabs.classFor(itemTotal(nkey, nbytes)) === bytes[h * 8 + B_CLSID];
  }

  /**
   * Replaces a linked item's value in its own chunk: same effect as linking a new item (LRU head, total_items),
   * without touching the allocator or the hash chain. Safe only while one thread owns the store; shared readers
   * would need the item's bucket lock here. local: a client's store (a new CAS, counted as cmd_set); else a
   * replicated item, whose version the caller writes.
   */
  overwrite(h: number, flags: number, exptime: number, src: Buffer, start: number, nbytes: number, local: boolean): void {
    const u32 = this.u32;
    const oldTotal = this.links.ntotal(h);
    const oldHeld = this.links.heldBytes(h);
    u32[h * 2 + F_TIME] = this.now;
    u32[h * 2 + F_EXPTIME] = exptime;
    u32[h * 2 + F_NBYTES] = nbytes;
    u32[h * 2 + F_FLAGS] = flags;
    this.bytes[h * 8 + B_ITFLAGS] = IT_LINKED;
    this.values.writeFrom(h, 0, src, start, nbytes);
    if (local) this.cas.assign(h);
    const newTotal = this.links.ntotal(h);
    const cls = this.bytes[h * 8 + B_CLSID];
    const row = cls * C.C_FIELDS;
    if (local) this.cls[row + C.C_CMD_SET]++;
    this.cls[row + C.C_MEM_REQUESTED] += newTotal - oldTotal;
    this.g[C.G_BYTES] += this.links.heldBytes(h) - oldHeld;
    this.g[C.G_TOTAL_ITEMS]++;
    if (this.trackSizes) {
      this.sizes[Math.ceil(oldTotal / 32)]--;
      this.sizes[Math.ceil(newTotal / 32)]++;
    }
    if (this.lru.head(cls) !== h) {
      this.lru.remove(h, cls);
      this.lru.pushHead(h, cls);
    }
  }
}
