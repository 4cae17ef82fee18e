import { parseArgs } from 'node:util';
import { DEFAULT_STATE_FILE } from './state-file.ts';

export const DEFAULT_CONFIG = '/etc/haved.conf';

export class UsageError extends Error {
  override name = 'UsageError';
}

export type HavedCommand =
  | { cmd: 'run'; configFile: string; pidFile: string | null; stateFile: string; detail: boolean; console: boolean }
  | { cmd: 'check'; configFile: string }
  | { cmd: 'status'; stateFile: string; json: boolean; timeoutMs: number }
  | { cmd: 'help' }
  | { cmd: 'version' };

export const USAGE = `Usage: haved [OPTION...]            run the daemon (foreground)
       haved -t [-f FILE]            check a configuration and exit (0 = usable)
       haved status [--json]         print the running daemon's instances, VIPs and checks

  -f, --use-file FILE     configuration file (keepalived.conf syntax; default ${DEFAULT_CONFIG})
  -t, --config-test       check the configuration, print warnings and errors with file:line
  -n, --dont-fork         accepted for keepalived compatibility: haved always runs in the foreground
  -l, --log-console       accepted: logs always go to stdout (pino JSON; readable on a terminal)
  -D, --log-detail        detailed (debug) logs
  -p, --pid FILE          write the process id to FILE
      --state-file FILE   JSON state dump, rewritten on every change and on SIGUSR1 (default ${DEFAULT_STATE_FILE})
  -h, --help              this help
  -v, --version           print the version

Signals: SIGTERM/SIGINT stop (priority 0, VIPs removed, notify_stop, then the cache_daemon), SIGHUP reload,
SIGUSR1 state dump.`;

/** Parses haved's command line (keepalived's flag names where they exist). Throws UsageError. */
export function parseHavedArgs(argv: string[]): HavedCommand {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        'use-file': { type: 'string', short: 'f' },
        'config-test': { type: 'boolean', short: 't' },
        'dont-fork': { type: 'boolean', short: 'n' },
        'log-console': { type: 'boolean', short: 'l' },
        'log-detail': { type: 'boolean', short: 'D' },
        pid: { type: 'string', short: 'p' },
        'state-file': { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'v' },
      },
    });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const v = parsed.values;
  if (v.help) return { cmd: 'help' };
  if (v.version) return { cmd: 'version' };
  const stateFile = v['state-file'] ?? DEFAULT_STATE_FILE;
  const [first, ...rest] = parsed.positionals;
  if (first === 'status') {
    if (rest.length > 0) throw new UsageError(`unexpected argument '${rest[0]}'`);
    const misplaced = (['use-file', 'config-test', 'pid'] as const).find((o) => v[o] !== undefined);
    if (misplaced) throw new UsageError(`option '--${misplaced}' does not apply to 'haved status'`);
    return { cmd: 'status', stateFile, json: v.json ?? false, timeoutMs: 1000 };
  }
  if (first !== undefined) throw new UsageError(`unknown command '${first}' (try 'haved -h')`);
  if (v.json) throw new UsageError(`option '--json' applies only to 'haved status'`);
  const configFile = v['use-file'] ?? DEFAULT_CONFIG;
  if (v['config-test']) return { cmd: 'check', configFile };
  return { cmd: 'run', configFile, pidFile: v.pid ?? null, stateFile, detail: v['log-detail'] ?? false, console: v['log-console'] ?? false };
}
