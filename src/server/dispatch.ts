import { keyView } from '../cache/hash.ts';
import { keyEnd, nextKey } from '../proto/text/key-list.ts';
import { allocReleasable, release } from '../proto/releasable-buffer.ts';
import type { SlabStore } from '../cache/store.ts';
import type {
  ArithCommand, FlushCommand, GetCommand, GetOp, OtherCommand, StatsCommand, StoreCommand, TextCommand, TooLargeCommand,
} from '../proto/text/commands.ts';
import { Replies, valueHeaderMaxLength, versionReply, writeValueHeader } from '../proto/text/replies.ts';
import { handleAdmin } from './admin.ts';
import { memcachedItemTotal } from '../cache/layout.ts';
import { WATCH_MUTATIONS, type StoreStatus } from './watch.ts';
import { handleMeta } from './meta.ts';
import type { OutBuffer } from '../net/out-buffer.ts';
import { CLOSE, KEEP, MORE, type DispatchHost, type Outcome } from './host.ts';
import { settingsStats, VERSION, withoutDisabledStats, type StatList } from './stats.ts';

/**
 * The keys of a multiget not looked up yet: src[pos, end). src is the connection's read buffer until detach()
 * makes them the multiget's own, which a connection does before it waits for its client to read.
 */
export class UnfinishedGet {
  readonly op: GetOp;
  readonly exptime: number;
  src: Buffer;
  view: DataView;
  pos: number;
  end: number;
  #own = false;

  constructor(op: GetOp, exptime: number, src: Buffer, view: DataView, pos: number, end: number) {
    this.op = op;
    this.exptime = exptime;
    this.src = src;
    this.view = view;
    this.pos = pos;
    this.end = end;
  }

