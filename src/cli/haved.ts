/**
 * bin/haved: keepalived-compatible HA daemon. Runs in the foreground (systemd), logs pino JSON to stdout.
 * `haved -t` checks a config; `haved status|dump|reload|priority|maintenance` talk to the running daemon
 * over its control socket (haved-client.ts).
 */
import { readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { ConfigError, configErrorList, loadConfig } from '../config/load.ts';
import type { HavedConfig } from '../config/model.ts';
import { SYNOPSIS, USAGE, parseHavedArgs, type HavedCommand } from './haved-options.ts';
import { UsageError } from './usage-error.ts';
import { missingInterfaces } from '../ha/daemon/host-check.ts';
import { witnessSecretProblems } from '../ha/daemon/witness-client.ts';
// The daemon (execa, pino, the HA cores) is imported only to run it, the client only to ask: both start faster.

const VERSION: string = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version;

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/** The config `haved -f` would run: every error in the file at once (ConfigErrors), at least one instance. */
const loadRunnable = (file: string): HavedConfig => loadConfig(file, { requireInstance: true });

function checkConfig(file: string): number {
  try {
    const cfg = loadRunnable(file);
    const secrets = witnessSecretProblems(cfg.instances);
    if (secrets.length > 0) {
      for (const x of secrets) process.stderr.write(`ERROR: ${x}\n`);
      process.stderr.write(`${file}: configuration rejected (${plural(secrets.length, 'error')})\n`);
      return 1;
    }
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

async function run(cmd: Extract<HavedCommand, { cmd: 'run' }>): Promise<void> {
  const [{ createLogger }, { HaDaemon }, { VipManager, vipManagementUnavailable }, { ControlServer, ControlSocketError, SocketInUseError }, { controlHandler }, { reloadFromFile }] =
    await Promise.all([
      import('../log.ts'),
      import('../ha/daemon/daemon.ts'),
      import('../ha/adapters/vip-manager.ts'),
      import('../ha/daemon/control-server.ts'),
      import('../ha/daemon/controller.ts'),
      import('../ha/daemon/reload-file.ts'),
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
  const secrets = witnessSecretProblems(config.instances);
  if (secrets.length > 0) {
    for (const x of secrets) process.stderr.write(`haved: ${x}\n`);
    process.exit(1);
  }
  // A warning reads "file:line: text"; `where` lets log queries find them by place.
  const logWarnings = (c: HavedConfig) => c.warnings.forEach((w) => log.warn({ where: w.split(': ')[0] }, w));
  const removePidFile = () => {
    if (cmd.pidFile) try { unlinkSync(cmd.pidFile); } catch { /* already gone */ }
  };
  logWarnings(config);
  // Without CAP_NET_ADMIN `ip addr add` fails: run the election and the cache without touching addresses.
  const vips = new VipManager({ disabled: vipManagementUnavailable() });
  const daemon = new HaDaemon({ log, stateFile: cmd.stateFile, configFile: cmd.configFile, vips });

  // Start, stop, reload and the control verbs that change something run one after another.
  let busy: Promise<unknown> = Promise.resolve();
  const serially = <T>(fn: () => Promise<T>): Promise<T> => {
    const p = busy.then(fn);
    busy = p.catch(() => {});
    return p;
  };
  const unexpected = (e: Error) => log.error({ err: e.message, stack: e.stack }, 'unexpected error');

  const reloadFile = () => reloadFromFile(daemon, cmd.configFile, log);

  // The control socket comes first: a second haved on the same socket (so the same state file) stops here,
  // before it touches an address.
  const control = new ControlServer({
    path: cmd.socket,
    log: log.child({ component: 'control' }),
    handle: controlHandler(
      {
        status: () => daemon.status(),
        dump: () => {
          daemon.writeState();
          return { file: cmd.stateFile, state: daemon.status() };
        },
        reload: reloadFile,
        setPriorityOverride: (instance, priority) => daemon.setPriorityOverride(instance, priority),
        setMaintenance: (on) => daemon.setMaintenance(on),
      },
      serially,
    ),
  });
  let controlUp = false;
  try {
    await control.listen();
    controlUp = true;
  } catch (e) {
    if (e instanceof SocketInUseError) {
      process.stderr.write(`haved: ${e.message}\n`);
      process.exit(1);
    }
    if (!(e instanceof ControlSocketError)) throw e;
    log.error({ err: e.message, socket: cmd.socket }, `no control socket (${e.message}): haved runs without it; 'haved status' reads the state file instead`);
  }
  // Like the control socket: a metrics port that cannot be bound stops the start before any address is touched.
  let metrics: { close(): Promise<void> } | null = null;
  if (config.global.metricsListen) {
    const { startHavedMetrics } = await import('../metrics/haved-endpoint.ts');
    try {
      metrics = await startHavedMetrics(config.global.metricsListen, daemon, log);
    } catch (e) {
      process.stderr.write(`haved: ${(e as Error).message}\n`);
      await control.close();
      process.exit(1);
    }
  }
  if (cmd.pidFile) writeFileSync(cmd.pidFile, `${process.pid}\n`);

  const shutdown = (signal: string) =>
    serially(async () => {
      log.info({ signal }, `${signal}: stopping (priority 0, VIPs removed, notify_stop, then the cache)`);
      await daemon.stop(`received ${signal}`);
      await Promise.all([control.close(), metrics?.close()]);
      removePidFile();
      log.info('stopped');
      log.flush(() => process.exit(0));
      setTimeout(() => process.exit(0), 500).unref();
    }).catch(unexpected);
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGHUP', () => {
    log.info('SIGHUP received');
    void serially(reloadFile).catch((e: Error) => e instanceof ConfigError || unexpected(e));
  });
  process.on('SIGUSR1', () => {
    daemon.writeState();
    log.info({ file: cmd.stateFile }, 'SIGUSR1: state written');
  });

  try {
    await serially(() => daemon.start(config));
  } catch (e) {
    log.fatal({ err: (e as Error).message }, 'cannot start');
    await daemon.stop('start-up failed').catch(() => {});
    await control.close();
    removePidFile();
    process.exit(1);
  }
  log.info({ pid: process.pid, config: cmd.configFile, version: VERSION, socket: controlUp ? cmd.socket : null }, 'haved started');
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
    case 'control': {
      const { runClient } = await import('./haved-client.ts');
      process.exit(await runClient(cmd));
    }
    case 'run':
      await run(cmd);
      return;
    case 'witness':
      await runWitness(cmd);
  }
}

async function runWitness(cmd: Extract<HavedCommand, { cmd: 'witness' }>): Promise<void> {
  const [{ createLogger }, { WitnessServer }, { readWitnessSecret, WitnessSecretError }, { systemClock }] = await Promise.all([
    import('../log.ts'),
    import('../ha/daemon/witness-server.ts'),
    import('../ha/daemon/witness-client.ts'),
    import('../clock.ts'),
  ]);
  const log = createLogger('haved-witness', cmd.detail ? 'debug' : 'info');
  process.title = 'haved';
  let secret: Buffer;
  try {
    secret = readWitnessSecret(cmd.secretFile, '--witness-secret-file');
  } catch (e) {
    if (!(e instanceof WitnessSecretError)) throw e;
    process.stderr.write(`haved: ${e.message}\n`);
    process.exit(1);
  }
  const server = new WitnessServer({ host: cmd.host, port: cmd.port, secret, maxLeaseMs: cmd.maxLeaseMs, clock: systemClock, log });
  try {
    await server.listen();
  } catch (e) {
    process.stderr.write(`haved: ${(e as Error).message}\n`);
    process.exit(1);
  }
  const stop = (signal: string) => {
    log.info({ signal, ...server.status() }, `${signal}: witness stopping`);
    void server.close().then(() => log.flush(() => process.exit(0)));
    setTimeout(() => process.exit(0), 500).unref();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGUSR1', () => log.info(server.status(), 'witness state'));
  log.info({ listen: `${cmd.host}:${cmd.port}`, maxLeaseMs: cmd.maxLeaseMs, pid: process.pid }, `witness listening; it grants no new lease for ${cmd.maxLeaseMs} ms (leases granted before a restart end first)`);
}

// Imported (by scripts/compile-cache.ts) it only loads. Node < 22.18 has no import.meta.main: there it always runs.
if (import.meta.main !== false) await main();
