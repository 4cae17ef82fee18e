/**
 * repcache's command line: memcached 1.6.18's flags, defaults and error messages, plus repcached's
 * replication flags (-x peer, -X port). Pure: argv (and the CPUs the process may use) in, options or a UsageError out.
 */
import { availableParallelism } from 'node:os';
import { DEFAULT_REPLICATION_PORT } from '../replication/wiring.ts';
import { MetricsAddressError, parseMetricsAddress } from '../net/metrics-address.ts';
import { REPLICATION_SUBOPTIONS } from '../replication/options.ts';
import { defaultServerConfig, type ServerConfig } from '../server/config.ts';
import { UsageError } from './usage-error.ts';

export const VERSION = '0.1.0';
export const VERSION_LINE = `repcache ${VERSION} (memcached 1.6.18 compatible)`;

/** sysexits.h codes memcached uses. */
export const EX_USAGE = 64;
export const EX_NOUSER = 67;
export const EX_OSERR = 71;

export interface RepcacheOptions {
  action: 'run' | 'help' | 'version' | 'license';
  config: ServerConfig;
  /**
   * -x peers, -X port; repcached's `-X listen:connect` sets a different port to dial peers on. `portGiven`:
   * -X was on the command line (replication is on even without peers, as a repcached pair's first node).
   */
  replication: { peers: string[]; port: number; connectPort?: number; portGiven?: true };
  /** memcached prints these on stderr and carries on (e.g. -t above 64). */
  warnings: string[];
}

type ArgKind = 'none' | 'required' | 'optional';
interface OptSpec { short: string; long: string | null; arg: ArgKind }

// getopt table; -x/-X are repcached's (memcached's -X is reachable as --disable-dumping).
const SPECS: OptSpec[] = [
  { short: 'a', long: 'unix-mask', arg: 'required' },
  { short: 'A', long: 'enable-shutdown', arg: 'none' },
  { short: 'Z', long: 'enable-ssl', arg: 'none' },
  { short: 'p', long: 'port', arg: 'required' },
  { short: 's', long: 'unix-socket', arg: 'required' },
  { short: 'U', long: 'udp-port', arg: 'required' },
  { short: 'm', long: 'memory-limit', arg: 'required' },
  { short: 'M', long: 'disable-evictions', arg: 'none' },
  { short: 'c', long: 'conn-limit', arg: 'required' },
  { short: 'k', long: 'lock-memory', arg: 'none' },
  { short: 'h', long: 'help', arg: 'none' },
  { short: 'i', long: 'license', arg: 'none' },
  { short: 'V', long: 'version', arg: 'none' },
  { short: 'r', long: 'enable-coredumps', arg: 'none' },
  { short: 'v', long: 'verbose', arg: 'optional' },
  { short: 'd', long: 'daemon', arg: 'none' },
  { short: 'l', long: 'listen', arg: 'required' },
  { short: 'u', long: 'user', arg: 'required' },
  { short: 'P', long: 'pidfile', arg: 'required' },
  { short: 'f', long: 'slab-growth-factor', arg: 'required' },
  { short: 'n', long: 'slab-min-size', arg: 'required' },
  { short: 't', long: 'threads', arg: 'required' },
  { short: 'D', long: null, arg: 'required' },
  { short: 'L', long: 'enable-largepages', arg: 'none' },
  { short: 'R', long: 'max-reqs-per-event', arg: 'required' },
  { short: 'C', long: 'disable-cas', arg: 'none' },
  { short: 'b', long: 'listen-backlog', arg: 'required' },
  { short: 'B', long: 'protocol', arg: 'required' },
  { short: 'I', long: 'max-item-size', arg: 'required' },
  { short: 'S', long: 'enable-sasl', arg: 'none' },
  { short: 'F', long: 'disable-flush-all', arg: 'none' },
  { short: '\0dump', long: 'disable-dumping', arg: 'none' },
  { short: 'W', long: 'disable-watch', arg: 'none' },
  { short: 'Y', long: 'auth-file', arg: 'required' },
  { short: 'e', long: 'memory-file', arg: 'required' },
  { short: 'o', long: 'extended', arg: 'required' },
  { short: 'N', long: 'napi-ids', arg: 'required' },
  { short: 'x', long: 'replication-peer', arg: 'required' },
  { short: 'X', long: 'replication-port', arg: 'required' },
  { short: 'q', long: null, arg: 'required' },
  { short: '\0peer', long: 'peer', arg: 'required' },
  { short: '\0rsecret', long: 'replication-secret', arg: 'required' },
  { short: '\0rsecretfile', long: 'replication-secret-file', arg: 'required' },
  { short: '\0rsync', long: 'replication-sync', arg: 'none' },
  { short: '\0rallow', long: 'replication-allow', arg: 'required' },
];
const BY_SHORT = new Map(SPECS.map((s) => [s.short, s]));

