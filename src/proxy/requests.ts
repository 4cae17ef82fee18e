/**
 * The client requests that wait for backends: each one is a Pending (its place in the client's reply order)
 * and owns the backend calls that answer it. Pure: the calls ride on BackendConns, the replies go to the Session.
 */
import { Reply, type ReplyElement } from '../proto/text/reply-parser.ts';
import type { GetOp } from '../proto/text/commands.ts';
import type { Backend } from './backend.ts';
import { Shape, type Call, type Element } from './call.ts';
import { encodeGet } from './encode.ts';
import { Pending, type Session } from './session.ts';

/** What the requests need of the proxy. */
export interface RequestHost {
  readonly backends: readonly Backend[];
  readonly counters: ProxyCounters;
  /** A key's servers: [main, backup] (backup -1 when none) of the key with this hash. */
  mainOf(hash: number): number;
  backupOf(hash: number, main: number): number;
}

export interface ProxyCounters {
  getKeys: number;
  getHits: number;
  /** Requests (or parts of a multi-get) asked again on the backup after their server failed or was down. */
  fallbacks: number;
  /** Client requests answered `SERVER_ERROR` because no backend could answer. */
  serverErrors: number;
}

/** Sends a request already encoded in `req` (a copy the caller keeps) on the backend's next connection. */
function resend(b: Backend, req: Buffer, call: Call, binary: boolean): void {
  const conn = binary ? b.binConn() : b.conn();
  conn.out.bytes(req);
  conn.enqueue(call);
}

/**
 * A request answered by one backend call whose reply goes to the client as it is: storage, delete, incr/decr,
 * touch, meta commands, and a get whose keys all live on one server. When the call fails, it is asked once more
 * on `fallback` (if `req` holds its bytes and it is safe: a read, a write the server never got, or an idempotent
 * write), or the reply of the backup copy of a write is used, or the client gets SERVER_ERROR.
 */
export class Forward extends Pending implements Call {
  readonly shape: Shape;
  queuedAt = 0;
  readonly #host: RequestHost;
  #req: Buffer | null = null;
  #fallback: Backend | null = null;
  #retryIfSent = false;
  #copy: BackupCopy | null = null;
  /** A binary-protocol request (its retry goes on a binary connection). */
  readonly binary: boolean;

  constructor(host: RequestHost, session: Session, silent: boolean, shape: Shape) {
    super(session, silent);
    this.#host = host;
    this.shape = shape;
    this.binary = shape === Shape.BIN_ONE || shape === Shape.BIN_QUIET;
  }

  /** Where to ask again when the first call fails, with the request's bytes. */
  retryOn(fallback: Backend, req: Buffer, evenIfSent: boolean): void {
    this.#fallback = fallback;
    this.#req = req;
    this.#retryIfSent = evenIfSent;
  }

  /** The same write sent to the key's backup: its reply stands in when the main fails. */
  copiedTo(copy: BackupCopy): void {
    this.#copy = copy;
  }

  element(e: ReplyElement): void {
    if (e.kind === Reply.VALUE) this.#host.counters.getHits++;
    this.session.write(this, e.buf, e.start, e.end);
  }

  done(): void {
    this.#req = null;
    this.session.finish(this);
  }

  fail(reason: string, sent: boolean): void {
    this.session.drop(this);
    const fb = this.#fallback;
    const req = this.#req;
    this.#fallback = null;
    this.#req = null;
    if (fb !== null && req !== null && fb.up && (!sent || this.#retryIfSent)) {
      this.#host.counters.fallbacks++;
      resend(fb, req, this, this.binary);
      return;
    }
    if (this.#copy !== null) {
      this.#copy.takeOver(this, reason);
      return;
    }
    this.#host.counters.serverErrors++;
    this.session.fail(this, reason);
  }
}

/** A write's copy on the key's backup server (magent's data copy): its reply is kept until the main answers. */
export class BackupCopy implements Call {
  readonly shape: Shape;
  queuedAt = 0;
  readonly #host: RequestHost;
  #owner: Forward | null = null;
  #held: Buffer[] = [];
  #state: 'waiting' | 'done' | 'failed' = 'waiting';
  #reason = '';
  #main: Forward;

  constructor(host: RequestHost, main: Forward, shape: Shape) {
    this.#host = host;
    this.#main = main;
    this.shape = shape;
  }

