import { Registry } from 'prom-client';
import { counter, gauge, oneHot, type Sample } from './define.ts';

/** The fields of memcached's `stats` (repcache's own and replication's included), as the server reports them. */
export interface CacheStatsSource {
  generalStats(): ReadonlyArray<readonly [string, string | number | bigint]>;
  /** `stats items`: ['items:1:number', 3], ... */
  itemStats?(): ReadonlyArray<readonly [string, string | number]>;
}

/** One outbound replication link (a Sender fits). */
export interface PeerLinkView {
  readonly host: string;
  readonly port: number;
  readonly inbound: boolean;
  readonly machine: { readonly state: string; readonly fullSyncs: number; readonly resumes: number; readonly failures: number };
  readonly lagMs: number;
  readonly queueDepth: number;
  readonly bytesSent: number;
  readonly bytesReceived: number;
}

/** One inbound link: the stream a peer sends here (a Receiver fits). */
export interface InboundLinkView {
  readonly remote: string;
  readonly machine: { readonly state: string };
  readonly bytesReceived: number;
}

/** What the collector reads of the replication (a Replicator fits). */
export interface ReplicationView {
  readonly state: string;
  readonly senders: readonly PeerLinkView[];
  readonly receivers: Iterable<InboundLinkView>;
}

export const REPLICATION_STATES = ['syncing', 'partial', 'streaming', 'disconnected', 'standalone'] as const;
export const LINK_STATES = ['idle', 'connecting', 'handshaking', 'waiting', 'syncing', 'streaming', 'backoff', 'closed'] as const;

/** memcached_exporter's commands_total: {command, status} from the `stats` counter that holds it. */
const COMMANDS: ReadonlyArray<[command: string, status: string, stat: string]> = [
  ...['get', 'delete', 'incr', 'decr', 'cas', 'touch'].flatMap((op): Array<[string, string, string]> => [
    [op, 'hit', `${op}_hits`],
    [op, 'miss', `${op}_misses`],
  ]),
  ['cas', 'badval', 'cas_badval'],
  ['flush', 'hit', 'cmd_flush'],
];