const KNOWN_SUBOPTIONS = new Set([
  'maxconns_fast', 'no_maxconns_fast', 'hashpower', 'no_hashexpand', 'slab_reassign', 'no_slab_reassign',
  'slab_automove', 'slab_automove_ratio', 'slab_automove_window', 'slab_automove_freeratio', 'tail_repair_time',
  'hash_algorithm', 'lru_crawler', 'no_lru_crawler', 'lru_crawler_sleep', 'lru_crawler_tocrawl', 'lru_maintainer',
  'no_lru_maintainer', 'hot_lru_pct', 'warm_lru_pct', 'hot_max_factor', 'warm_max_factor', 'temporary_ttl',
  'idle_timeout', 'watcher_logbuf_size', 'worker_logbuf_size', 'slab_sizes', 'slab_chunk_max', 'track_sizes',
  'no_inline_ascii_resp', 'inline_ascii_resp', 'modern', 'no_modern', 'no_chunked_items', 'resp_obj_mem_limit',
  'read_buf_mem_limit', 'drop_privileges', 'no_drop_privileges', 'sock_cookie_id',
  // repcache's own: limits on what one client may hold or stall
  'output_limit', 'read_timeout', 'drain_timeout',
  // the Prometheus endpoint (off unless given)
  'metrics_listen',
]);

/** memcached's TLS options (-Z). */
const SSL_SUBOPTIONS = new Set([
  'ssl_chain_cert', 'ssl_key', 'ssl_keyformat', 'ssl_verify_mode', 'ssl_ciphers', 'ssl_ca_cert', 'ssl_wbuf_size',
  'ssl_session_cache', 'ssl_kernel_tls', 'ssl_min_version',
]);

interface ParsedOpt { spec: OptSpec; value: string | null }

/** GNU getopt_long semantics: bundled short flags, attached or separate values, --long[=v], unique prefixes, `--`. */
function* getopt(argv: readonly string[]): Generator<ParsedOpt> {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') {
      if (i + 1 < argv.length) throw new UsageError(`repcache: unexpected argument '${argv[i + 1]}'`);
      return;
    }
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = eq < 0 ? a.slice(2) : a.slice(2, eq);
      const exact = SPECS.find((s) => s.long === name);
      const prefixed = exact ? [exact] : SPECS.filter((s) => s.long?.startsWith(name));
      if (prefixed.length === 0) throw new UsageError(`repcache: unrecognized option '--${name}'\nIllegal argument "?"`);
      if (prefixed.length > 1) {
        throw new UsageError(`repcache: option '--${name}' is ambiguous; possibilities: ${prefixed.map((s) => `'--${s.long}'`).join(' ')}\nIllegal argument "?"`);
      }
      const spec = prefixed[0];
      if (spec.arg === 'none' && eq >= 0) throw new UsageError(`repcache: option '--${spec.long}' doesn't allow an argument\nIllegal argument "?"`);
      let value: string | null = eq >= 0 ? a.slice(eq + 1) : null;
      if (spec.arg === 'required' && value === null) {
        if (i + 1 >= argv.length) throw new UsageError(`repcache: option '--${spec.long}' requires an argument\nIllegal argument "?"`);
        value = argv[++i];
      }
      yield { spec, value };
      continue;
    }
    if (a.startsWith('-') && a.length > 1) {
      for (let j = 1; j < a.length; j++) {
        const spec = BY_SHORT.get(a[j]);
        if (!spec) throw new UsageError(`repcache: invalid option -- '${a[j]}'\nIllegal argument "?"`);
        if (spec.arg !== 'required') { yield { spec, value: null }; continue; }
        let value = a.slice(j + 1);
        if (value === '') {
          if (i + 1 >= argv.length) throw new UsageError(`repcache: option requires an argument -- '${a[j]}'\nIllegal argument "?"`);
          value = argv[++i];
        }
        yield { spec, value };
        break;
      }
      continue;
    }
    throw new UsageError(`repcache: unexpected argument '${a}'`);
  }
}

