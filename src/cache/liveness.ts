import { hotWords, W_OLDEST_CAS_HI, W_OLDEST_CAS_LO, W_OLDEST_LIVE } from './shared-scalars.ts';
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
   * passed; 0 = none) and, with CAS, the watermark below which items count as flushed (0 = none).
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

  /** 0 if item h is live at `now`, else DEAD_EXPIRED or DEAD_FLUSHED. */
  deadReason(h: number, now: number): number {
    const u32 = this.#u32;
    const exptime = u32[h * 2 + F_EXPTIME];
    if (exptime !== 0 && exptime <= now) return DEAD_EXPIRED;
    const s = this.#s;
    const oldest = s[W_OLDEST_LIVE];
    if (oldest === 0 || oldest > now) return 0;
    if (u32[h * 2 + F_TIME] <= oldest) return DEAD_FLUSHED;
    const hi = s[W_OLDEST_CAS_HI];
    const lo = s[W_OLDEST_CAS_LO];
    if (hi === 0 && lo === 0) return 0;
    const ihi = u32[h * 2 + F_CAS_HI];
    const ilo = u32[h * 2 + F_CAS_LO];
    if (ihi === 0 && ilo === 0) return 0;
    return ihi < hi || (ihi === hi && ilo < lo) ? DEAD_FLUSHED : 0;
  }
}
