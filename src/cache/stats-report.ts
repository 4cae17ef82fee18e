import * as C from './counters.ts';
import type { SlabAllocator } from './slabs.ts';

/** What the stats reports read from a store. */
export interface StatsView {
  readonly g: Float64Array;
  readonly cls: Float64Array;
  readonly slabs: SlabAllocator;
  readonly memoryLimit: number;
  readonly hashPower: number;
  readonly hashBytes: number;
  readonly now: number;
  /** Last access time of the class's LRU tail, -1 if the class is empty. */
  tailTime(cls: number): number;
  /** Item counts per 32-byte size bucket, null without track_sizes. */
  readonly sizes: Float64Array | null;
}

/** Item-related fields of plain `stats`, in memcached's order (the server merges them with mergeGeneralStats()). */
export function statsGeneral(v: StatsView): Array<[string, string | number | bigint]> {
  const g = v.g;
  const sum = (field: number): number => {
    let total = 0;
    for (let cls = 1; cls <= v.slabs.largestClass; cls++) total += v.cls[cls * C.C_FIELDS + field];
    return total;
  };
  return [
    ['cmd_get', g[C.G_CMD_GET]],
    ['cmd_set', sum(C.C_CMD_SET)],
    ['cmd_touch', g[C.G_CMD_TOUCH]],
    ['get_hits', sum(C.C_GET_HITS)],
    ['get_misses', g[C.G_GET_MISSES]],
    ['get_expired', g[C.G_GET_EXPIRED]],
    ['get_flushed', g[C.G_GET_FLUSHED]],
    ['delete_misses', g[C.G_DELETE_MISSES]],
    ['delete_hits', sum(C.C_DELETE_HITS)],
    ['incr_misses', g[C.G_INCR_MISSES]],
    ['incr_hits', sum(C.C_INCR_HITS)],
    ['decr_misses', g[C.G_DECR_MISSES]],
    ['decr_hits', sum(C.C_DECR_HITS)],
    ['cas_misses', g[C.G_CAS_MISSES]],
    ['cas_hits', sum(C.C_CAS_HITS)],
    ['cas_badval', sum(C.C_CAS_BADVAL)],
    ['touch_hits', sum(C.C_TOUCH_HITS)],
    ['touch_misses', g[C.G_TOUCH_MISSES]],
    ['store_too_large', g[C.G_STORE_TOO_LARGE]],
    ['store_no_memory', g[C.G_STORE_NO_MEMORY]],
    ['limit_maxbytes', v.memoryLimit],
    ['hash_power_level', v.hashPower],
    ['hash_bytes', v.hashBytes],
    ['hash_is_expanding', 0],
    ['slab_reassign_rescues', g[C.G_SLAB_REASSIGN_RESCUES]],
    ['slab_reassign_chunk_rescues', 0],
    ['slab_reassign_evictions_nomem', g[C.G_SLAB_REASSIGN_EVICTIONS]],
    ['slab_reassign_inline_reclaim', 0],
    ['slab_reassign_busy_items', 0],
    ['slab_reassign_busy_deletes', 0],
    ['slab_reassign_running', 0],
    ['slabs_moved', g[C.G_SLABS_MOVED]],
    ['malloc_fails', 0],
    ['bytes', g[C.G_BYTES]],
    ['curr_items', g[C.G_CURR_ITEMS]],
    ['total_items', g[C.G_TOTAL_ITEMS]],
    ['slab_global_page_pool', v.slabs.classPages(0)],
    ['expired_unfetched', sum(C.C_EXPIRED_UNFETCHED)],
    ['evicted_unfetched', sum(C.C_EVICTED_UNFETCHED)],
    ['evicted_active', sum(C.C_EVICTED_ACTIVE)],
    ['evictions', sum(C.C_EVICTED)],
    ['reclaimed', sum(C.C_RECLAIMED)],
    ['crawler_reclaimed', sum(C.C_CRAWLER_RECLAIMED)],
    ['crawler_items_checked', sum(C.C_CRAWLER_CHECKED)],
    ['lrutail_reflocked', 0],
    ['moves_to_cold', 0],
    ['moves_to_warm', sum(C.C_MOVES_TO_WARM)],
    ['moves_within_lru', 0],
    ['direct_reclaims', sum(C.C_DIRECT_RECLAIMS)],
    ['lru_bumps_dropped', 0],
  ];
}

