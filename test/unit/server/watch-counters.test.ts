/**
 * `stats`' log_watcher_sent, log_watcher_skipped and log_worker_written come from the watch log, on one thread as
 * summed over repcache -t N's workers; `stats reset` leaves them (the log keeps its own counts).
 */
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { SlabStore } from '../../../src/cache/store.ts';
import { CacheClock } from '../../../src/clock.ts';
import { CacheServer } from '../../../src/server/cache-server.ts';
import { defaultServerConfig, storeOptionsFor, type ServerConfig } from '../../../src/server/config.ts';
import { WorkerCounterTable } from '../../../src/server/worker-counters.ts';
import { WorkerSignals } from '../../../src/server/worker-signals.ts';
import { SharedSettings } from '../../../src/server/shared-settings.ts';
import { SharedPrefixStats } from '../../../src/server/shared-prefix-stats.ts';
import { McClient } from '../../support/mc-client.ts';

const config: ServerConfig = { ...defaultServerConfig, listen: ['127.0.0.1'], extended: {}, port: -1, udpPort: 0 };
const logger = pino({ level: 'silent' });
const open: Array<CacheServer | McClient> = [];
afterEach(async () => {
  for (const x of open.splice(0)) await x.close();
});

async function connect(server: CacheServer): Promise<McClient> {
  const c = await McClient.connect(Number(server.addresses()[0].split(':').pop()));
  open.push(c);
  return c;
}

function watchStats(server: CacheServer): Record<string, unknown> {
  const names = ['log_watcher_sent', 'log_watcher_skipped', 'log_worker_written'];
  return Object.fromEntries(server.generalStats().filter(([name]) => names.includes(name)));
}

/** A watcher of mutations on `watched`, and one `set` sent to `writer`; resolves once the watcher has its line. */
async function oneWatchedSet(watched: CacheServer, writer: CacheServer): Promise<void> {
  const watcher = await connect(watched);
  expect(await watcher.request('watch mutations\r\n', 'OK\r\n')).toBe('OK\r\n');
  expect(await (await connect(writer)).request('set k 0 0 1\r\nx\r\n')).toBe('STORED\r\n');
  expect(await watcher.readUntil('\n')).toMatch(/ key=k status=stored /);
}

describe('the watch counters in stats', () => {
  it('one thread: the watch log\'s counts, kept through stats reset', async () => {
    const server = new CacheServer(config, { logger });
    open.push(server);
    await server.listen();
    await oneWatchedSet(server, server);
    const counted = { log_watcher_sent: 1, log_watcher_skipped: 0, log_worker_written: 1 };
    expect(watchStats(server)).toEqual(counted);
    expect(await (await connect(server)).request('stats reset\r\n')).toBe('RESET\r\n');
    expect(watchStats(server)).toEqual(counted);
  });

  it('-t N: summed over the workers, whichever answers', async () => {
    const threaded = { ...config, threads: 2 };
    const clock = new CacheClock();
    const store = new SlabStore(storeOptionsFor(threaded, clock));
    const base = { threads: 2, store: store.buffers, lock: new SharedArrayBuffer(4), counters: WorkerCounterTable.allocate(2), signals: WorkerSignals.allocate(2), settings: SharedSettings.allocate(), prefixes: SharedPrefixStats.allocate() };
    const servers = [0, 1].map((worker) => new CacheServer(threaded, { logger, clock, shared: { ...base, worker } }));
    for (const s of servers) s.setWorkerLink({ askConns: () => {}, sendWatch: (to, kinds, lines) => servers[to].watchLines(kinds, lines) });
    open.push(...servers);
    for (const s of servers) await s.listen();
    await oneWatchedSet(servers[0], servers[1]);
    expect(watchStats(servers[1])).toEqual({ log_watcher_sent: 1, log_watcher_skipped: 0, log_worker_written: 1 });
  });
});
