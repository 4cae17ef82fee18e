/**
 * One worker thread of repcache -t N: a full CacheServer (every protocol) on the store the main thread made,
 * listening on the shared port with reusePort (see repcache-threads.ts for the messages). Imported outside a
 * worker (the compile cache step) it only loads.
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { backgroundClock, CacheClock, turnNow } from '../clock.ts';
import { forwardingLogger } from '../log-forward.ts';
import { HybridClock } from '../replication/hlc.ts';
import { ReplicationShare } from '../replication/threads.ts';
import type { StatList } from '../server/stats.ts';
import { Credentials } from '../server/auth-file.ts';
import { CacheServer } from '../server/cache-server.ts';
import { IdleMemoryReducer } from '../server/idle-memory.ts';
import type { WorkerStart, ToMain, ToWorker } from './repcache-threads.ts';

function serveInWorker(port: MessagePort): Promise<void> {
  const start = workerData as WorkerStart;
  const post = (m: ToMain) => port.postMessage(m);
  // its lines go to the main thread's logger: pino is not loaded in every worker
  const logger = forwardingLogger(post, start.logLevel, { worker: start.shared.worker });
  // the main thread's cache clock: the same seconds and absolute times in every worker
  const clock = new CacheClock(backgroundClock, start.wallMs, start.clockStartAbsMs - performance.timeOrigin);
  clock.share(start.clockSecond);
  let server: CacheServer | null = null;
  const share = start.replication === null ? null : new ReplicationShare(start.replication.share);
  let metrics: { close(): Promise<void> } | null = null;
  let idle: IdleMemoryReducer | null = null;
  let listenNow = () => {};
  const mayListen = new Promise<void>((resolve) => (listenNow = resolve));

  async function run(): Promise<void> {
    const r = start.replication;
    try {
      // with replication: versions from the clock the replication thread observes peers' versions on
      const versions = r === null ? undefined : new HybridClock(1, turnNow, r.hlc);
      server = new CacheServer(start.config, { logger, clock, versions, credentials: start.authEntries === null ? undefined : new Credentials(start.authEntries), shared: start.shared });
      if (r !== null) {
        // this worker's changes go to the shared stream the replication thread reads; sync mode's replies wait
        // for the peers' acknowledgement, which that thread publishes
        const waits = share!.syncWaits(r.syncTimeoutMs);
        server.store.changes.attach(r.changes);
        server.store.changes.keepRecords(r.syncMode ? (seq) => waits.settled(seq) : () => null);
        server.addStatsSource(() => share!.stats() as StatList);
      }
    } catch (err) {
      post({ type: 'error', stage: 'start', message: (err as Error).message });
      return;
    }
    server.on('shutdown', (graceful: boolean) => post({ type: 'shutdown', graceful }));
    server.on('certsRefreshed', () => post({ type: 'refresh_certs' }));
    server.setWorkerLink({
      askConns: (id) => post({ type: 'conns_ask', id }),
      sendWatch: (to, kinds, lines) => post({ type: 'watch_lines', to, kinds, lines }),
    });
    post({ type: 'loaded' });
    await mayListen;
    try {
      await server.listen();
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      post({ type: 'error', stage: 'listen', message: e.code && !e.message.includes(e.code) ? `${e.code} ${e.message}` : e.message });
      return;
    }
    const metricsAt = start.config.extended.metrics_listen;
    if (start.shared.worker === 0 && typeof metricsAt === 'string') {
      const { startRepcacheMetrics } = await import('../metrics/repcache-endpoint.ts');
      try {
        metrics = await startRepcacheMetrics(metricsAt, server, () => share?.view() ?? null, logger);
      } catch (err) {
        post({ type: 'error', stage: 'metrics', message: (err as Error).message });
        return;
      }
    }
    // the first worker serves every port (UDP and a UNIX socket only there): its listeners make the port file
    post(start.shared.worker === 0 ? { type: 'ready', portFileLines: server.portFileLines() } : { type: 'ready' });
    // every worker is an isolate of its own: each gives back its start-up's memory, and its own after busy spells;
    // the first collection waits until every worker serves ('serving'): a thread collecting holds up the others'
    // listen() for tens of milliseconds, and the clients that connect meanwhile would all land on the first worker
    const serving = server;
    idle = new IdleMemoryReducer(() => serving.bytesRead, backgroundClock);
  }

  port.on('message', (m: ToWorker) => {
    if (m.type === 'listen') listenNow();
    if (m.type === 'serving') idle?.start();
    if (m.type === 'refresh_certs') server?.reloadCerts();
    if (m.type === 'conns_ask' && server !== null) post({ type: 'conns_answer', id: m.id, to: m.from, answer: server.connsAsked() });
    if (m.type === 'conns_answer') server?.connsAnswered(m.id, m.answer);
    if (m.type === 'watch_lines') server?.watchLines(m.kinds, m.lines);
    if (m.type !== 'close') return;
    idle?.stop();
    void Promise.all([server?.close(), metrics?.close()]).finally(() => {
      post({ type: 'closed' });
      port.close();
    });
  });
  return run();
}

// not awaited: a worker closed before it was told to listen ends with its start unsettled, which is no error
if (parentPort !== null && (workerData as Partial<WorkerStart> | null)?.shared !== undefined) void serveInWorker(parentPort);
