/**
 * Incremental parser for memcached's binary-protocol responses (what a server sends back): 24-byte header,
 * then extras, key and value. Pure: bytes in, one response at a time out; the response's bytes are a view of
 * the pushed chunk or of the parser's own buffer, valid only during the callback.
 */
import { HEADER_LENGTH, MAGIC_RESPONSE, Op, Status } from './codec.ts';

/** The response just parsed. One object, rewritten for each response: read it in the callback. */
export interface BinaryResponse {
  /** 1 (the text protocol's VALUE) for a get that hit, so counters treat both protocols alike; else 0. */
  kind: number;
  opcode: number;
  status: number;
  opaque: number;
  keyLength: number;
  extrasLength: number;
  /** The whole packet is buf[start, end). */
  buf: Buffer;
  start: number;
  end: number;
}

export class BinaryResponseError extends Error {
  override name = 'BinaryResponseError';
}

const GETS = new Set<number>([Op.GET, Op.GETQ, Op.GETK, Op.GETKQ, Op.GAT, Op.GATQ, Op.GATK, Op.GATKQ]);
const EMPTY = Buffer.alloc(0);
const MAX_BODY = 1024 * 1024 * 1024 + 4096;

export class BinaryResponseParser {
  readonly #onResponse: (r: BinaryResponse) => void;
  readonly #r: BinaryResponse = { kind: 0, opcode: 0, status: 0, opaque: 0, keyLength: 0, extrasLength: 0, buf: EMPTY, start: 0, end: 0 };
  #held: Buffer = EMPTY;
  #heldLength = 0;
  #broken = false;

  constructor(onResponse: (r: BinaryResponse) => void) {
    this.#onResponse = onResponse;
  }

  get pending(): number {
    return this.#heldLength;
  }

  push(chunk: Buffer, length = chunk.length): void {
    if (this.#broken) throw new BinaryResponseError('parser used after a protocol error');
    let buf = chunk;
    let end = length;
    if (this.#heldLength > 0) {
      this.#append(chunk, length);
      buf = this.#held;
      end = this.#heldLength;
    }
    let at = 0;
    while (end - at >= HEADER_LENGTH) {
      if (buf[at] !== MAGIC_RESPONSE) this.#fail(`bad response magic 0x${buf[at]!.toString(16)}`);
      const body = buf.readUInt32BE(at + 8);
      if (body > MAX_BODY) this.#fail(`response body of ${body} bytes`);
      const total = HEADER_LENGTH + body;
      if (end - at < total) break;
      const r = this.#r;
      r.opcode = buf[at + 1]!;
      r.keyLength = buf.readUInt16BE(at + 2);
      r.extrasLength = buf[at + 4]!;
      r.status = buf.readUInt16BE(at + 6);
      r.opaque = buf.readUInt32BE(at + 12);
      r.kind = r.status === Status.SUCCESS && GETS.has(r.opcode) ? 1 : 0;
      r.buf = buf;
      r.start = at;
      r.end = at + total;
      if (r.keyLength + r.extrasLength > body) this.#fail('response key and extras longer than its body');
      at += total;
      this.#onResponse(r);
    }
    const rest = end - at;
    if (buf === this.#held) {
      if (rest > 0 && at > 0) buf.copy(buf, 0, at, end);
      this.#heldLength = rest;
    } else if (rest > 0) {
      this.#heldLength = 0;
      this.#append(buf.subarray(at, end), rest);
    }
  }

  #append(b: Buffer, n: number): void {
    const need = this.#heldLength + n;
    if (need > this.#held.length) {
      const next = Buffer.allocUnsafe(Math.max(need, this.#held.length * 2, 4096));
      this.#held.copy(next, 0, 0, this.#heldLength);
      this.#held = next;
    }
    b.copy(this.#held, this.#heldLength, 0, n);
    this.#heldLength = need;
  }

  #fail(why: string): never {
    this.#broken = true;
    this.#heldLength = 0;
    throw new BinaryResponseError(why);
  }
}
