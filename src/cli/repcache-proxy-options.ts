/**
 * repcache-proxy's command line: magent's flags (-s, -b, -l, -p, -n, -u, -f, -i, -k, -D, -v, -h) plus -d, -P,
 * -V and the long options of what magent could not do. Pure: argv in, options or a UsageError out.
 */
import type { DistributionKind } from '../routing/distribution.ts';
import type { KeyHash } from '../routing/hashes.ts';
import { parseServerSpec, ServerSpecError, type ServerSpec } from '../routing/servers.ts';
import type { ProxyConfig } from '../proxy/core.ts';
import { PROXY_VERSION } from '../proxy/version.ts';
import { UsageError } from './usage-error.ts';

export const VERSION_LINE = `repcache-proxy ${PROXY_VERSION} (magent-compatible memcached proxy, libmemcached ketama)`;
export const EX_USAGE = 2;

export interface ProxyOptions {
  action: 'run' | 'help' | 'version';
  proxy: ProxyConfig;
  port: number;
  /** Addresses to listen on (TCP); empty with port 0. */
  listen: string[];
  unixSocket: string | null;
  maxConns: number;
  user: string | null;
  daemonize: boolean;
  pidFile: string | null;
  verbosity: number;
}

interface Spec { short: string | null; long: string; arg: boolean }

const SPECS: Spec[] = [
  { short: 'p', long: 'port', arg: true },
  { short: 'l', long: 'listen', arg: true },
  { short: 'f', long: 'unix-socket', arg: true },
  { short: 's', long: 'server', arg: true },
  { short: 'b', long: 'backup', arg: true },
  { short: 'n', long: 'max-conns', arg: true },
  { short: 'u', long: 'user', arg: true },
  { short: 'g', long: 'group', arg: true },
  { short: 'i', long: 'connections', arg: true },
  { short: 'I', long: 'max-item-size', arg: true },
  { short: 'k', long: 'ketama', arg: false },
  { short: 'd', long: 'daemon', arg: false },
  { short: 'D', long: 'foreground', arg: false },
  { short: 'P', long: 'pidfile', arg: true },
  { short: 'v', long: 'verbose', arg: false },
  { short: 'h', long: 'help', arg: false },
  { short: 'V', long: 'version', arg: false },
  { short: null, long: 'distribution', arg: true },
  { short: null, long: 'hash', arg: true },
  { short: null, long: 'timeout', arg: true },
  { short: null, long: 'failure-limit', arg: true },
  { short: null, long: 'retry-timeout', arg: true },
  { short: null, long: 'no-backup-writes', arg: false },
];

export function usage(): string {
  return `Usage: repcache-proxy -s HOST[:PORT][,WEIGHT] [-s ...] [-b HOST[:PORT] ...] [options]
A memcached proxy: keys are spread over the -s servers (libmemcached-compatible ketama), writes are
copied to the key's -b server, reads fall back to it.

  -s, --server HOST[:PORT][,WEIGHT]  a main server (repeatable; port 11211, weight 1 by default)
  -b, --backup HOST[:PORT][,WEIGHT]  a backup server (repeatable)
      --no-backup-writes             the -b servers are the -s servers' replication peers (repcache -x
                                     pairs, -b N pairs with -s N): writes go to the main only
  -p, --port PORT                    TCP port to listen on (default 11211; 0: none)
  -l, --listen ADDR                  address to listen on (default 0.0.0.0; repeatable, or comma-separated)
  -f, --unix-socket PATH             also listen on a unix socket
  -n, --max-conns N                  most client connections (default 4096)
  -i, --connections N                persistent connections per backend server (default 1, pipelined)
  -I, --max-item-size SIZE           largest value a client may store, bytes or k/m (default 1m)
      --timeout MS                   a backend's reply is due within this (default 1000)
      --failure-limit N              consecutive failures that mark a backend down (default 2)
      --retry-timeout MS             first retry of a down backend (default 500; doubles up to 30 s)
      --distribution ketama|modula   key placement (default ketama, as libmemcached KETAMA_WEIGHTED)
      --hash one_at_a_time|crc32|md5 modula's key hash (default one_at_a_time, libmemcached's default)
  -u, --user USER                    run as USER once listening
  -d, --daemon                       run in the background (returns once listening)
  -P, --pidfile FILE                 write the pid to FILE (removed on exit)
  -v, -vv                            log more (info, debug)
  -h, --help                         this text
  -V, --version                      the version
  -k, -D, -g GID                     accepted for magent compatibility (ketama and the foreground are the default)
`;
}

const INT = /^\d+$/;

function int(flag: string, value: string, min: number, max: number, what: string): number {
  const n = INT.test(value) ? Number(value) : NaN;
  if (!(n >= min && n <= max)) throw new UsageError(`${flag}: ${what} must be an integer ${min}..${max}, got "${value}"`);
  return n;
}

function size(flag: string, value: string): number {
  const m = /^(\d+)([kKmM]?)$/.exec(value);
  const n = m ? Number(m[1]) * (m[2] === '' ? 1 : m[2]!.toLowerCase() === 'k' ? 1024 : 1024 * 1024) : NaN;
  if (!(n >= 1024 && n <= 1024 * 1024 * 1024)) throw new UsageError(`${flag}: size must be 1k..1024m (bytes, or with a k or m suffix), got "${value}"`);
  return n;
}

function server(flag: string, value: string): ServerSpec {
  try {
    return parseServerSpec(value);
  } catch (e) {
    if (e instanceof ServerSpecError) throw new UsageError(`${flag}: ${e.message}`);
    throw e;
  }
}

