/**
 * bin/repcache: parse memcached's flags, optionally daemonize, start the cache server,
 * write the pid file, drop root privileges, and exit 0 on SIGTERM/SIGINT/SIGUSR1 or `shutdown` (SIGUSR1 with -e
 * saves the store first: warm-restart.ts).
 */
import { appendFileSync, renameSync } from 'node:fs';
import { NO_REPLICATION, replicationWanted, type ReplicationWiring } from '../replication/wiring.ts';
import { errnoText, type ReplicationPlan } from './repcache-thread-messages.ts';
import { lookupUser, type UserIds } from '../system/users.ts';
import {
  EX_NOUSER, EX_OSERR, EX_USAGE, LICENSE, VERSION_LINE, parseRepcacheArgs, usage,
  type RepcacheOptions,
} from './repcache-options.ts';
import { UsageError } from './usage-error.ts';
import { AuthFileError, loadAuthFile, readAuthEntries, type Credentials } from '../server/auth-file.ts';
import { TlsConfigError } from '../server/tls.ts';
import { memoryLayoutFor } from '../server/config.ts';
import type { WarmRestart } from './warm-restart.ts';
import type { Logger } from '../log.ts';
import type { SlabStore } from '../cache/store.ts';
import { IdleMemoryReducer } from '../server/idle-memory.ts';
import { backgroundClock } from '../clock.ts';
import { DaemonChild, StartupError, dropPrivileges, onStopSignals, writePidFile } from './daemon-process.ts';

const daemon = new DaemonChild('REPCACHE_DAEMON_CHILD');

/** -u's user, switched to once the ports are bound. */
type RunAs = UserIds & { name: string };

/** memcached refuses to run as root without -u; the user is checked before binding, switched to after. */
function checkUser(opts: RepcacheOptions): RunAs | null {
  if (process.getuid?.() !== 0) return null;
  const name = opts.config.user;
  if (!name) throw new StartupError("can't run as root without the -u switch", EX_USAGE);
  let user: UserIds | null = null;
  try {
    user = lookupUser(name);
  } catch {
    /* no readable passwd file: the same as no such user */
  }
  if (!user) throw new StartupError(`can't find the user ${name} to switch to`, EX_NOUSER);
  return { ...user, name };
}

function describeListenError(opts: RepcacheOptions, err: NodeJS.ErrnoException): string {
  const where = opts.config.unixSocket ? `UNIX socket: ${opts.config.unixSocket}` : `one of interface(s) ${opts.config.listen.join(',') || '*'} port ${opts.config.port}`;
  return `failed to listen on ${where}: ${errnoText(err)}`;
}