  element(e: ReplyElement): void {
    const owner = this.#owner;
    if (owner !== null) owner.session.write(owner, e.buf, e.start, e.end);
    else if (!this.#main.answered) this.#held.push(Buffer.from(e.buf.subarray(e.start, e.end)));
  }

  done(): void {
    this.#state = 'done';
    const owner = this.#owner;
    if (owner === null) return;
    this.#host.counters.fallbacks++;
    owner.session.finish(owner);
  }

  fail(reason: string): void {
    this.#state = 'failed';
    this.#reason = reason;
    this.#held = [];
    const owner = this.#owner;
    if (owner === null) return;
    this.#host.counters.serverErrors++;
    owner.session.fail(owner, reason);
  }

  /** The main failed (`reason`): the client gets this copy's reply, now or when it comes. */
  takeOver(main: Forward, reason: string): void {
    if (this.#state === 'done') {
      for (const b of this.#held) main.session.writeAll(main, b);
      this.#held = [];
      this.#host.counters.fallbacks++;
      main.session.finish(main);
      return;
    }
    if (this.#state === 'failed') {
      this.#host.counters.serverErrors++;
      main.session.fail(main, `${reason}; the backup: ${this.#reason}`);
      return;
    }
    this.#owner = main;
  }
}

/** A reply the proxy gives itself (errors, version, stats, mn, quit). */
export function answer(session: Session, silent: boolean, bytes: Uint8Array | null, closes = false): void {
  const p = new Pending(session, silent);
  session.add(p);
  if (bytes !== null) session.writeAll(p, bytes);
  if (closes) session.closeAfterReplies(p);
  session.finish(p);
}

/**
 * A get/gets/gat/gats whose keys live on several servers (or were moved to backups): one call per server, the
 * hits put back in the request's key order, duplicates included, then one END. If any part cannot be answered
 * the client gets that part's error instead of a partial answer.
 */
export class MultiGet extends Pending {
  readonly op: GetOp;
  readonly exptime: number;
  readonly keys: Buffer[];
  readonly #hashes: number[];
  readonly #host: RequestHost;
  /** The part holding the VALUE block of each key position that hit (null: a miss), and where in its buffer. */
  readonly #slotPart: (GetPart | null)[];
  readonly #slotAt: Int32Array;
  readonly #slotLen: Int32Array;
  #parts = 0;
  #error: Buffer | null = null;

  constructor(host: RequestHost, session: Session, op: GetOp, exptime: number, keys: Buffer[], hashes: number[]) {
    super(session, false);
    this.#host = host;
    this.op = op;
    this.exptime = exptime;
    this.keys = keys;
    this.#hashes = hashes;
    this.#slotPart = keys.map(() => null);
    this.#slotAt = new Int32Array(keys.length);
    this.#slotLen = new Int32Array(keys.length);
  }

  /**
   * Sends the key positions to their main servers, or to their backups where the main is down. After a part on
   * `failed` failed (`reason`), its keys go to their backups; a key with nowhere left to go fails the request.
   */
  start(positions: readonly number[], failed: Backend | null = null, reason = ''): void {
    const host = this.#host;
    const groups = new Map<number, number[]>();
    for (const i of positions) {
      const h = this.#hashes[i]!;
      const main = host.mainOf(h);
      let target = -1;
      if (failed === null && host.backends[main]!.up) target = main;
      else if (failed === null || failed.index === main) {
        const backup = host.backupOf(h, main);
        if (backup >= 0 && host.backends[backup]!.up) {
          target = backup;
          host.counters.fallbacks++;
        }
      }
      if (target < 0) {
        this.#error ??= Buffer.from(`SERVER_ERROR ${failed === null ? `${host.backends[main]!.name} is down` : reason}\r\n`, 'latin1');
        continue;
      }
      let g = groups.get(target);
      if (!g) groups.set(target, (g = []));
      g.push(i);
    }
    for (const [server, which] of groups) {
      const b = host.backends[server]!;
      for (const chunk of this.#lines(which)) {
        const part = new GetPart(this, b, chunk);
        this.#parts++;
        const conn = b.conn();
        encodeGet(conn.out, this.op, this.exptime, this.keys, chunk);
        conn.enqueue(part);
      }
    }
    this.#maybeDone();
  }

  /** memcached closes a connection whose gat line is longer than 2048 bytes (only get lines may be longer). */
  #lines(which: number[]): number[][] {
    if (this.op === 'get' || this.op === 'gets') return [which];
    const chunks: number[][] = [];
    let cur: number[] = [];
    let len = 20;
    for (const i of which) {
      const n = this.keys[i]!.length + 1;
      if (cur.length > 0 && len + n > GAT_LINE_MAX) {
        chunks.push(cur);
        cur = [];
        len = 20;
      }
      cur.push(i);
      len += n;
    }
    if (cur.length > 0) chunks.push(cur);
    return chunks;
  }

  /** A VALUE block for the next position of `part` whose key it is. */
  hit(part: GetPart, e: ReplyElement): void {
    const which = part.which;
    const keyLen = e.keyEnd - e.keyStart;
    while (part.cursor < which.length) {
      const i = which[part.cursor++]!;
      const k = this.keys[i]!;
      if (k.length === keyLen && sameBytes(k, e.buf, e.keyStart, keyLen)) {
        this.#slotPart[i] = part;
        this.#slotAt[i] = part.keep(e.buf, e.start, e.end);
        this.#slotLen[i] = e.end - e.start;
        this.#host.counters.getHits++;
        return;
      }
    }
  }

  partError(e: ReplyElement): void {
    this.#error ??= Buffer.from(e.buf.subarray(e.start, e.end));
  }

  partDone(): void {
    this.#parts--;
    this.#maybeDone();
  }

  /** The part's server failed: its keys go to their backups, or the request fails. */
  partFailed(part: GetPart, reason: string): void {
    this.#parts--;
    for (const i of part.which) this.#slotPart[i] = null;
    this.start(part.which, part.backend, reason);
  }

  #maybeDone(): void {
    if (this.#parts > 0 || this.answered) return;
    const s = this.session;
    if (this.#error !== null) {
      if (this.#error.subarray(0, 13).toString('latin1') === 'SERVER_ERROR ') this.#host.counters.serverErrors++;
      s.writeAll(this, this.#error);
    } else {
      const parts = this.#slotPart;
      for (let i = 0; i < parts.length; i++) {
        const part = parts[i];
        if (part !== null) s.write(this, part.kept!, this.#slotAt[i]!, this.#slotAt[i]! + this.#slotLen[i]!);
      }
      s.writeAll(this, END);
    }
    s.finish(this);
  }
}

const END = Buffer.from('END\r\n', 'latin1');
const GAT_LINE_MAX = 2000;

function sameBytes(k: Buffer, b: Buffer, at: number, n: number): boolean {
  if (n > 32) return b.compare(k, 0, n, at, at + n) === 0;
  for (let i = 0; i < n; i++) if (k[i] !== b[at + i]) return false;
  return true;
}

export class GetPart implements Call {
  readonly shape = Shape.GET;
  queuedAt = 0;
  readonly get: MultiGet;
  readonly backend: Backend;
  readonly which: number[];
  cursor = 0;
  /** The VALUE blocks of its hits, one after another: kept[0, keptLength). */
  kept: Buffer | null = null;
  #keptLength = 0;

  constructor(get: MultiGet, backend: Backend, which: number[]) {
    this.get = get;
    this.backend = backend;
    this.which = which;
  }

  element(e: ReplyElement): void {
    if (e.kind === Reply.VALUE) this.get.hit(this, e);
    else if (e.kind !== Reply.END) this.get.partError(e);
  }

  /** Copies b[start, end) after the blocks kept so far; returns where it is in `kept`. */
  keep(b: Buffer, start: number, end: number): number {
    const n = end - start;
    const at = this.#keptLength;
    if (this.kept === null || at + n > this.kept.length) {
      const next = Buffer.allocUnsafe(Math.max(1024, 2 * (this.kept?.length ?? 0), at + n));
      if (this.kept !== null) this.kept.copy(next, 0, 0, at);
      this.kept = next;
    }
    b.copy(this.kept, at, start, end);
    this.#keptLength = at + n;
    return at;
  }

  done(): void {
    this.get.partDone();
  }

  fail(reason: string): void {
    this.get.partFailed(this, reason);
  }
}

/** flush_all on every server: OK once all said OK, else the first failure. */
export class Broadcast extends Pending {
  #left = 0;
  #error: string | null = null;
  readonly #host: RequestHost;
  /** The success reply (null: none, a quiet binary flush); binary when `binary`. */
  readonly #ok: Uint8Array | null;
  readonly #binary: boolean;

  constructor(host: RequestHost, session: Session, silent: boolean, ok: Uint8Array | null = OK, binary = false) {
    super(session, silent);
    this.#host = host;
    this.#ok = ok;
    this.#binary = binary;
  }

  call(backend: Backend): Call {
    this.#left++;
    const self = this;
    return {
      shape: this.#binary ? Shape.BIN_ONE : Shape.ONE,
      queuedAt: 0,
      element(e: Element) {
        if ('opcode' in e) {
          if (e.status !== 0) self.#error ??= `${backend.name}: status 0x${e.status.toString(16)}`;
        } else if (e.kind !== Reply.OK) self.#error ??= `${backend.name}: ${e.buf.toString('latin1', e.start, e.end).trimEnd()}`;
      },
      done() {
        self.#one();
      },
      fail(reason: string) {
        self.#error ??= reason;
        self.#one();
      },
    };
  }

  /** Every call is queued; a server that is down counts as failed. */
  sealed(down: string[]): void {
    if (down.length > 0) this.#error ??= `${down.join(', ')} ${down.length === 1 ? 'is' : 'are'} down`;
    this.#left++;
    this.#one();
  }

  #one(): void {
    if (--this.#left > 0) return;
    if (this.#error === null) {
      if (this.#ok !== null) this.session.writeAll(this, this.#ok);
      this.session.finish(this);
    } else {
      this.#host.counters.serverErrors++;
      this.session.fail(this, this.#error);
    }
  }
}

const OK = Buffer.from('OK\r\n', 'latin1');

/** `stats` forwarded to one backend (the `stats backend <server> [args]` extension): its STAT lines as they are. */
export class StatsForward extends Pending implements Call {
  readonly shape = Shape.STATS;
  queuedAt = 0;

  element(e: ReplyElement): void {
    this.session.write(this, e.buf, e.start, e.end);
  }

  done(): void {
    this.session.finish(this);
  }

  fail(reason: string): void {
    this.session.fail(this, reason);
  }
}
