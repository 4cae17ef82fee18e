/**
 * repcache's Prometheus endpoint (-o metrics_listen): a pair on loopback, writes and reads through the
 * memcached protocol, and the scraped values must match `stats` and the replication links.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { bin, startProcess, stopAll, waitForPort, type Daemon } from '../support/daemon.ts';
import { parseExposition } from '../support/exposition.ts';
import { freePort } from '../support/ports.ts';
import { eventually, get, mc, set, startNode, stats } from './replication-cluster.ts';

afterEach(stopAll);

const asRoot = process.getuid?.() === 0 ? ['-u', 'root'] : [];

function startRepcache(port: number, args: string[]): Daemon {
  return startProcess(bin('repcache'), ['-l', '127.0.0.1', '-p', String(port), '-U', '0', '-t', '1', ...asRoot, ...args], { env: { HAVED_LOG_JSON: '1' } });
}

async function scrape(port: number): Promise<Map<string, number>> {
  const r = await fetch(`http://127.0.0.1:${port}/metrics`);
  expect(r.status).toBe(200);
  expect(r.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return parseExposition(await r.text());
}

describe('repcache -o metrics_listen', () => {
  it("serves memcached_exporter's names and the replication links of a pair", async () => {
    const [ra, rb, ma] = [await freePort(), await freePort(), await freePort()];
    const a = await startNode({ rport: ra, peers: [rb], extra: ['-o', `metrics_listen=127.0.0.1:${ma}`, '-o', 'repl_complete'] });
    const b = await startNode({ rport: rb, peers: [ra] });
    const [pa, pb] = [a.port, b.port];
    await eventually(async () => (await stats(pa)).repl_peer_0_state === 'streaming', 'the pair linked', 20_000);

    for (let i = 0; i < 5; i++) expect(await set(pa, `k${i}`, 'v'.repeat(100))).toBe('STORED\r\n');
    expect(await get(pa, 'k0')).toBe('v'.repeat(100));
    expect(await get(pa, 'k1')).toBe('v'.repeat(100));
    expect(await get(pa, 'missing')).toBeNull();
    expect(await mc(pa, 'delete k4\r\n')).toBe('DELETED\r\n');
    expect(await mc(pa, 'delete k4\r\n')).toBe('NOT_FOUND\r\n');
    await eventually(async () => (await get(pb, 'k3')) !== null, 'the writes reached the peer', 20_000);

    const v = await scrape(ma);
    const s = await stats(pa);
    expect(v.get('memcached_up')).toBe(1);
    expect(v.get('memcached_current_items')).toBe(4);
    expect(v.get('memcached_current_items')).toBe(Number(s.curr_items));
    expect(v.get('memcached_commands_total{command="set",status="hit"}')).toBe(5);
    expect(v.get('memcached_commands_total{command="get",status="hit"}')).toBe(2);
    expect(v.get('memcached_commands_total{command="get",status="miss"}')).toBe(1);
    expect(v.get('memcached_commands_total{command="delete",status="hit"}')).toBe(1);
    expect(v.get('memcached_commands_total{command="delete",status="miss"}')).toBe(1);
    expect(v.get('memcached_current_bytes')).toBe(Number(s.bytes));
    expect(v.get('memcached_limit_bytes')).toBe(64 * 1024 * 1024);
    expect(v.get('memcached_items_evicted_total')).toBe(0);
    const slabItems = [...v].filter(([k]) => k.startsWith('memcached_slab_current_items{')).reduce((n, [, x]) => n + x, 0);
    expect(slabItems).toBe(4); // `stats items`, per slab class
    expect(v.get('memcached_read_bytes_total')).toBeGreaterThan(500);
    expect(v.get('memcached_written_bytes_total')).toBeGreaterThan(0);
    expect(v.get('memcached_current_connections')).toBeGreaterThanOrEqual(0); // the test's clients close after each command
    expect(v.get('repcache_replication_state{state="streaming"}')).toBe(1);
    const peer = [...v.keys()].find((k) => k.startsWith('repcache_replication_peer_up{'));
    expect(peer).toBeDefined();
    expect(v.get(peer!)).toBe(1);
    const labels = peer!.slice(peer!.indexOf('{'));
    expect(v.get(`repcache_replication_peer_link_state${labels.replace('}', ',state="streaming"}')}`)).toBe(1);
    expect(v.has(`repcache_replication_peer_lag_seconds${labels}`)).toBe(true);
    expect(v.has(`repcache_replication_peer_backlog${labels}`)).toBe(true);
    expect(v.get(`repcache_replication_peer_sent_bytes_total${labels}`)).toBeGreaterThan(0);

    // the peer goes away: its link stops streaming (a dialed-in link is dropped, so its series go)
    await b.daemon.stop('SIGKILL');
    await eventually(async () => (await scrape(ma)).get('repcache_replication_state{state="disconnected"}') === 1, 'replication_state disconnected', 20_000);
    const after = await scrape(ma);
    expect(after.get(`repcache_replication_peer_up${labels}`) ?? 0).toBe(0);
    expect(after.get(`repcache_replication_peer_link_state${labels.replace('}', ',state="streaming"}')}`) ?? 0).toBe(0);
  });

  it('nothing listens without the option; a bad address or a taken port stops the start with a clear error', async () => {
    const p = await freePort();
    const plain = startRepcache(p, []);
    await waitForPort(p, '127.0.0.1', 20_000, plain);
    expect(plain.output()).not.toMatch(/metrics/);

    const bad = startProcess(bin('repcache'), ['-l', '127.0.0.1', '-p', String(await freePort()), ...asRoot, '-o', 'metrics_listen=example.com:80']);
    expect(await bad.exited).not.toBe(0);
    expect(bad.output()).toMatch("metrics_listen: 'example.com' is not an IP address");

    const busy = await freePort();
    const holder = startRepcache(busy, []);
    await waitForPort(busy, '127.0.0.1', 20_000, holder);
    const taken = startRepcache(await freePort(), ['-o', `metrics_listen=127.0.0.1:${busy}`]);
    expect(await taken.exited).not.toBe(0);
    expect(taken.output()).toMatch(`cannot listen for metrics on 127.0.0.1:${busy}: EADDRINUSE`);
  });
});
