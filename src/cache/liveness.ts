import { hotWords, W_FLOOR_HI, W_FLOOR_LO, W_OLDEST_CAS_HI, W_OLDEST_CAS_LO, W_OLDEST_LIVE } from './shared-scalars.ts';
import { F_CAS_HI, F_CAS_LO, F_EXPTIME, F_TIME } from './layout.ts';

export const DEAD_EXPIRED = 1;
export const DEAD_FLUSHED = 2;

/**
 * Whether an item is still live: not past its exptime and not invalidated by
 * flush_all. Dead items stay in memory until a lookup, the crawler or an
 * allocation finds them.
 */
export class ItemLiveness {
  readonly #u32: Uint32Array;
  /**
   * In the store's shared scalars: flush_all's time (items last updated at or before it are dead once it has
   * passed; 0 = none) and, with CAS, the watermark below which items count as flushed (0 = none); and the version
   * floor of the flushes from peers, below which items are flushed whatever flush_all's marks say (0 = none).
   */
  readonly #s: Uint32Array;

  constructor(u32: Uint32Array, scalars: Float64Array) {
    this.#u32 = u32;
    this.#s = hotWords(scalars);
  }

  setOldestLive(time: number): void {
    this.#s[W_OLDEST_LIVE] = time;
  }

  setOldestCas(high: number, low: number): void {
    this.#s[W_OLDEST_CAS_HI] = high;
    this.#s[W_OLDEST_CAS_LO] = low;
  }

  /**
   * A flush_all from a peer (replication): items whose version is below (high, low) are flushed from now on. Kept
   * apart from flush_all's own marks, which a later delayed flush_all moves into the future: a peer's flush is never
   * undone.
   */
  raiseVersionFloor(high: number, low: number): void {
    const s = this.#s;
    const fhi = s[W_FLOOR_HI];
    if (high < fhi || (high === fhi && low <= s[W_FLOOR_LO])) return;
    s[W_FLOOR_HI] = high;
    s[W_FLOOR_LO] = low;
  }

  /** 0 if item h is live at `now`, else DEAD_EXPIRED or DEAD_FLUSHED. */
  deadReason(h: number, now: number): number {
    const u32 = this.#u32;
    const exptime = u32[h * 2 + F_EXPTIME];
    if (exptime !== 0 && exptime <= now) return DEAD_EXPIRED;
    const s = this.#s;
    const oldest = s[W_OLDEST_LIVE];
    if (oldest !== 0 && oldest <= now) {
      if (u32[h * 2 + F_TIME] <= oldest) return DEAD_FLUSHED;
      if (olderThan(u32, h, s[W_OLDEST_CAS_HI], s[W_OLDEST_CAS_LO])) return DEAD_FLUSHED;
    }
    return olderThan(u32, h, s[W_FLOOR_HI], s[W_FLOOR_LO]) ? DEAD_FLUSHED : 0;
  }
}

/** Whether item h's CAS is below (hi, lo); never when either is 0 (none). */
function olderThan(u32: Uint32Array, h: number, hi: number, lo: number): boolean {
  if (hi === 0 && lo === 0) return false;
  const ihi = u32[h * 2 + F_CAS_HI];
  const ilo = u32[h * 2 + F_CAS_LO];
  if (ihi === 0 && ilo === 0) return false;
  return ihi < hi || (ihi === hi && ilo < lo);
}
