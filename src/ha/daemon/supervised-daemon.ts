import type { CacheDaemon } from '../../config/model.ts';
import type { Logger } from '../../log.ts';
import type { Clock } from '../../clock.ts';
import { ProcessSupervisor, type ProcessSupervisorOptions } from '../../supervisor/process.ts';
import type { SupervisorState, SupervisorStatus } from '../../supervisor/supervisor.ts';

/** What a supervised daemon puts in FAULT while it is not running: a VrrpInstance fits. */
export interface FaultTarget {
  setFault(source: string, reason: string | null): void;
}

/** The process side, as the links use it (ProcessSupervisor; a fake in tests). */
export interface SupervisedProcess {
  start(): void;
  stop(): Promise<void>;
  status(): SupervisorStatus & { pid: number | null };
}

export interface SupervisedDaemonDeps {
  log: Logger;
  clock: Clock;
  /** Something changed (the daemon rewrites its state file). */
  changed(): void;
  /** Default: a ProcessSupervisor on the block's command line. */
  makeProcess?(opts: ProcessSupervisorOptions): SupervisedProcess;
}

/**
 * A daemon haved runs for a config block (`cache_daemon`, `proxy_daemon`) under a ProcessSupervisor, tied to
 * the vrrp_instances it backs: while the process is not running (starting, exited, backing off) they are in
 * FAULT under `fault` as the source, so a MASTER resigns at once instead of waiting for a check to time out.
 * CacheLink and ProxyLink are this plus what their daemon needs besides.
 */
export class SupervisedDaemon {
  readonly config: CacheDaemon;
  readonly #deps: SupervisedDaemonDeps;
  readonly #process: SupervisedProcess;
  readonly #source: string;
  readonly #label: string;
  #targets: FaultTarget[] = [];
  #fault: string | null;

  constructor(config: CacheDaemon, deps: SupervisedDaemonDeps, what: { fault: string; component: string; label: string }) {
    this.config = config;
    this.#deps = deps;
    this.#source = what.fault;
    this.#label = what.label;
    this.#fault = `${what.label} not started yet`;
    const opts: ProcessSupervisorOptions = {
      argv: config.argv,
      user: config.user,
      policy: config.restart,
      logger: deps.log,
      clock: deps.clock,
      component: what.component,
      label: what.label,
      onState: (state, reason) => this.#onState(state, reason),
    };
    this.#process = deps.makeProcess ? deps.makeProcess(opts) : new ProcessSupervisor(opts);
  }

  /** The instances this daemon backs (replaces the previous set, e.g. after a reload). */
  bind(targets: FaultTarget[]): void {
    this.#targets = targets;
    for (const t of targets) t.setFault(this.#source, this.#fault);
  }

  /** Clears the fault this daemon set on its instances (the block was removed by a reload). */
  unbind(): void {
    for (const t of this.#targets) t.setFault(this.#source, null);
    this.#targets = [];
  }

  start(): void {
    this.#process.start();
  }

  /** Stops the process (SIGTERM, SIGKILL after stop_timeout). */
  stop(): Promise<void> {
    return this.#process.stop();
  }

  status() {
    const s = this.#process.status();
    return {
      argv: this.config.argv,
      pid: s.pid,
      state: s.state,
      starts: s.starts,
      restarts: Math.max(0, s.starts - 1),
      failures: s.failures,
      nextStartInMs: s.nextStartInMs,
      lastExit: s.lastExit,
    };
  }

  #onState(state: SupervisorState, reason: string): void {
    // A new reason for a fault already set only updates its text: no transition, no advert.
    this.#fault = state === 'running' ? null : `${this.#label} ${state}: ${reason}`;
    for (const t of this.#targets) t.setFault(this.#source, this.#fault);
    this.#deps.changed();
  }
}
