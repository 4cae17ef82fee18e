/**
 * A worker thread of repcache -t N (workers 1 to N-1; worker 0 is the main thread): it serves clients on the shared
 * store (repcache-serving.ts) and speaks to the main thread in messages (repcache-threads.ts). Imported outside a
 * worker (the compile cache step) it only loads.
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { forwardingLogger } from '../log-forward.ts';
import { dropCompileCacheCopies } from '../server/idle-memory.ts';
import { SharedStoreServing } from './repcache-serving.ts';
import type { WorkerStart, ToMain, ToWorker } from './repcache-thread-messages.ts';

function serveInWorker(port: MessagePort): Promise<void> {
  // every module this thread serves with is loaded: the compile cache's copies go before the server's allocations
  // come after them in malloc's heap (they would leave holes there that the end of start-up cannot give back)
  dropCompileCacheCopies();
  const start = workerData as WorkerStart;
  const post = (m: ToMain) => port.postMessage(m);
  // its lines go to the main thread's logger: pino is not loaded in every worker
  const logger = forwardingLogger(post, start.logLevel, { worker: start.shared.worker });
  const serving = new SharedStoreServing(start, post, logger, () => port.close());
  port.on('message', (m: ToWorker) => serving.receive(m));
  return serving.run();
}

// not awaited: a worker closed before it was told to listen ends with its start unsettled, which is no error
if (parentPort !== null && (workerData as Partial<WorkerStart> | null)?.shared !== undefined) void serveInWorker(parentPort);
