import { parseArgv, type OptionSpec } from './argv.ts';
import { UsageError } from './usage-error.ts';
import type { ControlRequest } from '../proto/control/codec.ts';
import { DEFAULT_STATE_FILE, npmStartStateFile, socketPathFor } from '../ha/daemon/state-file.ts';

export const DEFAULT_CONFIG = '/etc/haved.conf';

/** Where a client command looks for the daemon: the control sockets to try, and the state files behind them. */
export interface ClientTarget {
  sockets: string[];
  stateFiles: string[];
}

export type HavedCommand =
  | { cmd: 'run'; configFile: string; pidFile: string | null; stateFile: string; socket: string; detail: boolean; console: boolean }
  | { cmd: 'check'; configFile: string }
  | { cmd: 'witness'; host: string; port: number; secretFile: string; maxLeaseMs: number; detail: boolean }
  | { cmd: 'control'; request: ControlRequest; json: boolean; target: ClientTarget }
  | { cmd: 'help' }
  | { cmd: 'version' };

/** The synopsis, printed after a usage error. */
export const SYNOPSIS = `Usage: haved [-f FILE] [OPTION...]          run the daemon (foreground)
       haved -t [-f FILE]                   check a configuration and exit (0 = usable)
       haved status [--json]                the running daemon's instances, VIPs, checks and cache
       haved dump                           its full state as JSON (also written to the state file)
       haved reload                         read the configuration file again (errors are printed)
       haved priority INSTANCE N|reset      override an instance's priority until reset or restart
       haved maintenance on|off             hand every VIP to the peer and claim none, until off
       haved --witness ADDRESS:PORT --witness-secret-file FILE   run a witness for two-node pairs`;