  /**
   * Makes the keys independent of the connection's read buffers: takes over the buffer they are in when `adopt`
   * says so (the parser lends its own), else copies them.
   */
  detach(adopt?: (src: Buffer) => boolean): void {
    if (this.#own) return;
    if (adopt?.(this.src)) {
      this.#own = true;
      return;
    }
    const rest = allocReleasable(this.end - this.pos);
    this.src.copy(rest, 0, this.pos, this.end);
    this.src = rest;
    this.view = keyView(rest);
    this.end -= this.pos;
    this.pos = 0;
    this.#own = true;
  }

  /** Done with (finished or abandoned): a copy made by detach() goes back at once. */
  release(): void {
    if (this.#own) release(this.src);
  }
}

const MAX_SLAB_CLASSES = 64;
const META_LOOKUPS = new Set(['mg', 'ms', 'md', 'ma']);
const VERSION_REPLY = versionReply(VERSION);
const STAT_PREFIX = Buffer.from('STAT ', 'latin1');
/** Keys of a multiget looked up before it lets other connections go first (a few milliseconds of work). */
const KEYS_PER_TURN = 2048;

/** Runs one parsed command against the store and appends memcached's exact reply to `out`. */
export class Dispatcher {
  readonly #host: DispatchHost;
  readonly #store: SlabStore;
  #unfinished: UnfinishedGet | null = null;

  constructor(host: DispatchHost) {
    this.#host = host;
    this.#store = host.store;
  }

  handle(cmd: TextCommand, out: OutBuffer, conn: unknown): Outcome {
    const watch = this.#host.watch;
    if (watch.active[0] !== 0) {
      watch.cfd = (conn as { id?: number } | null)?.id ?? -1;
      this.#watchBefore(cmd);
    }
    switch (cmd.kind) {
      case 'get': return this.#get(cmd, out);
      case 'store': this.#storeCmd(cmd, out); return KEEP;
      case 'delete': {
        const ok = this.#store.delete(cmd.key);
        this.#host.detail?.del(cmd.key);
        if (!cmd.noreply) out.bytes(ok ? Replies.DELETED : Replies.NOT_FOUND);
        return KEEP;
      }
      case 'arith': this.#arith(cmd, out); return KEEP;
      case 'touch': {
        const ok = this.#store.touch(cmd.key, cmd.exptime);
        if (!cmd.noreply) out.bytes(ok ? Replies.TOUCHED : Replies.NOT_FOUND);
        return KEEP;
      }
      case 'too_large': this.#tooLarge(cmd, out); return KEEP;
      case 'flush_all': this.#flush(cmd, out); return KEEP;
      case 'version': out.bytes(VERSION_REPLY); return KEEP;
      case 'verbosity':
        this.#host.verbosity = cmd.level;
        this.#host.settingsChanged();
        if (!cmd.noreply) out.bytes(Replies.OK);
        return KEEP;
      case 'stats': this.#stats(cmd, out, conn); return KEEP;
      case 'quit': return CLOSE;
      case 'shutdown':
        if (!this.#host.config.shutdownEnabled) {
          out.bytes(Replies.SHUTDOWN_DISABLED);
          return KEEP;
        }
        this.#host.requestShutdown(cmd.graceful);
        return CLOSE;
      case 'other': this.#other(cmd, out, conn); return KEEP;
      case 'error':
        out.bytes(cmd.reply);
        return cmd.close ? CLOSE : KEEP;
      case 'close': return CLOSE;
    }
  }

  #get(cmd: GetCommand, out: OutBuffer): Outcome {
    if (cmd.multi) return this.#getFrom(cmd.op, cmd.exptime, cmd.src, cmd.srcView, cmd.keyStart, cmd.keyEnd, out);
    this.#getKey(cmd.op, cmd.exptime, cmd.src, cmd.srcView, cmd.keyStart, cmd.keyEnd, out);
    out.bytes(Replies.END);
    return KEEP;
  }

  /**
   * The replies to the keys in src[pos, end), then END; stops with MORE, after a key, once `out` holds the output
   * limit (so a connection's pending replies stay within the limit plus one value) or after KEYS_PER_TURN keys (so
   * other connections get their turn).
   */
  #getFrom(op: GetOp, exptime: number, src: Buffer, view: DataView, pos: number, end: number, out: OutBuffer): Outcome {
    const limit = this.#host.config.outputLimit;
    let budget = KEYS_PER_TURN;
    for (let k = nextKey(src, pos, end); k < end; ) {
      const e = keyEnd(src, k, end);
      this.#getKey(op, exptime, src, view, k, e, out);
      k = nextKey(src, e, end);
      if ((out.length >= limit || --budget === 0) && k < end) {
        this.#unfinished = new UnfinishedGet(op, exptime, src, view, k, end);
        return MORE;
      }
    }
    out.bytes(Replies.END);
    return KEEP;
  }

  /** The rest of the multiget that the last MORE left; call right after handle() returned it. */
  takeUnfinished(): UnfinishedGet {
    const u = this.#unfinished!;
    this.#unfinished = null;
    return u;
  }

  /** Continues a multiget; MORE again leaves `u` where it stopped. */
  resumeGet(u: UnfinishedGet, out: OutBuffer): Outcome {
    const r = this.#getFrom(u.op, u.exptime, u.src, u.view, u.pos, u.end, out);
    if (r === MORE) u.pos = this.takeUnfinished().pos;
    else u.release();
    return r;
  }

  /** The VALUE reply (if any) of one key of a get, the key being src[start, end) (srcView: a DataView of src). */
  #getKey(op: GetOp, exptime: number, src: Buffer, srcView: DataView, start: number, end: number, out: OutBuffer): void {
    const store = this.#store;
    const touch = op === 'gat' || op === 'gats';
    const h = touch ? store.getAndTouchAt(srcView, start, end - start, exptime) : store.getAt(srcView, start, end - start);
    const detail = this.#host.detail;
    if (detail) detail.get(src.subarray(start, end), h >= 0);
    if (this.#host.watch.active[0] !== 0) this.#watchFetch(src.subarray(start, end), h);
    if (h < 0) return;
    const len = store.itemValueLength(h);
    const buf = out.reserve(valueHeaderMaxLength(end - start) + len + 2);
    const cas = op === 'gets' || op === 'gats' ? store.itemCas(h) : null;
    let at = writeValueHeader(buf, out.offset, src, start, end, store.itemFlags(h), len, cas);
    at += store.copyValue(h, buf, at);
    buf[at] = 13;
    buf[at + 1] = 10;
    out.advance(at + 2 - out.offset);
  }

