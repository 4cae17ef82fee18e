import { CACHE_CLOCK_ORIGIN, CacheClock, type Clock, type TimerId } from '../../src/clock.ts';

interface FakeTimer {
  id: TimerId;
  at: number;
  seq: number;
  fn: () => void;
}

/**
 * Deterministic Clock for tests: time moves only through advance()/advanceTo(); due timers run in deadline
 * order (ties in creation order), each seeing now() equal to its own deadline. Timers created while advancing
 * run in the same advance() if they fall due. stall() models a stopped process: time moves on and no timer
 * runs; the overdue ones then run late, at the next advance(), each seeing the stalled-to time.
 */
export class FakeClock implements Clock {
  #now: number;
  #nextId = 1;
  #seq = 0;
  #timers = new Map<TimerId, FakeTimer>();

  constructor(start = 0) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimer(ms: number, fn: () => void): TimerId {
    const id = this.#nextId++;
    this.#timers.set(id, { id, at: this.#now + Math.max(0, ms), seq: this.#seq++, fn });
    return id;
  }

  clearTimer(id: TimerId): void {
    this.#timers.delete(id);
  }

  advance(ms: number): void {
    this.advanceTo(this.#now + ms);
  }

  advanceTo(target: number): void {
    for (;;) {
      const next = this.#nextDue(target);
      if (next === undefined) break;
      this.#timers.delete(next.id);
      this.#now = Math.max(this.#now, next.at);
      next.fn();
    }
    if (target > this.#now) this.#now = target;
  }

  /** SIGSTOP for `ms`: time jumps, nothing runs; overdue timers fire (late) at the next advance(). */
  stall(ms: number): void {
    this.#now += ms;
  }

  /** Runs timers until none are left or `limitMs` has passed; returns the time advanced. */
  runAll(limitMs = 3_600_000): number {
    const start = this.#now;
    for (let next = this.nextDeadline(); next !== null && next <= start + limitMs; next = this.nextDeadline()) {
      this.advanceTo(next);
    }
    return this.#now - start;
  }

  /** Number of pending timers. */
  get pending(): number {
    return this.#timers.size;
  }

  /** Deadline of the earliest pending timer, or null. */
  nextDeadline(): number | null {
    let best: FakeTimer | undefined;
    for (const t of this.#timers.values()) if (!best || t.at < best.at || (t.at === best.at && t.seq < best.seq)) best = t;
    return best ? best.at : null;
  }

  #nextDue(target: number): FakeTimer | undefined {
    let best: FakeTimer | undefined;
    for (const t of this.#timers.values()) {
      if (t.at > target) continue;
      if (!best || t.at < best.at || (t.at === best.at && t.seq < best.seq)) best = t;
    }
    return best;
  }
}

/**
 * The cache's whole seconds (a real CacheClock) on a FakeClock: advance() and set() move the FakeClock and tick
 * the CacheClock, as the cache server's timer would. `started` is the unix time of the cache clock's zero.
 */
export class FakeCacheTime {
  readonly ms = new FakeClock();
  readonly clock: CacheClock;

  constructor(started = 1_700_000_000) {
    this.clock = new CacheClock(this.ms, (started + CACHE_CLOCK_ORIGIN) * 1000);
  }

  get started(): number {
    return this.clock.started;
  }

  now(): number {
    return this.clock.now();
  }

  advance(seconds: number): void {
    this.ms.advance(seconds * 1000);
    this.clock.tick();
  }

  /** Moves the cache clock forward to `now` seconds. */
  set(now: number): void {
    this.advance(now - this.clock.now());
  }
}
