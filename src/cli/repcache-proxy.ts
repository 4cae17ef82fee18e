/**
 * bin/repcache-proxy: parse the flags, optionally daemonize, listen, connect to the backends, write the pid
 * file, drop privileges; exit 0 on SIGTERM/SIGINT.
 */
import { EX_USAGE, VERSION_LINE, parseProxyArgs, usage, type ProxyOptions } from './repcache-proxy-options.ts';
import { UsageError } from './usage-error.ts';
import { resolveUser, type UserIds } from '../system/users.ts';

import { DaemonChild, EX_OSERR, StartupError, dropPrivileges, onStopSignals, writePidFile } from './daemon-process.ts';

const EX_NOUSER = 67;
const daemon = new DaemonChild('REPCACHE_PROXY_DAEMON_CHILD');

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
  const onSignal = onStopSignals();
  const level = opts.verbosity >= 2 ? 'debug' : opts.verbosity === 1 ? 'info' : 'warn';
  const [{ createLogger }, { ProxyCore }, { ProxyListener, tcpConnector }, { systemClock }] = await Promise.all([
    import('../log.ts'), import('../proxy/core.ts'), import('../proxy/net.ts'), import('../clock.ts'),
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
  let removePidFile: () => void;
  try {
    removePidFile = writePidFile(opts.pidFile, (e) => `repcache-proxy: cannot write the pid file ${opts.pidFile}: ${e.message}`);
  } catch (e) {
    await listener.close();
    throw e;
  }
  if (user) dropPrivileges(user, 'repcache-proxy: ');
  let stopping = false;
  onSignal((why) => {
    if (stopping) return;
    stopping = true;
    logger.info({ why }, 'shutting down');
    const force = setTimeout(() => process.exit(0), 3000);
    force.unref();
    void listener.close().then(() => core.close()).finally(() => { removePidFile(); process.exit(0); });
  });
  logger.info({ listen: listener.addresses(), backends: core.backends.map((b) => b.name), mode: opts.proxy.placement.backupMode }, 'repcache-proxy ready');
}

async function main(argv: readonly string[]): Promise<void> {
  let opts: ProxyOptions;
  try {
    opts = parseProxyArgs(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    const message = `repcache-proxy: ${err.message}`;
    await daemon.tell({ type: 'error', message, exitCode: EX_USAGE });
    process.stderr.write(`${message}\n${usage()}`);
    process.exitCode = EX_USAGE;
    return;
  }
  if (opts.action === 'help') { process.stdout.write(usage()); return; }
  if (opts.action === 'version') { process.stdout.write(`${VERSION_LINE}\n`); return; }
  if (opts.daemonize && !daemon.isChild) {
    process.exitCode = await daemon.daemonize('repcache-proxy', argv);
    return;
  }
  await daemon.start('repcache-proxy', () => run(opts));
}

// Imported (by scripts/compile-cache.ts) it only loads. Node < 22.18 has no import.meta.main: there it always runs.
if (import.meta.main !== false) await main(process.argv.slice(2));
