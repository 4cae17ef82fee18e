/**
 * The proxy without sockets: client bytes in, requests routed to backends by key, replies back in order.
 * Sockets (net.ts) and time (an injected Clock) are plugged in, so the whole request path runs in tests with
 * fake connections and fake time.
 */
import type { Clock } from '../clock.ts';
import type { Logger } from '../log.ts';
import { BadMagicError, BinaryParser, MAGIC_REQUEST } from '../proto/binary/codec.ts';
import type { GetCommand, OtherCommand, TextCommand } from '../proto/text/commands.ts';
import { TextParser } from '../proto/text/parser.ts';
import { Replies } from '../proto/text/replies.ts';
import type { OutBuffer } from '../net/out-buffer.ts';
import { Backend, type BackendConn, type Connector } from './backend.ts';
import { binaryFailure, dispatchBinary } from './binary.ts';
import { Shape } from './call.ts';
import { encodeArith, encodeDelete, encodeFlush, encodeGet, encodeGetOne, encodeMeta, encodeStats, encodeStore, encodeTouch } from './encode.ts';
import type { HealthPolicy } from './health.ts';
import { Placement, type PlacementConfig } from './placement.ts';
import { answer, BackupCopy, Broadcast, Forward, MultiGet, StatsForward, type ProxyCounters } from './requests.ts';
import { Session, type ClientTransport, type Pending, type SessionHost } from './session.ts';
import type { BinaryRequestId, Router } from './router.ts';
import { proxyStats, type ProxySettings } from './stats.ts';
import { VERSION_REPLY } from './version.ts';

export interface ProxyConfig {
  placement: PlacementConfig;
  /** Every backend call gets its reply within this long (ms), or the client gets SERVER_ERROR / the backup. */
  timeoutMs: number;
  health: HealthPolicy;
  /** Persistent connections per backend server. */
  connections: number;
  /** Largest value a client may store (larger: memcached's `SERVER_ERROR object too large for cache`). */
  maxItemSize: number;
}

export interface ProxyDeps {
  clock: Clock;
  connect: Connector;
  /** Runs fn once at the end of this event-loop turn (setImmediate); tests run it by hand. */
  defer(fn: () => void): void;
  log: Logger;
  /** Wall-clock seconds, for `stats time`. */
  unixTime?(): number;
}

/** What the socket adapter holds for one client. */
export interface ClientHandle {
  /** buf[0, length) arrived from the client. */
  data(buf: Buffer, length: number): void;
  /** The client's socket closed. */
  closed(): void;
  /** The socket's send buffer drained. */
  drained(): void;
}

const MN = Buffer.from('MN\r\n', 'latin1');
const SHUTDOWN_DISABLED = Replies.SHUTDOWN_DISABLED;
const META = new Set(['mg', 'ms', 'md', 'ma', 'me']);

export class ProxyCore implements Router, SessionHost {
  readonly config: ProxyConfig;
  readonly placement: Placement;
  readonly backends: Backend[];
  readonly counters: ProxyCounters & { connections: number; totalConnections: number; rejectedConnections: number; commands: Record<string, number> };
  readonly #deps: ProxyDeps;
  readonly #startedAt: number;
  readonly #sessions = new Set<Session>();
  #nextId = 1;
  #dirtyConns: BackendConn[] = [];
  #dirtySessions: Session[] = [];
  #scheduled = false;
  readonly #flushTurn = () => this.#flush();

  constructor(config: ProxyConfig, deps: ProxyDeps) {
    this.config = config;
    this.#deps = deps;
    this.placement = new Placement(config.placement);
    this.#startedAt = deps.clock.now();
    this.counters = {
      getKeys: 0, getHits: 0, fallbacks: 0, serverErrors: 0,
      connections: 0, totalConnections: 0, rejectedConnections: 0,
      commands: { get: 0, set: 0, delete: 0, incr_decr: 0, touch: 0, flush: 0, meta: 0 },
    };
    const env = {
      clock: deps.clock,
      connect: deps.connect,
      timeoutMs: config.timeoutMs,
      health: config.health,
      connections: config.connections,
      dirty: (c: BackendConn) => this.#dirtyConn(c),
      log: deps.log,
    };
    this.backends = this.placement.servers.map((s, i) => new Backend(i, s.name, s.spec, env));
  }

  mainOf(hash: number): number {
    return this.placement.mainOf(hash);
  }

  backupOf(hash: number, main: number): number {
    return this.placement.backupOf(hash, main);
  }

  /** Connects to every backend now, so that the first requests do not wait for it. */
  warm(): void {
    for (const b of this.backends) b.warm();
  }

  close(): void {
    for (const b of this.backends) b.close();
  }