/** `stats items`: ['items:1:number', 3], ... for classes holding items. */
export function statsItems(v: StatsView): Array<[string, string | number]> {
  const out: Array<[string, string | number]> = [];
  const now = v.now;
  for (let cls = 1; cls <= v.slabs.largestClass; cls++) {
    const row = cls * C.C_FIELDS;
    const c = v.cls;
    const number = c[row + C.C_NUMBER];
    if (number === 0) continue;
    const tailTime = v.tailTime(cls);
    const p = `items:${cls}:`;
    out.push(
      [`${p}number`, number],
      [`${p}number_hot`, 0],
      [`${p}number_warm`, 0],
      [`${p}number_cold`, number],
      [`${p}age_hot`, 0],
      [`${p}age_warm`, 0],
      [`${p}age`, tailTime < 0 ? 0 : Math.max(0, now - tailTime)],
      [`${p}mem_requested`, c[row + C.C_MEM_REQUESTED]],
      [`${p}evicted`, c[row + C.C_EVICTED]],
      [`${p}evicted_nonzero`, c[row + C.C_EVICTED_NONZERO]],
      [`${p}evicted_time`, c[row + C.C_EVICTED_TIME]],
      [`${p}outofmemory`, c[row + C.C_OUTOFMEMORY]],
      [`${p}tailrepairs`, 0],
      [`${p}reclaimed`, c[row + C.C_RECLAIMED]],
      [`${p}expired_unfetched`, c[row + C.C_EXPIRED_UNFETCHED]],
      [`${p}evicted_unfetched`, c[row + C.C_EVICTED_UNFETCHED]],
      [`${p}evicted_active`, c[row + C.C_EVICTED_ACTIVE]],
      [`${p}crawler_reclaimed`, c[row + C.C_CRAWLER_RECLAIMED]],
      [`${p}crawler_items_checked`, c[row + C.C_CRAWLER_CHECKED]],
      [`${p}lrutail_reflocked`, 0],
      [`${p}moves_to_cold`, 0],
      [`${p}moves_to_warm`, c[row + C.C_MOVES_TO_WARM]],
      [`${p}moves_within_lru`, 0],
      [`${p}direct_reclaims`, c[row + C.C_DIRECT_RECLAIMS]],
      [`${p}hits_to_hot`, 0],
      [`${p}hits_to_warm`, 0],
      [`${p}hits_to_cold`, c[row + C.C_GET_HITS]],
      [`${p}hits_to_temp`, 0],
    );
  }
  return out;
}

/** `stats slabs`: ['1:chunk_size', 96], ..., ['active_slabs', n], ['total_malloced', n] */
export function statsSlabs(v: StatsView): Array<[string, string | number]> {
  const out: Array<[string, string | number]> = [];
  const slabs = v.slabs;
  let active = 0;
  for (let cls = 1; cls <= v.slabs.largestClass; cls++) {
    const pages = slabs.classPages(cls);
    if (pages === 0) continue;
    active++;
    const row = cls * C.C_FIELDS;
    const c = v.cls;
    const perPage = slabs.perPage[cls];
    out.push(
      [`${cls}:chunk_size`, v.slabs.sizes[cls]],
      [`${cls}:chunks_per_page`, perPage],
      [`${cls}:total_pages`, pages],
      [`${cls}:total_chunks`, pages * perPage],
      [`${cls}:used_chunks`, slabs.usedChunks(cls)],
      // memcached 1.6 splits new pages into the free list at once, so its free_chunks_end is 0.
      [`${cls}:free_chunks`, slabs.freeChunks(cls) + slabs.freeChunksEnd(cls)],
      [`${cls}:free_chunks_end`, 0],
      [`${cls}:get_hits`, c[row + C.C_GET_HITS]],
      [`${cls}:cmd_set`, c[row + C.C_CMD_SET]],
      [`${cls}:delete_hits`, c[row + C.C_DELETE_HITS]],
      [`${cls}:incr_hits`, c[row + C.C_INCR_HITS]],
      [`${cls}:decr_hits`, c[row + C.C_DECR_HITS]],
      [`${cls}:cas_hits`, c[row + C.C_CAS_HITS]],
      [`${cls}:cas_badval`, c[row + C.C_CAS_BADVAL]],
      [`${cls}:touch_hits`, c[row + C.C_TOUCH_HITS]],
    );
  }
  out.push(['active_slabs', active], ['total_malloced', slabs.totalMalloced]);
  return out;
}

/** `stats sizes`: [['96', 3], ...] in 32-byte buckets of memcached's item size, or [['sizes_status', 'disabled']]. */
export function statsSizes(v: StatsView): Array<[string, string | number]> {
  const sizes = v.sizes;
  if (sizes === null) return [['sizes_status', 'disabled']];
  const out: Array<[string, string | number]> = [];
  for (let i = 0; i < sizes.length; i++) if (sizes[i] > 0) out.push([String(i * 32), sizes[i]]);
  return out;
}
