import type { Clock } from './clock.ts';

export type { Clock } from './clock.ts';

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
  clock: Clock;
  /** CAS generator; default a counter 1, 2, 3 ... */
  nextCas?: () => bigint;
}

export type StoreMode = 'set' | 'add' | 'replace' | 'append' | 'prepend' | 'cas';
export type StoreResult = 'STORED' | 'NOT_STORED' | 'EXISTS' | 'NOT_FOUND' | 'TOO_LARGE' | 'NO_MEMORY';
export type ArithResult = bigint | 'NOT_FOUND' | 'NON_NUMERIC' | 'NO_MEMORY';
/** An item handle: an integer >= 0, valid until the next mutating call on the store. */
export type Handle = number;

const notImplemented = (): never => {
  throw new Error('not implemented');
};

export class SlabStore {
  /** chunk size per class id (index 1..) */
  readonly slabClassSizes: readonly number[] = [];

  constructor(opts: StoreOptions) {
    void opts;
  }

  /** set/add/replace/append/prepend/cas; `cas` is only read for mode 'cas'. */
  store(mode: StoreMode, key: Buffer, flags: number, exptime: number, data: Buffer, cas: bigint): StoreResult {
    void [mode, key, flags, exptime, data, cas];
    return notImplemented();
  }

  /** Counts cmd_get/get_hits/misses, LRU bump, lazy expiry. */
  get(key: Buffer): Handle | -1 {
    void key;
    return notImplemented();
  }

  /** gat/gats: get and update the exptime. */
  getAndTouch(key: Buffer, exptime: number): Handle | -1 {
    void [key, exptime];
    return notImplemented();
  }

  touch(key: Buffer, exptime: number): boolean {
    void [key, exptime];
    return notImplemented();
  }

  delete(key: Buffer): boolean {
    void key;
    return notImplemented();
  }

  /** Remove without stats; used after a too-large set (memcached unlinks the old item). */
  unlink(key: Buffer): void {
    void key;
    notImplemented();
  }

  /** incr/decr by an unsigned 64-bit delta. Returns the new value. */
  arith(key: Buffer, incr: boolean, delta: bigint): ArithResult {
    void [key, incr, delta];
    return notImplemented();
  }

  /** flush_all [exptime]: exptime as sent (0 = now). */
  flushAll(exptime: number): void {
    void exptime;
    notImplemented();
  }

  itemFlags(h: Handle): number {
    void h;
    return notImplemented();
  }

  /** The item's CAS, or 0n when CAS is disabled (-C). */
  itemCas(h: Handle): bigint {
    void h;
    return notImplemented();
  }

  itemValueLength(h: Handle): number {
    void h;
    return notImplemented();
  }

  /** Copy the value (without the trailing \r\n) into target at offset; returns bytes copied. */
  copyValue(h: Handle, target: Buffer, offset: number): number {
    void [h, target, offset];
    return notImplemented();
  }

  /** A copy of the key bytes. */
  itemKey(h: Handle): Buffer {
    void h;
    return notImplemented();
  }

  /** Remaining TTL in seconds, 0 = never expires. */
  itemTtl(h: Handle): number {
    void h;
    return notImplemented();
  }

  /** Crawler step: examine up to `budget` items, free the expired/flushed ones. Returns items reclaimed. */
  reclaimExpired(budget: number): number {
    void budget;
    return notImplemented();
  }

  /** Item-related fields of plain `stats`, in memcached's order. */
  statsGeneral(): Array<[string, string | number | bigint]> {
    return notImplemented();
  }

  /** `stats items`: ['items:1:number', 3], ... */
  statsItems(): Array<[string, string | number]> {
    return notImplemented();
  }

  /** `stats slabs`: ['1:chunk_size', 96], ..., ['active_slabs', n], ['total_malloced', n] */
  statsSlabs(): Array<[string, string | number]> {
    return notImplemented();
  }

  /** `stats sizes`: [['96', 3], ...] or [['sizes_status', 'disabled']]. */
  statsSizes(): Array<[string, string | number]> {
    return notImplemented();
  }

  /** `stats cachedump <cls> <limit>`: ITEM lines (without \r\n), or BAD_CLASS. */
  cachedump(classId: number, limit: number): string[] | 'BAD_CLASS' {
    void [classId, limit];
    return notImplemented();
  }

  resetStats(): void {
    notImplemented();
  }

  // --- replication-facing (used by src/replication) ---

  /** Look up without touching LRU or stats; -1 if missing/expired. */
  peek(key: Buffer): Handle | -1 {
    void key;
    return notImplemented();
  }

  /** Store a replicated item keeping the given CAS (version); applied only if cas > existing item's cas (or absent). */
  applyRemote(
    key: Buffer,
    flags: number,
    ttlSeconds: number,
    data: Buffer,
    cas: bigint,
  ): 'APPLIED' | 'STALE' | 'TOO_LARGE' | 'NO_MEMORY' {
    void [key, flags, ttlSeconds, data, cas];
    return notImplemented();
  }

  /** Delete a replicated item only if its cas <= the given version. */
  applyRemoteDelete(key: Buffer, cas: bigint): boolean {
    void [key, cas];
    return notImplemented();
  }

  /** Iterate live items in chunks for a full sync: returns the next cursor (0 when done). */
  scan(cursor: number, limit: number, fn: (h: Handle) => void): number {
    void [cursor, limit, fn];
    return notImplemented();
  }

  get itemCount(): number {
    return notImplemented();
  }
}
