/**
 * memcached's binary protocol (protocol_binary.h): 24-byte headers, big-endian fields.
 * Pure codec: bytes in, requests out; replies are written into a byte sink.
 */

import { allocReleasable, release } from '../releasable-buffer.ts';

export const HEADER_LENGTH = 24;
export const MAGIC_REQUEST = 0x80;
export const MAGIC_RESPONSE = 0x81;

export const Op = {
  GET: 0x00, SET: 0x01, ADD: 0x02, REPLACE: 0x03, DELETE: 0x04, INCREMENT: 0x05, DECREMENT: 0x06,
  QUIT: 0x07, FLUSH: 0x08, GETQ: 0x09, NOOP: 0x0a, VERSION: 0x0b, GETK: 0x0c, GETKQ: 0x0d,
  APPEND: 0x0e, PREPEND: 0x0f, STAT: 0x10, SETQ: 0x11, ADDQ: 0x12, REPLACEQ: 0x13, DELETEQ: 0x14,
  INCREMENTQ: 0x15, DECREMENTQ: 0x16, QUITQ: 0x17, FLUSHQ: 0x18, APPENDQ: 0x19, PREPENDQ: 0x1a,
  TOUCH: 0x1c, GAT: 0x1d, GATQ: 0x1e, SASL_LIST_MECHS: 0x20, SASL_AUTH: 0x21, SASL_STEP: 0x22,
  GATK: 0x23, GATKQ: 0x24,
} as const;

export const Status = {
  SUCCESS: 0x00, KEY_ENOENT: 0x01, KEY_EEXISTS: 0x02, E2BIG: 0x03, EINVAL: 0x04, NOT_STORED: 0x05,
  DELTA_BADVAL: 0x06, AUTH_ERROR: 0x20, AUTH_CONTINUE: 0x21, UNKNOWN_COMMAND: 0x81, ENOMEM: 0x82,
} as const;

/** The value memcached puts in an error reply's body for each status. */
export const STATUS_TEXT: Readonly<Record<number, string>> = {
  [Status.KEY_ENOENT]: 'Not found',
  [Status.KEY_EEXISTS]: 'Data exists for key.',
  [Status.E2BIG]: 'Too large.',
  [Status.EINVAL]: 'Invalid arguments',
  [Status.NOT_STORED]: 'Not stored.',
  [Status.DELTA_BADVAL]: 'Non-numeric server-side value for incr or decr',
  [Status.AUTH_ERROR]: 'Auth failure.',
  [Status.UNKNOWN_COMMAND]: 'Unknown command',
  [Status.ENOMEM]: 'Out of memory',
};

/** Quiet opcode -> the command it is a quiet form of. */
export const QUIET_OF: ReadonlyMap<number, number> = new Map([
  [Op.GETQ, Op.GET], [Op.GETKQ, Op.GETK], [Op.SETQ, Op.SET], [Op.ADDQ, Op.ADD], [Op.REPLACEQ, Op.REPLACE],
  [Op.DELETEQ, Op.DELETE], [Op.INCREMENTQ, Op.INCREMENT], [Op.DECREMENTQ, Op.DECREMENT], [Op.QUITQ, Op.QUIT],
  [Op.FLUSHQ, Op.FLUSH], [Op.APPENDQ, Op.APPEND], [Op.PREPENDQ, Op.PREPEND], [Op.GATQ, Op.GAT], [Op.GATKQ, Op.GATK],
]);

/** memcached's KEY_MAX_LENGTH: longer binary keys are a protocol error. */
export const MAX_KEY_LENGTH = 250;

export interface BinaryRequest {
  opcode: number;
  datatype: number;
  vbucket: number;
  /** bodylen as sent: extras + key + value */
  bodyLength: number;
  /** kept as sent and echoed back */
  opaque: number;
  cas: bigint;
  extras: Buffer;
  key: Buffer;
  /**
   * The value of a command that carries one (set family, append/prepend, SASL auth/step); null for others, and when
   * the value was longer than the parser's limit (then `skipped` holds its length and it was discarded).
   */
  value: Buffer | null;
  skipped: number;
}

/** The stream did not start with a request magic byte: memcached closes such a connection silently. */
export class BadMagicError extends Error {
  readonly magic: number;
  constructor(magic: number) {
    super(`bad binary request magic 0x${magic.toString(16)}`);
    this.name = 'BadMagicError';
    this.magic = magic;
  }
}

const SET_FAMILY = new Set<number>([Op.SET, Op.SETQ, Op.ADD, Op.ADDQ, Op.REPLACE, Op.REPLACEQ]);
const APPEND_FAMILY = new Set<number>([Op.APPEND, Op.APPENDQ, Op.PREPEND, Op.PREPENDQ]);

