import { memcachedItemTotal } from '../cache/layout.ts';
import type { StoreMode, StoreResult } from '../cache/store.ts';
import {
  MAX_KEY_LENGTH, Op, QUIET_OF, Status, writeError, writeResponse, writeResponseHeader, HEADER_LENGTH,
  type BinaryRequest,
} from '../proto/binary/codec.ts';
import { isPlain, MAX_MECH_LENGTH, MECHANISMS, parsePlain } from '../proto/binary/sasl.ts';
import { CLOSE, KEEP, type DispatchHost, type Outcome } from './host.ts';
import type { OutBuffer } from '../net/out-buffer.ts';
import { quoteBytes } from '../log-limit.ts';
import { settingsStats, VERSION, type StatList } from './stats.ts';

/** What a handler may ask of the request stream (memcached's conn_swallow). */
export interface BinaryStream {
  /** Discards the next n bytes, then runs `then` (before any later request). */
  swallow(n: number, then?: () => void): void;
}

/** A STAT group memcached does not know: answered with "Not found". */
class UnknownStatGroupError extends Error {
  constructor(group: string) {
    super(`unknown stats group ${group}`);
    this.name = 'UnknownStatGroupError';
  }
}

/** Returned by handle() after a successful SASL authentication: the connection may now do everything. */
export const AUTHENTICATED = 3;
export type BinaryOutcome = Outcome | typeof AUTHENTICATED;

const NO_CREATE = 0xffffffff;
const VERSION_BYTES = Buffer.from(VERSION, 'latin1');
const MECHANISMS_BYTES = Buffer.from(MECHANISMS, 'latin1');
const AUTHENTICATED_BYTES = Buffer.from('Authenticated', 'latin1');

/** What a connection may send before it has authenticated (memcached's authenticated() in proto_bin.c). */
function openBeforeAuth(opcode: number): boolean {
  return opcode === Op.SASL_LIST_MECHS || opcode === Op.SASL_AUTH || opcode === Op.SASL_STEP || opcode === Op.VERSION;
}
const STORE_MODE: ReadonlyMap<number, StoreMode> = new Map<number, StoreMode>([
  [Op.SET, 'set'], [Op.ADD, 'add'], [Op.REPLACE, 'replace'], [Op.APPEND, 'append'], [Op.PREPEND, 'prepend'],
]);

/** One request in flight: the reply's opcode is the one sent (quiet forms keep theirs). */
interface Ctx {
  req: BinaryRequest;
  out: OutBuffer;
  /** the quiet form was sent: successes are not answered (GETQ/GETKQ hits still are) */
  quiet: boolean;
}

/** Runs binary requests against the store with memcached 1.6's replies (proto_bin.c). */
export class BinaryDispatcher {
  readonly #host: DispatchHost;

  constructor(host: DispatchHost) {
    this.#host = host;
  }