  /** A new client. */
  open(transport: ClientTransport): ClientHandle {
    const session = new Session(this.#nextId++, this, transport);
    const text = new TextParser({ maxItemSize: this.config.maxItemSize }, (cmd) => this.#dispatch(session, cmd));
    /** Decided by the first byte, as memcached's -B auto: a binary request's magic, or text. */
    let binary: BinaryParser | null = null;
    let decided = false;
    this.#sessions.add(session);
    this.counters.connections++;
    this.counters.totalConnections++;
    return {
      data: (buf, n) => {
        if (session.closing || session.dead || n === 0) return;
        if (!decided) {
          decided = true;
          if (buf[0] === MAGIC_REQUEST) {
            const parser: BinaryParser = new BinaryParser({ maxValueLength: this.config.maxItemSize }, (req) => dispatchBinary(this, session, req, parser));
            binary = parser;
          }
        }
        try {
          if (binary !== null) binary.push(n === buf.length ? buf : buf.subarray(0, n));
          else text.push(buf, n);
        } catch (err) {
          // memcached closes a binary connection whose request has a bad magic byte, without a reply
          if (err instanceof BadMagicError) return answer(session, false, null, true);
          this.#deps.log.error({ client: session.id, err }, 'request handling failed');
          answer(session, false, binary !== null ? null : Buffer.from('SERVER_ERROR internal error\r\n', 'latin1'), true);
        }
      },
      closed: () => {
        if (!this.#sessions.delete(session)) return;
        this.counters.connections--;
        session.closed();
      },
      drained: () => session.drained(),
    };
  }

  dirty(s: Session): void {
    this.#dirtySessions.push(s);
    this.#schedule();
  }

  #dirtyConn(c: BackendConn): void {
    this.#dirtyConns.push(c);
    this.#schedule();
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    this.#deps.defer(this.#flushTurn);
  }

  /** The end of an event-loop turn: requests leave, then replies. */
  #flush(): void {
    this.#scheduled = false;
    const conns = this.#dirtyConns;
    const sessions = this.#dirtySessions;
    this.#dirtyConns = [];
    this.#dirtySessions = [];
    for (const c of conns) c.flush();
    for (const s of sessions) s.flush();
  }

  #dispatch(s: Session, cmd: TextCommand): void {
    if (s.closing || s.dead) return;
    const commands = this.counters.commands;
    switch (cmd.kind) {
      case 'get':
        commands.get++;
        return this.#get(s, cmd);
      case 'store':
        commands.set++;
        return this.routeWrite(s, cmd.key, cmd.noreply, Shape.ONE, cmd.op === 'set', (out) => encodeStore(out, cmd));
      case 'delete':
        commands.delete++;
        return this.routeWrite(s, cmd.key, cmd.noreply, Shape.ONE, true, (out) => encodeDelete(out, cmd));
      case 'arith':
        commands.incr_decr++;
        return this.routeWrite(s, cmd.key, cmd.noreply, Shape.ONE, false, (out) => encodeArith(out, cmd));
      case 'touch':
        commands.touch++;
        return this.routeWrite(s, cmd.key, cmd.noreply, Shape.ONE, true, (out) => encodeTouch(out, cmd));
      case 'too_large':
        // memcached unlinks the key's old value when a set is too large: so does the proxy, on the key's servers
        answer(s, cmd.noreply, Replies.TOO_LARGE);
        if (cmd.op === 'set') this.routeWrite(s, cmd.key, true, Shape.ONE, true, (out) => encodeDelete(out, { kind: 'delete', key: cmd.key, noreply: true }));
        return;
      case 'flush_all':
        commands.flush++;
        return this.#flushAll(s, cmd.delay, cmd.noreply);
      case 'version':
        return answer(s, false, VERSION_REPLY);
      case 'verbosity':
        return answer(s, cmd.noreply, Replies.OK);
      case 'quit':
        return answer(s, false, null, true);
      case 'close':
        this.#deps.log.debug({ client: s.id, reason: cmd.reason }, 'closing a client');
        return answer(s, false, null, true);
      case 'shutdown':
        return answer(s, false, SHUTDOWN_DISABLED);
      case 'stats':
        return this.#stats(s, cmd.args);
      case 'other':
        return this.#other(s, cmd);
      case 'error':
        if (cmd.reply.length > 0 || cmd.close) answer(s, cmd.reply.length === 0, cmd.reply, cmd.close);
        return;
    }
  }

