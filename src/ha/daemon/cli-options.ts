import { parseArgv, UsageError, type OptionSpec } from './argv.ts';
import { DEFAULT_STATE_FILE } from './state-file.ts';

export { UsageError } from './argv.ts';

export const DEFAULT_CONFIG = '/etc/haved.conf';

export type HavedCommand =
  | { cmd: 'run'; configFile: string; pidFile: string | null; stateFile: string; detail: boolean; console: boolean }
  | { cmd: 'check'; configFile: string }
  | { cmd: 'status'; stateFile: string; json: boolean; timeoutMs: number }
  | { cmd: 'help' }
  | { cmd: 'version' };

/** The synopsis, printed after a usage error. */
export const SYNOPSIS = `Usage: haved [-f FILE] [OPTION...]            run the daemon (foreground)
       haved -t [-f FILE]                     check a configuration and exit (0 = usable)
       haved status [--json] [--state-file FILE]   print the running daemon's instances, VIPs and checks`;

export const USAGE = `${SYNOPSIS}

  -f, --use-file FILE     configuration file (keepalived.conf syntax; default ${DEFAULT_CONFIG})
  -t, --config-test       check the configuration, print warnings and errors with file:line
  -n, --dont-fork         accepted for keepalived compatibility: haved always runs in the foreground
  -l, --log-console       accepted: logs always go to stdout (pino JSON; readable on a terminal)
  -D, --log-detail        detailed (debug) logs
  -p, --pid FILE          write the process id to FILE
      --state-file FILE   JSON state dump, rewritten on every change and on SIGUSR1 (default ${DEFAULT_STATE_FILE})
      --json              with status: print the JSON dump
  -h, --help              this help
  -v, --version           print the version

Signals: SIGTERM/SIGINT stop (priority 0, VIPs removed, notify_stop, then the cache_daemon), SIGHUP reload,
SIGUSR1 state dump.`;

const OPTIONS: Record<string, OptionSpec> = {
  'use-file': { short: 'f', value: 'FILE' },
  'config-test': { short: 't' },
  'dont-fork': { short: 'n' },
  'log-console': { short: 'l' },
  'log-detail': { short: 'D' },
  pid: { short: 'p', value: 'FILE' },
  'state-file': { value: 'FILE' },
  json: {},
  help: { short: 'h' },
  version: { short: 'v' },
};

/** Parses haved's command line (keepalived's flag names where they exist). Throws UsageError. */
export function parseHavedArgs(argv: string[]): HavedCommand {
  const { values: v, positionals } = parseArgv(argv, OPTIONS);
  const str = (name: string) => {
    const x = v.get(name);
    return typeof x === 'string' ? x : undefined;
  };
  if (v.has('help')) return { cmd: 'help' };
  if (v.has('version')) return { cmd: 'version' };
  const stateFile = str('state-file') ?? DEFAULT_STATE_FILE;
  const [first, ...rest] = positionals;
  if (first === 'status') {
    if (rest.length > 0) throw new UsageError(`unexpected argument '${rest[0]}'`);
    const misplaced = (['use-file', 'config-test', 'pid'] as const).find((o) => v.has(o));
    if (misplaced) throw new UsageError(`option '--${misplaced}' does not apply to 'haved status'`);
    return { cmd: 'status', stateFile, json: v.has('json'), timeoutMs: 1000 };
  }
  if (first !== undefined) throw new UsageError(`unknown command '${first}' (try 'haved -h')`);
  if (v.has('json')) throw new UsageError(`option '--json' applies only to 'haved status'`);
  const configFile = str('use-file') ?? DEFAULT_CONFIG;
  if (v.has('config-test')) return { cmd: 'check', configFile };
  return { cmd: 'run', configFile, pidFile: str('pid') ?? null, stateFile, detail: v.has('log-detail'), console: v.has('log-console') };
}
