/**
 * Time as the pure cores see it: a monotonic `now()` in milliseconds and one-shot timers.
 * The daemon passes `systemClock`; tests pass a FakeClock (src/ha/fake-clock.ts).
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