/** memcached_exporter's names for plain `stats` fields: [metric, stat, type, help]. */
const GENERAL: ReadonlyArray<[name: string, stat: string, type: 'gauge' | 'counter', help: string]> = [
  ['memcached_uptime_seconds', 'uptime', 'counter', 'Number of seconds since the server started.'],
  ['memcached_time_seconds', 'time', 'gauge', 'Current UNIX time according to the server.'],
  ['memcached_current_bytes', 'bytes', 'gauge', 'Current number of bytes used to store items.'],
  ['memcached_limit_bytes', 'limit_maxbytes', 'gauge', 'Number of bytes this server is allowed to use for storage.'],
  ['memcached_current_items', 'curr_items', 'gauge', 'Current number of items stored by this instance.'],
  ['memcached_items_total', 'total_items', 'counter', 'Total number of items stored during the life of this instance.'],
  ['memcached_read_bytes_total', 'bytes_read', 'counter', 'Total number of bytes read by this server from network.'],
  ['memcached_written_bytes_total', 'bytes_written', 'counter', 'Total number of bytes sent by this server to network.'],
  ['memcached_current_connections', 'curr_connections', 'gauge', 'Current number of open connections.'],
  ['memcached_max_connections', 'max_connections', 'gauge', 'Maximum number of clients allowed.'],
  ['memcached_connections_total', 'total_connections', 'counter', 'Total number of connections opened since the server started running.'],
  ['memcached_connections_rejected_total', 'rejected_connections', 'counter', 'Total number of connections rejected at the -c limit.'],
  ['memcached_connections_yielded_total', 'conn_yields', 'counter', "Total number of connections yielded running due to hitting the -R limit."],
  ['memcached_connections_listener_disabled_total', 'listen_disabled_num', 'counter', 'Number of times the server hit its connections limit and disabled its listener.'],
  ['memcached_accepting_connections', 'accepting_conns', 'gauge', 'The server is currently accepting new connections.'],
  ['memcached_items_evicted_total', 'evictions', 'counter', 'Total number of valid items removed from cache to free memory for new items.'],
  ['memcached_items_reclaimed_total', 'reclaimed', 'counter', 'Total number of times an entry was stored using memory from an expired entry.'],
  ['memcached_item_too_large_total', 'store_too_large', 'counter', 'The number of times an item exceeded the max item size when being stored.'],
  ['memcached_item_no_memory_total', 'store_no_memory', 'counter', 'The number of times an item could not be stored due to no more memory.'],
  ['memcached_direct_reclaims_total', 'direct_reclaims', 'counter', 'Times worker threads had to directly reclaim or evict items.'],
  ['memcached_lru_crawler_reclaimed_total', 'crawler_reclaimed', 'counter', 'Total items freed by the LRU crawler.'],
  ['memcached_lru_crawler_items_checked_total', 'crawler_items_checked', 'counter', 'Total items examined by the LRU crawler.'],
  ['memcached_lru_crawler_starts_total', 'lru_crawler_starts', 'counter', 'Times an LRU crawler was started.'],
  // repcache's own limits and replication counters (`stats` names them)
  ['repcache_read_timeout_kicks_total', 'read_timeout_kicks', 'counter', 'Connections closed because a command took longer than read_timeout to arrive.'],
  ['repcache_drain_timeout_kicks_total', 'drain_timeout_kicks', 'counter', 'Connections closed because the client left its replies unread longer than drain_timeout.'],
  ['repcache_udp_bad_datagrams_total', 'udp_bad_datagrams', 'counter', 'UDP datagrams dropped unanswered (short, or part of a multi-datagram request).'],
  ['repcache_store_lock_contended_total', 'lock_contended', 'counter', 'With -t N: acquisitions of the store lock that found it held, over all workers.'],
  ['repcache_store_lock_waits_total', 'lock_waits', 'counter', 'With -t N: acquisitions of the store lock that slept on it after spinning, over all workers.'],
  ['repcache_replication_log_seq', 'repl_log_seq', 'gauge', 'Sequence number of the last change in the replication log.'],
  ['repcache_replication_log_capacity', 'repl_log_capacity', 'gauge', 'Entries the replication log holds before a lagging peer needs a full copy (-o repl_queue).'],
  ['repcache_replication_applied_total', 'repl_applied', 'counter', "Peers' changes applied here."],
  ['repcache_replication_stale_total', 'repl_stale', 'counter', "Peers' changes dropped because this node held a newer version."],
  ['repcache_replication_full_copies_received_total', 'repl_full_copies_received', 'counter', 'Complete copies received from a peer.'],
  ['repcache_replication_sync_acked_total', 'repl_sync_acked', 'counter', 'Writes acknowledged by a peer before the reply (synchronous mode).'],
  ['repcache_replication_sync_timeouts_total', 'repl_sync_timeouts', 'counter', 'Writes whose peer acknowledgement timed out (synchronous mode).'],
];

