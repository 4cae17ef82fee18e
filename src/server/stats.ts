import type { ServerConfig } from './config.ts';
import { MIN_VERSION_NAMES } from './tls.ts';

export type StatValue = string | number | bigint;
export type StatList = Array<[string, StatValue]>;

export const VERSION = '1.6.18';

/** `stats` field names of memcached 1.6.18 (Debian build, default options) in the order it prints them. */
export const GENERAL_STAT_NAMES: readonly string[] = [
  'pid', 'uptime', 'time', 'version', 'libevent', 'pointer_size', 'rusage_user', 'rusage_system',
  'max_connections', 'curr_connections', 'total_connections', 'rejected_connections', 'connection_structures',
  'response_obj_oom', 'response_obj_count', 'response_obj_bytes', 'read_buf_count', 'read_buf_bytes',
  'read_buf_bytes_free', 'read_buf_oom', 'reserved_fds',
  'cmd_get', 'cmd_set', 'cmd_flush', 'cmd_touch', 'cmd_meta', 'get_hits', 'get_misses', 'get_expired',
  'get_flushed', 'delete_misses', 'delete_hits', 'incr_misses', 'incr_hits', 'decr_misses', 'decr_hits',
  'cas_misses', 'cas_hits', 'cas_badval', 'touch_hits', 'touch_misses', 'store_too_large', 'store_no_memory',
  'auth_cmds', 'auth_errors', 'bytes_read', 'bytes_written', 'limit_maxbytes', 'accepting_conns',
  'listen_disabled_num', 'time_in_listen_disabled_us', 'threads', 'conn_yields',
  'hash_power_level', 'hash_bytes', 'hash_is_expanding', 'slab_reassign_rescues', 'slab_reassign_chunk_rescues',
  'slab_reassign_evictions_nomem', 'slab_reassign_inline_reclaim', 'slab_reassign_busy_items',
  'slab_reassign_busy_deletes', 'slab_reassign_running', 'slabs_moved', 'lru_crawler_running',
  'lru_crawler_starts', 'lru_maintainer_juggles', 'malloc_fails', 'log_worker_dropped', 'log_worker_written',
  'log_watcher_skipped', 'log_watcher_sent', 'log_watchers', 'unexpected_napi_ids', 'round_robin_fallback',
  'bytes', 'curr_items', 'total_items', 'slab_global_page_pool', 'expired_unfetched', 'evicted_unfetched',
  'evicted_active', 'evictions', 'reclaimed', 'crawler_reclaimed', 'crawler_items_checked', 'lrutail_reflocked',
  'moves_to_cold', 'moves_to_warm', 'moves_within_lru', 'direct_reclaims', 'lru_bumps_dropped',
];

/**
 * Fields memcached prints only in some configurations, and the field they follow (idle_kicks: with -o idle_timeout).
 * mergeGeneralStats() places them when a source gives them.
 */
const CONDITIONAL_STAT_NAMES: ReadonlyMap<string, string> = new Map([
  ['idle_kicks', 'auth_errors'],
  // with -Z (ssl_new_sessions only with -o ssl_session_cache)
  ['ssl_new_sessions', 'log_watchers'], ['ssl_handshake_errors', 'log_watchers'], ['time_since_server_cert_refresh', 'log_watchers'],
]);

/** Counters the network side keeps (the store keeps the item/command ones). */
export class ServerCounters {
  totalConnections = 0;
  rejectedConnections = 0;
  connectionStructures = 0;
  bytesRead = 0;
  bytesWritten = 0;
  cmdMeta = 0;
  /** too-large values swallowed by the parser never reach the store */
  storeTooLarge = 0;
  /** every flush_all, including those -F refuses (as memcached counts them) */
  cmdFlush = 0;
  connYields = 0;
  /** expiry crawls started: the background ones and `lru_crawler crawl` (memcached's lru_crawler_starts) */
  lruCrawlerStarts = 0;
  /** connections closed by idle_timeout (memcached's idle_kicks) */
  idleKicks = 0;
  /** connections closed by read_timeout: an unfinished command took too long to arrive */
  readTimeoutKicks = 0;
  /** connections closed by drain_timeout: the client left its replies unread too long */
  drainTimeoutKicks = 0;
  /** datagrams dropped unanswered: shorter than the frame header, or one part of a multi-datagram request */
  udpBadDatagrams = 0;
  /** authentication attempts (text `set` or SASL), and those that failed */
  authCmds = 0;
  authErrors = 0;
  /** TLS: handshakes that failed (a plain client on a TLS port, a bad certificate) and sessions made (-Z) */
  sslHandshakeErrors = 0;
  sslNewSessions = 0;
  /** watch lines written to this server's watchers, and dropped for them (copied from its WatchLog; no reset) */
  logWatcherSent = 0;
  logWatcherSkipped = 0;
  /**
   * repcache -t N: this worker's acquisitions of the store lock that found it held, and those of them that slept
   * on it (after the spins); counted by its StoreLock
   */
  storeLockContended = 0;
  storeLockWaits = 0;

