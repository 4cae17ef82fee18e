/**
 * repcache -t N: the main thread makes the store's shared memory, serves clients on it as worker 0 and starts N - 1
 * worker threads (repcache-worker.ts) that do the same; each serves every client protocol (repcache-serving.ts). The
 * main thread also relays the workers' messages, owns the logger, the signals, the warm restart's file and the stop.
 *
 * Messages: a worker says `loaded` once its server is built, and listens when told `listen` (all at once, once all
 * are loaded); it answers with `ready` or `error`; a client's `shutdown` on any worker becomes
 * `shutdown` to the main thread, which sends `close` to every worker; each answers `closed` once its
 * connections are closed. A client's successful `refresh_certs` becomes `refresh_certs` to the main thread, which
 * passes it to the other workers. A client's `stats conns` becomes `conns_ask`, which the main thread passes to
 * the other workers; each `conns_answer` goes back to the asking worker. A worker with watch lines for another
 * worker's watchers sends `watch_lines`, which the main thread passes on. A worker's log lines come as `log` (log-forward.ts) and go to the main thread's logger.
 * Worker 0 speaks the same messages to the main thread, as calls (MainThreadServing).
 *
 * With replication (-x/-X) a replication thread (repcache-replication-worker.ts) starts first, on the same store;
 * the client workers start once it says `ready` (with peers: once this node may serve, as with -t 1), and it is
 * closed after them, so that it ships what they acknowledged last.
 *
 * With -e this thread loads the memory file into the store before any other thread attaches to it (start's
 * `prepare`) and saves it once close() has resolved (every other thread has exited and worker 0 has closed).
 */
import { EventEmitter } from 'node:events';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { Worker } from 'node:worker_threads';
import { parseListenAddress } from '../server/listen-address.ts';
import { portsSharedWithAnotherProcess } from '../net/shared-port.ts';
import { backgroundClock, CacheClock } from '../clock.ts';
import type { Logger } from '../log.ts';
import { replayLog } from '../log-forward.ts';
import { SlabStore } from '../cache/store.ts';
import { StoreLock } from '../cache/store-lock.ts';
import { SharedSettings } from '../server/shared-settings.ts';
import { SharedPrefixStats } from '../server/shared-prefix-stats.ts';
import { storeOptionsFor, type ServerConfig } from '../server/config.ts';
import { WorkerCounterTable } from '../server/worker-counters.ts';
import { WorkerSignals } from '../server/worker-signals.ts';
import { ReplicationShare } from '../replication/threads.ts';
import { SharedStoreServing } from './repcache-serving.ts';
import { errnoText, type ReplicationPlan, type ReplicationThreadStart, type StartStage, type ThreadClockStart, type ToMain, type ToWorker, type WorkerReplication, type WorkerStart } from './repcache-thread-messages.ts';

export class WorkerStartError extends Error {
  override name = 'WorkerStartError';
  readonly stage: StartStage;
  constructor(stage: StartStage, message: string) {
    super(message);
    this.stage = stage;
  }
}

/**
 * The workers bind with SO_REUSEPORT. A port another process serves without it fails their bind as it fails -t 1's;
 * one it serves with it (a second repcache -t N) is found once they listen (src/net/shared-port.ts).
 *
 * -p -1 (a port the system picks): every worker must listen on the same ports, so they are picked here, as -t 1
 * picks them: each address bound to port 0 on its own (the kernel picks a port per address), and given to the
 * workers (`ports`, by -l entry; undefined without -p -1). Those probes are held until the workers are loaded and
 * let go just before they bind (`release`), so that no other process takes a port in between (no client knows it
 * yet). A named port is not probed.
 */
async function probeTcpPorts(c: ServerConfig): Promise<{ ports: number[] | undefined; release: () => Promise<void> }> {
  const none = { ports: undefined, release: async () => {} };
  if (c.unixSocket || c.port === 0) return none;
  const addresses = c.listen.length ? c.listen.map((l) => parseListenAddress(l, c.port)) : [{ host: undefined, port: c.port }];
  const held: Server[] = [];
  const release = () => Promise.all(held.splice(0).map((probe) => new Promise<void>((resolve) => probe.close(() => resolve())))).then(() => {});
  const ports: number[] = [];
  let picked = false;
  try {
    for (const a of addresses) {
      const probe = await bindExclusive(Math.max(a.port, 0), a.host);
      held.push(probe);
      ports.push((probe.address() as AddressInfo).port);
      picked ||= a.port < 0;
    }
  } catch (err) {
    await release();
    const e = err as NodeJS.ErrnoException;
    throw new WorkerStartError('listen', errnoText(e));
  }
  // a named port is let go at once: a client that knows it must not find it open before the workers serve
  if (!picked) {
    await release();
    return none;
  }
  return { ports, release };
}