const INT = /^[+-]?\d+$/;
const FLOAT = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

function int(value: string, message: string, exitCode = 1): number {
  if (!INT.test(value.trim())) throw new UsageError(message, exitCode);
  return Number(value);
}

/** -p / -U: 0 is off, -1 a port the system picks (memcached's ephemeral port, see MEMCACHED_PORT_FILENAME). */
function port(value: string): number {
  const n = INT.test(value.trim()) ? Number(value) : NaN;
  if (!(n >= -1 && n <= 65535)) throw new UsageError(`ERROR: Invalid port number ${value}.`, EX_USAGE);
  return n;
}

/** memcached's default -t. */
export const DEFAULT_THREADS = 4;

/**
 * -t when none is given: memcached's 4, but no more than the CPUs this process may use (`cpus`:
 * os.availableParallelism(), which follows taskset and a container's CPU limit). Workers beyond the CPUs add memory and CPU
 * per request, not throughput (threadsOverCpusWarning); on one CPU this is the single-thread path.
 */
export function defaultThreads(cpus: number): number {
  return Math.max(1, Math.min(DEFAULT_THREADS, Math.floor(cpus)));
}

/**
 * The warning for -t N above the CPUs this process may use (`cpus`: os.availableParallelism()), else null. The
 * threads beyond the CPUs serve no more requests, and each request then costs more CPU: every event loop sleeps and
 * wakes for fewer of them (README, Threads; measured at -t 4 on 2 CPUs, it is not the store lock's doing).
 */
export function threadsOverCpusWarning(threads: number, cpus: number): string | null {
  if (threads <= cpus) return null;
  return `WARNING: -t ${threads} is more worker threads than the ${cpus} CPU${cpus === 1 ? '' : 's'} this process may use; the threads beyond them add CPU per request, not throughput.`;
}

/** memcached's -I: bytes, or a k/m suffix. */
export function parseItemSize(value: string): number {
  const m = /^(\d+)([kKmM]?)$/.exec(value.trim());
  if (!m) throw new UsageError(`Invalid value for -I: ${value} (bytes, or with a k or m suffix: 1k..1024m)`, EX_USAGE);
  const unit = m[2].toLowerCase();
  return Number(m[1]) * (unit === 'k' ? 1024 : unit === 'm' ? 1024 * 1024 : 1);
}

