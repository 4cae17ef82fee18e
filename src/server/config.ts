import type { CacheClock } from '../clock.ts';
import type { StoreOptions } from '../cache/store.ts';
import type { WarmSettings } from '../cache/warm-file.ts';

/** Everything repcache's command line configures (memcached's flags and defaults). */
export interface ServerConfig {
  port: number; // -p, 0 = no TCP
  udpPort: number; // -U, 0 = off
  unixSocket: string | null; // -s
  unixMask: number; // -a (octal)
  listen: string[]; // -l, comma separated; [] = all interfaces
  memoryLimitMB: number; // -m
  evictions: boolean; // false with -M
  maxConnections: number; // -c
  verbosity: number; // -v count
  growthFactor: number; // -f
  minChunk: number; // -n (chunk_size)
  pageSize: number; // -I bytes (max item size and slab page size)
  slabChunkMax: number; // -o slab_chunk_max, default pageSize/2
  threads: number; // -t
  reqsPerEvent: number; // -R
  casEnabled: boolean; // false with -C
  backlog: number; // -b
  protocol: 'auto' | 'ascii' | 'binary'; // -B
  shutdownEnabled: boolean; // -A
  /** -S: SASL (PLAIN) on the binary protocol, with the -Y credentials */
  saslEnabled: boolean;
  /** -Y: the user:password file; every connection must authenticate first (text: memcached's `set` form) */
  authFile: string | null;
  /** -e: the memory file of a warm restart (saved on SIGUSR1, loaded at start) */
  memoryFile: string | null;
  /** -Z: TLS on the TCP listeners (but those given as -l notls:ADDR), configured by -o ssl_* */
  sslEnabled: boolean;
  flushEnabled: boolean; // false with -F
  dumpEnabled: boolean; // false with --disable-dumping
  largePages: boolean; // -L
  trackSizes: boolean; // -o track_sizes
  lruCrawler: boolean; // -o lru_crawler (default on)
  hashPower: number; // -o hashpower
  idleTimeout: number; // -o idle_timeout: seconds without a completed command (0 = never)
  /** -o output_limit (repcache's own): a connection's pending reply bytes above which its requests wait */
  outputLimit: number;
  /** -o read_timeout (repcache's own): seconds an unfinished command line or data block may take (0 = no limit) */
  readTimeout: number;
  /** -o drain_timeout (repcache's own): seconds a client may leave its replies unread (0 = no limit) */
  drainTimeout: number;
  statKeyPrefix: string; // -D
  detailEnabled: boolean;
  user: string | null; // -u
  daemonize: boolean; // -d
  pidFile: string | null; // -P
  extended: Record<string, string | true>; // every -o option as given
}

export const defaultServerConfig: Readonly<ServerConfig> = Object.freeze({
  port: 11211,
  udpPort: 0,
  unixSocket: null,
  unixMask: 0o700,
  listen: [],
  memoryLimitMB: 64,
  evictions: true,
  maxConnections: 1024,
  verbosity: 0,
  growthFactor: 1.25,
  minChunk: 48,
  pageSize: 1024 * 1024,
  slabChunkMax: 512 * 1024,
  threads: 1, // a server built in-process is one thread; repcache's command line defaults to defaultThreads(cpus)
  reqsPerEvent: 20,
  casEnabled: true,
  backlog: 1024,
  protocol: 'auto',
  shutdownEnabled: false,
  saslEnabled: false,
  authFile: null,
  memoryFile: null,
  sslEnabled: false,
  flushEnabled: true,
  dumpEnabled: true,
  largePages: false,
  trackSizes: false,
  lruCrawler: true,
  hashPower: 0,
  idleTimeout: 0,
  outputLimit: 256 * 1024,
  readTimeout: 60,
  drainTimeout: 30,
  statKeyPrefix: ':',
  detailEnabled: false,
  user: null,
  daemonize: false,
  pidFile: null,
  extended: {},
});

/** The options that lay out the store's memory: a memory file (-e) loads only into a store built with the same. */
export function memoryLayoutFor(config: Readonly<ServerConfig>): WarmSettings {
  return {
    memoryLimitBytes: config.memoryLimitMB * 1024 * 1024,
    pageSize: config.pageSize,
    growthFactor: config.growthFactor,
    minChunk: config.minChunk,
    slabChunkMax: config.slabChunkMax,
    casEnabled: config.casEnabled,
  };
}

/** The slab store's options for a server configuration (-m, -I, -f, -n, -M, -C and the -o ones the store reads). */
export function storeOptionsFor(config: Readonly<ServerConfig>, clock: CacheClock): StoreOptions {
  return { ...memoryLayoutFor(config), evictions: config.evictions, hashPower: config.hashPower, trackSizes: config.trackSizes, clock };
}
