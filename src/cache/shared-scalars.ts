/**
 * The store's few scalar fields that are not per item or per class, in one shared array so that every thread
 * attached to the store (repcache -t N) sees the same values: the CAS counter, flush_all's watermarks, the hash
 * table's size, the slab arena's page count and limit, the crawler's and a flush sweep's cursors.
 */
export const S_CAS_COUNTER = 0;
// 1..3: flush_all's watermarks, kept as u32 words (W_OLDEST_*)
export const S_LAST_PAGE_MOVE = 4;
export const S_PAGES_USED = 5;
export const S_PAGE_MOVES = 6;
export const S_HASH_MASK = 7;
export const S_HASH_POWER = 8;
export const S_HASH_EXPANSIONS = 9;
export const S_CRAWL_BUCKET = 10;
export const S_SWEEP_FROM = 11;
export const S_SWEEP_BUCKET = 12;
/** `cache_memlimit`'s page limit and `slabs automove`'s level: set on one thread, obeyed by all. */
export const S_LIMIT_PAGES = 13;
export const S_AUTOMOVE = 14;
const S_FIELDS = 16;

/** The fields read on every lookup are also kept as u32 (hotWords()): a Float64Array read costs a conversion. */
export const W_HASH_MASK = 0;
export const W_OLDEST_LIVE = 1;
export const W_OLDEST_CAS_HI = 2;
export const W_OLDEST_CAS_LO = 3;
/** A flush_all from a peer: items whose version is below this are flushed (0 = none; see ItemLiveness). */
export const W_FLOOR_HI = 4;
export const W_FLOOR_LO = 5;
const W_FIELDS = 8;

export function newScalars(): Float64Array {
  const s = new Float64Array(new SharedArrayBuffer(S_FIELDS * 8 + W_FIELDS * 4), 0, S_FIELDS);
  s[S_AUTOMOVE] = 1;
  return s;
}

/** The u32 words of the same shared buffer (W_* fields). */
export function hotWords(scalars: Float64Array): Uint32Array {
  return new Uint32Array(scalars.buffer, S_FIELDS * 8, W_FIELDS);
}
