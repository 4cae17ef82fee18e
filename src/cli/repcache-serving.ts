/**
 * One serving thread of repcache -t N: a full CacheServer (every protocol) on the store the main thread made,
 * listening on the shared port with reusePort. Worker 0 runs in the main thread and the others in worker threads
 * (repcache-worker.ts); both build and run their server here, and speak the messages of repcache-thread-messages.ts,
 * which the main thread hands to its own worker 0 as plain calls.
 */
import { backgroundClock, type CacheClock, turnNow } from '../clock.ts';
import type { Logger } from '../log.ts';
import { HybridClock } from '../replication/hlc.ts';
import { ReplicationShare } from '../replication/threads.ts';
import type { StatList } from '../server/stats.ts';
import { Credentials } from '../server/auth-file.ts';
import { CacheServer } from '../server/cache-server.ts';
import { IdleMemoryReducer } from '../server/idle-memory.ts';
import { abandonedLockPolicy } from './abandoned-lock.ts';
import { errnoText, threadCacheClock, type WorkerStart, type ToMain, type ToWorker } from './repcache-thread-messages.ts';

export class SharedStoreServing {
  readonly #start: WorkerStart;
  readonly #post: (m: ToMain) => void;
  readonly #logger: Logger;
  readonly #closed: () => void;
  readonly #clock: CacheClock;
  readonly #share: ReplicationShare | null;
  #server: CacheServer | null = null;
  #metrics: { close(): Promise<void> } | null = null;
  #idle: IdleMemoryReducer | null = null;
  #listenNow = () => {};
  readonly #mayListen = new Promise<void>((resolve) => (this.#listenNow = resolve));

  /** `post` reaches the main thread's relay; `closed` runs once 'closed' is posted (after a 'close'). */
  constructor(start: WorkerStart, post: (m: ToMain) => void, logger: Logger, closed: () => void = () => {}) {
    this.#start = start;
    this.#post = post;
    this.#logger = logger;
    this.#closed = closed;
    this.#clock = threadCacheClock(start.clock);
    this.#share = start.replication === null ? null : new ReplicationShare(start.replication.share);
  }

  /**
   * Builds the server and says `loaded`, listens once told `listen`, then says `ready` (or `error`). Not settled when
   * closed before it was told to listen, which is no error.
   */
  async run(): Promise<void> {
    const post = this.#post;
    let server: CacheServer;
    try {
      server = this.#server = this.#build();
    } catch (err) {
      post({ type: 'error', stage: 'start', message: (err as Error).message });
      return;
    }
    post({ type: 'loaded' });
    await this.#mayListen;
    try {
      await server.listen();
    } catch (err) {
      post({ type: 'error', stage: 'listen', message: errnoText(err as NodeJS.ErrnoException) });
      return;
    }
    const first = this.#start.shared.worker === 0;
    if (first && !(await this.#startMetrics(server))) return;
    // the first worker serves every port (UDP and a UNIX socket only there): its listeners make the port file
    post(first ? { type: 'ready', portFileLines: server.portFileLines() } : { type: 'ready' });
    // every thread is an isolate of its own: each gives back its start-up's memory, and its own after busy spells;
    // the first collection waits until every worker serves ('serving'): a thread collecting holds up the others'
    // listen() for tens of milliseconds, and the clients that connect meanwhile would all land on the first worker
    this.#idle = new IdleMemoryReducer(() => server.bytesRead, backgroundClock);
  }

  /** This worker's server on the shared store (and change stream), its events and its link to the other workers. */
  #build(): CacheServer {
    const start = this.#start;
    const post = this.#post;
    const r = start.replication;
    // with replication: versions from the clock the replication thread observes peers' versions on
    const versions = r === null ? undefined : new HybridClock(1, turnNow, r.hlc);
    const credentials = start.authEntries === null ? undefined : new Credentials(start.authEntries);
    const lockPolicy = abandonedLockPolicy(this.#logger, start.shared.lock);
    const server = new CacheServer(start.config, { logger: this.#logger, clock: this.#clock, versions, credentials, shared: start.shared, lockPolicy });
    const share = this.#share;
    if (r !== null && share !== null) {
      // this thread's changes go to the shared stream the replication thread reads; sync mode's replies wait
      // for the peers' acknowledgement, which that thread publishes
      const waits = share.syncWaits(r.syncTimeoutMs);
      server.store.changes.attach(r.changes);
      server.store.changes.keepRecords(r.syncMode ? (seq) => waits.settled(seq) : () => null);
      server.addStatsSource(() => share.stats() as StatList);
    }
    server.on('shutdown', (graceful: boolean) => post({ type: 'shutdown', graceful }));
    server.on('certsRefreshed', () => post({ type: 'refresh_certs' }));
    server.setWorkerLink({
      askConns: (id) => post({ type: 'conns_ask', id }),
      sendWatch: (to, kinds, lines) => post({ type: 'watch_lines', to, kinds, lines }),
    });
    return server;
  }

  /** -o metrics_listen (served by the first worker): false once it failed and said `error`. */
  async #startMetrics(server: CacheServer): Promise<boolean> {
    const metricsAt = this.#start.config.extended.metrics_listen;
    if (typeof metricsAt !== 'string') return true;
    const { startRepcacheMetrics } = await import('../metrics/repcache-endpoint.ts');
    try {
      this.#metrics = await startRepcacheMetrics(metricsAt, server, () => this.#share?.view() ?? null, this.#logger);
      return true;
    } catch (err) {
      this.#post({ type: 'error', stage: 'metrics', message: (err as Error).message });
      return false;
    }
  }

  /** A message from the main thread. */
  receive(m: ToWorker): void {
    const server = this.#server;
    switch (m.type) {
      case 'listen':
        this.#listenNow();
        break;
      case 'serving':
        this.#idle?.start();
        break;
      case 'refresh_certs':
        server?.reloadCerts();
        break;
      case 'conns_ask':
        if (server !== null) this.#post({ type: 'conns_answer', id: m.id, to: m.from, answer: server.connsAsked() });
        break;
      case 'conns_answer':
        server?.connsAnswered(m.id, m.answer);
        break;
      case 'watch_lines':
        server?.watchLines(m.kinds, m.lines);
        break;
      case 'close':
        this.#idle?.stop();
        void Promise.all([server?.close(), this.#metrics?.close()]).finally(() => {
          this.#post({ type: 'closed' });
          this.#closed();
        });
    }
  }
}
