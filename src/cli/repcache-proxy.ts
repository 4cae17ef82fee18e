/**
 * bin/repcache-proxy: parse the flags, optionally daemonize, listen, connect to the backends, write the pid
 * file, drop privileges; exit 0 on SIGTERM/SIGINT.
 */
import { spawn } from 'node:child_process';
import { unlinkSync, writeFileSync } from 'node:fs';
import { EX_USAGE, UsageError, VERSION_LINE, parseProxyArgs, usage, type ProxyOptions } from '../proxy/options.ts';
import { resolveUser, type UserIds } from '../system/users.ts';

const DAEMON_CHILD_ENV = 'REPCACHE_PROXY_DAEMON_CHILD';
const EX_NOUSER = 67;
const EX_OSERR = 71;

class StartupError extends Error {
  override name = 'StartupError';
  readonly exitCode: number;
  constructor(message: string, exitCode: number) {
    super(message);
    this.exitCode = exitCode;
  }
}

interface DaemonMessage { type: 'ready' | 'error'; message?: string; exitCode?: number }

/** Parent side of -d: re-spawn detached with stdio on /dev/null, wait until the child listens or fails. */
function daemonize(argv: readonly string[]): Promise<number> {
  const child = spawn(process.execPath, [...process.execArgv, process.argv[1]!, ...argv], {
    detached: true,
    stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
    env: { ...process.env, [DAEMON_CHILD_ENV]: '1' },
  });
  return new Promise((resolve) => {
    const done = (code: number, message?: string) => {
      if (message) process.stderr.write(`${message}\n`);
      child.removeAllListeners();
      if (child.connected) child.disconnect();
      child.unref();
      resolve(code);
    };
    child.on('message', (m: DaemonMessage) => (m.type === 'ready' ? done(0) : done(m.exitCode ?? 1, m.message)));
    child.on('exit', (code, signal) => done(code || 1, `repcache-proxy: daemon exited (${signal ?? code}) before it was ready`));
    child.on('error', (err) => done(EX_OSERR, `repcache-proxy: cannot start the daemon: ${err.message}`));
  });
}

function userOf(opts: ProxyOptions): (UserIds & { name: string }) | null {
  if (opts.user === null) return null;
  try {
    return { ...resolveUser(opts.user), name: opts.user };
  } catch (e) {
    throw new StartupError(`repcache-proxy: ${(e as Error).message}`, EX_NOUSER);
  }
}

async function run(opts: ProxyOptions): Promise<void> {
  const user = userOf(opts);
  let onSignal: (why: string) => void = () => process.exit(0);
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGHUP', () => { /* a daemon ignores its terminal hanging up */ });
  const level = opts.verbosity >= 2 ? 'debug' : opts.verbosity === 1 ? 'info' : 'warn';
  const [{ createLogger }, { ProxyCore }, { ProxyListener, tcpConnector }, { systemClock }] = await Promise.all([
    import('../log.ts'), import('../proxy/core.ts'), import('../proxy/net.ts'), import('../ha/clock.ts'),
  ]);
  const logger = createLogger('repcache-proxy', level);
  let core: InstanceType<typeof ProxyCore>;
  try {
    core = new ProxyCore(opts.proxy, { clock: systemClock, connect: tcpConnector(), defer: (fn) => setImmediate(fn), log: logger });
  } catch (e) {
    throw new StartupError(`repcache-proxy: ${(e as Error).message}`, EX_USAGE);
  }
  const listener = new ProxyListener(core, { port: opts.port, hosts: opts.listen, unixSocket: opts.unixSocket, maxConns: opts.maxConns }, logger);
  try {
    await listener.listen();
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new StartupError(`repcache-proxy: failed to listen on ${opts.listen.join(',')} port ${opts.port}${opts.unixSocket ? ` or ${opts.unixSocket}` : ''}: ${err.message}`, EX_OSERR);
  }
  core.warm();
  let pidFileWritten = false;
  if (opts.pidFile) {
    try {
      writeFileSync(opts.pidFile, `${process.pid}\n`);
      pidFileWritten = true;
    } catch (e) {
      await listener.close();
      throw new StartupError(`repcache-proxy: cannot write the pid file ${opts.pidFile}: ${(e as Error).message}`, EX_OSERR);
    }
  }
  const removePidFile = () => {
    if (!pidFileWritten) return;
    pidFileWritten = false;
    try { unlinkSync(opts.pidFile!); } catch { /* gone already */ }
  };
  process.once('exit', removePidFile);
  if (user && user.uid !== process.getuid?.()) {
    try {
      process.setgroups?.([user.gid]);
      process.setgid!(user.gid);
      process.setuid!(user.uid);
    } catch (e) {
      throw new StartupError(`repcache-proxy: failed to assume identity of user ${user.name}: ${(e as Error).message}`, EX_OSERR);
    }
  }
  let stopping = false;
  onSignal = (why) => {
    if (stopping) return;
    stopping = true;
    logger.info({ why }, 'shutting down');
    const force = setTimeout(() => process.exit(0), 3000);
    force.unref();
    void listener.close().then(() => core.close()).finally(() => { removePidFile(); process.exit(0); });
  };
  logger.info({ listen: listener.addresses(), backends: core.backends.map((b) => b.name), mode: opts.proxy.placement.backupMode }, 'repcache-proxy ready');
}

async function main(argv: readonly string[]): Promise<void> {
  const isDaemonChild = process.env[DAEMON_CHILD_ENV] === '1' && typeof process.send === 'function';
  const tell = (m: DaemonMessage) => new Promise<void>((resolve) => {
    if (!isDaemonChild || !process.connected) return resolve();
    process.send!(m, () => { if (process.connected) process.disconnect(); resolve(); });
  });
  let opts: ProxyOptions;
  try {
    opts = parseProxyArgs(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    const message = `repcache-proxy: ${err.message}`;
    await tell({ type: 'error', message, exitCode: EX_USAGE });
    process.stderr.write(`${message}\n${usage()}`);
    process.exitCode = EX_USAGE;
    return;
  }
  if (opts.action === 'help') { process.stdout.write(usage()); return; }
  if (opts.action === 'version') { process.stdout.write(`${VERSION_LINE}\n`); return; }
  if (opts.daemonize && !isDaemonChild) {
    process.exitCode = await daemonize(argv);
    return;
  }
  // `pgrep -x repcache-proxy` / `killall repcache-proxy` find it (otherwise its name is "node")
  process.title = 'repcache-proxy';
  try {
    await run(opts);
    await tell({ type: 'ready' });
  } catch (err) {
    const code = err instanceof StartupError ? err.exitCode : 1;
    const message = err instanceof StartupError ? err.message : `repcache-proxy: ${(err as Error).stack ?? err}`;
    await tell({ type: 'error', message, exitCode: code });
    process.stderr.write(`${message}\n`);
    process.exit(code);
  }
}

// Imported (by scripts/compile-cache.ts) it only loads. Node < 22.18 has no import.meta.main: there it always runs.
if (import.meta.main !== false) await main(process.argv.slice(2));
