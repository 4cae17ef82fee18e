/**
 * memcached's `watch`: connections that asked for it get one line per event of the kinds they chose
 * (fetchers, mutations, evictions, connevents), in memcached 1.6.18's format. A watcher that does not read
 * costs at most its buffer: lines that do not fit are dropped and counted, and the next line that fits is
 * preceded by `skipped=N`, as memcached does.
 */
import type { Socket } from 'node:net';

export const WATCH_FETCHERS = 1;
export const WATCH_MUTATIONS = 2;
export const WATCH_EVICTIONS = 4;
export const WATCH_CONNEVENTS = 8;

const FLAG_BY_NAME: Record<string, number> = {
  fetchers: WATCH_FETCHERS,
  mutations: WATCH_MUTATIONS,
  evictions: WATCH_EVICTIONS,
  connevents: WATCH_CONNEVENTS,
  // accepted as memcached accepts them; repcache logs no such events
  rawcmds: 0,
  sysevents: 0,
  proxyreqs: 0,
  proxyevents: 0,
  proxyuser: 0,
};

/** memcached's WATCHER_LIMIT. */
export const MAX_WATCHERS = 20;
/** Room memcached asks for beyond the line itself (for a `skipped=` line). */
const SKIP_LINE_ROOM = 128;

/** The flags of `watch [kinds...]` (fetchers when none is named); null for an unknown kind. */
export function parseWatchFlags(kinds: string[]): number | null {
  if (kinds.length === 0) return WATCH_FETCHERS;
  let flags = 0;
  for (const k of kinds) {
    const f = FLAG_BY_NAME[k];
    if (f === undefined) return null;
    flags |= f;
  }
  return flags;
}

/** memcached's uri_encode of a key in log lines: everything but unreserved characters becomes %XX. */
export function uriEncode(key: Buffer): string {
  let s = '';
  for (const c of key) {
    const unreserved = (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x2d || c === 0x2e || c === 0x5f || c === 0x7e;
    s += unreserved ? String.fromCharCode(c) : `%${c.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return s;
}

export type FetchStatus = 'not_found' | 'found';
export type StoreStatus = 'not_stored' | 'stored' | 'exists' | 'not_found' | 'too_large' | 'no_memory';
export type CloseReason = 'error' | 'normal' | 'idle_timeout' | 'shutdown';

interface Watcher { socket: Socket; flags: number; skipped: number }

export class WatchLog {
  /** The union of every watcher's flags: 0 when nobody watches (the dispatchers check it first). */
  flags = 0;
  /** The connection whose command is being handled (memcached's cfd). */
  cfd = -1;
  /** stats: log_watcher_sent, log_watcher_skipped */
  sent = 0;
  skipped = 0;
  readonly #bufferBytes: number;
  readonly #watchers: Watcher[] = [];
  #gid = 0;

  constructor(bufferBytes: number) {
    this.#bufferBytes = bufferBytes;
  }

  get count(): number {
    return this.#watchers.length;
  }

  /** false when MAX_WATCHERS already watch. */
  add(socket: Socket, flags: number): boolean {
    if (this.#watchers.length >= MAX_WATCHERS) return false;
    const w: Watcher = { socket, flags, skipped: 0 };
    this.#watchers.push(w);
    this.#setFlags();
    socket.once('close', () => {
      this.#watchers.splice(this.#watchers.indexOf(w), 1);
      this.#setFlags();
    });
    return true;
  }

  fetch(key: Buffer, status: FetchStatus, clsid: number, size: number): void {
    if ((this.flags & WATCH_FETCHERS) === 0) return;
    this.#emit(WATCH_FETCHERS, `type=item_get key=${uriEncode(key)} status=${status} clsid=${clsid} cfd=${this.cfd} size=${size}`);
  }

  store(key: Buffer, status: StoreStatus, cmd: string, ttl: number, clsid: number, size: number): void {
    if ((this.flags & WATCH_MUTATIONS) === 0) return;
    this.#emit(WATCH_MUTATIONS, `type=item_store key=${uriEncode(key)} status=${status} cmd=${cmd} ttl=${ttl} clsid=${clsid} cfd=${this.cfd} size=${size}`);
  }

  eviction(key: Buffer, fetched: boolean, ttl: number, lastAccess: number, clsid: number, size: number): void {
    if ((this.flags & WATCH_EVICTIONS) === 0) return;
    this.#emit(WATCH_EVICTIONS, `type=eviction key=${uriEncode(key)} fetch=${fetched ? 'yes' : 'no'} ttl=${ttl} la=${lastAccess} clsid=${clsid} size=${size}`);
  }

  connNew(rip: string, rport: number, transport: string, cfd: number): void {
    if ((this.flags & WATCH_CONNEVENTS) === 0) return;
    this.#emit(WATCH_CONNEVENTS, `type=conn_new rip=${rip} rport=${rport} transport=${transport} cfd=${cfd}`);
  }

  connClose(rip: string, rport: number, transport: string, reason: CloseReason, cfd: number): void {
    if ((this.flags & WATCH_CONNEVENTS) === 0) return;
    this.#emit(WATCH_CONNEVENTS, `type=conn_close rip=${rip} rport=${rport} transport=${transport} reason=${reason} cfd=${cfd}`);
  }

  #setFlags(): void {
    this.flags = this.#watchers.reduce((f, w) => f | w.flags, 0);
  }

  #emit(flag: number, body: string): void {
    const t = performance.timeOrigin + performance.now();
    const sec = Math.floor(t / 1000);
    // memcached prints the microseconds with %d: not zero-padded
    const line = `ts=${sec}.${Math.floor((t - sec * 1000) * 1000)} gid=${++this.#gid} ${body}\n`;
    for (const w of this.#watchers) {
      if ((w.flags & flag) === 0 || w.socket.destroyed) continue;
      if (w.socket.writableLength + line.length + SKIP_LINE_ROOM > this.#bufferBytes) {
        w.skipped++;
        this.skipped++;
        continue;
      }
      if (w.skipped > 0) {
        w.socket.write(`skipped=${w.skipped}\n`);
        w.skipped = 0;
      }
      w.socket.write(line);
      this.sent++;
    }
  }
}
