import type { VersionSource } from '../cache/store.ts';
import type { CacheServer } from '../server/cache-server.ts';
import type { Replicator } from './replicator.ts';

/** The default replication port (repcached's). */
export const DEFAULT_REPLICATION_PORT = 11212;

export interface ReplicationWiring {
  /** Extra CacheServer deps: versions come from the hybrid logical clock. */
  serverDeps: { versions?: VersionSource };
  /** Hooks the server up and, with peers, waits until this node may serve clients. */
  attach(server: CacheServer): Promise<void>;
  stop(): Promise<void>;
  replicator: Replicator | null;
  /** Whether this node replicates (-x or -X given). */
  enabled: boolean;
  /** repcache -t N: what the main thread sizes the shared state with (null without replication). */
  threaded: ThreadedReplication | null;
}

/** What repcache -t N's main thread needs to share a store with a replication thread. */
export interface ThreadedReplication {
  /** The clock's shared state (HybridClock.buffer). */
  hlc: SharedArrayBuffer;
  logCapacity: number;
  syncMode: boolean;
  syncTimeoutMs: number;
}

/** A node that does not replicate: the replication code is not even loaded. */
export const NO_REPLICATION: ReplicationWiring = { serverDeps: {}, attach: async () => {}, stop: async () => {}, replicator: null, enabled: false, threaded: null };

/** Whether the command line asks for replication: a peer, -X, or any repl_* option. */
export function replicationWanted(repl: { peers: string[]; port: number; portGiven?: boolean }, extended: Record<string, string | true>): boolean {
  return repl.peers.length > 0 || !!repl.portGiven || repl.port !== DEFAULT_REPLICATION_PORT || Object.keys(extended).some((k) => k.startsWith('repl_'));
}
