import { EventEmitter } from 'node:events';
import type { Logger } from '../log.ts';
import { SlabStore, type Clock } from '../cache/store.ts';
import type { ServerConfig } from './config.ts';

export interface CacheServerDeps {
  logger: Logger;
  /** Defaults to a real clock ticking once a second. */
  clock?: Clock;
}

export interface Mutation {
  op: string;
  key: Buffer | null;
  exptime?: number;
}

/**
 * The repcache daemon's network side: TCP/UDP/unix listeners, per-connection parsing,
 * dispatch to the slab store, memcached's replies and stats. Emits 'shutdown' (graceful: boolean)
 * when a client sends `shutdown` and -A allows it.
 */
export class CacheServer extends EventEmitter {
  readonly store: SlabStore;
  readonly config: ServerConfig;
  /** Hook for replication: called after every successful local mutation with the command and key. */
  onMutation: ((m: Mutation) => void) | null = null;
  readonly #deps: CacheServerDeps;

  constructor(config: ServerConfig, deps: CacheServerDeps) {
    super();
    this.config = config;
    this.#deps = deps;
    this.store = null as unknown as SlabStore;
  }

  /** TCP on each -l address (all if none) x port; UDP on udpPort if > 0; unix socket if set. */
  async listen(): Promise<void> {
    void this.#deps;
  }

  /** Stops listening, ends connections, clears timers. */
  async close(): Promise<void> {}
}