  reset(): void {
    this.totalConnections = 0;
    this.rejectedConnections = 0;
    this.bytesRead = 0;
    this.bytesWritten = 0;
    this.cmdMeta = 0;
    this.storeTooLarge = 0;
    this.cmdFlush = 0;
    this.connYields = 0;
    this.lruCrawlerStarts = 0;
    this.idleKicks = 0;
    this.readTimeoutKicks = 0;
    this.drainTimeoutKicks = 0;
    this.udpBadDatagrams = 0;
    this.authCmds = 0;
    this.authErrors = 0;
    this.sslHandshakeErrors = 0;
    this.sslNewSessions = 0;
    this.storeLockContended = 0;
    this.storeLockWaits = 0;
  }

  /** Columns writeTo() fills (repcache -t N: one row per worker in a shared table, see worker-counters.ts). */
  static readonly COLUMNS = 22;

  writeTo(t: Float64Array, at: number): void {
    t[at + 0] = this.totalConnections;
    t[at + 1] = this.rejectedConnections;
    t[at + 2] = this.connectionStructures;
    t[at + 3] = this.bytesRead;
    t[at + 4] = this.bytesWritten;
    t[at + 5] = this.cmdMeta;
    t[at + 6] = this.storeTooLarge;
    t[at + 7] = this.cmdFlush;
    t[at + 8] = this.connYields;
    t[at + 9] = this.idleKicks;
    t[at + 10] = this.readTimeoutKicks;
    t[at + 11] = this.drainTimeoutKicks;
    t[at + 12] = this.udpBadDatagrams;
    t[at + 13] = this.authCmds;
    t[at + 14] = this.authErrors;
    t[at + 15] = this.sslHandshakeErrors;
    t[at + 16] = this.sslNewSessions;
    t[at + 17] = this.lruCrawlerStarts;
    t[at + 18] = this.logWatcherSent;
    t[at + 19] = this.logWatcherSkipped;
    t[at + 20] = this.storeLockContended;
    t[at + 21] = this.storeLockWaits;
  }

  /** Adds a row writeTo() wrote. */
  addFrom(t: Float64Array, at: number): void {
    this.totalConnections += t[at + 0];
    this.rejectedConnections += t[at + 1];
    this.connectionStructures += t[at + 2];
    this.bytesRead += t[at + 3];
    this.bytesWritten += t[at + 4];
    this.cmdMeta += t[at + 5];
    this.storeTooLarge += t[at + 6];
    this.cmdFlush += t[at + 7];
    this.connYields += t[at + 8];
    this.idleKicks += t[at + 9];
    this.readTimeoutKicks += t[at + 10];
    this.drainTimeoutKicks += t[at + 11];
    this.udpBadDatagrams += t[at + 12];
    this.authCmds += t[at + 13];
    this.authErrors += t[at + 14];
    this.sslHandshakeErrors += t[at + 15];
    this.sslNewSessions += t[at + 16];
    this.lruCrawlerStarts += t[at + 17];
    this.logWatcherSent += t[at + 18];
    this.logWatcherSkipped += t[at + 19];
    this.storeLockContended += t[at + 20];
    this.storeLockWaits += t[at + 21];
  }
}

/** Fields of `stats` and `stats settings` that are repcache's own (memcached has no such limits); listed last. */
export const OWN_STAT_NAMES: readonly string[] = ['read_timeout_kicks', 'drain_timeout_kicks', 'udp_bad_datagrams', 'worker_thread', 'lock_contended', 'lock_waits'];
export const OWN_SETTINGS_NAMES: readonly string[] = ['output_limit', 'read_timeout', 'drain_timeout'];

/** Seconds with microseconds, as memcached prints rusage ("0.005526"). */
export function formatMicros(us: number): string {
  const s = Math.floor(us / 1e6);
  return `${s}.${String(Math.floor(us - s * 1e6)).padStart(6, '0')}`;
}

/**
 * Merges the server's own fields and the store's into memcached's order: a name missing from
 * both prints 0; names neither side lists in GENERAL_STAT_NAMES are appended in the order given.
 * Counters both sides report (e.g. store_too_large) are added.
 */
const CRAWLER_STATS = new Set(['lru_crawler_running', 'lru_crawler_starts']);
const MAINTAINER_STATS = new Set(['direct_reclaims', 'evicted_active', 'lru_bumps_dropped', 'lru_maintainer_juggles', 'moves_to_cold',
  'moves_to_warm', 'moves_within_lru']);