function bindExclusive(port: number, host: string | undefined): Promise<Server> {
  const probe = createServer();
  return new Promise<Server>((resolve, reject) => {
    probe.once('error', reject);
    probe.listen({ port, host, exclusive: true }, () => resolve(probe));
  });
}

/** A serving thread as the main thread sees it: a worker thread, or worker 0 in the main thread. */
interface ServingThread {
  postMessage(m: ToWorker): void;
  on(event: 'message', listener: (m: ToMain) => void): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
  on(event: 'exit', listener: (code: number) => void): unknown;
  once(event: 'exit', listener: () => void): unknown;
  terminate(): unknown;
}

/**
 * Worker 0, served by the main thread (one Node isolate fewer than a worker thread of its own): it speaks a worker
 * thread's messages, handed over as calls, each in a microtask of its own, as a message would come: a client's
 * command runs under the store lock, and what it makes the main thread do (a stop, a relay) must not re-enter the
 * server within it. It 'exit's when terminated after its 'closed', as a worker thread does.
 */
class MainThreadServing extends EventEmitter implements ServingThread {
  readonly #serving: SharedStoreServing;
  #exited = false;

  constructor(start: WorkerStart, logger: Logger) {
    super();
    this.#serving = new SharedStoreServing(start, (m) => queueMicrotask(() => this.emit('message', m)), logger);
  }

  /** Not awaited: closed before it was told to listen, its start stays unsettled, which is no error. */
  run(): void {
    void this.#serving.run();
  }

