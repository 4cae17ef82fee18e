/** Per slab class counters (one row per class id in a Float64Array). */
export const C_NUMBER = 0;
export const C_MEM_REQUESTED = 1;
export const C_EVICTED = 2;
export const C_EVICTED_NONZERO = 3;
export const C_EVICTED_TIME = 4;
export const C_OUTOFMEMORY = 5;
export const C_RECLAIMED = 6;
export const C_EXPIRED_UNFETCHED = 7;
export const C_EVICTED_UNFETCHED = 8;
export const C_EVICTED_ACTIVE = 9;
export const C_CRAWLER_RECLAIMED = 10;
export const C_CRAWLER_CHECKED = 11;
export const C_DIRECT_RECLAIMS = 12;
export const C_GET_HITS = 13;
export const C_CMD_SET = 14;
export const C_DELETE_HITS = 15;
export const C_INCR_HITS = 16;
export const C_DECR_HITS = 17;
export const C_CAS_HITS = 18;
export const C_CAS_BADVAL = 19;
export const C_TOUCH_HITS = 20;
/** Active tail items given a second chance instead of being evicted (memcached's COLD -> WARM move). */
export const C_MOVES_TO_WARM = 21;
export const C_FIELDS = 24;

/** Store-wide counters. */
export const G_CMD_GET = 0;
export const G_CMD_TOUCH = 1;
export const G_GET_MISSES = 2;
export const G_GET_EXPIRED = 3;
export const G_GET_FLUSHED = 4;
export const G_DELETE_MISSES = 5;
export const G_INCR_MISSES = 6;
export const G_DECR_MISSES = 7;
export const G_CAS_MISSES = 8;
export const G_TOUCH_MISSES = 9;
export const G_STORE_TOO_LARGE = 10;
export const G_STORE_NO_MEMORY = 11;
export const G_TOTAL_ITEMS = 12;
export const G_CURR_ITEMS = 13;
export const G_BYTES = 14;
export const G_SLABS_MOVED = 16;
export const G_SLAB_REASSIGN_EVICTIONS = 17;
export const G_SLAB_REASSIGN_RESCUES = 18;
export const G_FIELDS = 20;

/** `stats reset`: zeroes the history counters; those describing the contents (item counts, bytes) stay. */
export function resetHistory(cls: Float64Array, g: Float64Array): void {
  for (let i = 0; i < cls.length; i++) {
    const field = i % C_FIELDS;
    if (field !== C_NUMBER && field !== C_MEM_REQUESTED) cls[i] = 0;
  }
  for (let i = 0; i < g.length; i++) {
    if (i !== G_CURR_ITEMS && i !== G_BYTES) g[i] = 0;
  }
}
