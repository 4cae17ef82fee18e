import { memcachedItemTotal } from '../cache/layout.ts';
import type { OtherCommand } from '../proto/text/commands.ts';
import type { DispatchHost } from './host.ts';
import { Replies } from '../proto/text/replies.ts';
import { parseWatchFlags } from './watch.ts';
import type { OutBuffer } from '../net/out-buffer.ts';

const SCAN_BATCH = 1024;

/** memcached's uri_encode: everything but unreserved characters becomes %XX. */
function uriEncode(key: Buffer): string {
  let s = '';
  for (const c of key) {
    const unreserved = (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x2d || c === 0x2e || c === 0x5f || c === 0x7e;
    s += unreserved ? String.fromCharCode(c) : `%${c.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return s;
}

/**
 * `lru_crawler metadump all|<ids>|hash`: one line per live item, as memcached prints it.
 * la (last access) and fetch are not tracked by the store: la is reported as now, fetch as no.
 */
function metadump(args: string[], out: OutBuffer, host: DispatchHost): void {
  if (!host.config.dumpEnabled) return out.bytes(Replies.METADUMP_DISABLED);
  const which = args[0];
  if (which === undefined) return out.bytes(Replies.ERROR);
  const classes = which === 'all' || which === 'hash' ? null : new Set(which.split(',').map(Number));
  if (classes && [...classes].some((c) => !Number.isInteger(c) || c < 1 || c > 63)) {
    out.latin1('BADCLASS invalid class id\r\n');
    return;
  }
  const store = host.store;
  const now = Math.floor(Date.now() / 1000);
  let cursor = 0;
  do {
    cursor = store.scan(cursor, SCAN_BATCH, (h) => {
      const key = store.itemKey(h);
      const flags = store.itemFlags(h);
      const size = memcachedItemTotal(key.length, store.itemValueLength(h), flags, host.config.casEnabled);
      const cls = store.slabClassFor(size);
      if (classes && !classes.has(cls)) return;
      const ttl = store.itemTtl(h);
      out.latin1(`key=${uriEncode(key)} exp=${ttl === 0 ? -1 : now + ttl} la=${now} cas=${store.itemCas(h)} fetch=no cls=${cls} size=${size}\n`);
    });
  } while (cursor !== 0);
  out.bytes(Replies.END);
}

/** memcached's safe_strtoul: a decimal that fits 64 bits, cut to 32; a minus sign is refused. */
export function strtoul32(s: string | undefined): number | null {
  if (s === undefined || !/^\+?\d+$/.test(s)) return s !== undefined && /^-0*$/.test(s) ? 0 : null;
  const v = BigInt(s);
  return v > 0xffffffffffffffffn ? null : Number(v & 0xffffffffn);
}

/** memcached's safe_strtol into an int32_t: a decimal that fits 64 bits, cut to 32 bits. */
export function strtol32(s: string | undefined): number | null {
  if (s === undefined || !/^[+-]?\d+$/.test(s)) return null;
  const v = BigInt(s);
  return v > 0x7fffffffffffffffn || v < -0x8000000000000000n ? null : Number(BigInt.asIntN(32, v));
}

/** memcached's safe_strtod. */
function strtod(s: string | undefined): number | null {
  if (s === undefined || !/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(s)) return null;
  return Number(s);
}

/** memcached's set_noreply_maybe: the last token is `noreply`. */
const noreply = (tokens: string[]): boolean => tokens[tokens.length - 1] === 'noreply';

/** memcached refuses a new limit under 8 MB, and reads one over 10^9 as bytes given by mistake. */
const MEMLIMIT_MIN_MB = 8;
const MEMLIMIT_MAX_MB = 1_000_000_000;

/** `cache_memlimit MB [noreply]` */
function cacheMemlimit(tokens: string[], out: OutBuffer, host: DispatchHost): void {
  if (tokens.length < 1 || tokens.length > 2) return out.bytes(Replies.ERROR);
  const quiet = noreply(tokens);
  const reply = (line: string) => { if (!quiet) out.latin1(`${line}\r\n`); };
  const mb = strtoul32(tokens[0]);
  if (mb === null) return reply('ERROR');
  if (mb < MEMLIMIT_MIN_MB) return reply('MEMLIMIT_TOO_SMALL cannot set maxbytes to less than 8m');
  if (mb > MEMLIMIT_MAX_MB) return reply('MEMLIMIT_ADJUST_FAILED input value is megabytes not bytes');
  if (!host.store.setMemoryLimit(mb * 1024 * 1024)) return reply('MEMLIMIT_ADJUST_FAILED out of bounds or unable to adjust');
  host.config.memoryLimitMB = mb;
  host.settingsChanged();
  reply('OK');
}

const REASSIGN_REPLIES = {
  OK: 'OK',
  SAME: 'SAME src and dst class are identical',
  BADCLASS: 'BADCLASS invalid src or dst class id',
  NOSPARE: 'NOSPARE source class has no spare pages',
} as const;

/** `slabs reassign SRC DST`, `slabs automove 0|1|2 [noreply]`, `slabs automove ratio R` */
function slabs(tokens: string[], out: OutBuffer, host: DispatchHost): void {
  const [sub, a, b] = tokens;
  if (sub === 'reassign' && tokens.length === 3) {
    if ('no_slab_reassign' in host.config.extended) return out.latin1('CLIENT_ERROR slab reassignment disabled\r\n');
    const src = strtol32(a);
    const dst = strtol32(b);
    if (src === null || dst === null) return out.bytes(Replies.BAD_FORMAT);
    out.latin1(`${REASSIGN_REPLIES[host.store.reassignSlabPage(src, dst)]}\r\n`);
    return;
  }
  if (sub !== 'automove' || tokens.length < 2) return out.bytes(Replies.ERROR);
  const quiet = noreply(tokens);
  const reply = (line: Buffer) => { if (!quiet) out.bytes(line); };
  if (a === 'ratio') {
    const ratio = strtod(b);
    if (tokens.length < 3 || ratio === null) return reply(Replies.ERROR);
    host.config.extended.slab_automove_ratio = ratio.toFixed(2);
    host.settingsChanged();
    return reply(Replies.OK);
  }
  const level = strtoul32(a);
  if (level === null) return reply(Replies.BAD_FORMAT);
  if (level > 2) return reply(Replies.ERROR);
  host.config.extended.slab_automove = String(level);
  host.store.setSlabAutomove(level);
  host.settingsChanged();
  reply(Replies.OK);
}

/** `lru tune HOT WARM HOT_FACTOR WARM_FACTOR`, `lru mode flat|segmented`, `lru temp_ttl TTL` (settings only: see README). */
function lru(tokens: string[], out: OutBuffer, host: DispatchHost): void {
  if (tokens.length < 1) return out.bytes(Replies.ERROR);
  const quiet = noreply(tokens);
  const reply = (line: string) => { if (!quiet) out.latin1(`${line}\r\n`); };
  const x = host.config.extended;
  const maintainer = !('no_lru_maintainer' in x);
  const [sub, a, b, c, d] = tokens;
  if (sub === 'tune' && tokens.length >= 5) {
    const hot = strtoul32(a);
    const warm = strtoul32(b);
    const hotFactor = strtod(c);
    const warmFactor = strtod(d);
    if (hot === null || warm === null || hotFactor === null || warmFactor === null) return reply('ERROR');
    if (hot + warm > 80) return reply('ERROR hot and warm pcts must not exceed 80');
    if (warmFactor <= 0 || hotFactor <= 0) return reply('ERROR hot/warm age factors must be greater than 0');
    x.hot_lru_pct = String(hot);
    x.warm_lru_pct = String(warm);
    x.hot_max_factor = hotFactor.toFixed(2);
    x.warm_max_factor = warmFactor.toFixed(2);
    host.settingsChanged();
    return reply('OK');
  }
  if (sub === 'mode' && tokens.length >= 2 && maintainer) {
    if (a === 'flat') x.no_modern = true;
    else if (a === 'segmented') delete x.no_modern;
    else return reply('ERROR');
    host.settingsChanged();
    return reply('OK');
  }
  if (sub === 'temp_ttl' && tokens.length >= 2 && maintainer) {
    const ttl = strtol32(a);
    if (ttl === null) return reply('ERROR');
    if (ttl < 0) {
      delete x.temporary_ttl;
    } else {
      x.temporary_ttl = String(ttl);
    }
    host.settingsChanged();
    return reply('OK');
  }
  reply('ERROR');
}

/** memcached's lru_crawler_crawl class list: `all`, or class ids 1..63 separated by commas; null if one is not. */
function crawlClasses(arg: string): number | null {
  if (arg === 'all') return 63;
  let n = 0;
  for (const part of arg.split(',')) {
    if (part === '') continue;
    const id = strtoul32(part);
    if (id === null || id < 1 || id > 63) return null;
    n++;
  }
  return n;
}

/** Servers whose last `lru_crawler crawl` counts as running until the end of this event-loop turn. */
const crawling = new WeakSet<DispatchHost>();

const CRAWLER_DISABLED = 'CLIENT_ERROR lru crawler disabled\r\n';

/** `lru_crawler enable|disable|crawl CLASSES|metadump CLASSES|sleep US|tocrawl N` */
function lruCrawler(tokens: string[], out: OutBuffer, host: DispatchHost): void {
  const [sub, arg] = tokens;
  const config = host.config;
  if (tokens.length === 2) {
    switch (sub) {
      case 'crawl':
        if (!config.lruCrawler) return out.latin1(CRAWLER_DISABLED);
        const classes = crawlClasses(arg);
        if (classes === null) return out.latin1('BADCLASS invalid class id\r\n');
        if (crawling.has(host)) return out.latin1('BUSY currently processing crawler request\r\n');
        if (classes === 0) return out.latin1('NOTSTARTED no items to crawl\r\n');
        host.counters.lruCrawlerStarts++;
        host.store.reclaimExpired(Number.MAX_SAFE_INTEGER);
        // memcached's crawl runs in its own thread, and a crawl asked for in the same breath finds it busy
        crawling.add(host);
        setImmediate(() => crawling.delete(host));
        return out.bytes(Replies.OK);
      case 'metadump':
        if (!config.lruCrawler) return out.latin1(CRAWLER_DISABLED);
        if (!config.dumpEnabled) return out.bytes(Replies.METADUMP_DISABLED);
        // memcached streams the dump on the connection itself: not after replies still waiting to be sent
        if (out.length > 0) return out.latin1('ERROR cannot pipeline other commands before metadump\r\n');
        return metadump([arg], out, host);
      case 'tocrawl': {
        const n = strtoul32(arg);
        if (n === null) return out.bytes(Replies.BAD_FORMAT);
        config.extended.lru_crawler_tocrawl = String(n);
        host.settingsChanged();
        return out.bytes(Replies.OK);
      }
      case 'sleep': {
        const n = strtoul32(arg);
        if (n === null) return out.bytes(Replies.BAD_FORMAT);
        if (n > 1_000_000) return out.latin1('CLIENT_ERROR sleep must be one second or less\r\n');
        config.extended.lru_crawler_sleep = String(n);
        host.settingsChanged();
        return out.bytes(Replies.OK);
      }
    }
  } else if (tokens.length === 1) {
    if (sub === 'enable') {
      if (config.lruCrawler) return out.latin1('ERROR failed to start lru crawler thread\r\n');
      config.lruCrawler = true;
      host.settingsChanged();
      return out.bytes(Replies.OK);
    }
    if (sub === 'disable') {
      config.lruCrawler = false;
      host.settingsChanged();
      return out.bytes(Replies.OK);
    }
  }
  out.bytes(Replies.ERROR);
}

/** `watch [fetchers|mutations|evictions|connevents ...]`: the connection gets log lines from now on. */
function watch(tokens: string[], out: OutBuffer, host: DispatchHost, conn: unknown): void {
  // memcached hands the connection to its logger thread: not with replies still waiting to be sent
  if (out.length > 0) return out.latin1('ERROR cannot pipeline other commands before watch\r\n');
  const flags = parseWatchFlags(tokens);
  if (flags === null) return out.bytes(Replies.ERROR);
  const started = host.startWatch(conn, flags);
  if (started === 'NOT_A_CONNECTION') return out.bytes(Replies.ERROR);
  if (started === 'TOO_MANY') return out.latin1('WATCHER_TOO_MANY log watcher limit reached\r\n');
  out.bytes(Replies.OK);
}

/** Administrative commands the server answers itself; false for those it does not implement. */
export function handleAdmin(cmd: OtherCommand, out: OutBuffer, host: DispatchHost, conn: unknown = null): boolean {
  switch (cmd.name) {
    case 'watch': watch(cmd.tokens, out, host, conn); return true;
    case 'refresh_certs':
      // memcached answers even with noreply
      out.latin1(host.refreshCerts());
      return true;
    case 'cache_memlimit': cacheMemlimit(cmd.tokens, out, host); return true;
    case 'slabs': slabs(cmd.tokens, out, host); return true;
    case 'lru': lru(cmd.tokens, out, host); return true;
    case 'lru_crawler': lruCrawler(cmd.tokens, out, host); return true;
    default: return false;
  }
}
