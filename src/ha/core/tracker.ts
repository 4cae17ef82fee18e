import { TimerSlot } from '../../clock.ts';
import type { Clock } from '../../clock.ts';
import { ProbeStats, type ProbeResult } from './probe-stats.ts';

export type { ProbeResult };
export type TrackerState = 'UNKNOWN' | 'UP' | 'DOWN';

/**
 * Runs one check (vrrp_script, TCP connect, memcached `version`...). Call `done` once; a late or second call
 * is ignored. The returned function, if any, aborts the probe (called on timeout and on stop()).
 */
export type Prober = (done: (result: ProbeResult, detail?: string) => void) => (() => void) | void;

/**
 * Adapts a promise-style check (resolves null on success or a short failure reason) to a Prober; the abort
 * signal fires on timeout or stop.
 */
export function promiseProber(run: (signal: AbortSignal) => Promise<string | null>): Prober {
  return (done) => {
    const ctrl = new AbortController();
    run(ctrl.signal).then(
      (failure) => (failure === null ? done('ok') : done('fail', failure)),
      (err: unknown) => done('fail', err instanceof Error ? err.message : String(err)),
    );
    return () => ctrl.abort();
  };
}

export interface TrackerChange {
  tracker: string;
  from: TrackerState;
  to: TrackerState;
  /** e.g. "3 consecutive failures (last: connect ECONNREFUSED)". */
  reason: string;
}

export interface TrackerOptions {
  name: string;
  /** Between probes while stable (vrrp_script interval, TCP_CHECK delay_loop). */
  intervalMs: number;
  /** A probe not done by then counts as 'timeout' (a failure) and is aborted. */
  timeoutMs: number;
  /** Consecutive successes to go UP (vrrp_script rise; TCP_CHECK: 1). */
  rise?: number;
  /** Consecutive failures to go DOWN (vrrp_script fall; TCP_CHECK: retry + 1). */
  fall?: number;
  /** Next probe after a failure while not DOWN (TCP_CHECK delay_before_retry); default intervalMs. */
  retryDelayMs?: number;
  /**
   * UNKNOWN: the first result decides (vrrp_script); UP: assume alive until `fall` failures (keepalived's
   * checkers start alive, so notify_down runs only after a real failure).
   */
  initial?: TrackerState;
  clock: Clock;
  probe: Prober;
  onChange?(change: TrackerChange): void;
}

/** TCP_CHECK's parameters mapped onto the generic tracker (retry extra failures, spaced by delay_before_retry). */
export function tcpCheckTiming(check: {
  delayLoopMs: number;
  connectTimeoutMs: number;
  retry: number;
  delayBeforeRetryMs: number;
}): Pick<TrackerOptions, 'intervalMs' | 'timeoutMs' | 'rise' | 'fall' | 'retryDelayMs' | 'initial'> {
  return {
    intervalMs: check.delayLoopMs,
    timeoutMs: check.connectTimeoutMs,
    rise: 1,
    fall: check.retry + 1,
    retryDelayMs: check.delayBeforeRetryMs,
    initial: 'UP',
  };
}

/**
 * Rise/fall state machine around an injected prober: one probe at a time (a new one is scheduled only when
 * the previous finished, so "already running - skipping" cannot happen), each bounded by timeoutMs.
 *
 * A timeout that fires a whole timeout late means this process was stopped or stalled (SIGSTOP, a VM or GC
 * pause) while the probe ran, and its answer may be waiting unread: that probe is dropped uncounted and a
 * fresh one runs at once (whose own timeout counts), so a paused haved does not fault its healthy cache.
 */
export class Tracker {
  readonly name: string;
  #opts: Required<Omit<TrackerOptions, 'onChange'>> & Pick<TrackerOptions, 'onChange'>;
  #state: TrackerState;
  #okRun = 0;
  #failRun = 0;
  #timer: TimerSlot;
  #timeout: TimerSlot;
  #generation = 0;
  #abort: (() => void) | null = null;
  #running = false;
  #lastDetail = '';
  #probes = 0;
  readonly #stats = new ProbeStats();

  constructor(opts: TrackerOptions) {
    this.name = opts.name;
    this.#opts = {
      rise: 1,
      fall: 1,
      retryDelayMs: opts.intervalMs,
      initial: 'UNKNOWN',
      ...opts,
    };
    if (this.#opts.rise < 1 || this.#opts.fall < 1) throw new RangeError(`${opts.name}: rise and fall must be >= 1`);
    this.#state = this.#opts.initial;
    this.#timer = new TimerSlot(opts.clock);
    this.#timeout = new TimerSlot(opts.clock);
  }

  get state(): TrackerState {
    return this.#state;
  }

