import type { Clock, TimerId } from '../../clock.ts';
import type { NotifyCommand } from '../../config/model.ts';
import type { VrrpState } from './types.ts';

export type NotifyScope = 'INSTANCE' | 'GROUP';

export interface NotifyJob {
  argv: string[];
  user: string | null;
  /** For the log: "notify_master of VI_1". */
  label: string;
  /** Overrides the queue's default timeout (keepalived gives STOP notifies 1 s). */
  timeoutMs?: number;
}

export interface NotifyOutcome {
  job: NotifyJob;
  /** 'exit' with the code, 'timeout' (the spawner was told to kill it), or 'error' (could not start). */
  kind: 'exit' | 'timeout' | 'error';
  code: number | null;
  detail: string;
  durationMs: number;
}

/**
 * Starts one process and settles when it exits. The signal aborts when the queue's timeout fires: the
 * spawner then kills the process (group); the queue has already moved on.
 */
export type NotifySpawner = (job: NotifyJob, signal: AbortSignal) => Promise<{ code: number | null; detail?: string }>;

export interface NotifyQueueOptions {
  spawn: NotifySpawner;
  clock: Clock;
  timeoutMs?: number;
  onOutcome?(o: NotifyOutcome): void;
}

/**
 * Runs one instance's notify scripts one after another in transition order (what keepalived only
 * guarantees through its FIFO), each bounded by a timeout. enqueue() returns at once: the election never
 * waits for a script.
 */
export class NotifyQueue {
  #spawn: NotifySpawner;
  #clock: Clock;
  #timeoutMs: number;
  #onOutcome: ((o: NotifyOutcome) => void) | undefined;
  #jobs: NotifyJob[] = [];
  #running = false;
  #idleWaiters: (() => void)[] = [];
  /** Scripts run, by outcome (`failed`: a non-zero exit). */
  readonly outcomes = { ok: 0, failed: 0, timeout: 0, error: 0 };

  constructor(opts: NotifyQueueOptions) {
    this.#spawn = opts.spawn;
    this.#clock = opts.clock;
    this.#timeoutMs = opts.timeoutMs ?? 10_000;
    this.#onOutcome = opts.onOutcome;
  }

  enqueue(...jobs: NotifyJob[]): void {
    this.#jobs.push(...jobs);
    if (!this.#running) void this.#drain();
  }

  get pending(): number {
    return this.#jobs.length + (this.#running ? 1 : 0);
  }

  /** Resolves when every queued job has finished or timed out. */
  idle(): Promise<void> {
    if (!this.#running && this.#jobs.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  async #drain(): Promise<void> {
    this.#running = true;
    try {
      for (let job = this.#jobs.shift(); job; job = this.#jobs.shift()) {
        const o = await this.#runOne(job);
        this.outcomes[o.kind !== 'exit' ? o.kind : o.code === 0 ? 'ok' : 'failed']++;
        this.#onOutcome?.(o);
      }
    } finally {
      this.#running = false;
      for (const w of this.#idleWaiters.splice(0)) w();
    }
  }

  #runOne(job: NotifyJob): Promise<NotifyOutcome> {
    const started = this.#clock.now();
    const timeoutMs = job.timeoutMs ?? this.#timeoutMs;
    const ctrl = new AbortController();
    return new Promise((resolve) => {
      let settled = false;
      let timer: TimerId | null = null;
      const settle = (kind: NotifyOutcome['kind'], code: number | null, detail: string) => {
        if (settled) return;
        settled = true;
        if (timer !== null) this.#clock.clearTimer(timer);
        resolve({ job, kind, code, detail, durationMs: this.#clock.now() - started });
      };
      timer = this.#clock.setTimer(timeoutMs, () => {
        timer = null;
        settle('timeout', null, `no exit after ${timeoutMs} ms, killed`);
        ctrl.abort();
      });
      let p: Promise<{ code: number | null; detail?: string }>;
      try {
        p = this.#spawn(job, ctrl.signal);
      } catch (err) {
        settle('error', null, err instanceof Error ? err.message : String(err));
        return;
      }
      p.then(
        (r) => settle('exit', r.code, r.detail ?? `exit ${r.code}`),
        (err: unknown) => settle('error', null, err instanceof Error ? err.message : String(err)),
      );
    });
  }
}

/** keepalived's generic `notify`: the configured argv + `INSTANCE|GROUP name STATE priority`. */
export function genericNotifyArgv(cmd: NotifyCommand, scope: NotifyScope, name: string, state: VrrpState, priority: number): string[] {
  return [...cmd.argv, scope, name, state, String(scope === 'GROUP' ? 0 : priority)];
}

export interface NotifyConfig {
  notify: NotifyCommand | null;
  notifyMaster: NotifyCommand | null;
  notifyBackup: NotifyCommand | null;
  notifyFault: NotifyCommand | null;
  notifyStop: NotifyCommand | null;
}

/**
 * The jobs for one transition, in keepalived's order: notify_<state> (its own args only), then the generic
 * notify. INIT has none.
 */
export function notifyJobs(
  cfg: NotifyConfig,
  scope: NotifyScope,
  name: string,
  state: VrrpState,
  priority: number,
  stopTimeoutMs = 1000,
): NotifyJob[] {
  const specific: Partial<Record<VrrpState, NotifyCommand | null>> = {
    MASTER: cfg.notifyMaster,
    BACKUP: cfg.notifyBackup,
    FAULT: cfg.notifyFault,
    STOP: cfg.notifyStop,
  };
  if (!(state in specific)) return [];
  const timeout = state === 'STOP' ? { timeoutMs: stopTimeoutMs } : {};
  const what = `${scope === 'GROUP' ? 'group' : 'instance'} ${name}`;
  const jobs: NotifyJob[] = [];
  const own = specific[state];
  if (own) jobs.push({ argv: [...own.argv], user: own.user, label: `notify_${state.toLowerCase()} of ${what}`, ...timeout });
  if (cfg.notify) {
    jobs.push({
      argv: genericNotifyArgv(cfg.notify, scope, name, state, priority),
      user: cfg.notify.user,
      label: `notify of ${what}`,
      ...timeout,
    });
  }
  return jobs;
}
