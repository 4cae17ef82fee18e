/**
 * The link between repcache -t N's workers, in one process: two CacheServers on one shared store, each on a port of
 * its own so that a client picks its worker, joined by a link that stands for the main thread's relay. What must
 * hold when a worker is slow or its watcher does not read: `stats conns` answers within its bound with what came,
 * and a watcher's backlog from other workers stays bounded (memcached's log_worker_dropped).
 */
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { CacheClock } from '../../src/clock.ts';
import { SlabStore } from '../../src/cache/store.ts';
import { CacheServer, CONNS_WAIT_MS, type WorkerLink } from '../../src/server/cache-server.ts';
import { defaultServerConfig, storeOptionsFor, type ServerConfig } from '../../src/server/config.ts';
import { WorkerCounterTable } from '../../src/server/worker-counters.ts';
import { MAX_FORWARDED_PENDING, WorkerSignals } from '../../src/server/worker-signals.ts';
import { SharedSettings } from '../../src/server/shared-settings.ts';
import { SharedPrefixStats } from '../../src/server/shared-prefix-stats.ts';
import { MAX_WATCHERS } from '../../src/server/watch.ts';
import { McClient } from '../support/mc-client.ts';
import { freePort } from '../support/ports.ts';

const open: Array<CacheServer | McClient> = [];
afterEach(async () => {
  for (const x of open.splice(0)) await x.close();
});

/** Two workers; `relay(from, deliver)` decides what becomes of each message (deliver() passes it on). */
async function twoWorkers(relay: (from: number, deliver: () => void) => void = (_, deliver) => deliver()): Promise<{ servers: CacheServer[]; ports: number[] }> {
  const ports = [await freePort(), await freePort()];
  const config: ServerConfig = { ...defaultServerConfig, listen: ['127.0.0.1'], threads: 2, extended: {}, port: 0, udpPort: 0 };
  const clock = new CacheClock();
  const store = new SlabStore(storeOptionsFor(config, clock));
  const base = { threads: 2, store: store.buffers, lock: new SharedArrayBuffer(4), counters: WorkerCounterTable.allocate(2), signals: WorkerSignals.allocate(2), settings: SharedSettings.allocate(), prefixes: SharedPrefixStats.allocate() };
  const servers = ports.map((port, worker) => new CacheServer({ ...config, port: -1 }, { logger: pino({ level: 'silent' }), clock, shared: { ...base, worker, ports: [port] } }));
  servers.forEach((s, me) => {
    const other = servers[1 - me];
    const link: WorkerLink = {
      askConns: (id) => relay(me, () => s.connsAnswered(id, other.connsAsked())),
      sendWatch: (to, kinds, lines) => relay(me, () => servers[to].watchLines(kinds, lines)),
    };
    s.setWorkerLink(link);
  });
  for (const s of servers) await s.listen();
  open.push(...servers);
  return { servers, ports };
}

async function client(port: number): Promise<McClient> {
  const c = await McClient.connect(port);
  open.push(c);
  return c;
}