const SEGMENTED_ITEM_STATS = new Set(['age_hot', 'age_warm', 'direct_reclaims', 'evicted_active', 'hits_to_cold', 'hits_to_hot',
  'hits_to_temp', 'hits_to_warm', 'moves_to_cold', 'moves_to_warm', 'moves_within_lru', 'number_cold', 'number_hot', 'number_warm']);

/**
 * The lines memcached leaves out of `stats` and `stats items` when what they count is off: the crawler's without
 * it (-o no_lru_crawler, `lru_crawler disable`), the LRU maintainer's with -o no_lru_maintainer.
 */
export function withoutDisabledStats<V>(list: Array<[string, V]>, c: ServerConfig, which: 'general' | 'items'): Array<[string, V]> {
  const maintainer = !('no_lru_maintainer' in c.extended);
  if (which === 'items') return maintainer ? list : list.filter(([n]) => !SEGMENTED_ITEM_STATS.has(n.slice(n.lastIndexOf(':') + 1)));
  if (maintainer && c.lruCrawler) return list;
  return list.filter(([n]) => !(!c.lruCrawler && CRAWLER_STATS.has(n)) && !(!maintainer && MAINTAINER_STATS.has(n)));
}

export function mergeGeneralStats(own: Map<string, StatValue>, ...sources: StatList[]): StatList {
  const merged = new Map(own);
  const known = new Set(GENERAL_STAT_NAMES);
  const extra = [...own.keys()].filter((n) => !known.has(n));
  for (const src of sources) {
    for (const [name, value] of src) {
      const prev = merged.get(name);
      if (prev === undefined) {
        merged.set(name, value);
        if (!known.has(name)) extra.push(name);
      } else if (typeof prev === 'number' && typeof value === 'number') {
        merged.set(name, prev + value);
      } else if (typeof prev !== 'string' && typeof value !== 'string') {
        merged.set(name, BigInt(prev) + BigInt(value));
      }
    }
  }
  const out: StatList = [];
  for (const n of GENERAL_STAT_NAMES) {
    out.push([n, merged.get(n) ?? 0]);
    for (const [c, after] of CONDITIONAL_STAT_NAMES) if (after === n && merged.has(c)) out.push([c, merged.get(c)!]);
  }
  for (const n of extra) if (!CONDITIONAL_STAT_NAMES.has(n)) out.push([n, merged.get(n)!]);
  return out;
}

const yesNo = (b: boolean) => (b ? 'yes' : 'no');

