/**
 * The replication thread of repcache -t N with -x/-X: the Replicator on the store the client workers share,
 * serving no client (see repcache-threads.ts for the messages and replication/threads.ts for what it shares).
 * Imported outside a worker (the compile cache step) it only loads.
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { turnNow } from '../clock.ts';
import { forwardingLogger } from '../log-forward.ts';
import { SlabStore } from '../cache/store.ts';
import { collectAllGarbage } from '../server/idle-memory.ts';
import { HeldStoreLock } from '../cache/store-lock.ts';
import { abandonedLockPolicy, abandonOnUncaughtException } from './abandoned-lock.ts';
import { storeOptionsFor } from '../server/config.ts';
import { HybridClock } from '../replication/hlc.ts';
import { ReplicationShare } from '../replication/threads.ts';
import { startThreadedReplication } from '../replication/wire.ts';
import type { Replicator } from '../replication/replicator.ts';
import { threadCacheClock, type ReplicationThreadStart, type ToMain, type ToWorker } from './repcache-thread-messages.ts';

async function replicateInWorker(port: MessagePort): Promise<void> {
  const start = workerData as ReplicationThreadStart;
  const post = (m: ToMain) => port.postMessage(m);
  // its lines go to the main thread's logger, as the client workers' do
  const logger = forwardingLogger(post, start.logLevel, { thread: 'replication' });
  const clock = threadCacheClock(start.clock);
  // the store's seconds (items' times, expiry, flush marks) as the workers read them: read at each section under
  // the lock, so an item applied just after a worker's flush_all is not stamped with the second before it
  clock.tick();
  const hlc = new HybridClock(1, turnNow, start.hlc);
  const store = new SlabStore({ ...storeOptionsFor(start.config, clock), versions: hlc, attach: start.store });
  store.changes.attach(start.changes);
  let repl: Replicator | null = null;
  let closing = false;
  // its sections hold the lock until a microtask: an uncaught exception within one ends the thread first, holding it
  const lock = new HeldStoreLock(start.lock, 0, null, abandonedLockPolicy(logger, start.lock));
  abandonOnUncaughtException(lock);
  port.on('message', (m: ToWorker) => {
    if (m.type !== 'close' || closing) return;
    closing = true;
    void (repl?.stop() ?? Promise.resolve()).finally(() => {
      post({ type: 'closed' });
      port.close();
    });
  });
  try {
    repl = await startThreadedReplication(start, store.replica, hlc, { lock, share: new ReplicationShare(start.share), entered: () => clock.tick() }, logger);
  } catch (err) {
    post({ type: 'error', stage: 'replication', message: (err as Error).message });
    return;
  }
  post({ type: 'ready' });
  // start-up's memory back (and a full copy's, if one came in), once, as every other thread does
  collectAllGarbage();
}

if (parentPort !== null && (workerData as Partial<ReplicationThreadStart> | null)?.share !== undefined) await replicateInWorker(parentPort);
