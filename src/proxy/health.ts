import { TimerSlot, type Clock } from '../clock.ts';

export interface HealthPolicy {
  /** Consecutive failures (connection refused or lost, a timeout) that mark a server down. */
  failureLimit: number;
  /** First retry of a down server after this long; doubles after every failed retry, up to retryMaxMs. */
  retryInitialMs: number;
  retryMaxMs: number;
}

export type HealthState = 'up' | 'down';

export interface HealthEvents {
  /** The server was marked down (its requests go to the backup or fail at once) or up again. */
  changed(state: HealthState, reason: string): void;
  /** Time to try a down server again: connect to it, then report success() or failure(). */
  retry(): void;
}

export interface HealthStatus {
  state: HealthState;
  /** Consecutive failures so far. */
  failures: number;
  lastFailure: string | null;
  /** When down: ms until the next retry (null while one is in progress). */
  retryInMs: number | null;
  /** Times it was marked down. */
  downs: number;
}

/**
 * One backend server's health: up until `failureLimit` consecutive failures, then down; a down server is retried
 * after a delay that doubles on every failed retry. Pure: fed with success()/failure() by the connection
 * adapter, time from an injected clock.
 */
export class ServerHealth {
  readonly #policy: HealthPolicy;
  readonly #clock: Clock;
  readonly #events: HealthEvents;
  readonly #timer: TimerSlot;
  #state: HealthState = 'up';
  #failures = 0;
  #lastFailure: string | null = null;
  #backoffMs: number;
  #downs = 0;

  constructor(policy: HealthPolicy, clock: Clock, events: HealthEvents) {
    this.#policy = policy;
    this.#clock = clock;
    this.#events = events;
    this.#timer = new TimerSlot(clock);
    this.#backoffMs = policy.retryInitialMs;
  }

  get state(): HealthState {
    return this.#state;
  }

  get up(): boolean {
    return this.#state === 'up';
  }

  /** A reply arrived or a connection opened. */
  success(): void {
    this.#failures = 0;
    if (this.#state === 'up') return;
    this.#timer.cancel();
    this.#state = 'up';
    this.#backoffMs = this.#policy.retryInitialMs;
    this.#events.changed('up', 'a retry connected');
  }

  /** A connection failed or was lost, or a request timed out (once per event, not per request it held). */
  failure(reason: string): void {
    this.#failures++;
    this.#lastFailure = reason;
    if (this.#state === 'up') {
      if (this.#failures < this.#policy.failureLimit) return;
      this.#state = 'down';
      this.#downs++;
      this.#backoffMs = this.#policy.retryInitialMs;
      this.#events.changed('down', `${this.#failures} consecutive failure${this.#failures === 1 ? '' : 's'}, the last: ${reason}`);
      this.#armRetry();
      return;
    }
    // a retry failed
    this.#backoffMs = Math.min(this.#backoffMs * 2, this.#policy.retryMaxMs);
    this.#armRetry();
  }

  status(): HealthStatus {
    const d = this.#timer.deadline;
    return {
      state: this.#state,
      failures: this.#failures,
      lastFailure: this.#lastFailure,
      retryInMs: this.#state === 'down' && d !== null ? Math.max(0, d - this.#clock.now()) : null,
      downs: this.#downs,
    };
  }

  /** Stops the retry timer (the proxy is closing). */
  stop(): void {
    this.#timer.cancel();
  }

  #armRetry(): void {
    this.#timer.arm(this.#backoffMs, () => this.#events.retry());
  }
}
