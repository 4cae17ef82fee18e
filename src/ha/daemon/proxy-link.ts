import type { CacheDaemon } from '../../config/model.ts';
import type { Logger } from '../../log.ts';
import type { Clock } from '../../clock.ts';
import { ProcessSupervisor, type ProcessSupervisorOptions } from '../../supervisor/process.ts';
import type { SupervisorState } from '../../supervisor/supervisor.ts';
import type { CacheTarget, SupervisedProcess } from './cache-link.ts';

/** The fault source the proxy's exit sets on the instances. */
export const PROXY_FAULT = 'proxy';

export interface ProxyLinkDeps {
  log: Logger;
  clock: Clock;
  /** Something changed (the daemon rewrites its state file). */
  changed(): void;
  /** Default: a ProcessSupervisor on the block's command line. */
  makeProcess?(opts: ProcessSupervisorOptions): SupervisedProcess;
}

/**
 * haved's side of the `proxy_daemon` block: runs repcache-proxy under a ProcessSupervisor on every node, and
 * while it is not running (starting, exited, backing off) every vrrp_instance of this host is in FAULT, so the
 * VIP goes at once to a node whose proxy runs - the proxy follows the VIP's users without a script polling ps.
 * The proxy needs no warm-up (its backends hold the data), so there is no warmth gate.
 */
export class ProxyLink {
  readonly config: CacheDaemon;
  readonly #deps: ProxyLinkDeps;
  readonly #process: SupervisedProcess;
  #targets: CacheTarget[] = [];
  #fault: string | null = 'proxy daemon not started yet';

  constructor(config: CacheDaemon, deps: ProxyLinkDeps) {
    this.config = config;
    this.#deps = deps;
    const opts: ProcessSupervisorOptions = {
      argv: config.argv,
      user: config.user,
      policy: config.restart,
      logger: deps.log,
      clock: deps.clock,
      component: 'proxy',
      label: 'proxy daemon',
      onState: (state, reason) => this.#onState(state, reason),
    };
    this.#process = deps.makeProcess ? deps.makeProcess(opts) : new ProcessSupervisor(opts);
  }

  /** The instances this proxy serves (replaces the previous set, e.g. after a reload). */
  bind(targets: CacheTarget[]): void {
    this.#targets = targets;
    for (const t of targets) t.setFault(PROXY_FAULT, this.#fault);
  }

  /** Clears what this link set on its instances (the block was removed by a reload). */
  unbind(): void {
    for (const t of this.#targets) t.setFault(PROXY_FAULT, null);
    this.#targets = [];
  }

  start(): void {
    this.#process.start();
  }

  /** Stops the proxy (SIGTERM, SIGKILL after stop_timeout). */
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
      port: this.config.checkPort,
    };
  }

  #onState(state: SupervisorState, reason: string): void {
    this.#fault = state === 'running' ? null : `proxy daemon ${state}: ${reason}`;
    for (const t of this.#targets) t.setFault(PROXY_FAULT, this.#fault);
    this.#deps.changed();
  }
}