/**
 * Whether memcached reads a value after the extras and key: only for commands whose header is
 * well formed (otherwise it answers at once and closes, so the parser must not wait for a body).
 */
function carriesValue(opcode: number, extlen: number, keylen: number, bodylen: number): boolean {
  if (keylen === 0 || keylen > MAX_KEY_LENGTH || keylen + extlen > bodylen) return false;
  if (SET_FAMILY.has(opcode)) return extlen === 8;
  if (APPEND_FAMILY.has(opcode)) return extlen === 0;
  // the SASL data, the value of SASL_AUTH / SASL_STEP (memcached reads it before answering)
  if (opcode === Op.SASL_AUTH || opcode === Op.SASL_STEP) return extlen === 0;
  return false;
}

export interface BinaryParserOptions {
  /** Values longer than this are skipped, not buffered (the item could never be stored). */
  maxValueLength: number;
}

/**
 * Incremental request parser: push() any split of the stream. A request is handed over once its
 * header, extras and key (and a value, for the commands that carry one) have arrived. Bytes after
 * the key of other commands are the next request, as in memcached. The buffers in a request are
 * views of the pushed chunk or of the parser's own buffer: valid until the next push().
 */
const NOTHING = Buffer.alloc(0);
/** A held-bytes buffer larger than this is dropped once emptied. */
const KEEP_CAPACITY = 64 * 1024;

export class BinaryParser {
  #opts: BinaryParserOptions;
  readonly #onRequest: (req: BinaryRequest) => void;
  /** bytes of an unfinished request, copied out of earlier chunks: #held[0, #heldLength) */
  #held: Buffer | null = null;
  #heldLength = 0;
  /** bytes still to discard (a too-long value, or what a handler asked to swallow) */
  #skip = 0;
  /** Runs once #skip reaches 0 (see swallow()). */
  #afterSkip: (() => void) | null = null;
  #stopped = false;
  /** Set by pause(): requests stay in #held until resume(). */
  #paused = false;

  constructor(opts: BinaryParserOptions, onRequest: (req: BinaryRequest) => void) {
    this.#opts = opts;
    this.#onRequest = onRequest;
  }

  get pending(): number {
    return this.#heldLength;
  }

  /** Changes the longest value buffered (e.g. small until a connection has authenticated). */
  setMaxValueLength(n: number): void {
    this.#opts = { ...this.#opts, maxValueLength: n };
  }

