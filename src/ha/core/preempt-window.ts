import { TimerSlot, type Clock } from '../../clock.ts';

/** Fires a callback on a cron expression; the daemon passes node-cron (adapters/cron-scheduler.ts). */
export interface Scheduler {
  schedule(expr: string, fire: () => void): { stop(): void };
}

/** What the window opens and closes: a VrrpInstance fits. */
export interface PreemptTarget {
  setPreemptBlocked(reason: string | null): void;
}

export interface PreemptWindowOptions {
  /** The instance's `preempt_schedule` (node-cron syntax). */
  expr: string;
  clock: Clock;
  scheduler: Scheduler;
  /**
   * How long each firing keeps preemption allowed. Default: the cron's granularity, 60 s (so a per-minute
   * cron is one long window), or 1 s for a cron with a seconds field.
   */
  windowMs?: number;
  event?(e: { kind: 'open' | 'closed'; message: string }): void;
}

export const PREEMPT_WINDOW_MS = 60_000;

/**
 * `preempt_schedule "<cron>"`: a failback (a higher-priority node taking the VIP from a live lower-priority
 * master) happens only inside the maintenance window, as seed 003 advises; outside it the instance behaves
 * like `nopreempt`. Each firing of the cron opens the window for `windowMs` and a waiting node takes over at
 * once; so `* 2-4 * * *` allows failback from 02:00 to 05:00, `0 3 * * *` from 03:00 to 03:01 and
 * `0 * * * * *` at every full minute. Elections without a live master (start-up, a master that died) are
 * never deferred.
 */
export class PreemptWindow {
  readonly expr: string;
  readonly #o: PreemptWindowOptions;
  readonly #windowMs: number;
  readonly #close: TimerSlot;
  #targets: PreemptTarget[] = [];
  #task: { stop(): void } | null = null;
  #lastOpened: number | null = null;

  constructor(opts: PreemptWindowOptions) {
    this.expr = opts.expr;
    this.#o = opts;
    this.#windowMs = opts.windowMs ?? (opts.expr.trim().split(/\s+/).length >= 6 ? 1000 : PREEMPT_WINDOW_MS);
    this.#close = new TimerSlot(opts.clock);
  }

  get open(): boolean {
    return this.#close.armed;
  }

  /** Blocks the targets' preemption until the next firing. */
  bind(...targets: PreemptTarget[]): void {
    this.#targets.push(...targets);
    for (const t of targets) t.setPreemptBlocked(this.open ? null : this.#reason());
  }

  start(): void {
    if (this.#task) return;
    this.#task = this.#o.scheduler.schedule(this.expr, () => this.fired());
  }

  stop(): void {
    this.#task?.stop();
    this.#task = null;
    this.#close.cancel();
  }

  /** The cron fired: allow preemption for one window (a firing inside an open window extends it). */
  fired(): void {
    const wasOpen = this.open;
    this.#lastOpened = this.#o.clock.now();
    this.#close.arm(this.#windowMs, () => {
      for (const t of this.#targets) t.setPreemptBlocked(this.#reason());
      this.#o.event?.({ kind: 'closed', message: `preempt_schedule "${this.expr}": window closed, failback waits for the next one` });
    });
    if (wasOpen) return;
    this.#o.event?.({ kind: 'open', message: `preempt_schedule "${this.expr}": window open for ${this.#windowMs / 1000} s, failback allowed` });
    for (const t of this.#targets) t.setPreemptBlocked(null);
  }

  status() {
    const deadline = this.#close.deadline;
    return {
      schedule: this.expr,
      open: this.open,
      closesInMs: deadline === null ? null : Math.max(0, Math.round(deadline - this.#o.clock.now())),
      lastOpenedMsAgo: this.#lastOpened === null ? null : Math.round(this.#o.clock.now() - this.#lastOpened),
    };
  }

  #reason(): string {
    return `outside the preempt_schedule window "${this.expr}"`;
  }
}