describe('repcache -t N: the workers\' link', () => {
  it('stats conns lists both workers\' connections, in id order', async () => {
    const { ports } = await twoWorkers();
    const a = await client(ports[0]);
    const b = await client(ports[1]);
    await b.request('version\r\n');
    const reply = await a.request('stats conns\r\nversion\r\n', /VERSION .*\r\n$/);
    expect(reply).toContain(`addr tcp:127.0.0.1:${b.socket.localPort}\r\n`);
    expect(reply).toContain(`addr tcp:127.0.0.1:${a.socket.localPort}\r\n`);
    // a pipelined command's reply waits for the deferred one
    expect(reply).toMatch(/END\r\nVERSION .*\r\n$/);
    const ids = [...reply.matchAll(/^STAT (\d+):addr /gm)].map((m) => Number(m[1]));
    expect(ids).toEqual([...ids].sort((x, y) => x - y));
  });

  it('a worker that does not answer: stats conns answers after its bound with this worker\'s connections', async () => {
    const { ports } = await twoWorkers(() => {}); // the other worker never answers
    const a = await client(ports[0]);
    const b = await client(ports[1]);
    await b.request('version\r\n');
    const started = performance.now();
    const reply = await a.request('stats conns\r\n', 'END\r\n');
    const took = performance.now() - started;
    expect(took).toBeGreaterThanOrEqual(CONNS_WAIT_MS - 5);
    expect(reply).toContain(`addr tcp:127.0.0.1:${a.socket.localPort}\r\n`);
    expect(reply).not.toContain(`addr tcp:127.0.0.1:${b.socket.localPort}\r\n`);
    // and the connection goes on
    expect(await a.request('version\r\n')).toMatch(/^VERSION /);
  });

  it('a watcher on one worker gets the other\'s lines; when nobody watches, nothing is sent', async () => {
    let sent = 0;
    const { servers, ports } = await twoWorkers((_, deliver) => {
      sent++;
      deliver();
    });
    const w = await client(ports[0]);
    const b = await client(ports[1]);
    expect(await b.request('set before 0 0 1\r\nx\r\n')).toBe('STORED\r\n');
    expect(sent).toBe(0);
    expect(await w.request('watch mutations\r\n', 'OK\r\n')).toBe('OK\r\n');
    expect(await b.request('set k 0 0 1\r\nx\r\n')).toBe('STORED\r\n');
    const line = await w.request('', '\n');
    expect(line).toMatch(/^ts=\d+\.\d+ gid=\d+ type=item_store key=k status=stored cmd=set ttl=0 clsid=1 cfd=\d+ size=1\n$/);
    expect(parseStatsValue(await b.request('stats\r\n', 'END\r\n'), 'log_watchers')).toBe('1');
    w.close();
    await until(() => parseStatsValue(servers[1].generalStats(), 'log_watchers') === '0');
    sent = 0;
    expect(await b.request('set after 0 0 1\r\nx\r\n')).toBe('STORED\r\n');
    expect(sent).toBe(0);
  });

  it('the watcher limit is the node\'s: the 21st watcher is refused on either worker, and a slot frees on close', async () => {
    const { ports } = await twoWorkers();
    const watchers = await Promise.all(Array.from({ length: MAX_WATCHERS }, (_, i) => client(ports[i % 2])));
    for (const w of watchers) expect(await w.request('watch\r\n', 'OK\r\n')).toBe('OK\r\n');
    for (const port of ports) {
      const extra = await client(port);
      expect(await extra.request('watch\r\n')).toBe('WATCHER_TOO_MANY log watcher limit reached\r\n');
    }
    watchers[0].close();
    const late = await client(ports[1]);
    await until(async () => (await late.request('watch\r\n')) === 'OK\r\n');
  });

  it('lines for a worker that does not take them are bounded: beyond the bound they are dropped and counted', async () => {
    const held: Array<() => void> = [];
    let stalled = true; // the watcher's worker takes nothing until told
    const { ports } = await twoWorkers((_, deliver) => (stalled ? held.push(deliver) : deliver()));
    const w = await client(ports[0]);
    const b = await client(ports[1]);
    expect(await w.request('watch mutations\r\n', 'OK\r\n')).toBe('OK\r\n');
    const n = MAX_FORWARDED_PENDING + 500;
    let script = '';
    for (let i = 0; i < n; i++) script += `set d${i} 0 0 1 noreply\r\nx\r\n`;
    await b.request(`${script}mn\r\n`, 'MN\r\n', 10_000);
    await new Promise((r) => setImmediate(r));
    const dropped = Number(parseStatsValue(await b.request('stats\r\n', 'END\r\n'), 'log_worker_dropped'));
    expect(dropped).toBeGreaterThan(0);
    expect(dropped).toBeLessThanOrEqual(n);
    // the stalled worker catches up: it writes what was kept, and later lines are sent again
    stalled = false;
    for (const deliver of held.splice(0)) deliver();
    const kept = n - dropped;
    // (those its watcher's buffer cannot hold are counted in the skipped=N before the next line that fits)
    let got = '';
    await until(() => {
      const before = got.length;
      got += w.take();
      return got.length === before && got.length > 0;
    });
    expect(await b.request('set final 0 0 1\r\nx\r\n')).toBe('STORED\r\n');
    await until(() => (got += w.take()).includes(' key=final '));
    const reported = got.split('\n').reduce((sum, l) => sum + (l.startsWith('skipped=') ? Number(l.slice(8)) : l.includes('type=item_store') ? 1 : 0), 0);
    expect(reported).toBe(kept + 1);
  });
});

function parseStatsValue(stats: string | Array<[string, unknown]>, name: string): string | undefined {
  if (typeof stats !== 'string') return String(stats.find(([n]) => n === name)?.[1]);
  return new RegExp(`^STAT ${name} (\\S+)\\r$`, 'm').exec(stats)?.[1];
}

async function until(ok: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}