function subopt(config: ServerConfig, token: string): void {
  const eq = token.indexOf('=');
  const name = eq < 0 ? token : token.slice(0, eq);
  const value = eq < 0 ? null : token.slice(eq + 1);
  const known = KNOWN_SUBOPTIONS.has(name) || REPLICATION_SUBOPTIONS.has(name) || name.startsWith('ext_') || SSL_SUBOPTIONS.has(name);
  if (!known) throw new UsageError(`Illegal suboption "${token}"`);
  config.extended[name] = name === 'repl_allow' ? addAllow(config, value) : value ?? true;
  const need = (what = `Missing numeric argument for ${name}`): string => {
    if (value === null) throw new UsageError(what);
    return value;
  };
  const num = (fallback = NaN) => {
    const v = need();
    return FLOAT.test(v.trim()) ? Number(v) : fallback;
  };
  switch (name) {
    case 'hashpower': {
      const n = num(0);
      if (!Number.isInteger(n) || n < 12) throw new UsageError(`Initial hashtable multiplier of ${Math.trunc(n)} is too low`);
      if (n > 32) throw new UsageError(`Initial hashtable multiplier of ${n} is too high\nChoose a value based on "STAT hash_power_level" from a running instance`);
      config.hashPower = n;
      break;
    }
    case 'slab_automove': {
      const n = num();
      if (!(Number.isInteger(n) && n >= 0 && n <= 2)) throw new UsageError('slab_automove must be between 0 and 2');
      break;
    }
    case 'slab_automove_ratio': {
      const n = num();
      if (!(n > 0 && n < 1)) throw new UsageError('slab_automove_ratio must be > 0 and < 1');
      break;
    }
    case 'slab_automove_window': {
      const n = num();
      if (!(n > 2)) throw new UsageError('slab_automove_window must be > 2');
      break;
    }
    case 'tail_repair_time': {
      const n = num();
      if (!(n >= 10)) throw new UsageError('Cannot set tail_repair_time to less than 10 seconds');
      break;
    }
    case 'hash_algorithm':
      if (!['jenkins', 'murmur3', 'xxh3'].includes(need('Missing hash_algorithm argument'))) {
        throw new UsageError('Unknown hash_algorithm option (jenkins, murmur3, xxh3)');
      }
      break;
    case 'lru_crawler': config.lruCrawler = true; break;
    case 'no_lru_crawler': config.lruCrawler = false; break;
    case 'lru_crawler_sleep': {
      const n = num();
      if (!(n >= 0 && n <= 1_000_000)) throw new UsageError('LRU crawler sleep must be between 0 and 1 second');
      break;
    }
    case 'lru_crawler_tocrawl':
      if (!INT.test(need())) throw new UsageError('lru_crawler_tocrawl takes a numeric 32bit value');
      break;
    case 'hot_lru_pct':
    case 'warm_lru_pct': {
      const n = num();
      if (!(n > 1 && n < 80)) throw new UsageError(`${name} must be > 1 and < 80`);
      break;
    }
    case 'hot_max_factor':
    case 'warm_max_factor':
      if (!(num() > 0)) throw new UsageError(`${name} must be > 0`);
      break;
    case 'idle_timeout':
      config.idleTimeout = int(need(), `could not parse argument to idle_timeout`);
      if (config.idleTimeout < 0) throw new UsageError('could not parse argument to idle_timeout');
      break;
    case 'output_limit': {
      const m = /^(\d+)([kKmM]?)$/.exec(need().trim());
      const unit = m?.[2].toLowerCase();
      const n = m ? Number(m[1]) * (unit === 'k' ? 1024 : unit === 'm' ? 1024 * 1024 : 1) : NaN;
      if (!(n >= 1024 && n <= 1024 * 1024 * 1024)) throw new UsageError('output_limit must be 1k..1024m (bytes, or with a k or m suffix)');
      config.outputLimit = n;
      break;
    }
    case 'read_timeout':
    case 'drain_timeout': {
      const n = int(need(), `could not parse argument to ${name}`);
      if (n < 0) throw new UsageError(`could not parse argument to ${name}`);
      if (name === 'read_timeout') config.readTimeout = n;
      else config.drainTimeout = n;
      break;
    }
    case 'watcher_logbuf_size':
    case 'worker_logbuf_size':
    case 'read_buf_mem_limit':
    case 'temporary_ttl':
      int(need(), `could not parse argument to ${name}`);
      break;
    case 'slab_chunk_max':
      config.slabChunkMax = int(need('Missing slab_chunk_max argument'), 'could not parse argument to slab_chunk_max');
      break;
    case 'metrics_listen':
      try {
        parseMetricsAddress(need('Missing metrics_listen argument (ADDRESS:PORT)'));
      } catch (e) {
        if (e instanceof MetricsAddressError) throw new UsageError(e.message);
        throw e;
      }
      break;
    case 'track_sizes': config.trackSizes = true; break;
    case 'no_modern': config.lruCrawler = false; break;
    case 'resp_obj_mem_limit': break;
    case 'ssl_chain_cert': case 'ssl_key': case 'ssl_ca_cert': case 'ssl_ciphers':
      need(`Missing ${name} argument`);
      break;
    case 'ssl_verify_mode':
    case 'ssl_min_version': {
      const n = int(need(`Missing ${name} argument`), `could not parse argument to ${name}`);
      if (!(n >= 0 && n <= 3)) throw new UsageError(`Invalid ${name}. Use help to see valid options.`);
      config.extended[name] = String(n);
      break;
    }
    case 'ssl_keyformat':
      // PEM only: node:tls reads no DER keys or engines
      if (int(need('Missing ssl_keyformat argument'), 'could not parse argument to ssl_keyformat') !== 1) {
        throw new UsageError('repcache: ssl_keyformat: only PEM (1) is supported');
      }
      break;
    case 'ssl_wbuf_size':
      if (int(need('Missing ssl_wbuf_size argument'), 'could not parse argument to ssl_wbuf_size') < 0) throw new UsageError('could not parse argument to ssl_wbuf_size');
      break;
  }
}

