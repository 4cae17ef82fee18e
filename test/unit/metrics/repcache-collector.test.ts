import { describe, expect, it } from 'vitest';
import { parseExposition } from '../../support/exposition.ts';
import { RepcacheMetrics, type PeerLinkView, type ReplicationView } from '../../../src/metrics/repcache.ts';

const stats = new Map<string, string | number | bigint>([
  ['version', '1.6.18'], ['uptime', 42], ['time', 1_700_000_000], ['rusage_user', '1.250000'], ['rusage_system', '0.500000'],
  ['curr_connections', 3], ['total_connections', 9], ['max_connections', 1024], ['rejected_connections', 1],
  ['cmd_get', 10], ['cmd_set', 7], ['cmd_flush', 1], ['get_hits', 6], ['get_misses', 4], ['delete_hits', 2], ['delete_misses', 1],
  ['cas_hits', 1], ['cas_misses', 1], ['cas_badval', 1], ['touch_hits', 0], ['touch_misses', 0],
  ['incr_hits', 0], ['incr_misses', 0], ['decr_hits', 0], ['decr_misses', 0],
  ['bytes_read', 1000n], ['bytes_written', 2000], ['limit_maxbytes', 67108864], ['bytes', 512], ['curr_items', 5], ['total_items', 8],
  ['evictions', 2], ['reclaimed', 0], ['accepting_conns', 1],
  ['replication_state', 'streaming'], ['repl_log_seq', 17], ['repl_applied', 4], ['repl_node_id', 7],
]);

const peer = (over: Partial<PeerLinkView> = {}): PeerLinkView => ({
  host: '198.18.0.2', port: 11212, inbound: false,
  machine: { state: 'streaming', fullSyncs: 1, resumes: 2, failures: 3 },
  lagMs: 250, queueDepth: 12, bytesSent: 5000, bytesReceived: 600, ...over,
});