  /** Probe now, then keep probing. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#runProbe();
  }

  stop(): void {
    this.#running = false;
    this.#timer.cancel();
    this.#cancelProbe();
  }

  /** Feed a result from outside (a push-style check); same rules as a probe result. */
  report(result: ProbeResult, detail = ''): void {
    this.#record(result, detail);
  }

  status() {
    return { name: this.name, state: this.#state, okRun: this.#okRun, failRun: this.#failRun, probes: this.#probes, last: this.#lastDetail, ...this.#stats.snapshot() };
  }

  #runProbe(afterStall = false): void {
    const gen = ++this.#generation;
    this.#probes++;
    const started = this.#opts.clock.now();
    const finish = (result: ProbeResult, detail = '') => {
      if (gen !== this.#generation || !this.#running) return;
      this.#generation++;
      this.#stats.record(result, this.#opts.clock.now() - started);
      this.#timeout.cancel();
      this.#abort = null;
      this.#record(result, detail);
      this.#scheduleNext();
    };
    const due = this.#opts.clock.now() + this.#opts.timeoutMs;
    this.#timeout.arm(this.#opts.timeoutMs, () => {
      const abort = this.#abort;
      if (!afterStall && this.#opts.clock.now() - due >= this.#opts.timeoutMs) {
        this.#cancelProbe();
        this.#runProbe(true);
        return;
      }
      finish('timeout', `timed out after ${this.#opts.timeoutMs} ms`);
      abort?.();
    });
    const abort = this.#opts.probe((r, d) => finish(r, d));
    if (gen === this.#generation && typeof abort === 'function') this.#abort = abort;
  }

  #scheduleNext(): void {
    if (!this.#running) return;
    const retrying = this.#failRun > 0 && this.#state !== 'DOWN';
    this.#timer.arm(retrying ? this.#opts.retryDelayMs : this.#opts.intervalMs, () => this.#runProbe());
  }

  #cancelProbe(): void {
    this.#generation++;
    this.#timeout.cancel();
    const abort = this.#abort;
    this.#abort = null;
    abort?.();
  }

  #record(result: ProbeResult, detail: string): void {
    this.#lastDetail = detail || result;
    if (result === 'ok') {
      this.#okRun++;
      this.#failRun = 0;
      if (this.#state === 'UNKNOWN' || (this.#state === 'DOWN' && this.#okRun >= this.#opts.rise)) {
        this.#set('UP', this.#state === 'UNKNOWN' ? 'first check succeeded' : `${this.#okRun} consecutive successes`);
      }
    } else {
      this.#failRun++;
      this.#okRun = 0;
      if (this.#state === 'UNKNOWN' || (this.#state === 'UP' && this.#failRun >= this.#opts.fall)) {
        const last = detail ? ` (last: ${detail})` : ` (last: ${result})`;
        this.#set('DOWN', this.#state === 'UNKNOWN' ? `first check failed${last}` : `${this.#failRun} consecutive failures${last}`);
      }
    }
  }

  #set(to: TrackerState, reason: string): void {
    const from = this.#state;
    this.#state = to;
    this.#opts.onChange?.({ tracker: this.name, from, to, reason });
  }
}

/** What a tracker state means for one instance or group, per keepalived's weight rules. */
export type TrackEffect = { fault: boolean; delta: number };

/**
 * weight 0: DOWN → fault. weight > 0: added while UP. weight < 0: added (subtracted) while DOWN.
 * `reverse` swaps UP and DOWN. UNKNOWN has no effect yet.
 */
export function trackEffect(state: TrackerState, weight: number, reverse = false): TrackEffect {
  if (state === 'UNKNOWN') return { fault: false, delta: 0 };
  const up = reverse ? state === 'DOWN' : state === 'UP';
  if (weight === 0) return { fault: !up, delta: 0 };
  if (weight > 0) return { fault: false, delta: up ? weight : 0 };
  return { fault: false, delta: up ? 0 : weight };
}

/** The instance side of a tracker (VrrpInstance satisfies it). */
export interface TrackTarget {
  setFault(source: string, reason: string | null): void;
  setPriorityAdjustment(source: string, delta: number): void;
  /** Optional INIT hold while the tracker has no result yet (VrrpInstance implements it). */
  hold?(source: string): void;
  release?(source: string): void;
}

/**
 * Applies a tracker state to a target under `source` (e.g. "script chk_mc"). Call once before start() (an
 * UNKNOWN tracker holds the target in INIT) and on every change.
 */
export function applyTrack(
  target: TrackTarget,
  source: string,
  state: TrackerState,
  weight: number,
  reverse = false,
  reason = '',
): void {
  if (state === 'UNKNOWN') {
    target.hold?.(source);
    return;
  }
  const e = trackEffect(state, weight, reverse);
  target.setPriorityAdjustment(source, e.delta);
  target.setFault(source, e.fault ? reason || `${source} is ${state}` : null);
  target.release?.(source);
}