async function run(opts: RepcacheOptions): Promise<void> {
  const { config } = opts;
  const user = checkUser(opts);
  // Until the server is up a signal just ends the process (nothing to drain yet); afterwards stop() closes it.
  // SIGUSR1: memcached's graceful stop, which saves the store with -e (and no debugger is started on it).
  const onSignal = onStopSignals(['SIGUSR1']);
  const level = config.verbosity >= 3 ? 'trace' : config.verbosity === 2 ? 'debug' : config.verbosity === 1 ? 'info' : 'warn';
  // pino is loaded with the first line written: without -v a quiet cache never loads it
  const { createLazyLogger } = await import('../log.ts');
  const logger = createLazyLogger('repcache', level);
  let credentials: Credentials | undefined;
  try {
    // read before the privileges are dropped, as memcached does
    if (config.authFile !== null) credentials = loadAuthFile(config.authFile);
  } catch (err) {
    if (err instanceof AuthFileError) throw new StartupError(err.message, 1);
    throw err;
  }
  let replication: ReplicationWiring = NO_REPLICATION;
  try {
    // loaded only to replicate: a standalone cache does not carry the replication code in its memory
    if (replicationWanted(opts.replication, config.extended)) replication = (await import('../replication/wire.ts')).startReplication(opts, logger);
  } catch (err) {
    throw new StartupError(`repcache: ${(err as Error).message}`, EX_USAGE);
  }
  if (config.threads > 1) {
    // read before the privileges are dropped, as the single-thread path does
    const plan = replication.threaded === null ? null : { args: opts.replication, threaded: replication.threaded };
    return runThreaded(opts, user, config.authFile !== null ? readAuthEntries(config.authFile) : null, level, logger, onSignal, plan);
  }
  // -t N loads it in repcache-serving.ts, for worker 0 (this thread) and the worker threads
  const { CacheServer } = await import('../server/cache-server.ts');
  let server: InstanceType<typeof CacheServer>;
  try {
    server = new CacheServer(config, { logger, credentials, ...replication.serverDeps });
  } catch (err) {
    // -Z: a certificate file that does not load (memcached's message and exit code)
    if (err instanceof TlsConfigError) throw new StartupError(err.message, EX_USAGE);
    throw err;
  }
  // Loaded before any port opens, so that no client or peer sees a half-loaded store (the code only with -e).
  const warm = config.memoryFile === null ? null : await warmRestart(config.memoryFile, server.store, config, replication.enabled, logger);
  try {
    await replication.attach(server); // with peers: resolves once a full copy is in (or no peer is reachable)
  } catch (err) {
    throw new StartupError(`repcache: ${(err as Error).message}`, EX_OSERR);
  }
  try {
    await server.listen();
  } catch (err) {
    throw new StartupError(describeListenError(opts, err as NodeJS.ErrnoException), EX_OSERR);
  }

  const portFile = process.env.MEMCACHED_PORT_FILENAME;
  if (portFile && !config.unixSocket) writePortFile(portFile, server.portFileLines(), logger);

  const metricsAt = config.extended.metrics_listen;
  let metrics: { close(): Promise<void> } | null = null;
  if (typeof metricsAt === 'string') {
    const { startRepcacheMetrics } = await import('../metrics/repcache-endpoint.ts');
    try {
      metrics = await startRepcacheMetrics(metricsAt, server, () => replication.replicator, logger);
    } catch (err) {
      await server.close();
      throw new StartupError(`repcache: ${(err as Error).message}`, EX_OSERR);
    }
  }

  const removePidFile = await settleAsUser(config, user, warm, () => Promise.all([server.close(), metrics?.close()]));

  let stopping = false;
  const stop = (why: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ why }, 'shutting down');
    // SIGUSR1 or `shutdown graceful` with -e: the store is saved once the clients are gone (memcached's graceful
    // stop); SIGTERM and a plain `shutdown` save nothing.
    const graceful = why === 'SIGUSR1' || why === 'shutdown graceful';
    const save = graceful && warm ? () => warm.save() : () => {};
    const force = setTimeout(() => { save(); process.exit(0); }, 5000);
    force.unref();
    // Clients first, so nothing is acknowledged that the replication drain then misses.
    void Promise.all([server.close(), metrics?.close()]).then(save).then(() => replication.stop()).finally(() => { removePidFile(); process.exit(0); });
  };
  onSignal(stop);
  server.on('shutdown', (graceful: boolean) => stop(graceful ? 'shutdown graceful' : 'shutdown'));
  logger.info({ port: config.port, udpPort: config.udpPort, listen: config.listen, socket: config.unixSocket, memoryMB: config.memoryLimitMB }, 'repcache ready');
  // start-up's memory back now, and a quiet server's after each busy spell (a node applying its peers' writes is busy)
  const applied = () => Number(replication.replicator?.stats().find(([k]) => k === 'repl_applied')?.[1] ?? 0);
  new IdleMemoryReducer(() => server.bytesRead + applied(), backgroundClock).start();
}

/**
 * Once every port listens (-t 1 and -t N alike): the pid file, then -u's user, then -e's memory file checked
 * writable as that user. A failure undoes the start with `close` and throws. Returns what removes the pid file.
 */
async function settleAsUser(
  config: RepcacheOptions['config'], user: RunAs | null, warm: WarmRestart | null, close: () => Promise<unknown>,
): Promise<() => void> {
  let removePidFile: () => void;
  try {
    removePidFile = writePidFile(config.pidFile, (err) => `Could not open the pid file ${config.pidFile} for writing: ${err.message}`);
  } catch (err) {
    await close();
    throw err;
  }
  if (user) dropPrivileges(user);
  const unwritable = warm?.unwritable() ?? null;
  if (unwritable !== null) {
    await close();
    removePidFile();
    throw new StartupError(`repcache: ${unwritable}`, EX_OSERR);
  }
  return removePidFile;
}

/** -e: the memory file loaded into the store (the warm restart's code is loaded only then). */
async function warmRestart(file: string, store: SlabStore, config: RepcacheOptions['config'], replicated: boolean, logger: Logger): Promise<WarmRestart> {
  const { WarmRestart } = await import('./warm-restart.ts');
  const warm = new WarmRestart(file, store, memoryLayoutFor(config), replicated, logger);
  warm.load();
  return warm;
}

/**
 * MEMCACHED_PORT_FILENAME, as memcached writes it: the bound ports go into `<name>.lck` (appended), which is then
 * renamed to `<name>`, so a reader never sees half of it. A file that cannot be written is only logged.
 */
function writePortFile(name: string, lines: string, logger: { error(o: object, m: string): void }): void {
  const lock = `${name}.lck`;
  try {
    appendFileSync(lock, lines);
  } catch (err) {
    logger.error({ file: lock, err: (err as Error).message }, 'failed to open the port file');
    return;
  }
  try {
    renameSync(lock, name);
  } catch (err) {
    logger.error({ file: name, err: (err as Error).message }, 'failed to rename the port file');
  }
}

