/** The store's notion of time, injected so tests can drive it. */
export interface Clock {
  /** seconds since process start (integer, like memcached's current_time) */
  now(): number;
  /** unix time (seconds) of process start */
  readonly started: number;
}

/**
 * Real time. Like memcached, `started` is set 2 seconds in the past so that
 * `now()` starts at 2 and relative times never collide with "0 = never".
 *
 * Like memcached's clock_handler, the current second is cached and refreshed by
 * an unref'd timer: reading the system clock costs up to ~180 ns on some VMs,
 * as much as a whole cache lookup. close() stops the timer.
 */
export class SystemClock implements Clock {
  readonly started: number;
  readonly #startedMs: number;
  #now: number;
  readonly #timer: NodeJS.Timeout;

  constructor(nowMs: number = Date.now(), refreshMs = 100) {
    this.#startedMs = nowMs - 2000;
    this.started = Math.floor(this.#startedMs / 1000);
    this.#now = this.#read();
    this.#timer = setInterval(() => {
      this.#now = this.#read();
    }, refreshMs);
    this.#timer.unref();
  }

  now(): number {
    return this.#now;
  }

  close(): void {
    clearInterval(this.#timer);
  }

  #read(): number {
    return Math.floor((Date.now() - this.#startedMs) / 1000);
  }
}

/** A clock moved by hand (tests, benchmarks). */
export class FakeClock implements Clock {
  readonly started: number;
  #now: number;

  constructor(started = 1_700_000_000, now = 2) {
    this.started = started;
    this.#now = now;
  }

  now(): number {
    return this.#now;
  }

  advance(seconds: number): void {
    this.#now += seconds;
  }

  set(now: number): void {
    this.#now = now;
  }
}
