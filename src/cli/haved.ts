/**
 * bin/haved: keepalived-compatible HA daemon. Runs in the foreground (systemd), logs pino JSON to stdout.
 * `haved -t` checks a config; `haved status` asks the running daemon (SIGUSR1) for a fresh state dump and prints it.
 */
import { readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { ConfigError, configErrorList, loadConfig } from '../config/load.ts';
import type { HavedConfig } from '../config/model.ts';
import { SYNOPSIS, USAGE, UsageError, parseHavedArgs, type HavedCommand } from '../ha/daemon/cli-options.ts';
import { formatStatus, type DaemonStatus } from '../ha/daemon/status-format.ts';
import { missingInterfaces } from '../ha/daemon/host-check.ts';
// The daemon (execa, pino, the HA cores) is imported only to run it: `-t` and `status` start faster.

const VERSION: string = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version;

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/** The config `haved -f` would run: every error in the file at once (ConfigErrors), at least one instance. */
const loadRunnable = (file: string): HavedConfig => loadConfig(file, { requireInstance: true });

function checkConfig(file: string): number {
  try {
    const cfg = loadRunnable(file);
    const warnings = [...cfg.warnings, ...missingInterfaces(cfg)];
    for (const w of warnings) process.stderr.write(`WARNING: ${w}\n`);
    process.stdout.write(`${file}: configuration OK (${cfg.instances.length} vrrp_instance, ${plural(warnings.length, 'warning')})\n`);
    return 0;
  } catch (e) {
    if (e instanceof ConfigError) {
      const errors = configErrorList(e);
      for (const x of errors) process.stderr.write(`ERROR: ${x.message}\n`);
      process.stderr.write(`${file}: configuration rejected (${plural(errors.length, 'error')})\n`);
      return 1;
    }
    throw e;
  }
}

async function status(cmd: Extract<HavedCommand, { cmd: 'status' }>): Promise<number> {
  const read = (): DaemonStatus | null => {
    try {
      return JSON.parse(readFileSync(cmd.stateFile, 'utf8')) as DaemonStatus;
    } catch {
      return null;
    }
  };
  const before = read();
  if (!before || !alive(before.pid)) {
    process.stderr.write(`haved is not running (no live daemon behind ${cmd.stateFile})\n`);
    return 3;
  }
  const mtime = () => { try { return statSync(cmd.stateFile).mtimeMs; } catch { return 0; } };
  const m0 = mtime();
  try {
    process.kill(before.pid, 'SIGUSR1');
  } catch (e) {
    process.stderr.write(`haved status: cannot signal pid ${before.pid} (${(e as NodeJS.ErrnoException).code}); showing the last dump\n`);
  }
  const deadline = Date.now() + cmd.timeoutMs;
  while (mtime() === m0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  const s = read() ?? before;
  process.stdout.write(cmd.json ? JSON.stringify(s, null, 2) + '\n' : formatStatus(s) + '\n');
  return 0;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function run(cmd: Extract<HavedCommand, { cmd: 'run' }>): Promise<void> {
  const [{ createLogger }, { HaDaemon }, { VipManager, vipManagementUnavailable }] = await Promise.all([
    import('../log.ts'),
    import('../ha/daemon/daemon.ts'),
    import('../ha/adapters/vip-manager.ts'),
  ]);
  const log = createLogger('haved', cmd.detail ? 'debug' : 'info');
  // `pgrep -x haved` / `killall haved` find the daemon (otherwise its name is "node")
  process.title = 'haved';
  let config: HavedConfig;
  try {
    config = loadRunnable(cmd.configFile);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    for (const x of configErrorList(e)) process.stderr.write(`haved: ${x.message}\n`);
    process.exit(1);
  }
  // A warning reads "file:line: text"; `where` lets log queries find them by place.
  const logWarnings = (c: HavedConfig) => c.warnings.forEach((w) => log.warn({ where: w.split(': ')[0] }, w));
  const removePidFile = () => {
    if (cmd.pidFile) try { unlinkSync(cmd.pidFile); } catch { /* already gone */ }
  };
  logWarnings(config);
  if (cmd.pidFile) writeFileSync(cmd.pidFile, `${process.pid}\n`);
  // Without CAP_NET_ADMIN `ip addr add` fails: run the election and the cache without touching addresses.
  const vips = new VipManager({ disabled: vipManagementUnavailable() });
  const daemon = new HaDaemon({ log, stateFile: cmd.stateFile, configFile: cmd.configFile, vips });

  let busy: Promise<void> = Promise.resolve();
  const serially = (fn: () => Promise<void>) => (busy = busy.then(fn).catch((e: Error) => log.error({ err: e.message, stack: e.stack }, 'unexpected error')));
  const shutdown = (signal: string) =>
    serially(async () => {
      log.info({ signal }, `${signal}: stopping (priority 0, VIPs removed, notify_stop, then the cache)`);
      await daemon.stop(`received ${signal}`);
      removePidFile();
      log.info('stopped');
      log.flush(() => process.exit(0));
      setTimeout(() => process.exit(0), 500).unref();
    });
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGHUP', () =>
    void serially(async () => {
      log.info({ file: cmd.configFile }, 'SIGHUP: reloading the configuration');
      let next: HavedConfig;
      try {
        next = loadRunnable(cmd.configFile);
      } catch (e) {
        if (!(e instanceof ConfigError)) throw e;
        for (const x of configErrorList(e)) log.error({ where: x.where }, x.message);
        log.error({ errors: configErrorList(e).length }, 'reload failed: keeping the running configuration');
        return;
      }
      logWarnings(next);
      await daemon.reload(next);
    }),
  );
  process.on('SIGUSR1', () => {
    daemon.writeState();
    log.info({ file: cmd.stateFile }, 'SIGUSR1: state written');
  });

  try {
    await daemon.start(config);
  } catch (e) {
    log.fatal({ err: (e as Error).message }, 'cannot start');
    await daemon.stop('start-up failed').catch(() => {});
    removePidFile();
    process.exit(1);
  }
  log.info({ pid: process.pid, config: cmd.configFile, version: VERSION }, 'haved started');
}

async function main(): Promise<void> {
  let cmd: HavedCommand;
  try {
    cmd = parseHavedArgs(process.argv.slice(2));
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`haved: ${e.message}\n${SYNOPSIS}\n(haved -h lists every option)\n`);
    process.exit(2);
  }
  switch (cmd.cmd) {
    case 'help':
      process.stdout.write(USAGE + '\n');
      return;
    case 'version':
      process.stdout.write(`haved ${VERSION}\n`);
      return;
    case 'check':
      process.exit(checkConfig(cmd.configFile));
    case 'status':
      process.exit(await status(cmd));
    case 'run':
      await run(cmd);
  }
}

// Imported (by scripts/compile-cache.ts) it only loads. Node < 22.18 has no import.meta.main: there it always runs.
if (import.meta.main !== false) await main();
