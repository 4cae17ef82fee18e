/**
 * A child process for test/unit/server/abandoned-lock.test.ts: worker 0 of a -t 2 store (a CacheServer on the shared
 * buffers, with the main thread's policy as repcache gives it), listening; then a thread that takes the store lock
 * within a section held into a microtask (as the replication thread's are) and dies of an uncaught exception there.
 * The process must end by itself (status 70, a fatal line), not wait for the lock for ever.
 */
import { Worker } from 'node:worker_threads';
import { SlabStore } from '../../src/cache/store.ts';
import { abandonedLockPolicy } from '../../src/cli/abandoned-lock.ts';
import { createLogger } from '../../src/log.ts';
import { CacheServer } from '../../src/server/cache-server.ts';
import { defaultServerConfig, storeOptionsFor, type ServerConfig } from '../../src/server/config.ts';
import { SharedPrefixStats } from '../../src/server/shared-prefix-stats.ts';
import { SharedSettings } from '../../src/server/shared-settings.ts';
import { WorkerCounterTable } from '../../src/server/worker-counters.ts';
import { WorkerSignals } from '../../src/server/worker-signals.ts';
import { CacheClock } from '../../src/clock.ts';

const logger = createLogger('repcache', 'info');
const clock = new CacheClock();
const config: ServerConfig = { ...defaultServerConfig, listen: ['127.0.0.1'], threads: 2, extended: {}, port: -1, udpPort: 0 };
const store = new SlabStore(storeOptionsFor(config, clock));
const lock = new SharedArrayBuffer(4);
const shared = { threads: 2, worker: 0, store: store.buffers, lock, counters: WorkerCounterTable.allocate(2), signals: WorkerSignals.allocate(2), settings: SharedSettings.allocate(), prefixes: SharedPrefixStats.allocate() };
const server = new CacheServer(config, { logger, clock, shared, lockPolicy: abandonedLockPolicy(logger, lock) });
await server.listen();
process.stdout.write(`listening\n`);
const dies = new Worker(`
  const { workerData } = require('node:worker_threads');
  Promise.all([import(workerData.lockUrl), import(workerData.abandonUrl)]).then(([{ HeldStoreLock }, { abandonOnUncaughtException }]) => {
    const l = new HeldStoreLock(workerData.lock);
    abandonOnUncaughtException(l);
    setTimeout(() => {
      l.acquire();
      queueMicrotask(() => l.release());
      throw new Error('a bug inside a section');
    }, 1);
  });
`, { eval: true, workerData: { lock, lockUrl: new URL('../../src/cache/store-lock.ts', import.meta.url).href, abandonUrl: new URL('../../src/cli/abandoned-lock.ts', import.meta.url).href } });
dies.on('error', (err) => process.stdout.write(`thread died: ${err.message}\n`));
// (what repcache's ThreadedCache would do next is a graceful stop: not here, the lock must end it)
