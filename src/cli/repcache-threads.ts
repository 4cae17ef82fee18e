/**
 * repcache -t N: the main thread makes the store's shared memory, starts N worker threads (repcache-worker.ts)
 * that each serve every client protocol on it, and relays a client's `shutdown` to them. The main thread serves
 * no client.
 *
 * Messages: a worker answers its start with `ready` or `error`; a client's `shutdown` on any worker becomes
 * `shutdown` to the main thread, which sends `close` to every worker; each answers `closed` once its
 * connections are closed. A client's successful `refresh_certs` becomes `refresh_certs` to the main thread, which
 * passes it to the other workers. A worker's log lines come as `log` (log-forward.ts) and go to the main thread's logger.
 */
import { EventEmitter } from 'node:events';
import { createServer } from 'node:net';
import { Worker } from 'node:worker_threads';
import { parseListenAddress } from '../server/listen-address.ts';
import { backgroundClock, CacheClock } from '../clock.ts';
import type { Logger } from '../log.ts';
import { replayLog, type ForwardedLog } from '../log-forward.ts';
import { SlabStore } from '../cache/store.ts';
import type { SharedServing } from '../server/cache-server.ts';
import { storeOptionsFor, type ServerConfig } from '../server/config.ts';
import { WorkerCounterTable } from '../server/worker-counters.ts';

export interface WorkerStart {
  config: ServerConfig;
  /** -Y's user:password pairs (a Credentials object does not cross threads). */
  authEntries: Array<[string, string]> | null;
  shared: SharedServing;
  logLevel: 'trace' | 'debug' | 'info' | 'warn';
  /** The main thread's cache clock: its wall time at 0, and the absolute ms (timeOrigin + now) of its 0. */
  wallMs: number;
  clockStartAbsMs: number;
}

export type ToMain =
  | { type: 'ready' }
  | { type: 'error'; stage: 'start' | 'listen' | 'metrics'; message: string }
  | { type: 'shutdown'; graceful: boolean }
  | { type: 'closed' }
  | { type: 'refresh_certs' }
  | ForwardedLog;
export type ToWorker = { type: 'close' } | { type: 'refresh_certs' };

export class WorkerStartError extends Error {
  override name = 'WorkerStartError';
  readonly stage: string;
  constructor(stage: string, message: string) {
    super(message);
    this.stage = stage;
  }
}

/**
 * The workers bind with SO_REUSEPORT, which would let them share the port with another process that did too (a
 * second repcache -t N on the same port): each TCP address is bound once without it first, so a port in use fails
 * the start as it does with -t 1.
 */
async function probeTcpPorts(c: ServerConfig): Promise<void> {
  if (c.unixSocket || c.port <= 0) return;
  const addresses = c.listen.length ? c.listen.map((l) => parseListenAddress(l, c.port)) : [{ host: undefined, port: c.port }];
  for (const a of addresses) {
    const probe = createServer();
    await new Promise<void>((resolve, reject) => {
      probe.once('error', (err: NodeJS.ErrnoException) => reject(new WorkerStartError('listen', err.code && !err.message.includes(err.code) ? `${err.code} ${err.message}` : err.message)));
      probe.listen({ port: a.port, host: a.host, exclusive: true }, () => probe.close(() => resolve()));
    });
  }
}

/** Emits 'shutdown' (graceful) when a client asks for it and 'crashed' (Error) when a worker dies unasked. */
export class ThreadedCache extends EventEmitter {
  readonly #workers: Worker[] = [];
  readonly #exited = new Set<Worker>();
  readonly #logger: Logger;
  #closing = false;

  private constructor(logger: Logger) {
    super();
    this.#logger = logger;
  }

  /** Starts the workers; resolves once all listen, rejects (WorkerStartError) if any cannot. */
  static async start(config: ServerConfig, authEntries: Array<[string, string]> | null, logLevel: WorkerStart['logLevel'], logger: Logger): Promise<ThreadedCache> {
    await probeTcpPorts(config);
    const self = new ThreadedCache(logger);
    const wallMs = Date.now();
    const startMs = performance.now();
    const clock = new CacheClock(backgroundClock, wallMs, startMs);
    const store = new SlabStore(storeOptionsFor(config, clock));
    const base = { threads: config.threads, store: store.buffers, lock: new SharedArrayBuffer(4), counters: WorkerCounterTable.allocate(config.threads) };
    const ready: Array<Promise<void>> = [];
    for (let worker = 0; worker < config.threads; worker++) {
      const data: WorkerStart = { config, authEntries, shared: { ...base, worker }, logLevel, wallMs, clockStartAbsMs: performance.timeOrigin + startMs };
      const w = new Worker(new URL('./repcache-worker.ts', import.meta.url), { workerData: data, name: `repcache worker ${worker}` });
      self.#workers.push(w);
      ready.push(self.#watch(w, worker));
    }
    try {
      await Promise.all(ready);
    } catch (err) {
      await self.close();
      throw err;
    }
    return self;
  }

  #watch(w: Worker, worker: number): Promise<void> {
    return new Promise((resolve, reject) => {
      w.on('message', (m: ToMain) => {
        if (m.type === 'ready') resolve();
        else if (m.type === 'error') reject(new WorkerStartError(m.stage, m.message));
        else if (m.type === 'shutdown') this.emit('shutdown', m.graceful);
        else if (m.type === 'log') replayLog(this.#logger, m);
        // a client's refresh_certs on one worker: the others reload too (a few milliseconds later)
        else if (m.type === 'refresh_certs') for (const other of this.#workers) if (other !== w && !this.#exited.has(other)) other.postMessage({ type: 'refresh_certs' } satisfies ToWorker);
      });
      w.on('error', (err) => {
        reject(err);
        if (!this.#closing) this.emit('crashed', err);
      });
      w.on('exit', (code) => {
        this.#exited.add(w);
        reject(new Error(`worker ${worker} exited with code ${code} before it listened`));
        if (!this.#closing) {
          this.#logger.error({ worker, code }, 'a worker thread exited');
          this.emit('crashed', new Error(`worker ${worker} exited with code ${code}`));
        }
      });
    });
  }

  /** Closes every worker's listeners and connections. */
  async close(): Promise<void> {
    this.#closing = true;
    await Promise.all(
      this.#workers.filter((w) => !this.#exited.has(w)).map(
        (w) =>
          new Promise<void>((resolve) => {
            w.once('exit', () => resolve());
            w.on('message', (m: ToMain) => {
              if (m.type === 'closed') void w.terminate();
            });
            w.postMessage({ type: 'close' } satisfies ToWorker);
          }),
      ),
    );
  }
}
