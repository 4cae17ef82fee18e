import type { Logger } from '../log.ts';
import type { VersionSource } from '../cache/store.ts';
import type { CacheServer } from '../server/cache-server.ts';
import type { StatList } from '../server/stats.ts';
import { HybridClock } from './hlc.ts';
import { turnNow } from '../clock.ts';
import { replicationFromArgs, ReplicationConfigError } from './options.ts';
import { Replicator, randomNodeId } from './replicator.ts';

export interface ReplicationWiring {
  /** Extra CacheServer deps: versions come from the hybrid logical clock. */
  serverDeps: { versions?: VersionSource };
  /** Hooks the server up and, with peers, waits until this node may serve clients. */
  attach(server: CacheServer): Promise<void>;
  stop(): Promise<void>;
  replicator: Replicator | null;
  /** Whether this node replicates (-x or -X given). */
  enabled: boolean;
}

/** Glue between repcache's command line, the cache server and the Replicator. */
export function startReplication(
  opts: {
    replication: { peers: string[]; port: number; connectPort?: number; portGiven?: boolean };
    config: { extended: Record<string, string | true>; pageSize: number; listen?: string[]; unixSocket?: string | null };
  },
  logger: Logger,
): ReplicationWiring {
  const { config } = opts;
  // The replication port listens where the client port does (-l); a node serving a UNIX socket only, on loopback.
  const listen = config.listen?.length ? config.listen : config.unixSocket ? ['127.0.0.1'] : [];
  const ro = replicationFromArgs(opts.replication, config.extended, config.pageSize, listen);
  if (!ro) return { serverDeps: {}, attach: async () => {}, stop: async () => {}, replicator: null, enabled: false };
  const hlc = new HybridClock(ro.nodeId ?? randomNodeId(), turnNow);
  // Peer state changes are always logged, whatever -v says.
  const log = logger.child({ component: 'replication' }, { level: logger.levelVal > 30 ? 'info' : logger.level });
  let repl: Replicator | null = null;
  const wiring: ReplicationWiring = {
    serverDeps: { versions: hlc },
    replicator: null,
    enabled: true,
    async attach(server) {
      // The replicator subscribes to the store's change stream; in synchronous mode replies wait through it.
      repl = new Replicator(server.store.replica, hlc, ro, log);
      wiring.replicator = repl;
      const r = repl;
      server.addStatsSource(() => r.stats() as StatList);
      try {
        await r.start();
      } catch (err) {
        throw new ReplicationConfigError(`cannot listen on replication port ${ro.port}: ${(err as Error).message}`);
      }
      await r.ready;
      log.info(r.statusLine());
    },
    async stop() {
      await repl?.stop();
    },
  };
  return wiring;
}
