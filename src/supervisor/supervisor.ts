import type { Clock } from '../clock.ts';
import { TimerSlot } from '../clock.ts';

/** How the supervised cache daemon is restarted (the `cache_daemon` block of haved.conf). */
export interface RestartPolicy {
  /** First restart delay; doubles on every further failure up to backoffMaxMs. */
  backoffInitialMs: number;
  backoffMaxMs: number;
  /** A run that lasted this long resets the backoff. */
  stableAfterMs: number;
  /** At most this many starts within windowMs; further starts wait until the window frees a slot. */
  maxRestarts: number;
  windowMs: number;
  /** SIGTERM (or stopSignal), then SIGKILL after this long when stopping. */
  stopTimeoutMs: number;
  /** What asks the process to stop (default SIGTERM; SIGUSR1 for a cache that saves a memory file on it). */
  stopSignal?: StopSignal;
}

export type StopSignal = 'SIGTERM' | 'SIGUSR1';

export type SupervisorState = 'stopped' | 'starting' | 'running' | 'backoff' | 'stopping';

/** What the supervisor asks of its process adapter, and what it reports. */
export interface SupervisorActions {
  spawn(): void;
  kill(signal: StopSignal | 'SIGKILL'): void;
  changed(state: SupervisorState, reason: string): void;
}

export interface SupervisorStatus {
  state: SupervisorState;
  starts: number;
  failures: number;
  nextStartInMs: number | null;
  lastExit: string | null;
}

/**
 * Keeps one child process running: restarts it when it exits, with exponential backoff and a start-rate
 * limit. Pure: the adapter reports spawned()/exited() and performs spawn()/kill().
 */
export class Supervisor {
  readonly #policy: RestartPolicy;
  readonly #clock: Clock;
  readonly #actions: SupervisorActions;
  readonly #timer: TimerSlot;
  readonly #killTimer: TimerSlot;
  #state: SupervisorState = 'stopped';
  #startTimes: number[] = [];
  #runningSince = 0;
  #backoffMs: number;
  #starts = 0;
  #failures = 0;
  #lastExit: string | null = null;

  constructor(policy: RestartPolicy, clock: Clock, actions: SupervisorActions) {
    this.#policy = policy;
    this.#clock = clock;
    this.#actions = actions;
    this.#timer = new TimerSlot(clock);
    this.#killTimer = new TimerSlot(clock);
    this.#backoffMs = policy.backoffInitialMs;
  }

  get state(): SupervisorState {
    return this.#state;
  }

  status(): SupervisorStatus {
    const deadline = this.#timer.deadline;
    return {
      state: this.#state,
      starts: this.#starts,
      failures: this.#failures,
      nextStartInMs: deadline === null ? null : Math.max(0, deadline - this.#clock.now()),
      lastExit: this.#lastExit,
    };
  }

  start(): void {
    if (this.#state !== 'stopped') return;
    this.#backoffMs = this.#policy.backoffInitialMs;
    this.#launch('start requested');
  }

  /** The adapter started the process. */
  spawned(pid: number): void {
    if (this.#state !== 'starting') return;
    this.#runningSince = this.#clock.now();
    this.#set('running', `process ${pid} started`);
  }

  /** The process exited (or failed to spawn: code null, signal null, error text in `how`). */
  exited(how: string): void {
    this.#lastExit = how;
    if (this.#state === 'stopping') {
      this.#killTimer.cancel();
      this.#set('stopped', `process ${how}`);
      return;
    }
    if (this.#state !== 'running' && this.#state !== 'starting') return;
    this.#failures++;
    const ranFor = this.#state === 'running' ? this.#clock.now() - this.#runningSince : 0;
    if (ranFor >= this.#policy.stableAfterMs) this.#backoffMs = this.#policy.backoffInitialMs;
    const delay = Math.max(this.#backoffMs, this.#rateLimitDelay());
    this.#backoffMs = Math.min(this.#backoffMs * 2, this.#policy.backoffMaxMs);
    this.#set('backoff', `process ${how}; restart in ${delay} ms`);
    this.#timer.arm(delay, () => this.#launch('restart after failure'));
  }

  stop(): void {
    this.#timer.cancel();
    if (this.#state === 'stopped' || this.#state === 'stopping') return;
    if (this.#state === 'backoff') {
      this.#set('stopped', 'stop requested');
      return;
    }
    this.#set('stopping', 'stop requested');
    this.#actions.kill(this.#policy.stopSignal ?? 'SIGTERM');
    this.#killTimer.arm(this.#policy.stopTimeoutMs, () => this.#actions.kill('SIGKILL'));
  }

  #launch(reason: string): void {
    const wait = this.#rateLimitDelay();
    if (wait > 0) {
      this.#set('backoff', `start limit of ${this.#policy.maxRestarts} per ${this.#policy.windowMs} ms reached; next start in ${wait} ms`);
      this.#timer.arm(wait, () => this.#launch(reason));
      return;
    }
    this.#startTimes.push(this.#clock.now());
    this.#starts++;
    this.#set('starting', reason);
    this.#actions.spawn();
  }

  /** How long until another start fits in the rate window (0 = now). */
  #rateLimitDelay(): number {
    const now = this.#clock.now();
    this.#startTimes = this.#startTimes.filter((t) => now - t < this.#policy.windowMs);
    if (this.#startTimes.length < this.#policy.maxRestarts) return 0;
    return this.#startTimes[0] + this.#policy.windowMs - now;
  }

  #set(state: SupervisorState, reason: string): void {
    this.#state = state;
    this.#actions.changed(state, reason);
  }
}
