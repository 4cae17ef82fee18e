import type { CacheDaemon } from '../../config/model.ts';
import type { Logger } from '../../log.ts';
import type { Clock } from '../clock.ts';
import { ProcessSupervisor, type ProcessSupervisorOptions } from '../../supervisor/process.ts';
import type { SupervisorState, SupervisorStatus } from '../../supervisor/supervisor.ts';
import { WarmGate, type HoldTarget } from '../../supervisor/warmth.ts';
import { WarmPoller } from '../../supervisor/warm-poller.ts';
import { fetchStats, StatsProbeError, type CacheLogin, type CacheStats } from '../../supervisor/stats-probe.ts';
import { readAuthEntries } from '../../server/auth-file.ts';

/** The fault source the cache's exit sets on the instances. */
export const CACHE_FAULT = 'cache';

/** What the link drives: a VrrpInstance fits. */
export interface CacheTarget extends HoldTarget {
  setFault(source: string, reason: string | null): void;
}

/** The process side, as the link uses it (ProcessSupervisor; a fake in tests). */
export interface SupervisedProcess {
  start(): void;
  stop(): Promise<void>;
  status(): SupervisorStatus & { pid: number | null };
}

export interface CacheLinkDeps {
  log: Logger;
  clock: Clock;
  /** Something changed (the daemon rewrites its state file). */
  changed(): void;
  /** Default: a ProcessSupervisor on the block's command line. */
  makeProcess?(opts: ProcessSupervisorOptions): SupervisedProcess;
  /** Default: `stats` over TCP (the WarmPoller's own). */
  fetch?(host: string, port: number, timeoutMs: number): Promise<CacheStats>;
  pollIntervalMs?: number;
}

/**
 * haved's side of the `cache_daemon` block: runs the cache under a ProcessSupervisor and ties it to every
 * vrrp_instance of this host (the cache is the service all of them front):
 * - while the process is not running (starting, exited, backing off) the instances are in FAULT, so a MASTER
 *   resigns at once with priority 0 naming its successor instead of waiting for a check to time out;
 * - once it runs again, FAULT clears and a WarmGate fed by `stats` on 127.0.0.1:check_port holds the
 *   instances at priority 1 until `replication_state` says warm: a returning node stays BACKUP and does not
 *   preempt while it copies from its peer (repcache keeps its client port closed meanwhile), but with no
 *   live peer it still becomes MASTER and the gate logs that a cold cache serves.
 */
export class CacheLink {
  readonly config: CacheDaemon;
  readonly gate: WarmGate;
  readonly #deps: CacheLinkDeps;
  readonly #log: Logger;
  readonly #process: SupervisedProcess;
  readonly #poller: WarmPoller;
  #targets: CacheTarget[] = [];
  #fault: string | null = 'cache daemon not started yet';

  constructor(config: CacheDaemon, deps: CacheLinkDeps) {
    this.config = config;
    this.#deps = deps;
    this.#log = deps.log.child({ component: 'cache' });
    this.gate = new WarmGate({
      clock: deps.clock,
      changed: () => deps.changed(),
      event: (e) => this.#log[e.level]({ warmth: e.kind }, e.message),
    });
    const opts: ProcessSupervisorOptions = {
      argv: config.argv,
      user: config.user,
      policy: config.restart,
      logger: deps.log,
      clock: deps.clock,
      onState: (state, reason) => this.#onState(state, reason),
    };
    this.#process = deps.makeProcess ? deps.makeProcess(opts) : new ProcessSupervisor(opts);
    this.#poller = new WarmPoller({
      host: '127.0.0.1',
      port: config.checkPort,
      gate: this.gate,
      clock: deps.clock,
      fetch: deps.fetch ?? ((host, port, timeoutMs) => fetchStats(host, port, timeoutMs, loginFor(config.argv))),
      ...(deps.pollIntervalMs ? { intervalMs: deps.pollIntervalMs } : {}),
    });
  }

  /** The instances this cache backs (replaces the previous set, e.g. after a reload). */
  bind(targets: CacheTarget[]): void {
    this.#targets = targets;
    this.gate.rebind(...targets);
    for (const t of targets) t.setFault(CACHE_FAULT, this.#fault);
  }

  /** Clears what this link set on its instances (the block was removed by a reload). */
  unbind(): void {
    for (const t of this.#targets) {
      t.setFault(CACHE_FAULT, null);
      t.setPriorityAdjustment('cache warmth', 0);
    }
    this.#targets = [];
    this.gate.rebind();
  }

  start(): void {
    this.#process.start();
    this.#poller.start();
  }

  /** Stops polling and the cache (SIGTERM, SIGKILL after stop_timeout). */
  async stop(): Promise<void> {
    this.#poller.stop();
    await this.#process.stop();
  }

  /** Whether any instance of this host is MASTER (for the cold-serve log). */
  roleChanged(master: boolean): void {
    this.gate.roleChanged(master ? 'MASTER' : 'BACKUP');
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
      checkPort: this.config.checkPort,
      ...this.gate.status(),
    };
  }

  #onState(state: SupervisorState, reason: string): void {
    // A new reason for a fault already set only updates its text: no transition, no advert.
    this.#fault = state === 'running' ? null : `cache daemon ${state}: ${reason}`;
    for (const t of this.#targets) t.setFault(CACHE_FAULT, this.#fault);
    this.#deps.changed();
  }
}

/** The -Y / --auth-file of a memcached-style command line (the last one wins), or null. */
export function authFileOf(argv: readonly string[]): string | null {
  let file: string | null = null;
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i];
    if (a === '-Y' || a === '--auth-file') file = argv[++i] ?? null;
    else if (a.startsWith('--auth-file=')) file = a.slice('--auth-file='.length);
    else if (/^-Y./.test(a)) file = a.slice(2);
  }
  return file;
}

/**
 * The first user of the cache's -Y file, read at each poll (so an edited file is followed): the `stats` that
 * feeds the warmth gate must authenticate on a cache that requires it.
 */
function loginFor(argv: readonly string[]): CacheLogin | null {
  const file = authFileOf(argv);
  if (file === null) return null;
  try {
    const [user, pass] = readAuthEntries(file)[0];
    return { user, pass };
  } catch (err) {
    throw new StatsProbeError(`cannot authenticate to the cache: ${(err as Error).message}`);
  }
}
