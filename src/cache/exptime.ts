import type { CacheClock } from '../clock.ts';

/** 30 days: larger exptimes are absolute unix times (memcached's REALTIME_MAXDELTA). */
export const REALTIME_MAXDELTA = 60 * 60 * 24 * 30;

/** Relative times are stored as u32. */
const MAX_RELATIVE = 0xffffffff;

/**
 * memcached's realtime(EXPTIME_TO_POSITIVE_TIME(exptime)): a protocol exptime
 * to seconds since process start. 0 = never; <= 30 days relative; larger is
 * absolute (at or before process start => 1, i.e. already expired); negative
 * => expired at once.
 */
export function relativeExptime(exptime: number, clock: CacheClock, now: number = clock.now()): number {
  if (exptime === 0) return 0;
  if (exptime < 0) return 1;
  if (exptime > REALTIME_MAXDELTA) {
    if (exptime <= clock.started) return 1;
    return Math.min(exptime - clock.started, MAX_RELATIVE);
  }
  return Math.min(exptime + now, MAX_RELATIVE);
}
