import { Worker } from 'node:worker_threads';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { SlabStore } from '../../../src/cache/store.ts';
import { CacheClock } from '../../../src/clock.ts';
import { CacheServer } from '../../../src/server/cache-server.ts';
import { defaultServerConfig, storeOptionsFor, type ServerConfig } from '../../../src/server/config.ts';
import { SharedSettings } from '../../../src/server/shared-settings.ts';
import { SharedPrefixStats } from '../../../src/server/shared-prefix-stats.ts';
import { WorkerCounterTable } from '../../../src/server/worker-counters.ts';
import { WorkerSignals } from '../../../src/server/worker-signals.ts';
import { FakeClock } from '../../support/fake-clock.ts';

const HOLD_MS = 300;
// Another worker inside a command: holds the store lock HOLD_MS, then lets it go.
const HOLDER = `
const { workerData, parentPort } = require('node:worker_threads');
import(workerData.lockUrl).then(({ StoreLock }) => {
  const l = new StoreLock(workerData.lock);
  l.acquire();
  parentPort.postMessage('held');
  setTimeout(() => l.release(), workerData.ms);
});
`;
const lockUrl = new URL('../../../src/cache/store-lock.ts', import.meta.url).href;

describe('repcache -t N: the metrics endpoint reads the store under the store lock', () => {
  const servers: CacheServer[] = [];
  let holder: Worker | null = null;
  afterEach(async () => {
    await holder?.terminate();
    for (const s of servers.splice(0)) await s.close();
  });

  it('a scrape while another worker is inside a command waits for it (no half-made counts, no freed LRU tail read)', async () => {
    const clock = new CacheClock(new FakeClock());
    const config: ServerConfig = { ...defaultServerConfig, listen: ['127.0.0.1'], threads: 2, extended: {}, port: -1, udpPort: 0 };
    const store = new SlabStore(storeOptionsFor(config, clock));
    const base = { threads: 2, store: store.buffers, lock: new SharedArrayBuffer(4), counters: WorkerCounterTable.allocate(2), signals: WorkerSignals.allocate(2), settings: SharedSettings.allocate(), prefixes: SharedPrefixStats.allocate() };
    const server = new CacheServer(config, { logger: pino({ level: 'silent' }), clock, shared: { ...base, worker: 0 } });
    servers.push(server);
    for (const read of [() => server.generalStats(), () => server.itemStats()]) {
      holder = new Worker(HOLDER, { eval: true, workerData: { lockUrl, lock: base.lock, ms: HOLD_MS } });
      await new Promise((resolve, reject) => { holder!.once('message', resolve); holder!.once('error', reject); });
      const t0 = performance.now();
      read();
      expect(performance.now() - t0).toBeGreaterThanOrEqual(HOLD_MS - 50);
      await holder.terminate();
      holder = null;
    }
  });
});
