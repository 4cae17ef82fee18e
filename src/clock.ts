/**
 * The one clock: a monotonic `now()` in milliseconds and one-shot timers, injected into every state machine.
 * Daemons pass `systemClock` (or `backgroundClock`); tests pass the FakeClock of test/support/fake-clock.ts.
 * The cache's whole seconds (CacheClock) are derived from it, and wall-clock time for versions (turnNow) is
 * read here too, so nothing else reads the system's time.
 */
export type TimerId = number;

export interface Clock {
  /** Milliseconds, monotonic (never steps back with the wall clock). */
  now(): number;
  setTimer(ms: number, fn: () => void): TimerId;
  clearTimer(id: TimerId): void;
}

let nextSystemTimerId = 1;
const systemTimers = new Map<TimerId, NodeJS.Timeout>();

function nodeClock(keepAlive: boolean): Clock {
  return {
    now: () => performance.now(),
    setTimer(ms, fn) {
      const id = nextSystemTimerId++;
      const t = setTimeout(() => {
        systemTimers.delete(id);
        fn();
      }, Math.max(0, ms));
      if (!keepAlive) t.unref();
      systemTimers.set(id, t);
      return id;
    },
    clearTimer(id) {
      const t = systemTimers.get(id);
      if (t !== undefined) {
        clearTimeout(t);
        systemTimers.delete(id);
      }
    },
  };
}

export const systemClock: Clock = nodeClock(true);

/** systemClock whose pending timers alone do not keep the process running (e.g. a delayed flush_all). */
export const backgroundClock: Clock = nodeClock(false);

/** A single re-armable timer slot: arming replaces whatever was pending. */
export class TimerSlot {
  #clock: Clock;
  #id: TimerId | null = null;
  #deadline: number | null = null;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  arm(ms: number, fn: () => void): void {
    this.cancel();
    this.#deadline = this.#clock.now() + ms;
    this.#id = this.#clock.setTimer(ms, () => {
      this.#id = null;
      this.#deadline = null;
      fn();
    });
  }

  cancel(): void {
    if (this.#id !== null) this.#clock.clearTimer(this.#id);
    this.#id = null;
    this.#deadline = null;
  }

  get armed(): boolean {
    return this.#id !== null;
  }

  /** Absolute deadline on the clock, or null. */
  get deadline(): number | null {
    return this.#deadline;
  }
}

/** memcached's clock starts here (process_started is back-dated by ITEM_UPDATE_INTERVAL + 2 s). */
export const CACHE_CLOCK_ORIGIN = 62;
/** `uptime` is the cache clock minus this. */
export const UPTIME_OFFSET = 60;

/**
 * memcached's current_time: whole seconds since the process started, derived from a Clock. Like memcached's it
 * starts at 62 (it shows where a client sees it wrap, e.g. a meta `t` flag of an item already expired) and it is
 * a cached value, so reading it on the hot path costs nothing: tick() re-reads the clock (the cache server does,
 * from its timer).
 */
export class CacheClock {
  /** Unix time (seconds) at which now() was 0: absolute exptimes are counted from it. */
  readonly started: number;
  /** The clock these seconds are read from: timers that belong with them run on it (a test's fake clock drives both). */
  readonly timers: Clock;
  readonly #startMs: number;
  #now = CACHE_CLOCK_ORIGIN;
  /** share(): the newest second any thread's clock ticked to. */
  #shared: Int32Array | null = null;

  /** startMs: the clock's reading taken as 0 (default: now); threads sharing a store agree on it (repcache -t N). */
  constructor(clock: Clock = backgroundClock, wallMs: number = Date.now(), startMs: number = clock.now()) {
    this.timers = clock;
    this.#startMs = startMs;
    this.started = Math.floor(wallMs / 1000) - CACHE_CLOCK_ORIGIN;
  }

  /** A word for share(), to be given to every thread's clock. */
  static sharedSecond(): SharedArrayBuffer {
    const b = new SharedArrayBuffer(4);
    new Int32Array(b)[0] = CACHE_CLOCK_ORIGIN;
    return b;
  }

  /**
   * Clocks of several threads (repcache -t N) that share `buffer` read the newest second any of them ticked to:
   * each ticks on its own timer, and without this one thread could still read the second before another's
   * flush_all, whose items it then stamped as flushed.
   */
  share(buffer: SharedArrayBuffer): void {
    this.#shared = new Int32Array(buffer, 0, 1);
  }

  now(): number {
    const s = this.#shared;
    return s === null ? this.#now : s[0];
  }

  /** Re-reads the clock; returns the new now(). */
  tick(): number {
    const now = (this.#now = CACHE_CLOCK_ORIGIN + Math.floor((this.timers.now() - this.#startMs) / 1000));
    const s = this.#shared;
    if (s === null) return now;
    for (let seen = Atomics.load(s, 0); seen < now; ) {
      const was = Atomics.compareExchange(s, 0, seen, now);
      if (was === seen) break;
      seen = was;
    }
    return s[0];
  }
}

let turnWallMs = 0;
let turnWallValid = false;

function expireTurn(): void {
  turnWallValid = false;
}

/**
 * Date.now() read at most once per event-loop turn. Every replicated set needs the time twice (its HLC version
 * and its change record); a busy node handles hundreds of sets per turn, and Date.now() is a V8 runtime call. The
 * value is at most one turn old: it expires in the same turn's check phase, and the loop does not block in
 * poll while an immediate is pending.
 */
export function turnNow(): number {
  if (!turnWallValid) {
    turnWallMs = Date.now();
    turnWallValid = true;
    setImmediate(expireTurn);
  }
  return turnWallMs;
}