export const USAGE = `${SYNOPSIS}

  -f, --use-file FILE     configuration file (keepalived.conf syntax; default ${DEFAULT_CONFIG})
  -t, --config-test       check the configuration, print warnings and errors with file:line
  -n, --dont-fork         accepted for keepalived compatibility: haved always runs in the foreground
  -l, --log-console       accepted: logs always go to stdout (pino JSON; readable on a terminal)
  -D, --log-detail        detailed (debug) logs
  -p, --pid FILE          write the process id to FILE
      --state-file FILE   JSON state dump, rewritten on every change and on SIGUSR1, removed on a clean
                          stop (default ${DEFAULT_STATE_FILE})
      --socket PATH       control socket (default: the state file's path with .sock for .json, so
                          ${socketPathFor(DEFAULT_STATE_FILE)}); the commands above find the daemon there
      --json              with status: print the JSON state
      --witness ADDRESS:PORT        run as the witness of two-node pairs (see README "No split brain")
      --witness-secret-file FILE    the secret shared with the nodes' witness blocks (at least 16 bytes)
      --witness-max-lease SECONDS   the longest lease granted, and the wait after a restart (default 10)
  -h, --help              this help
  -v, --version           print the version

Without --socket or --state-file the commands ask ${socketPathFor(DEFAULT_STATE_FILE)} and the socket of
\`npm start\` (\${TMPDIR:-/tmp}/haved-local/state.sock).

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
  socket: { value: 'PATH' },
  json: {},
  witness: { value: 'ADDRESS:PORT' },
  'witness-secret-file': { value: 'FILE' },
  'witness-max-lease': { value: 'SECONDS' },
  help: { short: 'h' },
  version: { short: 'v' },
};

const CLIENT_VERBS = new Set(['status', 'dump', 'reload', 'priority', 'maintenance']);

/** Parses haved's command line (keepalived's flag names where they exist). Throws UsageError. */
export function parseHavedArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): HavedCommand {
  const { values: v, positionals } = parseArgv(argv, OPTIONS);
  const str = (name: string) => {
    const x = v.get(name);
    return typeof x === 'string' ? x : undefined;
  };
  if (v.has('help')) return { cmd: 'help' };
  if (v.has('version')) return { cmd: 'version' };
  const [verb, ...args] = positionals;
  if (verb !== undefined) {
    if (!CLIENT_VERBS.has(verb)) throw new UsageError(`unknown command '${verb}' (try 'haved -h')`);
    const misplaced = (['use-file', 'config-test', 'pid', 'dont-fork', 'log-console', 'log-detail'] as const).find((o) => v.has(o));
    if (misplaced) throw new UsageError(`option '--${misplaced}' does not apply to 'haved ${verb}'`);
    if (v.has('json') && verb !== 'status') throw new UsageError(`option '--json' applies only to 'haved status' ('haved dump' prints JSON)`);
    return { cmd: 'control', request: clientRequest(verb, args), json: v.has('json'), target: clientTarget(str('socket'), str('state-file'), env) };
  }
  if (v.has('json')) throw new UsageError(`option '--json' applies only to 'haved status'`);
  if (v.has('witness')) return witnessCommand(str('witness')!, str('witness-secret-file'), str('witness-max-lease'), v.has('log-detail'));
  const stray = (['witness-secret-file', 'witness-max-lease'] as const).find((o) => v.has(o));
  if (stray) throw new UsageError(`option '--${stray}' applies only with '--witness ADDRESS:PORT'`);
  const configFile = str('use-file') ?? DEFAULT_CONFIG;
  if (v.has('config-test')) return { cmd: 'check', configFile };
  const stateFile = str('state-file') ?? DEFAULT_STATE_FILE;
  return {
    cmd: 'run',
    configFile,
    pidFile: str('pid') ?? null,
    stateFile,
    socket: str('socket') ?? socketPathFor(stateFile),
    detail: v.has('log-detail'),
    console: v.has('log-console'),
  };
}

function clientRequest(verb: string, args: string[]): ControlRequest {
  const arity = (n: number, what: string) => {
    if (args.length < n) throw new UsageError(`'haved ${verb}' needs ${what}`);
    if (args.length > n) throw new UsageError(`unexpected argument '${args[n]}' after 'haved ${verb}'`);
  };
  switch (verb) {
    case 'priority': {
      arity(2, 'INSTANCE and a priority (1..254) or reset');
      const [instance, value] = args as [string, string];
      if (value === 'reset') return { verb: 'priority', instance, priority: null };
      if (!/^\d{1,3}$/.test(value)) throw new UsageError(`the priority must be a number 1..254 or 'reset', got '${value}'`);
      return { verb: 'priority', instance, priority: Number(value) };
    }
    case 'maintenance': {
      arity(1, "'on' or 'off'");
      if (args[0] !== 'on' && args[0] !== 'off') throw new UsageError(`'haved maintenance' takes 'on' or 'off', got '${args[0]}'`);
      return { verb: 'maintenance', on: args[0] === 'on' };
    }
    default:
      arity(0, 'no arguments');
      return { verb: verb as 'status' | 'dump' | 'reload' };
  }
}

/** --socket, else the socket of --state-file, else the system daemon's and npm start's. */
function clientTarget(socket: string | undefined, stateFile: string | undefined, env: NodeJS.ProcessEnv): ClientTarget {
  if (socket !== undefined) return { sockets: [socket], stateFiles: stateFile ? [stateFile] : [] };
  if (stateFile !== undefined) return { sockets: [socketPathFor(stateFile)], stateFiles: [stateFile] };
  const files = [...new Set([DEFAULT_STATE_FILE, npmStartStateFile(env)])];
  return { sockets: files.map(socketPathFor), stateFiles: files };
}

function witnessCommand(address: string, secretFile: string | undefined, maxLease: string | undefined, detail: boolean): HavedCommand {
  const m = /^(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})$/.exec(address);
  const port = m ? Number(m[2]) : 0;
  if (!m || m[1]!.split('.').some((o) => Number(o) > 255) || port < 1 || port > 65535) {
    throw new UsageError(`--witness needs IPv4:PORT (e.g. 198.18.0.50:7070), got '${address}'`);
  }
  if (secretFile === undefined) throw new UsageError('--witness needs --witness-secret-file FILE (the secret of the nodes\' witness blocks)');
  let maxLeaseMs = 10_000;
  if (maxLease !== undefined) {
    if (!/^\d+(\.\d+)?$/.test(maxLease) || Number(maxLease) < 1 || Number(maxLease) > 60) {
      throw new UsageError(`--witness-max-lease must be 1..60 seconds, got '${maxLease}'`);
    }
    maxLeaseMs = Math.round(Number(maxLease) * 1000);
  }
  return { cmd: 'witness', host: m[1]!, port, secretFile, maxLeaseMs, detail };
}