  /** `authenticated`: false while authentication (-Y/-S) is on and the connection has not authenticated yet. */
  handle(req: BinaryRequest, out: OutBuffer, stream: BinaryStream, authenticated = true): BinaryOutcome {
    const extlen = req.extras.length;
    const keylen = req.key.length;
    const bodylen = req.bodyLength;
    if (keylen + extlen > bodylen) {
      writeError(out, req.opcode, Status.UNKNOWN_COMMAND, req.opaque);
      return CLOSE;
    }
    if (!authenticated && !openBeforeAuth(req.opcode)) {
      writeError(out, req.opcode, Status.AUTH_ERROR, req.opaque);
      this.#host.clientRefused('unauthenticated', 'closed a binary connection that sent a command before authenticating');
      return CLOSE;
    }
    if (keylen > MAX_KEY_LENGTH) return protocolError(req, out);
    const base = QUIET_OF.get(req.opcode);
    const c: Ctx = { req, out, quiet: base !== undefined };
    const cmd = base ?? req.opcode;
    const bare = extlen === 0 && keylen === 0 && bodylen === 0;
    switch (cmd) {
      case Op.VERSION:
        if (!bare) return protocolError(req, out);
        this.#ok(c, 0n, null, null, VERSION_BYTES);
        return KEEP;
      case Op.NOOP:
        if (!bare) return protocolError(req, out);
        this.#ok(c, 0n, null, null, null);
        return KEEP;
      case Op.QUIT:
        if (!bare) return protocolError(req, out);
        this.#ok(c, 0n, null, null, null);
        return CLOSE;
      case Op.FLUSH:
        if (keylen !== 0 || bodylen !== extlen || (extlen !== 0 && extlen !== 4)) return protocolError(req, out);
        this.#flush(c);
        return KEEP;
      case Op.SET: case Op.ADD: case Op.REPLACE:
        if (extlen !== 8 || keylen === 0 || bodylen < keylen + 8) return protocolError(req, out);
        this.#update(c, cmd);
        return KEEP;
      case Op.APPEND: case Op.PREPEND:
        if (keylen === 0 || extlen !== 0) return protocolError(req, out);
        this.#update(c, cmd);
        return KEEP;
      case Op.GET: case Op.GETK:
        if (extlen !== 0 || bodylen !== keylen || keylen === 0) return protocolError(req, out);
        this.#getOrTouch(c, cmd);
        return KEEP;
      case Op.TOUCH: case Op.GAT: case Op.GATK:
        if (extlen !== 4 || keylen === 0) return protocolError(req, out);
        this.#getOrTouch(c, cmd);
        return KEEP;
      case Op.DELETE:
        if (keylen === 0 || extlen !== 0 || bodylen !== keylen) return protocolError(req, out);
        this.#delete(c);
        return KEEP;
      case Op.INCREMENT: case Op.DECREMENT:
        if (keylen === 0 || extlen !== 20 || bodylen !== keylen + extlen) return protocolError(req, out);
        this.#arith(c, cmd === Op.INCREMENT);
        return KEEP;
      case Op.STAT:
        if (extlen !== 0) return protocolError(req, out);
        this.#stat(c);
        return KEEP;
      case Op.SASL_LIST_MECHS:
        if (!bare) return protocolError(req, out);
        // memcached without -S: SASL is an unknown command
        if (this.#host.sasl === null) writeError(out, req.opcode, Status.UNKNOWN_COMMAND, req.opaque);
        else writeResponse(out, req.opcode, Status.SUCCESS, req.opaque, 0n, null, null, MECHANISMS_BYTES);
        return KEEP;
      case Op.SASL_AUTH: case Op.SASL_STEP:
        if (extlen !== 0 || keylen === 0) return protocolError(req, out);
        // the data was read (or skipped) by the parser as this request's value
        if (this.#host.sasl === null) {
          writeError(out, req.opcode, Status.UNKNOWN_COMMAND, req.opaque);
          return KEEP;
        }
        return this.#saslAuth(c, cmd);
      default: {
        // As memcached: the whole body length is swallowed, counted after the extras and key already read, and
        // the reply waits until it has been (out is the connection's for its whole life).
        const { opcode, opaque } = req;
        stream.swallow(bodylen, () => writeError(out, opcode, Status.UNKNOWN_COMMAND, opaque));
        return KEEP;
      }
    }
  }

  /** SASL_AUTH / SASL_STEP with -S: PLAIN in one step, checked against the -Y credentials. */
  #saslAuth(c: Ctx, cmd: number): BinaryOutcome {
    const host = this.#host;
    const { req } = c;
    if (req.key.length > MAX_MECH_LENGTH) {
      this.#error(c, Status.EINVAL);
      return KEEP;
    }
    if (req.value === null && memcachedItemTotal(req.key.length, req.skipped, 0, host.config.casEnabled) > host.config.pageSize) {
      // memcached cannot allocate the item it reads the data into
      this.#error(c, Status.ENOMEM);
      return KEEP;
    }
    host.counters.authCmds++;
    // (a skipped value is longer than any credentials; STEP never follows PLAIN, which completes at once)
    const plain = req.value !== null && cmd === Op.SASL_AUTH && isPlain(req.key) ? parsePlain(req.value) : null;
    if (plain !== null && host.sasl!.check(plain.user, plain.pass)) {
      writeResponse(c.out, req.opcode, Status.SUCCESS, req.opaque, 0n, null, null, AUTHENTICATED_BYTES);
      return AUTHENTICATED;
    }
    host.counters.authErrors++;
    this.#error(c, Status.AUTH_ERROR);
    host.clientRefused('auth failure', 'a client failed to authenticate', { protocol: 'binary', mechanism: quoteBytes(req.key) });
    return KEEP;
  }