/** repl_allow accumulates: every -o repl_allow= and --replication-allow adds entries. */
function addAllow(config: ServerConfig, value: string | null): string | true {
  const prev = config.extended.repl_allow;
  if (value === null) return prev ?? true;
  return typeof prev === 'string' && prev !== '' ? `${prev};${value}` : value;
}

/** repcached's -X: `port`, or `listen:connect` (listen on one port, dial peers on the other). */
function replicationPorts(value: string): { port: number; connectPort?: number } {
  const m = /^\s*(\d+)(?::(\d+))?\s*$/.exec(value);
  const ok = (n: number) => n > 0 && n <= 65535;
  if (!m || !ok(Number(m[1])) || (m[2] !== undefined && !ok(Number(m[2])))) throw new UsageError(`ERROR: Invalid replication port number ${value}.`, EX_USAGE);
  return m[2] === undefined ? { port: Number(m[1]) } : { port: Number(m[1]), connectPort: Number(m[2]) };
}

const LRU_PCT_DEFAULTS = { hot_lru_pct: 20, warm_lru_pct: 40 };

/** `cpus`: the CPUs this process may use, for the default -t and the warning when -t is above them. */
export function parseRepcacheArgs(argv: readonly string[], cpus: number = availableParallelism()): RepcacheOptions {
  const config: ServerConfig = { ...defaultServerConfig, listen: [], extended: {} };
  const replication: RepcacheOptions['replication'] = { peers: [], port: DEFAULT_REPLICATION_PORT };
  const warnings: string[] = [];
  let action: RepcacheOptions['action'] = 'run';
  let itemSizeMax = defaultServerConfig.pageSize;
  let memoryLimit = defaultServerConfig.memoryLimitMB;
  let threadsGiven = false;

  for (const { spec, value: raw } of getopt(argv)) {
    const value = raw ?? '';
    switch (spec.short) {
      case 'a':
        if (!/^[0-7]+$/.test(value)) throw new UsageError(`Invalid value for unix socket mask (octal): ${value}`, EX_USAGE);
        config.unixMask = parseInt(value, 8);
        break;
      case 'A': config.shutdownEnabled = true; break;
      case 'p': config.port = port(value); break;
      case 's': config.unixSocket = value; break;
      case 'U': config.udpPort = port(value); break;
      case 'm':
        memoryLimit = int(value, `Invalid value for memory limit (megabytes): ${value}`, EX_USAGE);
        if (memoryLimit < 0) throw new UsageError(`Invalid value for memory limit (megabytes): ${value}`, EX_USAGE);
        break;
      case 'M': config.evictions = false; break;
      case 'c': {
        const n = INT.test(value.trim()) ? Number(value) : 0;
        if (n <= 0) throw new UsageError('Maximum connections must be greater than 0');
        config.maxConnections = n;
        break;
      }
      case 'v': config.verbosity++; break;
      case 'h': action = 'help'; break;
      case 'i': action = 'license'; break;
      case 'V': action = 'version'; break;
      case 'd': config.daemonize = true; break;
      case 'l': config.listen.push(...value.split(',').filter((s) => s !== '')); break;
      case 'u': config.user = value; break;
      case 'P': config.pidFile = value; break;
      case 'f': {
        const n = FLOAT.test(value.trim()) ? Number(value) : 0;
        if (!(n > 1)) throw new UsageError('Factor must be greater than 1');
        config.growthFactor = n;
        break;
      }
      case 'n': {
        const n = INT.test(value.trim()) ? Number(value) : 0;
        if (n <= 0) throw new UsageError('Chunk size must be greater than 0');
        config.minChunk = n;
        break;
      }
      case 't': {
        const n = INT.test(value.trim()) ? Number(value) : 0;
        if (n <= 0) throw new UsageError('Number of threads must be greater than 0');
        if (n > 64) warnings.push('WARNING: Setting a high number of workerthreads is not recommended.\n Set this value to the number of cores in your machine or less.');
        config.threads = n;
        threadsGiven = true;
        break;
      }
      case 'D':
        if (value === '') throw new UsageError('No delimiter specified');
        config.statKeyPrefix = value[0];
        config.detailEnabled = true;
        break;
      case 'L': config.largePages = true; break;
      case 'R': {
        const n = INT.test(value.trim()) ? Number(value) : 0;
        if (n <= 0) throw new UsageError('Number of requests per event must be greater than 0');
        config.reqsPerEvent = n;
        break;
      }
      case 'C': config.casEnabled = false; break;
      case 'b': {
        const n = INT.test(value.trim()) ? Number(value) : NaN;
        if (!(n >= 0)) throw new UsageError(`Invalid value for listen backlog: ${value}`, EX_USAGE);
        config.backlog = n;
        break;
      }
      case 'B':
        if (value !== 'auto' && value !== 'ascii' && value !== 'binary') {
          throw new UsageError(`Invalid value for binding protocol: ${value}\n -- should be one of auto, binary, or ascii`, EX_USAGE);
        }
        config.protocol = value;
        break;
      case 'I': itemSizeMax = parseItemSize(value); break;
      case 'F': config.flushEnabled = false; break;
      case '\0dump': config.dumpEnabled = false; break;
      case 'o':
        for (const token of value.split(',')) if (token !== '') subopt(config, token);
        break;
      case '\0rsecret': config.extended.repl_secret = value; break;
      case '\0rsecretfile': config.extended.repl_secret_file = value; break;
      case '\0rsync': config.extended.repl_sync = true; break;
      case '\0rallow': config.extended.repl_allow = addAllow(config, value); break;
      case '\0peer':
      case 'x': {
        if (value === '' || /\s/.test(value)) throw new UsageError(`Invalid replication peer: '${value}'`, EX_USAGE);
        replication.peers.push(value);
        break;
      }
      case 'q': config.extended.repl_queue = value; break; // repcached's queue limit: our log size
      case 'X': {
        const { port: listenPort, connectPort } = replicationPorts(value);
        replication.port = listenPort;
        replication.portGiven = true;
        if (connectPort === undefined) delete replication.connectPort;
        else replication.connectPort = connectPort;
        break;
      }
      case 'S': config.saslEnabled = true; break;
      case 'Y':
        if (value === '') throw new UsageError('repcache: -Y needs a file of user:password lines', EX_USAGE);
        config.authFile = value;
        break;
      case 'Z': config.sslEnabled = true; break;
      case 'e':
        if (value === '') throw new UsageError('repcache: -e needs a file name', EX_USAGE);
        config.memoryFile = value;
        break;
      case 'N':
        throw new UsageError(`repcache: -${spec.short} (--${spec.long}) is not supported`, EX_USAGE);
      // -k (mlockall) and -r (core dumps) have no effect in a Node process; W: no `watch` command to disable.
      case 'k': case 'r': case 'W': break;
    }
  }

  if (!threadsGiven) config.threads = defaultThreads(cpus);
  else {
    // a -t given is taken as given, with a word when it is above the CPUs (the default never is)
    const overCpus = threadsOverCpusWarning(config.threads, cpus);
    if (overCpus !== null) warnings.push(overCpus);
  }
  if (action !== 'run') return { action, config, replication, warnings };

  const ext = config.extended;
  const pct = (k: keyof typeof LRU_PCT_DEFAULTS) => (typeof ext[k] === 'string' ? Number(ext[k]) : LRU_PCT_DEFAULTS[k]);
  if (pct('hot_lru_pct') + pct('warm_lru_pct') > 80) throw new UsageError('hot_lru_pct + warm_lru_pct cannot be more than 80% combined', EX_USAGE);

  if (config.saslEnabled) {
    if (config.udpPort !== 0) throw new UsageError('ERROR: Cannot enable UDP while using binary SASL authentication.', EX_USAGE);
    // memcached reads SASL users from Cyrus SASL (sasldb, SASL_CONF_PATH); repcache reads them from -Y's file
    if (config.authFile === null) {
      throw new UsageError('repcache: -S needs -Y <auth_file> (user:password lines): SASL users are read from that file, not from a sasldb', EX_USAGE);
    }
  }
  if (config.sslEnabled && config.port === 0 && !config.unixSocket) throw new UsageError('ERROR: You cannot enable SSL without a TCP port.', EX_USAGE);
  if (!config.sslEnabled && config.listen.some((l) => l.startsWith('notls:'))) {
    throw new UsageError("'notls' option is valid only when SSL is enabled", EX_OSERR);
  }
  if (config.authFile !== null && config.udpPort !== 0) throw new UsageError('Cannot use UDP with ascii authentication enabled (-U 0 to disable)', EX_USAGE);

  config.memoryLimitMB = memoryLimit;
  config.pageSize = itemSizeMax;
  if (itemSizeMax < 1024) throw new UsageError('Item max size cannot be less than 1024 bytes.', EX_USAGE);
  if (itemSizeMax > (memoryLimit * 1024 * 1024) / 2) throw new UsageError('Cannot set item size limit higher than 1/2 of memory max.', EX_USAGE);
  if (itemSizeMax > 1024 * 1024 * 1024) throw new UsageError('Cannot set item size limit higher than a gigabyte.', EX_USAGE);
  if (config.slabChunkMax <= 0) throw new UsageError(`slab size ${config.slabChunkMax} is out of valid range`, EX_USAGE);
  if (config.slabChunkMax > itemSizeMax) {
    throw new UsageError(`slab_chunk_max (bytes: ${config.slabChunkMax}) cannot be larger than -I (item_size_max ${itemSizeMax})`, EX_USAGE);
  }
  if (itemSizeMax % config.slabChunkMax !== 0) {
    throw new UsageError(`-I (item_size_max: ${itemSizeMax}) must be evenly divisible by slab_chunk_max (bytes: ${config.slabChunkMax})`, EX_USAGE);
  }
  if ((1024 * 1024) % config.slabChunkMax !== 0) {
    throw new UsageError(`slab_chunk_max (bytes: ${config.slabChunkMax}) must divide evenly into ${1024 * 1024} (slab_page_size)`, EX_USAGE);
  }
  return { action, config, replication, warnings };
}

