/**
 * The store's few scalar fields that are not per item or per class, in one shared array so that every thread
 * attached to the store (repcache -t N) sees the same values: the CAS counter, flush_all's watermarks, the hash
 * table's size, the slab arena's page count, the crawler's and a flush sweep's cursors.
 */
export const S_CAS_COUNTER = 0;
export const S_OLDEST_LIVE = 1;
export const S_OLDEST_CAS_HI = 2;
export const S_OLDEST_CAS_LO = 3;
export const S_LAST_PAGE_MOVE = 4;
export const S_PAGES_USED = 5;
export const S_PAGE_MOVES = 6;
export const S_HASH_MASK = 7;
export const S_HASH_POWER = 8;
export const S_HASH_EXPANSIONS = 9;
export const S_CRAWL_BUCKET = 10;
export const S_SWEEP_FROM = 11;
export const S_SWEEP_BUCKET = 12;
const S_FIELDS = 16;

export function newScalars(): Float64Array {
  return new Float64Array(new SharedArrayBuffer(S_FIELDS * 8));
}