  /**
   * Discards the next n bytes of the stream (memcached's conn_swallow); then, before any later request, runs
   * `then` (memcached answers an unknown command once its body is swallowed).
   */
  swallow(n: number, then?: () => void): void {
    this.#skip += n;
    if (then === undefined) return;
    if (this.#skip === 0) then();
    else this.#afterSkip = then;
  }

  /** Ignores everything from now on (the connection is closing). */
  stop(): void {
    this.#stopped = true;
    this.#afterSkip = null;
    this.#held = null;
    this.#heldLength = 0;
  }

  /** Hands over no more requests after the current one until resume(); what is pushed meanwhile is kept. */
  pause(): void {
    this.#paused = true;
  }

  get paused(): boolean {
    return this.#paused;
  }

  /** Hands over the requests held since pause() (onRequest may pause again). */
  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    if (this.#heldLength > 0 || this.#skip > 0) this.push(NOTHING);
  }

  push(chunk: Buffer): void {
    let buf = chunk;
    let end = chunk.length;
    if (this.#heldLength > 0) {
      buf = this.#append(chunk);
      end = this.#heldLength;
      this.#heldLength = 0;
    }
    let at = 0;
    while (!this.#stopped && !this.#paused) {
      if (this.#skip > 0) {
        const n = Math.min(this.#skip, end - at);
        this.#skip -= n;
        at += n;
        if (this.#skip > 0) return;
        const then = this.#afterSkip;
        if (then !== null) {
          this.#afterSkip = null;
          then();
          continue; // (it may have paused or stopped the stream)
        }
      }
      if (end - at < HEADER_LENGTH) break;
      if (buf[at] !== MAGIC_REQUEST) throw new BadMagicError(buf[at]);
      const n = this.#take(buf, at, end);
      if (n === 0) break;
      at += n;
    }
    if (this.#stopped) return;
    if (at === end) {
      // a large value's buffer is not kept for the connection's life
      if (buf === this.#held && buf.length > KEEP_CAPACITY) {
        release(buf);
        this.#held = null;
      }
      return;
    }
    if (buf === this.#held) {
      if (at > 0) buf.copy(buf, 0, at, end);
      this.#heldLength = end - at;
    } else {
      this.#heldLength = 0;
      this.#append(buf.subarray(at, end));
    }
  }

  /** Adds bytes to the held ones, growing the buffer by doubling (a large value arrives in many chunks). */
  #append(bytes: Buffer): Buffer {
    const need = this.#heldLength + bytes.length;
    let held = this.#held;
    if (held === null || held.length < need) {
      const next = allocReleasable(Math.max(need, (held?.length ?? 0) * 2, 256));
      if (held !== null) {
        held.copy(next, 0, 0, this.#heldLength);
        release(held);
      }
      this.#held = held = next;
    }
    bytes.copy(held, this.#heldLength);
    this.#heldLength = need;
    return held;
  }

  /** Emits the request starting at `at`; returns the bytes consumed, 0 when it is incomplete. */
  #take(b: Buffer, at: number, end: number): number {
    const opcode = b[at + 1];
    const keylen = b.readUInt16BE(at + 2);
    const extlen = b[at + 4];
    const bodylen = b.readUInt32BE(at + 8);
    const head = HEADER_LENGTH + extlen + keylen;
    if (end - at < head) return 0;
    let value: Buffer | null = null;
    let skipped = 0;
    let consumed = head;
    if (carriesValue(opcode, extlen, keylen, bodylen)) {
      const vlen = bodylen - extlen - keylen;
      if (vlen > this.#opts.maxValueLength) {
        skipped = vlen;
      } else {
        if (end - at < head + vlen) return 0;
        value = b.subarray(at + head, at + head + vlen);
        consumed += vlen;
      }
    }
    const req: BinaryRequest = {
      opcode,
      datatype: b[at + 5],
      vbucket: b.readUInt16BE(at + 6),
      bodyLength: bodylen,
      opaque: b.readUInt32BE(at + 12),
      cas: b.readBigUInt64BE(at + 16),
      extras: b.subarray(at + HEADER_LENGTH, at + HEADER_LENGTH + extlen),
      key: b.subarray(at + HEADER_LENGTH + extlen, at + head),
      value,
      skipped,
    };
    if (skipped > 0) this.#skip += skipped;
    this.#onRequest(req);
    return consumed;
  }
}

/** What replies are written into (the server's OutBuffer satisfies it). */
export interface ByteSink {
  reserve(n: number): Buffer;
  readonly offset: number;
  advance(n: number): void;
}

export interface ResponseHeader {
  opcode: number;
  status: number;
  keyLength: number;
  extrasLength: number;
  bodyLength: number;
  opaque: number;
  cas: bigint;
}

/** Writes a 24-byte response header at buf[at]; returns the offset after it. */
export function writeResponseHeader(buf: Buffer, at: number, h: ResponseHeader): number {
  buf[at] = MAGIC_RESPONSE;
  buf[at + 1] = h.opcode;
  buf.writeUInt16BE(h.keyLength, at + 2);
  buf[at + 4] = h.extrasLength;
  buf[at + 5] = 0;
  buf.writeUInt16BE(h.status, at + 6);
  buf.writeUInt32BE(h.bodyLength, at + 8);
  buf.writeUInt32BE(h.opaque >>> 0, at + 12);
  buf.writeBigUInt64BE(h.cas, at + 16);
  return at + HEADER_LENGTH;
}

/** Appends a whole response packet: header, then extras, key and value as given. */
export function writeResponse(
  out: ByteSink, opcode: number, status: number, opaque: number, cas: bigint,
  extras: Uint8Array | null, key: Uint8Array | null, value: Uint8Array | null,
): void {
  const e = extras?.length ?? 0;
  const k = key?.length ?? 0;
  const v = value?.length ?? 0;
  const buf = out.reserve(HEADER_LENGTH + e + k + v);
  let at = writeResponseHeader(buf, out.offset, {
    opcode, status, keyLength: k, extrasLength: e, bodyLength: e + k + v, opaque, cas,
  });
  if (extras) { buf.set(extras, at); at += e; }
  if (key) { buf.set(key, at); at += k; }
  if (value) { buf.set(value, at); at += v; }
  out.advance(at - out.offset);
}

/** An error reply: the status with memcached's text for it as the value. */
export function writeError(out: ByteSink, opcode: number, status: number, opaque: number): void {
  writeResponse(out, opcode, status, opaque, 0n, null, null, Buffer.from(STATUS_TEXT[status] ?? '', 'latin1'));
}