/** -t N: this thread serves as worker 0 beside N - 1 worker threads, writes the pid file, drops privileges and stops them all. */
async function runThreaded(
  opts: RepcacheOptions,
  user: RunAs | null,
  authEntries: Array<[string, string]> | null,
  level: 'trace' | 'debug' | 'info' | 'warn',
  logger: Logger,
  onSignal: ReturnType<typeof onStopSignals>,
  replication: ReplicationPlan | null,
): Promise<void> {
  const { config } = opts;
  const { ThreadedCache, WorkerStartError } = await import('./repcache-threads.ts');
  let cache: Awaited<ReturnType<typeof ThreadedCache.start>>;
  // -e: loaded into the store before any other thread attaches to it, saved once every worker has closed
  let warm: WarmRestart | null = null;
  const memoryFile = config.memoryFile;
  const warmCode = memoryFile === null ? null : await import('./warm-restart.ts');
  const prepare = memoryFile === null ? undefined : (store: SlabStore) => {
    warm = new warmCode!.WarmRestart(memoryFile, store, memoryLayoutFor(config), replication !== null, logger);
    warm.load();
  };
  // The first worker serves before the last is up: with -e (and no replication, whose node saves nothing), a SIGUSR1
  // in that time stops the node once it is up, so that what it acknowledged is saved.
  let earlySignal: string | null = null;
  if (memoryFile !== null && replication === null) onSignal((why) => { if (why === 'SIGUSR1') earlySignal = why; else process.exit(0); });
  try {
    cache = await ThreadedCache.start(config, authEntries, level, logger, replication, prepare);
  } catch (err) {
    if (!(err instanceof WorkerStartError)) throw err;
    if (err.stage === 'listen') throw new StartupError(describeListenError(opts, { message: err.message } as NodeJS.ErrnoException), EX_OSERR);
    if (err.stage === 'start') throw new StartupError(err.message, EX_USAGE);
    throw new StartupError(`repcache: ${err.message}`, EX_OSERR); // replication, metrics
  }
  // as with -t 1: once every port listens
  const portFile = process.env.MEMCACHED_PORT_FILENAME;
  if (portFile && !config.unixSocket) writePortFile(portFile, cache.portFileLines, logger);
  const removePidFile = await settleAsUser(config, user, warm as WarmRestart | null, () => cache.close());
  let stopping = false;
  const stop = (why: string, code = 0) => {
    if (stopping) return;
    stopping = true;
    logger.info({ why }, 'shutting down');
    // as with -t 1: SIGUSR1 or `shutdown graceful` saves with -e, once no worker changes the store any more
    const graceful = why === 'SIGUSR1' || why === 'shutdown graceful';
    const w = graceful ? (warm as WarmRestart | null) : null;
    const force = setTimeout(() => {
      // the workers did not all close in time: save under the store lock, which they then wait for
      if (w !== null) {
        if (cache.holdStore(1000)) w.save();
        else logger.error({ file: memoryFile }, 'warm restart: the store stayed busy, the memory file is not saved');
      }
      process.exit(code);
    }, 5000);
    force.unref();
    void cache.close().then(() => w?.save()).finally(() => { removePidFile(); process.exit(code); });
  };
  onSignal(stop);
  cache.on('shutdown', (graceful: boolean) => stop(graceful ? 'shutdown graceful' : 'shutdown'));
  cache.on('crashed', (err: Error) => {
    logger.error({ err }, 'a worker thread failed: stopping');
    stop('worker failed', EX_OSERR);
  });
  if (earlySignal !== null) stop(earlySignal);
  // (worker 0's idle-memory reducer gives this thread's start-up memory back, as each worker thread does its own)
  logger.info({ port: config.port, udpPort: config.udpPort, listen: config.listen, socket: config.unixSocket, memoryMB: config.memoryLimitMB, threads: config.threads }, 'repcache ready');
}

async function main(argv: readonly string[]): Promise<void> {
  let opts: RepcacheOptions;
  try {
    opts = parseRepcacheArgs(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    await daemon.tell({ type: 'error', message: err.message, exitCode: err.exitCode });
    process.stderr.write(`${err.message}\n`);
    process.exitCode = err.exitCode;
    return;
  }
  if (opts.action === 'help') { process.stdout.write(usage()); return; }
  if (opts.action === 'version') { process.stdout.write(`${VERSION_LINE}\n`); return; }
  if (opts.action === 'license') { process.stdout.write(LICENSE); return; }
  for (const w of opts.warnings) process.stderr.write(`${w}\n`);

  if (opts.config.daemonize && !daemon.isChild) {
    process.exitCode = await daemon.daemonize('repcache', argv);
    return;
  }
  await daemon.start('repcache', () => run(opts));
}

// Imported (by scripts/compile-cache.ts) it only loads. Node < 22.18 has no import.meta.main: there it always runs.
if (import.meta.main !== false) await main(process.argv.slice(2));