  #get(s: Session, cmd: GetCommand): void {
    if (!cmd.multi) {
      const src = cmd.src;
      // one key: the reply goes through as the server sends it
      this.counters.getKeys++;
      const { op, exptime, keyStart, keyEnd } = cmd;
      return this.routeRead(s, src.subarray(keyStart, keyEnd), Shape.GET, (out) => encodeGetOne(out, op, exptime, src, keyStart, keyEnd), null);
    }
    const keys = copyKeys(cmd.keys);
    this.counters.getKeys += keys.length;
    const hashes = keys.map((k) => this.placement.hash(k));
    if (!this.placement.hasBackups && (cmd.op === 'get' || cmd.op === 'gets')) {
      const main = this.placement.mainOf(hashes[0]!);
      if (hashes.every((h) => this.placement.mainOf(h) === main) && this.backends[main]!.up) {
        const p = new Forward(this, s, false, Shape.GET);
        s.add(p);
        const conn = this.backends[main]!.conn();
        encodeGet(conn.out, cmd.op, cmd.exptime, keys, null);
        conn.enqueue(p);
        return;
      }
    }
    const p = new MultiGet(this, s, cmd.op, cmd.exptime, keys, hashes);
    s.add(p);
    p.start(keys.map((_, i) => i));
  }

  /**
   * A read of one key (the text protocol's get of one key, mg, me; the binary protocol's gets): to the key's main
   * server, asked again on its backup if that fails; to the backup while the main is down. `bin`: a binary
   * request (binary connections; its failure is a binary error response).
   */
  routeRead(s: Session, key: Uint8Array, shape: Shape, encode: (out: OutBuffer) => void, bin: BinaryRequestId | null): void {
    const h = this.placement.hash(key);
    const main = this.placement.mainOf(h);
    const backup = this.placement.backupOf(h, main);
    const mb = this.backends[main]!;
    const p = new Forward(this, s, false, shape);
    if (bin !== null) p.errorReply = binaryFailure(bin);
    s.add(p);
    let target = mb;
    if (!mb.up) {
      if (backup < 0 || !this.backends[backup]!.up) return this.#down(p, mb, backup);
      target = this.backends[backup]!;
      this.counters.fallbacks++;
    }
    const conn = bin !== null ? target.binConn() : target.conn();
    const mark = conn.out.length;
    encode(conn.out);
    if (target === mb && backup >= 0) p.retryOn(this.backends[backup]!, copyOut(conn.out, mark), true);
    conn.enqueue(p);
  }

  /**
   * A write: to the key's main server; in copy mode also to its backup (whose reply stands in if the main
   * fails); in pairs mode to the backup only when the main is down (or failed before it got the request, or for
   * an idempotent write). `silent`: noreply, nothing goes back to the client.
   */
  routeWrite(s: Session, key: Uint8Array, silent: boolean, shape: Shape, idempotent: boolean, encode: (out: OutBuffer) => void, bin: BinaryRequestId | null = null): void {
    const h = this.placement.hash(key);
    const main = this.placement.mainOf(h);
    const backup = this.placement.backupOf(h, main);
    const mb = this.backends[main]!;
    const bb = backup >= 0 ? this.backends[backup]! : null;
    const pick = (b: Backend) => (bin !== null ? b.binConn() : b.conn());
    const p = new Forward(this, s, silent, shape);
    if (bin !== null) p.errorReply = binaryFailure(bin);
    s.add(p);
    if (!mb.up) {
      if (bb === null || !bb.up) return this.#down(p, mb, backup);
      this.counters.fallbacks++;
      const conn = pick(bb);
      encode(conn.out);
      conn.enqueue(p);
      return;
    }
    const conn = pick(mb);
    const mark = conn.out.length;
    encode(conn.out);
    if (bb !== null && bb.up) {
      const bytes = copyOut(conn.out, mark);
      if (this.placement.mode === 'copy') {
        const copy = new BackupCopy(this, p, shape);
        p.copiedTo(copy);
        const bconn = pick(bb);
        bconn.out.bytes(bytes);
        bconn.enqueue(copy);
      } else {
        p.retryOn(bb, bytes, idempotent);
      }
    }
    conn.enqueue(p);
  }

  #down(p: Pending, mb: Backend, backup: number): void {
    this.counters.serverErrors++;
    const bb = backup >= 0 ? this.backends[backup]! : null;
    p.session.fail(p, bb === null ? `backend ${mb.name} is down` : `backend ${mb.name} and its backup ${bb.name} are down`);
  }

  #flushAll(s: Session, delay: number, noreply: boolean): void {
    const p = new Broadcast(this, s, noreply);
    s.add(p);
    const down: string[] = [];
    for (const b of this.backends) {
      if (!b.up) {
        down.push(b.name);
        continue;
      }
      const conn = b.conn();
      encodeFlush(conn.out, delay);
      conn.enqueue(p.call(b));
    }
    p.sealed(down);
  }

  /** Meta commands go to the key's server; the rest of the admin commands have no meaning on a proxy. */
  #other(s: Session, cmd: OtherCommand): void {
    const name = cmd.name;
    if (name === 'mn') return answer(s, false, MN);
    if (!META.has(name)) return answer(s, false, Buffer.from(`SERVER_ERROR ${name} is not supported by the proxy\r\n`, 'latin1'));
    this.counters.commands.meta++;
    const t = cmd.tokens;
    if (t.length === 0) return answer(s, false, name === 'me' ? Replies.BAD_FORMAT : Replies.ERROR);
    if (cmd.tooLarge) return answer(s, false, Replies.TOO_LARGE);
    if (cmd.badChunk) return answer(s, false, Replies.BAD_DATA_CHUNK);
    const flags = t.slice(name === 'ms' ? 2 : 1);
    const quiet = flags.includes('q');
    const key = flags.includes('b') ? Buffer.from(t[0]!, 'base64') : Buffer.from(t[0]!, 'latin1');
    const shape = quiet ? Shape.QUIET : Shape.ONE;
    if (name !== 'mg' && name !== 'me') return this.routeWrite(s, key, false, shape, false, (out) => encodeMeta(out, cmd, quiet));
    this.routeRead(s, key, shape, (out) => encodeMeta(out, cmd, quiet), null);
  }

  #stats(s: Session, args: string[]): void {
    if (args.length === 0) return answer(s, false, Buffer.from(this.statsText(), 'latin1'));
    if (args.length === 1 && args[0] === 'reset') {
      this.resetStats();
      return answer(s, false, Replies.RESET);
    }
    if (args[0] === 'backend' || args[0] === 'backends') {
      if (args.length === 1) return answer(s, false, Buffer.from(this.statsText(true), 'latin1'));
      const b = this.backends.find((x) => x.name === args[1] || String(x.index) === args[1]);
      if (!b) return answer(s, false, Buffer.from('CLIENT_ERROR no such backend: give its host:port or number from `stats backends`\r\n', 'latin1'));
      const rest = args.slice(2);
      if (rest[0] === 'cachedump' || rest[0] === 'detail') return answer(s, false, Buffer.from(`CLIENT_ERROR stats ${rest[0]} is not forwarded by the proxy\r\n`, 'latin1'));
      const p = new StatsForward(s, false);
      s.add(p);
      if (!b.up) return this.#down(p, b, -1);
      const conn = b.conn();
      encodeStats(conn.out, rest);
      conn.enqueue(p);
      return;
    }
    if (args.length === 1 && args[0] === 'settings') return answer(s, false, Buffer.from(this.statsText(false, true), 'latin1'));
    answer(s, false, Replies.ERROR);
  }

  /** The proxy's own `stats` (with `backends`: only the backend lines; `settings`: its settings). */
  statsText(backendsOnly = false, settings = false): string {
    const settingsOf: ProxySettings = {
      timeoutMs: this.config.timeoutMs,
      failureLimit: this.config.health.failureLimit,
      retryInitialMs: this.config.health.retryInitialMs,
      retryMaxMs: this.config.health.retryMaxMs,
      connections: this.config.connections,
      maxItemSize: this.config.maxItemSize,
      distribution: this.config.placement.distribution,
      hash: this.config.placement.distribution === 'ketama' ? 'md5' : this.config.placement.hash,
      backupMode: this.config.placement.backupMode,
    };
    return proxyStats({
      uptimeSec: Math.floor((this.#deps.clock.now() - this.#startedAt) / 1000),
      time: this.#deps.unixTime?.() ?? Math.floor(Date.now() / 1000),
      counters: this.counters,
      backends: this.backends,
      placement: this.placement,
      settings: settingsOf,
      part: settings ? 'settings' : backendsOnly ? 'backends' : 'all',
    });
  }

  resetStats(): void {
    const c = this.counters;
    c.getKeys = c.getHits = c.fallbacks = c.serverErrors = 0;
    c.totalConnections = c.connections;
    c.rejectedConnections = 0;
    for (const k of Object.keys(c.commands)) c.commands[k] = 0;
    for (const b of this.backends) {
      b.counters.calls = b.counters.failed = b.counters.timeouts = 0;
    }
  }
}

/** The keys of a multi-get, kept past the parser's buffer: one copy of the span they lie in, and views of it. */
function copyKeys(views: Buffer[]): Buffer[] {
  if (views.length === 0) return [];
  const first = views[0]!;
  const last = views[views.length - 1]!;
  const start = first.byteOffset;
  const end = last.byteOffset + last.length;
  if (!views.every((k) => k.buffer === first.buffer && k.byteOffset >= start && k.byteOffset + k.length <= end)) return views.map((k) => Buffer.from(k));
  const span = Buffer.from(new Uint8Array(first.buffer, start, end - start));
  return views.map((k) => span.subarray(k.byteOffset - start, k.byteOffset - start + k.length));
}

/** A copy of what was written to `out` since its length was `mark`. */
function copyOut(out: OutBuffer, mark: number): Buffer {
  const n = out.length - mark;
  const buf = out.reserve(0);
  return Buffer.from(buf.subarray(out.offset - n, out.offset));
}
