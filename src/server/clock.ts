import type { Clock } from '../cache/clock.ts';

/**
 * memcached's clock: an integer "seconds since start" read from a cached value that a
 * 1 s timer refreshes from the monotonic clock, so reading it on the hot path costs nothing.
 * Starts at 2 and `started` is back-dated by 2 s, as memcached does.
 */
export class TickingClock implements Clock {
  readonly started: number;
  readonly #startNs: bigint;
  #now = 2;
  #timer: NodeJS.Timeout | null = null;
  #listeners: Array<(now: number) => void> = [];

  constructor() {
    this.#startNs = process.hrtime.bigint();
    this.started = Math.floor(Date.now() / 1000) - 2;
  }

  now(): number {
    return this.#now;
  }

  /** Re-reads the monotonic clock. */
  tick(): number {
    this.#now = 2 + Number((process.hrtime.bigint() - this.#startNs) / 1_000_000_000n);
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