/** memcached_exporter's per-slab-class metrics from `stats items`: [metric, field, type, help]. */
const SLAB_ITEMS: ReadonlyArray<[name: string, field: string, type: 'gauge' | 'counter', help: string]> = [
  ['memcached_slab_current_items', 'number', 'gauge', 'Number of items currently stored in this slab class.'],
  ['memcached_slab_items_age_seconds', 'age', 'gauge', 'Number of seconds the oldest item has been in the slab class.'],
  ['memcached_slab_hot_items', 'number_hot', 'gauge', 'Number of items presently stored in the HOT LRU.'],
  ['memcached_slab_warm_items', 'number_warm', 'gauge', 'Number of items presently stored in the WARM LRU.'],
  ['memcached_slab_cold_items', 'number_cold', 'gauge', 'Number of items presently stored in the COLD LRU.'],
  ['memcached_slab_hot_age_seconds', 'age_hot', 'gauge', 'Age of the oldest item in HOT LRU.'],
  ['memcached_slab_warm_age_seconds', 'age_warm', 'gauge', 'Age of the oldest item in WARM LRU.'],
  ['memcached_slab_items_evicted_total', 'evicted', 'counter', 'Total number of times an item had to be evicted from the LRU before it expired.'],
  ['memcached_slab_items_evicted_nonzero_total', 'evicted_nonzero', 'counter', 'Total number of times an item which had an explicit expire time set had to be evicted from the LRU before it expired.'],
  ['memcached_slab_items_evicted_time_seconds', 'evicted_time', 'counter', 'Seconds since the last access for the most recent item evicted from this class.'],
  ['memcached_slab_items_evicted_unfetched_total', 'evicted_unfetched', 'counter', 'Total number of items evicted and never fetched.'],
  ['memcached_slab_items_expired_unfetched_total', 'expired_unfetched', 'counter', 'Total number of valid items evicted from the LRU which were never touched after being set.'],
  ['memcached_slab_items_outofmemory_total', 'outofmemory', 'counter', 'Total number of items for this slab class that have triggered an out of memory error.'],
  ['memcached_slab_items_reclaimed_total', 'reclaimed', 'counter', 'Total number of items reclaimed.'],
  ['memcached_slab_items_crawler_reclaimed_total', 'crawler_reclaimed', 'counter', 'Number of items freed by the LRU crawler.'],
  ['memcached_slab_items_tailrepairs_total', 'tailrepairs', 'counter', 'Total number of times the entries for a particular ID need repairing.'],
  ['memcached_slab_mem_requested_bytes', 'mem_requested', 'counter', 'Number of bytes of memory actual items take up within a slab.'],
  ['memcached_slab_items_moves_to_cold', 'moves_to_cold', 'counter', 'Number of items moved from HOT or WARM into COLD.'],
  ['memcached_slab_items_moves_to_warm', 'moves_to_warm', 'counter', 'Number of items moved from COLD into WARM.'],
  ['memcached_slab_items_moves_within_lru', 'moves_within_lru', 'counter', 'Number of times active items were bumped within HOT or WARM.'],
];
const LRU_HITS: ReadonlyArray<[lru: string, field: string]> = [['hot', 'hits_to_hot'], ['warm', 'hits_to_warm'], ['cold', 'hits_to_cold'], ['temporary', 'hits_to_temp']];

const num = (v: string | number | bigint | undefined): number => {
  if (v === undefined) return NaN;
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  return /^-?\d+(\.\d+)?$/.test(v) ? Number(v) : NaN;
};

/**
 * repcache's Prometheus metrics, read from its `stats` fields and its replication links when scraped:
 * memcached's stats under memcached_exporter's names (dashboards and alerts written for memcached work
 * unchanged), plus replication state, lag, backlog and link state per peer.
 */
export class RepcacheMetrics {
  readonly registry = new Registry();
  readonly #cache: CacheStatsSource;
  readonly #replication: () => ReplicationView | null;
  /** One `stats` snapshot per scrape: every metric reads the same moment. */
  #snapshot = new Map<string, string | number | bigint>();
  /** `stats items` of the same scrape: slab class -> field -> value. */
  #slabs = new Map<string, Map<string, string | number>>();

