import type { Draft } from './draft.ts';
import { whereOf, type Token } from './lexer.ts';
import type { CacheDaemon } from './model.ts';
import { table, type Reader, type Table } from './reader.ts';

export const CACHE_DAEMON_DEFAULTS = {
  backoffInitialMs: 100,
  backoffMaxMs: 10_000,
  stableAfterMs: 10_000,
  maxRestarts: 10,
  windowMs: 60_000,
  stopTimeoutMs: 5_000,
  port: 11211,
} as const;

const DAY_MS = 86_400_000;

/**
 * `cache_daemon { command "…" user U restart_backoff I [MAX] restart_limit N [WINDOW] stable_after S
 * stop_timeout S check_port P }` - haved's own block: the cache daemon it supervises.
 */
export function readCacheDaemon(r: Reader, opener: Token, d: Draft): void {
  if (d.cacheDaemon) r.fail(opener, `duplicate cache_daemon block (first defined at ${d.cacheDaemon.where})`);
  const c = readSupervised(r, opener, 'cache_daemon');
  if (c) d.cacheDaemon = c;
}

/** `proxy_daemon { … }`: the same keywords as cache_daemon, for the proxy (repcache-proxy) the VIP fronts. */
export function readProxyDaemon(r: Reader, opener: Token, d: Draft): void {
  if (d.proxyDaemon) r.fail(opener, `duplicate proxy_daemon block (first defined at ${d.proxyDaemon.where})`);
  const c = readSupervised(r, opener, 'proxy_daemon');
  if (c) d.proxyDaemon = c;
}

/** The block's settings, or null when its command was wrong (the error is already recorded). */
function readSupervised(r: Reader, opener: Token, block: 'cache_daemon' | 'proxy_daemon'): CacheDaemon | null {
  const c: CacheDaemon = {
    argv: [],
    user: null,
    restart: {
      backoffInitialMs: CACHE_DAEMON_DEFAULTS.backoffInitialMs,
      backoffMaxMs: CACHE_DAEMON_DEFAULTS.backoffMaxMs,
      stableAfterMs: CACHE_DAEMON_DEFAULTS.stableAfterMs,
      maxRestarts: CACHE_DAEMON_DEFAULTS.maxRestarts,
      windowMs: CACHE_DAEMON_DEFAULTS.windowMs,
      stopTimeoutMs: CACHE_DAEMON_DEFAULTS.stopTimeoutMs,
    },
    checkPort: 0,
    where: whereOf(opener),
  };
  const seen: { command?: Token; keyword?: Token } = {};
  const t: Table = table([
    [
      'command',
      (r, kw) => {
        seen.keyword = kw;
        const { argv, first } = r.commandLine(kw, t, 'a command line (quote it when it has arguments)', 'a program');
        c.argv = argv;
        seen.command = first;
      },
    ],
    ['user', (r, kw) => void (c.user = checkUser(r, r.arg(kw, 'a user name')))],
    [
      'restart_backoff',
      (r, kw) => {
        c.restart.backoffInitialMs = r.timerMs(kw, 1, DAY_MS);
        const max = r.optional(kw, t);
        c.restart.backoffMaxMs = max ? r.timerMsOf(max, kw.text, 1, DAY_MS) : Math.max(c.restart.backoffInitialMs, CACHE_DAEMON_DEFAULTS.backoffMaxMs);
        if (c.restart.backoffMaxMs < c.restart.backoffInitialMs) {
          r.fail(max ?? kw, `restart_backoff: the maximum (${max?.text}) must not be below the initial delay`);
        }
      },
    ],
    [
      'restart_limit',
      (r, kw) => {
        c.restart.maxRestarts = r.int(kw, 1, 1_000_000);
        const window = r.optional(kw, t);
        if (window) c.restart.windowMs = r.timerMsOf(window, kw.text, 1, DAY_MS);
      },
    ],
    ['stable_after', (r, kw) => void (c.restart.stableAfterMs = r.timerMs(kw, 0, DAY_MS))],
    ['stop_timeout', (r, kw) => void (c.restart.stopTimeoutMs = r.timerMs(kw, 1, DAY_MS))],
    ['check_port', (r, kw) => void (c.checkPort = r.port(kw))],
  ]);
  r.block(opener, block, block, t);
  if (!seen.keyword) r.fail(opener, `${block} needs 'command "PROGRAM [ARGS]"'`);
  if (!seen.command) return null; // the command was wrong: already reported
  if (c.checkPort === 0) c.checkPort = portOf(r, seen.command, c.argv, block) ?? CACHE_DAEMON_DEFAULTS.port;
  // A cache with a memory file saves its store on SIGUSR1 (memcached's graceful stop) and restarts warm from it.
  if (block === 'cache_daemon' && hasMemoryFile(c.argv)) c.restart.stopSignal = 'SIGUSR1';
  return c;
}

/** Whether memcached's/repcache's command line names a memory file: -e F, -eF, --memory-file F, --memory-file=F. */
export function hasMemoryFile(argv: readonly string[]): boolean {
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') return false;
    if (a === '-e' || a === '--memory-file') return i + 1 < argv.length;
    if (a.startsWith('--memory-file=') || (a.startsWith('-e') && !a.startsWith('--'))) return true;
  }
  return false;
}

function checkUser(r: Reader, t: Token): string {
  if (!/^[a-z_][a-z0-9_.-]*\$?$|^\d+$/i.test(t.text)) r.fail(t, `user must be a user name or a numeric uid, got "${t.text}"`);
  return t.text;
}

/** The port memcached/repcache would serve on, from -p N, -pN, --port N or --port=N (the last one wins). */
function portOf(r: Reader, command: Token, argv: string[], block: string): number | null {
  let value: string | null = null;
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i];
    if (a === '-p' || a === '--port') value = argv[++i] ?? '';
    else if (a.startsWith('--port=')) value = a.slice('--port='.length);
    else if (/^-p./.test(a)) value = a.slice(2);
  }
  if (value === null) return null;
  const n = /^\d+$/.test(value) ? Number(value) : NaN;
  if (!(n >= 1 && n <= 65535)) {
    r.fail(command, `${block}: the command's port "${value}" is not a port 1..65535 (or set check_port)`);
  }
  return n;
}