export function usage(): string {
  return `${VERSION_LINE}
-p, --port=<num>          TCP port to listen on (default: 11211, 0 = off)
-U, --udp-port=<num>      UDP port to listen on (default: 0, off)
-s, --unix-socket=<file>  UNIX socket to listen on (disables network support)
-a, --unix-mask=<mask>    access mask for UNIX socket, in octal (default: 700)
-A, --enable-shutdown     enable ascii "shutdown" command
-l, --listen=<addr>       interface(s) to listen on, comma separated (default: INADDR_ANY)
-d, --daemon              run as a daemon
-r, --enable-coredumps    accepted, no effect
-u, --user=<user>         assume identity of <username> after binding (only when run as root)
-m, --memory-limit=<num>  item memory in megabytes (default: 64)
-M, --disable-evictions   return error on memory exhausted instead of evicting
-c, --conn-limit=<num>    max simultaneous connections (default: 1024)
-k, --lock-memory         accepted, no effect
-v, --verbose             verbose (print errors/warnings while in event loop)
-vv                       very verbose (also print client commands/responses)
-vvv                      extremely verbose (internal state transitions)
-h, --help                print this help and exit
-i, --license             print the license and exit
-V, --version             print version and exit
-P, --pidfile=<file>      save PID in <file>, removed on exit
-f, --slab-growth-factor=<num> chunk size growth factor (default: 1.25)
-n, --slab-min-size=<bytes> min space used for key+value+flags (default: 48)
-L, --enable-largepages   preallocate item memory
-e, --memory-file=<file>  warm restart: SIGUSR1 saves the items to <file> and exits; the next
                          start with the same memory options loads them
-D <char>                 stats-prefix delimiter; turns on "stats detail" (default: ":")
-t, --threads=<num>       number of threads to use (default: 4, fewer if fewer CPUs)
-R, --max-reqs-per-event  maximum number of requests per event (default: 20)
-C, --disable-cas         disable use of CAS
-b, --listen-backlog=<num> set the backlog queue limit (default: 1024)
-B, --protocol=<name>     protocol - one of ascii, binary, or auto (default: auto-negotiate)
-I, --max-item-size=<num> adjusts max item size (default: 1m, min: 1k, max: 1024m)
-S, --enable-sasl         require SASL (PLAIN) authentication on the binary protocol,
                          against the -Y file (needs -Y; no UDP)
-Y, --auth-file=<file>    require authentication: user:password lines; a text client
                          first sends "set <any> 0 0 <n>" with "user password" as data
-Z, --enable-ssl          TLS on the TCP port(s): -o ssl_chain_cert=<pem>,ssl_key=<pem>
                          (-l notls:<addr> keeps a listener in plain text)
-F, --disable-flush-all   disable flush_all command
    --disable-dumping     disable stats cachedump and lru_crawler metadump
                          (memcached's -X; in repcache -X is the replication port)
-W, --disable-watch       accepted, no effect
-o, --extended            comma separated list of memcached's extended options
                          (hashpower, slab_chunk_max, track_sizes, no_lru_crawler, idle_timeout, ...)
TLS (-Z) options, as memcached's:
-o ssl_chain_cert=<pem>               certificate chain (the key may be in it too)
-o ssl_key=<pem>                      private key
-o ssl_ca_cert=<pem>                  CA of acceptable client certificates
-o ssl_verify_mode=<0..3>             client certificates: 0 none, 1 request, 2 require, 3 once
-o ssl_min_version=<0..3>             TLS 1.0, 1.1, 1.2 (default), 1.3
-o ssl_ciphers=<list>                 OpenSSL cipher list (TLS 1.2 and below)
-o ssl_session_cache                  server-side session cache (counted as ssl_new_sessions)
Limits on one client (repcache's own -o options):
-o output_limit=<bytes>               pending replies above which a client's requests wait (default: 256k)
-o read_timeout=<s>                   close a connection whose command takes longer to arrive (default: 60, 0 = off)
-o drain_timeout=<s>                  close a connection that leaves its replies unread this long (default: 30, 0 = off)
Metrics (repcache's own):
-o metrics_listen=<addr:port>         serve Prometheus metrics on http://addr:port/metrics (default: off)
Replication (repcached compatible):
-x <ip_addr>  hostname or IP address of peer repcached
-X <num:num>  TCP port number for replication. <listen:connect> (default: ${DEFAULT_REPLICATION_PORT})
-x, --replication-peer=<host[:port]>  peer repcache to replicate with (repeatable: one per peer)
-X, --replication-port=<num[:num]>    port to listen on for peers[:port to dial them on]; two nodes on
                                      one host may share it (the second one dials the first)
    --peer=<host[:port]>              same as -x
-q <num>                              repcached's queue limit: same as -o repl_queue=<num>
    --replication-secret=<s>          shared secret peers must prove (or -o repl_secret=<s>)
    --replication-secret-file=<path>  read the secret from a file (or -o repl_secret_file=<path>);
                                      required when a peer is not on loopback
    --replication-allow=<addr[/bits]> also accept peers from here (repeatable, or -o repl_allow=A;B)
    --replication-sync                answer writes only once a peer has them (or -o repl_sync)
-o repl_sync_timeout=<ms>             longest wait for that acknowledgement (default: 1000)
-o repl_node_id=<1..1023>             version node id (default: random per start)
-o repl_queue=<n>                     outbound log entries before a full resync (default: 262144)
-o repl_join_timeout=<ms>             serve without a complete copy after this long, reporting
                                      replication_state partial (default: 15000)
-o repl_complete                      start complete: serve at once and act as a complete source,
                                      even empty (bootstrap a cluster, or end a partial state)
-o repl_listen=<addr>                 address of the replication port (default: the -l addresses)
-o repl_tls_cert=<pem>,repl_tls_key=<pem>,repl_tls_ca=<pem>
                                      mutual TLS between peers (certificates signed by that CA)
-o repl_insecure                      allow peers off loopback without a secret or TLS (not advised)
`;
}

export const LICENSE = `${VERSION_LINE}
MIT License. repcache reimplements the memcached protocol (memcached is BSD licensed,
Copyright (c) 2003, Danga Interactive, Inc.) and repcached's replication model.
`;
