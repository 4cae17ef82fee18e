import type { Logger } from '../log.ts';
import type { StatList } from '../server/stats.ts';
import { HybridClock } from './hlc.ts';
import { turnNow } from '../clock.ts';
import { replicationFromArgs, ReplicationConfigError } from './options.ts';
import { Replicator, randomNodeId, DEFAULT_LOG_CAPACITY, DEFAULT_SYNC_TIMEOUT_MS, type ReplicationOptions, type ReplicatorThreads } from './replicator.ts';
import type { ReplicaStore } from './replica-store.ts';
import { NO_REPLICATION, type ReplicationWiring } from './wiring.ts';

export type { ReplicationWiring, ThreadedReplication } from './wiring.ts';

type ReplicationArgs = {
  replication: { peers: string[]; port: number; connectPort?: number; portGiven?: boolean };
  config: { extended: Record<string, string | true>; pageSize: number; listen?: string[]; unixSocket?: string | null };
};

function settingsFor(opts: ReplicationArgs): (ReplicationOptions & { nodeId?: number }) | null {
  const { config } = opts;
  // The replication port listens where the client port does (-l); a node serving a UNIX socket only, on loopback.
  const listen = config.listen?.length ? config.listen : config.unixSocket ? ['127.0.0.1'] : [];
  return replicationFromArgs(opts.replication, config.extended, config.pageSize, listen);
}

/** Peer state changes are always logged, whatever -v says. */
function replicationLogger(logger: Logger): Logger {
  return logger.child({ component: 'replication' }, { level: logger.levelVal > 30 ? 'info' : logger.level });
}

/**
 * repcache -t N, in the replication thread: the Replicator on the store the workers share (`store`, attached to
 * the shared buffers, its clock on the shared `hlc`). Resolves once this node may serve clients.
 */
export async function startThreadedReplication(opts: ReplicationArgs, store: ReplicaStore, hlc: HybridClock, threads: ReplicatorThreads, logger: Logger): Promise<Replicator> {
  const ro = settingsFor(opts)!;
  const log = replicationLogger(logger);
  const r = new Replicator(store, hlc, ro, log, threads);
  await run(r, ro.port, log);
  return r;
}

/** Listens and, with peers, waits until this node may serve clients. */
async function run(r: Replicator, port: number, log: Logger): Promise<void> {
  try {
    await r.start();
  } catch (err) {
    throw new ReplicationConfigError(`cannot listen on replication port ${port}: ${(err as Error).message}`);
  }
  await r.ready;
  log.info(r.statusLine());
}

/** Glue between repcache's command line, the cache server and the Replicator. */
export function startReplication(opts: ReplicationArgs, logger: Logger): ReplicationWiring {
  const ro = settingsFor(opts);
  if (!ro) return NO_REPLICATION;
  const hlc = new HybridClock(ro.nodeId ?? randomNodeId(), turnNow);
  const log = replicationLogger(logger);
  let repl: Replicator | null = null;
  const wiring: ReplicationWiring = {
    serverDeps: { versions: hlc },
    replicator: null,
    enabled: true,
    threaded: { hlc: hlc.buffer, logCapacity: ro.logCapacity ?? DEFAULT_LOG_CAPACITY, syncMode: ro.syncMode ?? false, syncTimeoutMs: ro.syncTimeoutMs ?? DEFAULT_SYNC_TIMEOUT_MS },
    async attach(server) {
      // The replicator subscribes to the store's change stream; in synchronous mode replies wait through it.
      repl = new Replicator(server.store.replica, hlc, ro, log);
      wiring.replicator = repl;
      const r = repl;
      server.addStatsSource(() => r.stats() as StatList);
      await run(r, ro.port, log);
    },
    async stop() {
      await repl?.stop();
    },
  };
  return wiring;
}
