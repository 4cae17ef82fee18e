import type { Clock } from '../cache/clock.ts';

/**
 * memcached's clock: an integer "seconds since start" read from a cached value that a
 * 1 s timer refreshes from the monotonic clock, so reading it on the hot path costs nothing.
 * Like memcached, `started` is back-dated by ITEM_UPDATE_INTERVAL + 2 s, so the clock starts at 62
 * (it shows where a client sees it wrap, e.g. a meta `t` flag of an item already expired) and
 * `uptime` is now() - UPTIME_OFFSET.
 */
const ORIGIN = 62;
export const UPTIME_OFFSET = 60;

export class TickingClock implements Clock {
  readonly started: number;
  readonly #startNs: bigint;
  #now = ORIGIN;
  #timer: NodeJS.Timeout | null = null;
  #listeners: Array<(now: number) => void> = [];

  constructor() {
    this.#startNs = process.hrtime.bigint();
    this.started = Math.floor(Date.now() / 1000) - ORIGIN;
  }

  now(): number {
    return this.#now;
  }

  /** Re-reads the monotonic clock. */
  tick(): number {
    this.#now = ORIGIN + Number((process.hrtime.bigint() - this.#startNs) / 1_000_000_000n);
    for (const f of this.#listeners) f(this.#now);
    return this.#now;
  }

  /** Calls f after every tick (about once a second while started). */
  onTick(f: (now: number) => void): void {
    this.#listeners.push(f);
  }

  start(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => this.tick(), 1000);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    this.#listeners = [];
  }
}