  constructor(cache: CacheStatsSource, replication: () => ReplicationView | null) {
    this.#cache = cache;
    this.#replication = replication;
    const r = this.registry;
    const stat = (name: string) => num(this.#snapshot.get(name));

    gauge(r, 'memcached_up', 'Could the memcached server be reached (always 1 when this answers).', [], () => 1);
    gauge(r, 'memcached_version', 'The version of this memcached server.', ['version'], () => [
      { labels: { version: String(this.#snapshot.get('version') ?? '') }, value: 1 },
    ]);
    counter(r, 'memcached_commands_total', 'Total number of all requests broken down by command (get, set, etc.) and status.', ['command', 'status'], () => {
      const out: Sample[] = COMMANDS.map(([command, status, s]) => ({ labels: { command, status }, value: stat(s) }));
      // memcached counts cas commands in cmd_set too (the exporter subtracts them)
      const set = stat('cmd_set') - stat('cas_hits') - stat('cas_misses') - stat('cas_badval');
      out.push({ labels: { command: 'set', status: 'hit' }, value: set });
      return out;
    });
    counter(r, 'memcached_process_user_cpu_seconds_total', 'Accumulated user time for this process.', [], () => stat('rusage_user'));
    counter(r, 'memcached_process_system_cpu_seconds_total', 'Accumulated system time for this process.', [], () => stat('rusage_system'));
    for (const [name, s, type, help] of GENERAL) (type === 'gauge' ? gauge : counter)(r, name, help, [], () => stat(s));
    const perSlab = (field: string) => (): Sample[] => [...this.#slabs].map(([slab, f]) => ({ labels: { slab }, value: num(f.get(field)) }));
    for (const [name, field, type, help] of SLAB_ITEMS) (type === 'gauge' ? gauge : counter)(r, name, help, ['slab'], perSlab(field));
    counter(r, 'memcached_slab_lru_hits_total', 'Number of get_hits to the LRU.', ['slab', 'lru'], () =>
      [...this.#slabs].flatMap(([slab, f]) => LRU_HITS.map(([lru, field]) => ({ labels: { slab, lru }, value: num(f.get(field)) }))),
    );

    const repl = () => this.#replication();
    gauge(r, 'repcache_replication_state', 'Replication state of this node (1 for the current one).', ['state'], () => {
      const v = repl();
      return v ? oneHot({}, 'state', REPLICATION_STATES, v.state) : [];
    });
    const peers = (read: (p: PeerLinkView) => number) => (): Sample[] =>
      (repl()?.senders ?? []).map((p) => ({ labels: peerLabels(p), value: read(p) }));
    gauge(r, 'repcache_replication_peer_up', 'The link to this peer is streaming changes.', ['peer', 'direction'], peers((p) => (p.machine.state === 'streaming' ? 1 : 0)));
    gauge(r, 'repcache_replication_peer_link_state', 'State of the link to this peer (1 for the current one).', ['peer', 'direction', 'state'], () =>
      (repl()?.senders ?? []).flatMap((p) => oneHot(peerLabels(p), 'state', LINK_STATES, p.machine.state)),
    );
    gauge(r, 'repcache_replication_peer_lag_seconds', 'Age of the oldest change this peer has not acknowledged (0 when it has them all).', ['peer', 'direction'], peers((p) => (p.lagMs < 0 ? NaN : p.lagMs / 1000)));
    gauge(r, 'repcache_replication_peer_backlog', 'Changes logged here that this peer has not acknowledged.', ['peer', 'direction'], peers((p) => p.queueDepth));
    counter(r, 'repcache_replication_peer_sent_bytes_total', 'Bytes sent on the link to this peer.', ['peer', 'direction'], peers((p) => p.bytesSent));
    counter(r, 'repcache_replication_peer_received_bytes_total', 'Bytes received on the link to this peer.', ['peer', 'direction'], peers((p) => p.bytesReceived));
    counter(r, 'repcache_replication_peer_full_syncs_total', 'Full copies sent to this peer.', ['peer', 'direction'], peers((p) => p.machine.fullSyncs));
    counter(r, 'repcache_replication_peer_resumes_total', 'Reconnects that resumed the stream where it stopped.', ['peer', 'direction'], peers((p) => p.machine.resumes));
    counter(r, 'repcache_replication_peer_failures_total', 'Link failures (connect errors, timeouts, closed connections).', ['peer', 'direction'], peers((p) => p.machine.failures));
    gauge(r, 'repcache_replication_inbound_link_state', "State of a peer's stream into this node (1 for the current one).", ['peer', 'state'], () =>
      [...(repl()?.receivers ?? [])].flatMap((l) => oneHot({ peer: l.remote }, 'state', LINK_STATES, l.machine.state)),
    );
    counter(r, 'repcache_replication_inbound_received_bytes_total', "Bytes received on a peer's stream into this node.", ['peer'], () =>
      [...(repl()?.receivers ?? [])].map((l) => ({ labels: { peer: l.remote }, value: l.bytesReceived })),
    );
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The text exposition, from one snapshot of `stats`. */
  async scrape(): Promise<string> {
    this.#snapshot = new Map(this.#cache.generalStats().map(([k, v]) => [k, v] as const));
    this.#slabs = new Map();
    for (const [key, value] of this.#cache.itemStats?.() ?? []) {
      const m = /^items:(\d+):(\w+)$/.exec(key);
      if (!m) continue;
      let f = this.#slabs.get(m[1]!);
      if (!f) this.#slabs.set(m[1]!, (f = new Map()));
      f.set(m[2]!, value);
    }
    return this.registry.metrics();
  }
}

const peerLabels = (p: PeerLinkView) => ({ peer: `${p.host}:${p.port}`, direction: p.inbound ? 'dialed_in' : 'dialed' });
