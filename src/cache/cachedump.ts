import { B_NKEY, F_EXPTIME, F_NBYTES, F_NEXT, HEADER_BYTES } from './layout.ts';
import type { LruLists } from './lru.ts';

/** memcached caps a cachedump's output at 2 MB. */
const DUMP_MAX_BYTES = 2 * 1024 * 1024;

/**
 * `stats cachedump` of one class: `ITEM <key> [<bytes> b; <exptime> s]` lines (no CRLF), most
 * recently used first, limit 0 = all. Keys are decoded as latin1 so that encoding the lines as
 * latin1 gives back the key bytes; items `skip` names are left out. `started`: unix time of the clock's zero, for absolute exptimes.
 */
export function cachedumpClass(
  lru: LruLists, bytes: Buffer, u32: Uint32Array, started: number, cls: number, limit: number, skip: (h: number) => boolean,
): string[] {
  const out: string[] = [];
  let budget = DUMP_MAX_BYTES;
  for (let h = lru.head(cls); h !== 0 && (limit === 0 || out.length < limit); h = u32[h * 2 + F_NEXT]) {
    if (skip(h)) continue;
    const exptime = u32[h * 2 + F_EXPTIME];
    const start = h * 8 + HEADER_BYTES;
    const key = bytes.toString('latin1', start, start + bytes[h * 8 + B_NKEY]);
    const line = `ITEM ${key} [${u32[h * 2 + F_NBYTES]} b; ${exptime === 0 ? 0 : exptime + started} s]`;
    budget -= line.length + 2;
    if (budget < 0) break;
    out.push(line);
  }
  return out;
}