/** GNU getopt_long style: bundled short flags (-vv), -pVALUE, -p VALUE, --long VALUE, --long=VALUE, `--`. */
function* options(argv: readonly string[]): Generator<{ flag: string; spec: Spec; value: string | null }> {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      if (i + 1 < argv.length) throw new UsageError(`unexpected argument "${argv[i + 1]}"`);
      return;
    }
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = eq < 0 ? a.slice(2) : a.slice(2, eq);
      const spec = SPECS.find((s) => s.long === name);
      if (!spec) throw new UsageError(`unknown option "--${name}"`);
      let value: string | null = eq < 0 ? null : a.slice(eq + 1);
      if (!spec.arg && value !== null) throw new UsageError(`option "--${name}" takes no value`);
      if (spec.arg && value === null) {
        if (i + 1 >= argv.length) throw new UsageError(`option "--${name}" needs a value`);
        value = argv[++i]!;
      }
      yield { flag: `--${name}`, spec, value };
      continue;
    }
    if (!a.startsWith('-') || a === '-') throw new UsageError(`unexpected argument "${a}"`);
    for (let j = 1; j < a.length; j++) {
      const c = a[j]!;
      const spec = SPECS.find((s) => s.short === c);
      if (!spec) throw new UsageError(`unknown option "-${c}"`);
      if (!spec.arg) {
        yield { flag: `-${c}`, spec, value: null };
        continue;
      }
      let value = a.slice(j + 1);
      if (value === '') {
        if (i + 1 >= argv.length) throw new UsageError(`option "-${c}" needs a value`);
        value = argv[++i]!;
      }
      yield { flag: `-${c}`, spec, value };
      break;
    }
  }
}

export function parseProxyArgs(argv: readonly string[]): ProxyOptions {
  const main: ServerSpec[] = [];
  const backup: ServerSpec[] = [];
  const listen: string[] = [];
  const o: ProxyOptions = {
    action: 'run',
    proxy: {
      placement: { main, backup, distribution: 'ketama', hash: 'one_at_a_time', backupMode: 'copy' },
      timeoutMs: 1000,
      health: { failureLimit: 2, retryInitialMs: 500, retryMaxMs: 30_000 },
      connections: 1,
      maxItemSize: 1024 * 1024,
    },
    port: 11211,
    listen,
    unixSocket: null,
    maxConns: 4096,
    user: null,
    daemonize: false,
    pidFile: null,
    verbosity: 0,
  };
  let hashGiven = false;
  for (const { flag, spec, value } of options(argv)) {
    const v = value ?? '';
    switch (spec.long) {
      case 'port': o.port = int(flag, v, 0, 65535, 'the port'); break;
      case 'listen':
        for (const addr of v.split(',')) {
          if (addr.trim() === '') throw new UsageError(`${flag}: an empty address in "${v}"`);
          listen.push(addr.trim());
        }
        break;
      case 'unix-socket': o.unixSocket = v; break;
      case 'server': main.push(server(flag, v)); break;
      case 'backup': backup.push(server(flag, v)); break;
      case 'max-conns': o.maxConns = int(flag, v, 1, 1_000_000, 'the connection limit'); break;
      case 'user': o.user = v; break;
      case 'group': int(flag, v, 0, 2 ** 32 - 1, 'the group id'); break;
      case 'connections': o.proxy.connections = int(flag, v, 1, 64, 'connections per server'); break;
      case 'max-item-size': o.proxy.maxItemSize = size(flag, v); break;
      case 'ketama': case 'foreground': break;
      case 'daemon': o.daemonize = true; break;
      case 'pidfile': o.pidFile = v; break;
      case 'verbose': o.verbosity++; break;
      case 'help': o.action = 'help'; break;
      case 'version': o.action = 'version'; break;
      case 'distribution':
        if (v !== 'ketama' && v !== 'modula') throw new UsageError(`${flag}: ketama or modula, got "${v}"`);
        o.proxy.placement.distribution = v as DistributionKind;
        break;
      case 'hash':
        if (v !== 'one_at_a_time' && v !== 'crc32' && v !== 'md5') throw new UsageError(`${flag}: one_at_a_time, crc32 or md5, got "${v}"`);
        o.proxy.placement.hash = v as KeyHash;
        hashGiven = true;
        break;
      case 'timeout': o.proxy.timeoutMs = int(flag, v, 10, 600_000, 'the timeout (ms)'); break;
      case 'failure-limit': o.proxy.health.failureLimit = int(flag, v, 1, 1000, 'the failure limit'); break;
      case 'retry-timeout': {
        const ms = int(flag, v, 10, 3_600_000, 'the retry timeout (ms)');
        o.proxy.health.retryInitialMs = ms;
        o.proxy.health.retryMaxMs = Math.max(ms, 30_000);
        break;
      }
      case 'no-backup-writes': o.proxy.placement.backupMode = 'pairs'; break;
    }
  }
  if (o.action !== 'run') return o;
  if (hashGiven && o.proxy.placement.distribution === 'ketama') throw new UsageError('--hash: ketama always hashes with md5 (--hash is for --distribution modula)');
  if (main.length === 0) throw new UsageError('no server: give at least one -s HOST[:PORT]');
  if (o.port === 0 && o.unixSocket === null) throw new UsageError('nothing to listen on: -p 0 and no -f');
  if (listen.length === 0 && o.port !== 0) listen.push('0.0.0.0');
  if (o.proxy.placement.backupMode === 'pairs' && backup.length > 0 && backup.length !== main.length) {
    throw new UsageError(`--no-backup-writes pairs -b N with -s N: give as many -b as -s (${main.length} -s, ${backup.length} -b)`);
  }
  return o;
}
