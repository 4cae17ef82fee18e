import type { CacheDaemon } from '../../config/model.ts';
import type { Logger } from '../../log.ts';
import { SupervisedDaemon, type FaultTarget, type SupervisedDaemonDeps } from './supervised-daemon.ts';
import { REPLICATION_SOURCE, WARMTH_SOURCE, WarmGate, type HoldTarget } from '../../supervisor/warmth.ts';
import { WarmPoller } from '../../supervisor/warm-poller.ts';
import { fetchStats, StatsProbeError, type CacheLogin, type CacheStats } from '../../supervisor/stats-probe.ts';
import { readAuthEntries } from '../../server/auth-file.ts';

/** The fault source the cache's exit sets on the instances. */
export const CACHE_FAULT = 'cache';

export type { SupervisedProcess } from './supervised-daemon.ts';

/** What the link drives: a VrrpInstance fits. */
export interface CacheTarget extends HoldTarget, FaultTarget {}

export interface CacheLinkDeps extends SupervisedDaemonDeps {
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
 *   live peer it still becomes MASTER and the gate logs that a cold cache serves;
 * - the same gate blocks preemption (only that) while the cache's replication is not current: a peer's
 *   stream down, behind, or not heard for half a second (`repl_peers_heard_ms`).
 */
export class CacheLink {
  readonly config: CacheDaemon;
  readonly gate: WarmGate;
  readonly #daemon: SupervisedDaemon;
  readonly #log: Logger;
  readonly #poller: WarmPoller;
  #targets: CacheTarget[] = [];

  constructor(config: CacheDaemon, deps: CacheLinkDeps) {
    this.config = config;
    this.#log = deps.log.child({ component: 'cache' });
    this.gate = new WarmGate({
      clock: deps.clock,
      changed: () => deps.changed(),
      event: (e) => this.#log[e.level]({ warmth: e.kind }, e.message),
    });
    this.#daemon = new SupervisedDaemon(config, deps, { fault: CACHE_FAULT, component: 'cache', label: 'cache daemon' });
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
    this.#daemon.bind(targets);
  }

  /** Clears what this link set on its instances (the block was removed by a reload). */
  unbind(): void {
    this.#daemon.unbind();
    for (const t of this.#targets) {
      t.setPriorityAdjustment(WARMTH_SOURCE, 0);
      t.setPreemptBlocked(null, REPLICATION_SOURCE);
    }
    this.#targets = [];
    this.gate.rebind();
  }

  start(): void {
    this.#daemon.start();
    this.#poller.start();
  }

  /** Stops polling and the cache (SIGTERM, SIGKILL after stop_timeout). */
  async stop(): Promise<void> {
    this.#poller.stop();
    await this.#daemon.stop();
  }

  /** Whether any instance of this host is MASTER (for the cold-serve log). */
  roleChanged(master: boolean): void {
    this.gate.roleChanged(master ? 'MASTER' : 'BACKUP');
  }

  status() {
    return { ...this.#daemon.status(), checkPort: this.config.checkPort, ...this.gate.status() };
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