/** `stats settings` in memcached 1.6.18's order and names (Debian build), values from the config. */
export function settingsStats(c: ServerConfig, runtime: { verbosity: number; detailEnabled: boolean }): StatList {
  const x = (name: string, dflt: StatValue): StatValue => {
    const v = c.extended[name];
    return typeof v === 'string' ? v : dflt;
  };
  const protocol = c.protocol === 'auto' ? 'auto-negotiate' : c.protocol;
  return [
    ['maxbytes', c.memoryLimitMB * 1024 * 1024],
    ['maxconns', c.maxConnections],
    ['tcpport', c.unixSocket ? 0 : c.port],
    ['udpport', c.unixSocket ? 0 : c.udpPort],
    ['inter', c.listen.length ? c.listen.join(',') : 'NULL'],
    ['verbosity', runtime.verbosity],
    ['oldest', 0],
    ['evictions', c.evictions ? 'on' : 'off'],
    ['domain_socket', c.unixSocket ?? 'NULL'],
    ['umask', c.unixMask.toString(8)],
    ['shutdown_command', yesNo(c.shutdownEnabled)],
    ['growth_factor', c.growthFactor.toFixed(2)],
    ['chunk_size', c.minChunk],
    ['num_threads', c.threads],
    ['num_threads_per_udp', c.threads],
    ['stat_key_prefix', c.statKeyPrefix],
    ['detail_enabled', yesNo(runtime.detailEnabled)],
    ['reqs_per_event', c.reqsPerEvent],
    ['cas_enabled', yesNo(c.casEnabled)],
    ['tcp_backlog', c.backlog],
    ['binding_protocol', protocol],
    ['auth_enabled_sasl', yesNo(c.saslEnabled)],
    ['auth_enabled_ascii', c.authFile ?? 'no'],
    ['item_size_max', c.pageSize],
    ['maxconns_fast', 'yes'],
    ['hashpower_init', c.hashPower],
    ['slab_reassign', 'no_slab_reassign' in c.extended ? 'no' : 'yes'],
    ['slab_automove', x('slab_automove', 1)],
    ['slab_automove_ratio', x('slab_automove_ratio', '0.80')],
    ['slab_automove_window', x('slab_automove_window', 30)],
    ['slab_chunk_max', c.slabChunkMax],
    ['lru_crawler', yesNo(c.lruCrawler)],
    ['lru_crawler_sleep', x('lru_crawler_sleep', 100)],
    ['lru_crawler_tocrawl', x('lru_crawler_tocrawl', 0)],
    ['tail_repair_time', x('tail_repair_time', 0)],
    ['flush_enabled', yesNo(c.flushEnabled)],
    ['dump_enabled', yesNo(c.dumpEnabled)],
    ['hash_algorithm', x('hash_algorithm', 'murmur3')],
    ['lru_maintainer_thread', 'no_lru_maintainer' in c.extended ? 'no' : 'yes'],
    ['lru_segmented', 'no_modern' in c.extended || 'no_lru_maintainer' in c.extended ? 'no' : 'yes'],
    ['hot_lru_pct', x('hot_lru_pct', 20)],
    ['warm_lru_pct', x('warm_lru_pct', 40)],
    ['hot_max_factor', x('hot_max_factor', '0.20')],
    ['warm_max_factor', x('warm_max_factor', '2.00')],
    ['temp_lru', yesNo('temporary_ttl' in c.extended)],
    ['temporary_ttl', x('temporary_ttl', 61)],
    ['idle_timeout', c.idleTimeout],
    ['watcher_logbuf_size', x('watcher_logbuf_size', 262144)],
    ['worker_logbuf_size', x('worker_logbuf_size', 65536)],
    ['read_buf_mem_limit', x('read_buf_mem_limit', 0)],
    ['track_sizes', yesNo(c.trackSizes)],
    ['inline_ascii_response', 'no'],
    ['ext_item_size', 512],
    ['ext_item_age', 4294967295],
    ['ext_low_ttl', 0],
    ['ext_recache_rate', 2000],
    ['ext_wbuf_size', 4194304],
    ['ext_compact_under', 0],
    ['ext_drop_under', 0],
    ['ext_max_sleep', 1000000],
    ['ext_max_frag', '0.80'],
    ['slab_automove_freeratio', '0.010'],
    ['ext_drop_unread', 'no'],
    ['ssl_enabled', yesNo(c.sslEnabled)],
    ['ssl_chain_cert', x('ssl_chain_cert', '(null)')],
    ['ssl_key', x('ssl_key', '(null)')],
    ['ssl_verify_mode', x('ssl_verify_mode', 0)],
    ['ssl_keyformat', x('ssl_keyformat', 1)],
    ['ssl_ciphers', x('ssl_ciphers', 'NULL')],
    ['ssl_ca_cert', x('ssl_ca_cert', 'NULL')],
    ['ssl_wbuf_size', typeof c.extended.ssl_wbuf_size === 'string' ? Number(c.extended.ssl_wbuf_size) * 1024 : 16384],
    ['ssl_session_cache', yesNo('ssl_session_cache' in c.extended)],
    ['ssl_kernel_tls', yesNo('ssl_kernel_tls' in c.extended)],
    ['ssl_min_version', MIN_VERSION_NAMES[Number(x('ssl_min_version', 2))]],
    ['num_napi_ids', '(null)'],
    ['memory_file', c.memoryFile ?? '(null)'],
    // repcache's own
    ['output_limit', c.outputLimit],
    ['read_timeout', c.readTimeout],
    ['drain_timeout', c.drainTimeout],
  ];
}

/** `stats detail` counters per key prefix (the part before the -D delimiter). */
/** `stats detail`'s counts by key prefix: one worker's (PrefixStats), or every worker's (SharedPrefixStats). */
export interface PrefixCounter {
  get(key: Buffer, hit: boolean): void;
  set(key: Buffer): void;
  del(key: Buffer): void;
  /** The `PREFIX ...` lines and END. */
  dump(): string;
  clear(): void;
}

export class PrefixStats implements PrefixCounter {
  readonly #byPrefix = new Map<string, { get: number; hit: number; set: number; del: number }>();
  #delimiter: number;

  constructor(delimiter: string) {
    this.#delimiter = delimiter.charCodeAt(0);
  }

  #entry(key: Buffer) {
    const i = key.indexOf(this.#delimiter);
    if (i < 0) return null;
    const prefix = key.toString('latin1', 0, i);
    let e = this.#byPrefix.get(prefix);
    if (!e) this.#byPrefix.set(prefix, (e = { get: 0, hit: 0, set: 0, del: 0 }));
    return e;
  }

  get(key: Buffer, hit: boolean): void {
    const e = this.#entry(key);
    if (e) { e.get++; if (hit) e.hit++; }
  }

  set(key: Buffer): void {
    const e = this.#entry(key);
    if (e) e.set++;
  }

  del(key: Buffer): void {
    const e = this.#entry(key);
    if (e) e.del++;
  }

  dump(): string {
    let s = '';
    for (const [p, e] of this.#byPrefix) s += `PREFIX ${p} get ${e.get} hit ${e.hit} set ${e.set} del ${e.del}\r\n`;
    return s + 'END\r\n';
  }

  clear(): void {
    this.#byPrefix.clear();
  }
}