  /** A success reply, left out for a quiet command. */
  #ok(c: Ctx, cas: bigint, extras: Uint8Array | null, key: Uint8Array | null, value: Uint8Array | null): void {
    if (c.quiet) return;
    writeResponse(c.out, c.req.opcode, Status.SUCCESS, c.req.opaque, cas, extras, key, value);
  }

  #error(c: Ctx, status: number): void {
    writeError(c.out, c.req.opcode, status, c.req.opaque);
  }

  #flush(c: Ctx): void {
    const host = this.#host;
    if (!host.config.flushEnabled) return this.#error(c, Status.AUTH_ERROR);
    const delay = c.req.extras.length === 4 ? c.req.extras.readUInt32BE(0) : 0;
    host.counters.cmdFlush++;
    host.store.flushAll(delay);
    this.#ok(c, 0n, null, null, null);
  }

  #update(c: Ctx, cmd: number): void {
    const host = this.#host;
    const store = host.store;
    const { req } = c;
    const key = req.key;
    const setFamily = cmd === Op.SET || cmd === Op.ADD || cmd === Op.REPLACE;
    host.detail?.set(key);
    const flags = setFamily ? req.extras.readUInt32BE(0) : 0;
    const exptime = setFamily ? req.extras.readUInt32BE(4) : 0;
    const config = host.config;
    if (req.value === null || memcachedItemTotal(key.length, req.value.length, flags, config.casEnabled) > config.pageSize) {
      // memcached fails to allocate the item before storing (not counted as store_too_large, unlike text)
      // memcached drops the old value when a set is refused, so stale data is not served.
      if (cmd === Op.SET) store.unlink(key);
      return this.#error(c, Status.E2BIG);
    }
    let mode = STORE_MODE.get(cmd)!;
    if (setFamily && req.cas !== 0n) mode = 'cas';
    if (!setFamily) {
      // memcached fails to allocate the combined item: "Not stored.", counted as a set, not as too large
      const h = store.peek(key);
      // (a mismatched CAS is answered first, by the store)
      const total = h < 0 || (req.cas !== 0n && store.itemCas(h) !== req.cas) ? 0 : memcachedItemTotal(key.length, store.itemValueLength(h) + req.value.length, store.itemFlags(h), config.casEnabled);
      if (total > config.pageSize) {
        store.countRefusedSet(key.length, req.value.length);
        return this.#error(c, Status.NOT_STORED);
      }
    }
    const res: StoreResult = store.store(mode, key, flags, exptime, req.value, req.cas);
    switch (res) {
      case 'STORED': return this.#ok(c, store.itemCas(store.lastWritten), null, null, null);
      case 'EXISTS': return this.#error(c, Status.KEY_EEXISTS);
      case 'NOT_FOUND': return this.#error(c, Status.KEY_ENOENT);
      case 'TOO_LARGE':
      case 'NO_MEMORY':
        // a failed allocation: memcached says "Not stored." for append/prepend
        if (!setFamily) return this.#error(c, Status.NOT_STORED);
        if (res === 'NO_MEMORY') return this.#error(c, Status.ENOMEM);
        if (cmd === Op.SET) store.unlink(key);
        return this.#error(c, Status.E2BIG);
      case 'NOT_STORED':
        return this.#error(c, cmd === Op.ADD ? Status.KEY_EEXISTS : cmd === Op.REPLACE ? Status.KEY_ENOENT : Status.NOT_STORED);
    }
  }

  #getOrTouch(c: Ctx, cmd: number): void {
    const host = this.#host;
    const store = host.store;
    const { req, out } = c;
    const key = req.key;
    const touch = cmd === Op.TOUCH || cmd === Op.GAT || cmd === Op.GATK;
    const withKey = cmd === Op.GETK || cmd === Op.GATK;
    const exptime = touch ? req.extras.readUInt32BE(0) : 0;
    const h = touch ? store.getAndTouch(key, exptime) : store.get(key);
    host.detail?.get(key, h >= 0);
    if (h < 0) {
      if (c.quiet) return;
      if (withKey) writeResponse(out, req.opcode, Status.KEY_ENOENT, req.opaque, 0n, null, key, null);
      else this.#error(c, Status.KEY_ENOENT);
      return;
    }
    const vlen = cmd === Op.TOUCH ? 0 : store.itemValueLength(h);
    const klen = withKey ? key.length : 0;
    const buf = out.reserve(HEADER_LENGTH + 4 + klen + vlen);
    let at = writeResponseHeader(buf, out.offset, {
      opcode: req.opcode, status: Status.SUCCESS, keyLength: klen, extrasLength: 4,
      bodyLength: 4 + klen + vlen, opaque: req.opaque, cas: store.itemCas(h),
    });
    buf.writeUInt32BE(store.itemFlags(h) >>> 0, at);
    at += 4;
    if (withKey) { key.copy(buf, at); at += klen; }
    if (vlen > 0) at += store.copyValue(h, buf, at);
    out.advance(at - out.offset);
  }

  #delete(c: Ctx): void {
    const host = this.#host;
    const store = host.store;
    const key = c.req.key;
    host.detail?.del(key);
    if (c.req.cas !== 0n) {
      const h = store.peek(key);
      if (h >= 0 && store.itemCas(h) !== c.req.cas) return this.#error(c, Status.KEY_EEXISTS);
    }
    if (!store.delete(key)) return this.#error(c, Status.KEY_ENOENT);
    this.#ok(c, 0n, null, null, null);
  }

  #arith(c: Ctx, incr: boolean): void {
    const host = this.#host;
    const store = host.store;
    const { req } = c;
    const key = req.key;
    const delta = req.extras.readBigUInt64BE(0);
    const initial = req.extras.readBigUInt64BE(8);
    const expiration = req.extras.readUInt32BE(16);
    const existing = store.peek(key);
    if (existing < 0 && expiration !== NO_CREATE) {
      const r = store.store('add', key, 0, expiration, Buffer.from(initial.toString(), 'latin1'), 0n);
      if (r !== 'STORED') return this.#error(c, Status.NOT_STORED);
      return this.#ok(c, store.itemCas(store.lastWritten), null, null, u64(initial));
    }
    const r = store.arith(key, incr, delta, req.cas);
    if (r === 'NOT_FOUND') return this.#error(c, Status.KEY_ENOENT);
    if (r === 'EXISTS') return this.#error(c, Status.KEY_EEXISTS);
    if (r === 'NON_NUMERIC') return this.#error(c, Status.DELTA_BADVAL);
    if (r === 'NO_MEMORY') return this.#error(c, Status.ENOMEM);
    this.#ok(c, store.itemCas(store.lastWritten), null, null, u64(r));
  }

  #stat(c: Ctx): void {
    const { req, out } = c;
    const group = req.key.toString('latin1');
    let list: StatList;
    try {
      list = this.#statList(group);
    } catch (err) {
      if (err instanceof UnknownStatGroupError) return this.#error(c, Status.KEY_ENOENT);
      throw err;
    }
    for (const [name, value] of list) {
      writeResponse(out, req.opcode, Status.SUCCESS, req.opaque, 0n, null,
        Buffer.from(name, 'latin1'), Buffer.from(String(value), 'latin1'));
    }
    // get_stats groups (items, slabs, sizes) end with an empty packet too
    writeResponse(out, req.opcode, Status.SUCCESS, req.opaque, 0n, null, null, null);
  }

  /** The key/value pairs of a STAT request; memcached matches these groups by prefix. */
  #statList(group: string): StatList {
    const host = this.#host;
    if (group === '') return host.generalStats();
    if (group.startsWith('reset')) { host.resetStats(); return []; }
    if (group.startsWith('settings')) {
      return settingsStats(host.config, { verbosity: host.verbosity, detailEnabled: host.detail !== null });
    }
    if (group.startsWith('detail')) {
      const sub = group.slice(6);
      if (sub.startsWith(' dump')) return [['detailed', host.prefixStats.dump()]];
      if (sub.startsWith(' on')) { host.setDetail(true); return []; }
      if (sub.startsWith(' off')) { host.setDetail(false); return []; }
      throw new UnknownStatGroupError(group);
    }
    switch (group) {
      case 'items': return host.store.statsItems();
      case 'slabs': return host.store.statsSlabs();
      case 'sizes': return host.store.statsSizes();
      default: throw new UnknownStatGroupError(group);
    }
  }
}

/** A malformed request: memcached answers "Invalid arguments" and closes the connection. */
function protocolError(req: BinaryRequest, out: OutBuffer): Outcome {
  writeError(out, req.opcode, Status.EINVAL, req.opaque);
  return CLOSE;
}

function u64(v: bigint): Buffer {
  const b = Buffer.allocUnsafe(8);
  b.writeBigUInt64BE(v);
  return b;
}
