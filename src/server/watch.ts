/**
 * memcached's `watch`: connections that asked for it get one line per event of the kinds they chose
 * (fetchers, mutations, evictions, connevents), in memcached 1.6.18's format. A watcher that does not read
 * costs at most its buffer: lines that do not fit are dropped and counted, and the next line that fits is
 * preceded by `skipped=N`, as memcached does. With repcache -t N a watcher sees the events of every worker, as
 * memcached's logger is global: a worker that has an event some other worker's watcher wants sends it the line
 * (batched per turn of the event loop, through the main thread); nothing is sent while nobody watches.
 */
import type { Socket } from 'node:net';
import type { WorkerSignals } from './worker-signals.ts';

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

/** repcache -t N: how a worker's WatchLog reaches the other workers' watchers. */
export interface WatchPeers {
  readonly signals: WorkerSignals;
  /** This worker's watchers changed: publish the union of their kinds. */
  changed(flags: number): void;
  /** Lines (each with its kind) for worker `to`'s watchers. */
  send(to: number, kinds: number[], lines: string[]): void;
}

interface Outbox { kinds: number[]; lines: string[] }

export class WatchLog {
  /**
   * active[0]: the union of every watcher's kinds (with -t N: on every worker), 0 when nobody watches. The
   * dispatchers check it first: a typed array load, shared with the other workers under -t N.
   */
  readonly active: Int32Array;
  /** The connection whose command is being handled (memcached's cfd). */
  cfd = -1;
  /** stats: log_watcher_sent, log_watcher_skipped */
  sent = 0;
  skipped = 0;
  readonly #bufferBytes: number;
  readonly #watchers: Watcher[] = [];
  #gid = 0;
  readonly #peers: WatchPeers | null;
  /** Lines for other workers, by worker, sent at the end of this turn. */
  readonly #outbox = new Map<number, Outbox>();

  constructor(bufferBytes: number, peers: WatchPeers | null = null) {
    this.#bufferBytes = bufferBytes;
    this.#peers = peers;
    this.active = peers?.signals.active ?? new Int32Array(1);
  }

  get count(): number {
    return this.#watchers.length;
  }

  /** false when MAX_WATCHERS already watch (with -t N: on the whole node, as memcached counts them). */
  add(socket: Socket, flags: number): boolean {
    const signals = this.#peers?.signals;
    if (signals === undefined ? this.#watchers.length >= MAX_WATCHERS : !signals.reserveWatcher(MAX_WATCHERS)) return false;
    const w: Watcher = { socket, flags, skipped: 0 };
    this.#watchers.push(w);
    this.#setFlags();
    socket.once('close', () => {
      this.#watchers.splice(this.#watchers.indexOf(w), 1);
      signals?.releaseWatcher();
      this.#setFlags();
    });
    return true;
  }

  fetch(key: Buffer, status: FetchStatus, clsid: number, size: number): void {
    if ((this.active[0] & WATCH_FETCHERS) === 0) return;
    this.#emit(WATCH_FETCHERS, `type=item_get key=${uriEncode(key)} status=${status} clsid=${clsid} cfd=${this.cfd} size=${size}`);
  }

  store(key: Buffer, status: StoreStatus, cmd: string, ttl: number, clsid: number, size: number): void {
    if ((this.active[0] & WATCH_MUTATIONS) === 0) return;
    this.#emit(WATCH_MUTATIONS, `type=item_store key=${uriEncode(key)} status=${status} cmd=${cmd} ttl=${ttl} clsid=${clsid} cfd=${this.cfd} size=${size}`);
  }

  eviction(key: Buffer, fetched: boolean, ttl: number, lastAccess: number, clsid: number, size: number): void {
    if ((this.active[0] & WATCH_EVICTIONS) === 0) return;
    this.#emit(WATCH_EVICTIONS, `type=eviction key=${uriEncode(key)} fetch=${fetched ? 'yes' : 'no'} ttl=${ttl} la=${lastAccess} clsid=${clsid} size=${size}`);
  }

  connNew(rip: string, rport: number, transport: string, cfd: number): void {
    if ((this.active[0] & WATCH_CONNEVENTS) === 0) return;
    this.#emit(WATCH_CONNEVENTS, `type=conn_new rip=${rip} rport=${rport} transport=${transport} cfd=${cfd}`);
  }

  connClose(rip: string, rport: number, transport: string, reason: CloseReason, cfd: number): void {
    if ((this.active[0] & WATCH_CONNEVENTS) === 0) return;
    this.#emit(WATCH_CONNEVENTS, `type=conn_close rip=${rip} rport=${rport} transport=${transport} reason=${reason} cfd=${cfd}`);
  }

  /** Lines another worker sent for this worker's watchers (see WatchPeers.send). */
  deliver(kinds: number[], lines: string[]): void {
    for (let i = 0; i < lines.length; i++) this.#write(kinds[i], lines[i]);
    this.#peers?.signals.forwardedDone(lines.length);
  }

  #setFlags(): void {
    const flags = this.#watchers.reduce((f, w) => f | w.flags, 0);
    if (this.#peers === null) this.active[0] = flags;
    else this.#peers.changed(flags);
  }

  #emit(flag: number, body: string): void {
    const t = performance.timeOrigin + performance.now();
    const sec = Math.floor(t / 1000);
    const peers = this.#peers;
    const gid = peers === null ? ++this.#gid : peers.signals.nextGid();
    // memcached prints the microseconds with %d: not zero-padded
    const line = `ts=${sec}.${Math.floor((t - sec * 1000) * 1000)} gid=${gid} ${body}\n`;
    this.#write(flag, line);
    if (peers !== null) this.#forward(peers, flag, line);
  }

  #forward(peers: WatchPeers, flag: number, line: string): void {
    const s = peers.signals;
    for (let w = 0; w < s.threads; w++) {
      if (w === s.worker || (s.watchersOf(w) & flag) === 0) continue;
      if (this.#outbox.size === 0) setImmediate(() => this.#sendOutbox());
      let box = this.#outbox.get(w);
      if (box === undefined) this.#outbox.set(w, (box = { kinds: [], lines: [] }));
      box.kinds.push(flag);
      box.lines.push(line);
    }
  }

  #sendOutbox(): void {
    const peers = this.#peers!;
    for (const [w, box] of this.#outbox) {
      // a worker that does not take its lines (busy, or its watchers do not read) has a bounded backlog
      if (peers.signals.reserveForwarded(w, box.lines.length)) peers.send(w, box.kinds, box.lines);
    }
    this.#outbox.clear();
  }

  #write(flag: number, line: string): void {
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