describe('RepcacheMetrics (memcached_exporter names, replication per peer)', () => {
  it("maps `stats` onto memcached_exporter's metric names", async () => {
    const m = new RepcacheMetrics({ generalStats: () => [...stats] }, () => null);
    const v = parseExposition(await m.scrape());
    expect(v.get('memcached_up')).toBe(1);
    expect(v.get('memcached_version{version="1.6.18"}')).toBe(1);
    expect(v.get('memcached_current_items')).toBe(5);
    expect(v.get('memcached_items_total')).toBe(8);
    expect(v.get('memcached_current_bytes')).toBe(512);
    expect(v.get('memcached_limit_bytes')).toBe(67108864);
    expect(v.get('memcached_items_evicted_total')).toBe(2);
    expect(v.get('memcached_current_connections')).toBe(3);
    expect(v.get('memcached_connections_total')).toBe(9);
    expect(v.get('memcached_read_bytes_total')).toBe(1000);
    expect(v.get('memcached_written_bytes_total')).toBe(2000);
    expect(v.get('memcached_process_user_cpu_seconds_total')).toBe(1.25);
    expect(v.get('memcached_commands_total{command="get",status="hit"}')).toBe(6);
    expect(v.get('memcached_commands_total{command="get",status="miss"}')).toBe(4);
    expect(v.get('memcached_commands_total{command="cas",status="badval"}')).toBe(1);
    // repcache -t N's store lock; without the fields (-t 1) no sample
    expect(v.has('repcache_store_lock_contended_total')).toBe(false);
    const threaded = new RepcacheMetrics({ generalStats: () => [...stats, ['lock_contended', 30], ['lock_waits', 11]] }, () => null);
    const t = parseExposition(await threaded.scrape());
    expect(t.get('repcache_store_lock_contended_total')).toBe(30);
    expect(t.get('repcache_store_lock_waits_total')).toBe(11);
    expect(v.get('memcached_commands_total{command="flush",status="hit"}')).toBe(1);
    // cmd_set counts the cas commands too: set = 7 - 3
    expect(v.get('memcached_commands_total{command="set",status="hit"}')).toBe(4);
    expect(v.get('repcache_replication_log_seq')).toBe(17);
    expect(v.get('repcache_replication_applied_total')).toBe(4);
    // no replication: no replication state or peer series
    expect([...v.keys()].some((k) => k.startsWith('repcache_replication_state') || k.startsWith('repcache_replication_peer'))).toBe(false);
  });

  it("maps `stats items` onto the exporter's per-slab metrics", async () => {
    const items: Array<[string, number]> = [
      ['items:1:number', 4], ['items:1:age', 30], ['items:1:evicted', 2], ['items:1:hits_to_cold', 7], ['items:1:mem_requested', 480],
      ['items:5:number', 1], ['items:5:age', 3], ['items:5:evicted', 0], ['items:5:hits_to_cold', 0],
    ];
    const m = new RepcacheMetrics({ generalStats: () => [], itemStats: () => items }, () => null);
    const v = parseExposition(await m.scrape());
    expect(v.get('memcached_slab_current_items{slab="1"}')).toBe(4);
    expect(v.get('memcached_slab_current_items{slab="5"}')).toBe(1);
    expect(v.get('memcached_slab_items_age_seconds{slab="1"}')).toBe(30);
    expect(v.get('memcached_slab_items_evicted_total{slab="1"}')).toBe(2);
    expect(v.get('memcached_slab_lru_hits_total{slab="1",lru="cold"}')).toBe(7);
    expect(v.get('memcached_slab_mem_requested_bytes{slab="1"}')).toBe(480);
    // a field the class does not report: no sample rather than a made-up 0
    expect(v.has('memcached_slab_items_tailrepairs_total{slab="1"}')).toBe(false);
    items.splice(0, 5);
    const after = parseExposition(await m.scrape());
    expect(after.has('memcached_slab_current_items{slab="1"}')).toBe(false);
  });

  it('reads stats once per scrape, at scrape time', async () => {
    let calls = 0;
    let items = 1;
    const m = new RepcacheMetrics({ generalStats: () => (calls++, [['curr_items', items]]) }, () => null);
    expect(parseExposition(await m.scrape()).get('memcached_current_items')).toBe(1);
    items = 9;
    expect(parseExposition(await m.scrape()).get('memcached_current_items')).toBe(9);
    expect(calls).toBe(2);
  });

  it('exposes replication state, lag, backlog and link state per peer; gone peers disappear', async () => {
    const repl: { view: ReplicationView } = {
      view: {
        state: 'streaming',
        senders: [peer(), peer({ host: '198.18.0.3', inbound: true, machine: { state: 'backoff', fullSyncs: 0, resumes: 0, failures: 9 }, lagMs: -1, queueDepth: 0 })],
        receivers: [{ remote: '198.18.0.2:40000', machine: { state: 'streaming' }, bytesReceived: 77 }],
      },
    };
    const m = new RepcacheMetrics({ generalStats: () => [] }, () => repl.view);
    let v = parseExposition(await m.scrape());
    expect(v.get('repcache_replication_state{state="streaming"}')).toBe(1);
    expect(v.get('repcache_replication_state{state="syncing"}')).toBe(0);
    const a = 'peer="198.18.0.2:11212",direction="dialed"';
    const b = 'peer="198.18.0.3:11212",direction="dialed_in"';
    expect(v.get(`repcache_replication_peer_up{${a}}`)).toBe(1);
    expect(v.get(`repcache_replication_peer_up{${b}}`)).toBe(0);
    expect(v.get(`repcache_replication_peer_lag_seconds{${a}}`)).toBe(0.25);
    expect(v.has(`repcache_replication_peer_lag_seconds{${b}}`)).toBe(false); // unknown lag: no sample, not a fake 0
    expect(v.get(`repcache_replication_peer_backlog{${a}}`)).toBe(12);
    expect(v.get(`repcache_replication_peer_link_state{${b},state="backoff"}`)).toBe(1);
    expect(v.get(`repcache_replication_peer_link_state{${b},state="streaming"}`)).toBe(0);
    expect(v.get(`repcache_replication_peer_failures_total{${b}}`)).toBe(9);
    expect(v.get(`repcache_replication_peer_sent_bytes_total{${a}}`)).toBe(5000);
    expect(v.get('repcache_replication_inbound_link_state{peer="198.18.0.2:40000",state="streaming"}')).toBe(1);
    expect(v.get('repcache_replication_inbound_received_bytes_total{peer="198.18.0.2:40000"}')).toBe(77);

    repl.view = { state: 'disconnected', senders: [peer({ machine: { state: 'connecting', fullSyncs: 1, resumes: 2, failures: 4 } })], receivers: [] };
    v = parseExposition(await m.scrape());
    expect(v.get('repcache_replication_state{state="disconnected"}')).toBe(1);
    expect([...v.keys()].some((k) => k.includes('198.18.0.3'))).toBe(false);
    expect([...v.keys()].some((k) => k.startsWith('repcache_replication_inbound'))).toBe(false);
    expect(v.get(`repcache_replication_peer_up{${a}}`)).toBe(0);
  });
});