  /**
   * `watch fetchers` of the commands that look an item up before they act (memcached logs the lookup of a
   * store, delete, touch and incr/decr too); the gets log theirs in #getKey.
   */
  #watchBefore(cmd: TextCommand): void {
    switch (cmd.kind) {
      case 'store': case 'delete': case 'touch': case 'arith':
        this.#watchFetch(cmd.key, this.#store.peek(cmd.key));
        return;
      case 'other':
        // the meta commands' lookups (their key as sent; ms's item_store line is not logged)
        if (META_LOOKUPS.has(cmd.name) && cmd.tokens[0] !== undefined) {
          const key = Buffer.from(cmd.tokens[0], 'latin1');
          this.#watchFetch(key, this.#store.peek(key));
        }
    }
  }

  /** One `item_get` watch line: memcached's class and value length of a hit, 0 and 0 for a miss. */
  #watchFetch(key: Buffer, h: number): void {
    if (h < 0) return this.#host.watch.fetch(key, 'not_found', 0, 0);
    this.#host.watch.fetch(key, 'found', this.#memcachedClass(key.length, h), this.#store.itemValueLength(h));
  }

  /** The slab class memcached would keep the item in. */
  #memcachedClass(nkey: number, h: number): number {
    const store = this.#store;
    return store.slabClassFor(memcachedItemTotal(nkey, store.itemValueLength(h), store.itemFlags(h), this.#host.config.casEnabled));
  }

  #storeCmd(cmd: StoreCommand, out: OutBuffer): void {
    const res = this.#store.store(cmd.op, cmd.key, cmd.flags, cmd.exptime, cmd.data, cmd.cas);
    if ((this.#host.watch.active[0] & WATCH_MUTATIONS) !== 0) this.#watchStore(cmd, res);
    this.#host.detail?.set(cmd.key);
    let reply: Buffer;
    switch (res) {
      case 'STORED': reply = Replies.STORED; break;
      case 'NOT_STORED': reply = Replies.NOT_STORED; break;
      case 'EXISTS': reply = Replies.EXISTS; break;
      case 'NOT_FOUND': reply = Replies.NOT_FOUND; break;
      case 'TOO_LARGE': reply = Replies.TOO_LARGE; break; // a set's old value is dropped by the store
      case 'NO_MEMORY': reply = Replies.OUT_OF_MEMORY_STORING; break;
    }
    if (!cmd.noreply) out.bytes(reply);
  }

  #watchStore(cmd: StoreCommand, res: string): void {
    const store = this.#store;
    const h = store.peek(cmd.key);
    const stored = res === 'STORED' && h >= 0;
    const ttl = stored ? store.itemTtl(h) : cmd.exptime === 0 ? 0 : Math.max(0, store.storeTime(cmd.exptime) - store.now);
    const clsid = stored ? this.#memcachedClass(cmd.key.length, h)
      : store.slabClassFor(memcachedItemTotal(cmd.key.length, cmd.data.length, cmd.flags, this.#host.config.casEnabled));
    this.#host.watch.store(cmd.key, res.toLowerCase() as StoreStatus, cmd.op, ttl, clsid, cmd.data.length);
  }

  #tooLarge(cmd: TooLargeCommand, out: OutBuffer): void {
    this.#host.counters.storeTooLarge++;
    this.#host.watch.store(cmd.key, 'too_large', cmd.op, 0, 0, 0);
    if (cmd.op === 'set' && this.#host.watch.active[0] !== 0) this.#watchFetch(cmd.key, this.#store.peek(cmd.key));
    // memcached drops the old value when a set is refused, so stale data is not served.
    if (cmd.op === 'set') this.#store.unlink(cmd.key);
    if (!cmd.noreply) out.bytes(Replies.TOO_LARGE);
  }

  #arith(cmd: ArithCommand, out: OutBuffer): void {
    const res = this.#store.arith(cmd.key, cmd.op === 'incr', cmd.delta);
    if (typeof res === 'bigint') {
      if (!cmd.noreply) { out.bigint(res); out.crlf(); }
      return;
    }
    if (cmd.noreply) return;
    // 'EXISTS' needs a CAS, which incr/decr do not send
    out.bytes(res === 'NOT_FOUND' || res === 'EXISTS' ? Replies.NOT_FOUND : res === 'NON_NUMERIC' ? Replies.NON_NUMERIC : Replies.OUT_OF_MEMORY);
  }

  #flush(cmd: FlushCommand, out: OutBuffer): void {
    this.#host.counters.cmdFlush++;
    if (!this.#host.config.flushEnabled) {
      if (!cmd.noreply) out.bytes(Replies.FLUSH_DISABLED);
      return;
    }
    this.#store.flushAll(cmd.delay);
    if (!cmd.noreply) out.bytes(Replies.OK);
  }

  #stats(cmd: StatsCommand, out: OutBuffer, conn: unknown): void {
    const host = this.#host;
    const [sub, ...rest] = cmd.args;
    switch (sub) {
      case undefined: return writeStats(out, host.generalStats());
      case 'reset':
        host.resetStats();
        out.bytes(Replies.RESET);
        return;
      case 'settings':
        return writeStats(out, settingsStats(host.config, { verbosity: host.verbosity, detailEnabled: host.detail !== null }));
      case 'items': return writeStats(out, withoutDisabledStats(this.#store.statsItems(), host.config, 'items'));
      case 'slabs': return writeStats(out, this.#store.statsSlabs());
      case 'sizes': return writeStats(out, this.#store.statsSizes());
      case 'conns': {
        const lines = host.connStats(conn);
        // null: the server hands the connection the whole reply later (-t N asks the other workers)
        if (lines === null) return;
        out.latin1(lines);
        out.bytes(Replies.END);
        return;
      }
      case 'detail': {
        const mode = rest[0];
        if (mode === 'on' || mode === 'off') {
          host.setDetail(mode === 'on');
          out.bytes(Replies.OK);
        } else if (mode === 'dump') {
          out.latin1(host.prefixStats.dump());
        } else {
          out.bytes(Replies.DETAIL_USAGE);
        }
        return;
      }
      case 'cachedump': return this.#cachedump(rest, out);
      // memcached built with extstore but running without it
      case 'extstore': out.bytes(Replies.END); return;
      default: out.bytes(Replies.ERROR);
    }
  }

  #cachedump(args: string[], out: OutBuffer): void {
    if (!this.#host.config.dumpEnabled) return out.bytes(Replies.CACHEDUMP_DISABLED);
    if (args.length < 2) return out.bytes(Replies.BAD_LINE);
    const id = parseUint32(args[0]);
    const limit = parseUint32(args[1]);
    if (id < 0 || limit < 0) return out.bytes(Replies.BAD_FORMAT);
    if (id >= MAX_SLAB_CLASSES) return out.bytes(Replies.ILLEGAL_SLAB_ID);
    const lines = this.#store.cachedump(id, limit);
    if (lines !== 'BAD_CLASS') for (const l of lines) { out.latin1(l); out.crlf(); }
    out.bytes(Replies.END);
  }

  #other(cmd: OtherCommand, out: OutBuffer, conn: unknown): void {
    // (cmd_meta counts me only, as memcached 1.6: see meta.ts)
    if (handleMeta(cmd, out, this.#host)) return;
    if (handleAdmin(cmd, out, this.#host, conn)) return;
    out.bytes(Replies.ERROR);
  }
}

/** Decimal uint32 as memcached's safe_strtoul accepts it; -1 when not one. */
export function parseUint32(s: string): number {
  if (!/^\d{1,10}$/.test(s)) return -1;
  const n = Number(s);
  return n > 0xffffffff ? -1 : n;
}

export function writeStats(out: OutBuffer, list: StatList): void {
  for (const [name, value] of list) {
    out.bytes(STAT_PREFIX);
    out.latin1(name);
    out.byte(32);
    out.latin1(String(value));
    out.crlf();
  }
  out.bytes(Replies.END);
}