  postMessage(m: ToWorker): void {
    queueMicrotask(() => this.#serving.receive(m));
  }

  terminate(): void {
    if (this.#exited) return;
    this.#exited = true;
    queueMicrotask(() => this.emit('exit', 0));
  }
}

/** Emits 'shutdown' (graceful) when a client asks for it and 'crashed' (Error) when a worker dies unasked. */
export class ThreadedCache extends EventEmitter {
  /** By worker index: worker 0 is this thread's (MainThreadServing). */
  readonly #workers: ServingThread[] = [];
  #replication: ServingThread | null = null;
  readonly #exited = new Set<ServingThread>();
  readonly #logger: Logger;
  readonly #store: SlabStore;
  readonly #clock: CacheClock;
  readonly #lock = new SharedArrayBuffer(4);
  #closing = false;
  #portFileLines = '';
  /** A client's shutdown (graceful or not) that came before anyone listened for it. */
  #earlyShutdown: boolean | null = null;

  private constructor(logger: Logger, store: SlabStore, clock: CacheClock) {
    super();
    this.#logger = logger;
    this.#store = store;
    this.#clock = clock;
    // The first worker serves before the last is up (and before start() resolves): a client's shutdown in that
    // time is kept for the 'shutdown' listener, not lost.
    this.on('newListener', (event) => {
      const graceful = this.#earlyShutdown;
      if (event !== 'shutdown' || graceful === null) return;
      this.#earlyShutdown = null;
      queueMicrotask(() => this.emit('shutdown', graceful));
    });
  }

  /**
   * Starts the workers; resolves once all listen, rejects (WorkerStartError) if any cannot. `prepare` gets the store
   * before any other thread attaches to it (-e: the warm restart loads its file into it).
   */
  static async start(
    config: ServerConfig, authEntries: Array<[string, string]> | null, logLevel: WorkerStart['logLevel'], logger: Logger,
    replication: ReplicationPlan | null = null, prepare?: (store: SlabStore) => void,
  ): Promise<ThreadedCache> {
    const wallMs = Date.now();
    const startMs = performance.now();
    const clockStart: ThreadClockStart = { wallMs, startAbsMs: performance.timeOrigin + startMs, second: CacheClock.sharedSecond() };
    const clock = new CacheClock(backgroundClock, wallMs, startMs);
    // this thread's clock reads the workers' newest second too: a save after they closed sees the items as they did
    clock.share(clockStart.second);
    clock.tick();
    const store = new SlabStore(storeOptionsFor(config, clock));
    const self = new ThreadedCache(logger, store, clock);
    prepare?.(store);
    let probes: Awaited<ReturnType<typeof probeTcpPorts>> = { ports: undefined, release: async () => {} };
    try {
      const shared = replication === null ? null : await self.#startReplication(config, replication, logLevel, clockStart);
      // -p -1: the ports are picked (and held) before the workers are made, as they are told them
      if (config.port < 0) probes = await probeTcpPorts(config);
      const base = { threads: config.threads, store: store.buffers, lock: self.#lock, counters: WorkerCounterTable.allocate(config.threads), signals: WorkerSignals.allocate(config.threads), settings: SharedSettings.allocate(), prefixes: SharedPrefixStats.allocate() };
      const { loaded, ready } = self.#startWorkers(config.threads, (worker) => ({
        config, authEntries, shared: { ...base, worker, ports: probes.ports }, logLevel, clock: clockStart, replication: shared,
      }));
      // every worker is loaded: the picked ports are let go and all bind at once, so the first does not serve long
      // alone
      await Promise.all(loaded);
      await probes.release();
      for (const w of self.#workers) w.postMessage({ type: 'listen' } satisfies ToWorker);
      await Promise.all(ready);
      // SO_REUSEPORT lets another process of this user (a second repcache -t N) listen on the same address: found
      // once bound, from the kernel's tables, so that the port is not bound for a check and closed again before the
      // workers bind it (a client connecting meanwhile would be reset, then refused)
      const taken = await portsSharedWithAnotherProcess();
      if (taken.length > 0) throw new WorkerStartError('listen', `EADDRINUSE ${taken.join(', ')} is already served by another process (SO_REUSEPORT would share it)`);
      for (const w of self.#workers) w.postMessage({ type: 'serving' } satisfies ToWorker);
    } catch (err) {
      await probes.release();
      await self.close();
      throw err;
    }
    return self;
  }

  /**
   * The replication thread, on the store and a change stream shared with the workers; resolves with what the workers
   * are given of it once it is ready (with peers: once this node may serve, a full copy in or no peer reachable, as
   * with -t 1).
   */
  async #startReplication(config: ServerConfig, plan: ReplicationPlan, logLevel: WorkerStart['logLevel'], clock: ThreadClockStart): Promise<WorkerReplication> {
    const r = plan.threaded;
    const shared: WorkerReplication = { changes: this.#store.changes.share(r.logCapacity), hlc: r.hlc, share: new ReplicationShare().buffer, syncMode: r.syncMode, syncTimeoutMs: r.syncTimeoutMs };
    const data: ReplicationThreadStart = {
      config, replication: plan.args, store: this.#store.buffers, changes: shared.changes, lock: this.#lock, hlc: r.hlc, share: shared.share, logLevel, clock,
    };
    const w = new Worker(new URL('./repcache-replication-worker.ts', import.meta.url), { workerData: data, name: 'repcache replication' });
    this.#replication = w;
    await this.#attach(w, -1);
    return shared;
  }

  /**
   * Starts the serving threads: N - 1 worker threads and worker 0 in this thread. `loaded` settle once each has built
   * its server (or failed), `ready` once each listens.
   */
  #startWorkers(threads: number, startOf: (worker: number) => WorkerStart): { loaded: Array<Promise<void>>; ready: Array<Promise<void>> } {
    // the worker threads first, so that they load while this thread builds worker 0's server
    for (let worker = 1; worker < threads; worker++) {
      this.#workers[worker] = new Worker(new URL('./repcache-worker.ts', import.meta.url), { workerData: startOf(worker), name: `repcache worker ${worker}` });
    }
    const first = new MainThreadServing(startOf(0), this.#logger.child({ worker: 0 }));
    this.#workers[0] = first;
    const loaded: Array<Promise<void>> = [];
    const ready: Array<Promise<void>> = [];
    for (const [worker, w] of this.#workers.entries()) {
      let onLoaded = () => {};
      const isLoaded = new Promise<void>((resolve) => (onLoaded = resolve));
      const isReady = this.#attach(w, worker, () => onLoaded());
      loaded.push(Promise.race([isLoaded, isReady]));
      ready.push(isReady);
    }
    first.run();
    return { loaded, ready };
  }

  /**
   * Follows thread `w` (worker index, -1: the replication thread) for its life: relays its messages and reports its
   * crash. Resolves once it is ready, rejects (WorkerStartError) if its start failed; `onLoaded` on its `loaded`.
   */
  #attach(w: ServingThread, worker: number, onLoaded?: () => void): Promise<void> {
    return new Promise((resolve, reject) => {
      w.on('message', (m: ToMain) => {
        switch (m.type) {
          case 'loaded':
            onLoaded?.();
            break;
          case 'ready':
            if (m.portFileLines !== undefined) this.#portFileLines = m.portFileLines;
            resolve();
            break;
          case 'error':
            reject(new WorkerStartError(m.stage, m.message));
            break;
          case 'shutdown':
            if (this.listenerCount('shutdown') > 0) this.emit('shutdown', m.graceful);
            else this.#earlyShutdown ??= m.graceful;
            break;
          case 'log':
            replayLog(this.#logger, m);
            break;
          default:
            this.#relay(w, worker, m);
        }
      });
      w.on('error', (err) => {
        reject(err);
        if (!this.#closing) this.emit('crashed', err);
      });
      w.on('exit', (code) => {
        this.#exited.add(w);
        const name = worker < 0 ? 'the replication thread' : `worker ${worker}`;
        reject(new Error(`${name} exited with code ${code} before it was ready`));
        if (!this.#closing) {
          this.#logger.error({ worker, code }, `${name} exited`);
          this.emit('crashed', new Error(`${name} exited with code ${code}`));
        }
      });
    });
  }

  /** What one worker's client asked of the others: the main thread passes it on. */
  #relay(from: ServingThread, worker: number, m: ToMain): void {
    // a client's refresh_certs on one worker: the others reload too (a few milliseconds later)
    if (m.type === 'refresh_certs') this.#toOthers(from, { type: 'refresh_certs' });
    // `stats conns` on one worker asks the others for their connections; `watch` lines go to the watcher's worker
    else if (m.type === 'conns_ask') this.#toOthers(from, { type: 'conns_ask', id: m.id, from: worker });
    else if (m.type === 'conns_answer') this.#toWorker(m.to, { type: 'conns_answer', id: m.id, answer: m.answer });
    else if (m.type === 'watch_lines') this.#toWorker(m.to, { type: 'watch_lines', kinds: m.kinds, lines: m.lines });
  }

  #toOthers(from: ServingThread, m: ToWorker): void {
    for (const w of this.#workers) if (w !== from && !this.#exited.has(w)) w.postMessage(m);
  }

  #toWorker(i: number, m: ToWorker): void {
    const w = this.#workers[i];
    if (w !== undefined && !this.#exited.has(w)) w.postMessage(m);
  }

  /**
   * Closes every worker's listeners and connections, then the replication thread (it ships what they wrote last).
   * Once it resolves no other thread uses the store: this thread may read it (`store`).
   */
  async close(): Promise<void> {
    this.#closing = true;
    await Promise.all(this.#workers.map((w) => this.#closeOne(w)));
    if (this.#replication !== null) await this.#closeOne(this.#replication);
    this.#clock.tick();
  }

  /** MEMCACHED_PORT_FILENAME's lines, as with -t 1: the first worker's listeners (it serves every port). */
  get portFileLines(): string {
    return this.#portFileLines;
  }

  /** The shared store, for this thread to read once close() has resolved or while holdStore() holds it. */
  get store(): SlabStore {
    return this.#store;
  }

  /**
   * Takes the store lock for good (a stop that close() did not finish in time: the worker threads still run, and any
   * that then wants the store waits), so that this thread may read the store; false if a worker held it for `ms`.
   * Worker 0's commands run in this thread, which is here outside any of them: its server's next command never runs,
   * as the process exits holding the lock.
   */
  holdStore(ms: number): boolean {
    if (!new StoreLock(this.#lock).acquireWithin(ms)) return false;
    this.#clock.tick();
    return true;
  }

  #closeOne(w: ServingThread): Promise<void> {
    if (this.#exited.has(w)) return Promise.resolve();
    return new Promise<void>((resolve) => {
      w.once('exit', () => resolve());
      w.on('message', (m: ToMain) => {
        if (m.type === 'closed') void w.terminate();
      });
      w.postMessage({ type: 'close' } satisfies ToWorker);
    });
  }
}
