import { memcachedItemTotal } from '../cache/layout.ts';
import type { OtherCommand } from '../proto/text/commands.ts';
import type { DispatchHost } from './host.ts';
import { Replies } from '../proto/text/replies.ts';
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

/** Administrative commands the server answers itself; false for those it does not implement. */
export function handleAdmin(cmd: OtherCommand, out: OutBuffer, host: DispatchHost): boolean {
  if (cmd.name === 'refresh_certs') {
    // memcached answers even with noreply
    out.latin1(host.refreshCerts());
    return true;
  }
  if (cmd.name !== 'lru_crawler') return false;
  const [sub, ...rest] = cmd.tokens;
  switch (sub) {
    case 'metadump': metadump(rest, out, host); return true;
    case 'crawl':
    case 'enable':
    case 'disable':
      out.bytes(Replies.OK);
      return true;
    case 'sleep':
    case 'tocrawl':
      out.bytes(rest[0] !== undefined && /^\d+$/.test(rest[0]) ? Replies.OK : Replies.BAD_FORMAT);
      return true;
    default:
      return false;
  }
}
