import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * The lease protocol between haved nodes and a haved witness (`haved --witness`), one UDP datagram each way.
 * Every datagram carries an HMAC-SHA256 over all bytes before it with the shared witness secret; the kind byte
 * is covered, so a reply cannot pass for a request. Big-endian:
 *
 *   0  u16  magic 0x6877 ("hw")            REQUEST (kind 1)               REPLY (kind 2)
 *   2  u8   version (1)                    12 u32  lease asked, ms       12 u32  lease granted / left, ms
 *   3  u8   kind                           16 u8   node id length        16 u8   node id length
 *   4  u64  sequence                       17 ...  node id (UTF-8)       17 u8   holder id length (0 = none)
 *  12  ...  (kind specific)                                              18 ...  node id, holder id
 *  then (both kinds): u8 VRID, u8 flags/verdict, 32 bytes HMAC
 *
 * A request's sequence is the node's (time-based, strictly increasing: proto/advert/replay.ts); the witness
 * drops a sequence it has seen (ReplayWindow). A reply echoes the sequence of the request it answers; a node
 * accepts a reply only for a request it has outstanding, so a replayed reply matches nothing.
 */
export const WITNESS_MAGIC = 0x6877;
export const WITNESS_VERSION = 1;
const HMAC_BYTES = 32;
const FLAG_HELD = 0x01;
const MAX_LEASE_MS = 0xffff_ffff;

export type WitnessVerdict = 'GRANTED' | 'HELD' | 'WAIT';
const VERDICT_CODE: Record<WitnessVerdict, number> = { GRANTED: 1, HELD: 2, WAIT: 3 };
const VERDICT_BY_CODE = new Map(Object.entries(VERDICT_CODE).map(([k, v]) => [v, k as WitnessVerdict]));

export interface LeaseRequest {
  kind: 'REQUEST';
  vrid: number; // 1..255
  nodeId: string; // 1..255 UTF-8 bytes
  /** The node believes it holds this lease (a restarted witness honours only such claims until it is sure). */
  held: boolean;
  leaseMs: number; // u32
  sequence: bigint; // u64
}

export interface LeaseReply {
  kind: 'REPLY';
  vrid: number;
  /** The requester the reply is for. */
  nodeId: string;
  verdict: WitnessVerdict;
  /** GRANTED: the lease, counted from when the node sent its request. HELD/WAIT: how long until it may be free. */
  leaseMs: number;
  /** HELD: who holds it; otherwise null. */
  holder: string | null;
  /** The sequence of the request this answers. */
  sequence: bigint;
}

export type WitnessMessage = LeaseRequest | LeaseReply;

export type WitnessErrorCode = 'TRUNCATED' | 'BAD_MAGIC' | 'BAD_VERSION' | 'BAD_KIND' | 'BAD_FIELD' | 'TRAILING_BYTES' | 'BAD_AUTH' | 'REPLAYED';

/** Why a witness datagram was dropped; receivers count these by `code`. */
export class WitnessDecodeError extends Error {
  override name = 'WitnessDecodeError';
  readonly code: WitnessErrorCode;
  constructor(code: WitnessErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

/** A field that cannot be encoded (a programming or config error, never a network condition). */
export class WitnessEncodeError extends Error {
  override name = 'WitnessEncodeError';
}

export type WitnessDecodeResult = { ok: true; message: WitnessMessage } | { ok: false; error: WitnessDecodeError };

const hmac = (key: string | Uint8Array, data: Uint8Array) => createHmac('sha256', key).update(data).digest();

function id(text: string, field: string, allowEmpty = false): Buffer {
  const b = Buffer.from(text, 'utf8');
  if ((!allowEmpty && b.length < 1) || b.length > 255) throw new WitnessEncodeError(`${field} must be ${allowEmpty ? 0 : 1}..255 bytes`);
  return b;
}

function checkInt(value: number, min: number, max: number, field: string): void {
  if (!Number.isInteger(value) || value < min || value > max) throw new WitnessEncodeError(`${field} must be an integer in ${min}..${max}, got ${value}`);
}

/** Serialises one message with its HMAC. Throws WitnessEncodeError on a field out of range. */
export function encodeWitness(msg: WitnessMessage, key: string | Uint8Array): Buffer {
  checkInt(msg.vrid, 1, 255, 'vrid');
  checkInt(msg.leaseMs, 0, MAX_LEASE_MS, 'lease');
  if (msg.sequence < 0n || msg.sequence > 0xffff_ffff_ffff_ffffn) throw new WitnessEncodeError('sequence out of u64 range');
  const node = id(msg.nodeId, 'node id');
  const holder = msg.kind === 'REPLY' ? id(msg.holder ?? '', 'holder id', true) : null;
  const body = 17 + node.length + (holder ? 1 + holder.length : 0) + 2;
  const buf = Buffer.alloc(body + HMAC_BYTES);
  buf.writeUInt16BE(WITNESS_MAGIC, 0);
  buf[2] = WITNESS_VERSION;
  buf[3] = msg.kind === 'REQUEST' ? 1 : 2;
  buf.writeBigUInt64BE(msg.sequence, 4);
  buf.writeUInt32BE(msg.leaseMs, 12);
  buf[16] = node.length;
  let off = 17;
  if (holder) buf[off++] = holder.length;
  off += node.copy(buf, off);
  if (holder) off += holder.copy(buf, off);
  buf[off++] = msg.vrid;
  buf[off++] = msg.kind === 'REQUEST' ? (msg.held ? FLAG_HELD : 0) : VERDICT_CODE[msg.verdict];
  hmac(key, buf.subarray(0, off)).copy(buf, off);
  return buf;
}

function fail(code: WitnessErrorCode, message: string): WitnessDecodeResult {
  return { ok: false, error: new WitnessDecodeError(code, message) };
}

/** Parses and authenticates one datagram (the replay check is the receiver's). Never throws for bad input. */
export function decodeWitness(input: Uint8Array, key: string | Uint8Array): WitnessDecodeResult {
  const buf = Buffer.isBuffer(input) ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  if (buf.length >= 2 && buf.readUInt16BE(0) !== WITNESS_MAGIC) return fail('BAD_MAGIC', 'not a witness message (bad magic)');
  if (buf.length >= 3 && buf[2] !== WITNESS_VERSION) return fail('BAD_VERSION', `unsupported witness version ${buf[2]}`);
  if (buf.length < 18) return fail('TRUNCATED', `witness message truncated: ${buf.length} bytes`);
  const kind = buf[3];
  if (kind !== 1 && kind !== 2) return fail('BAD_KIND', `unknown witness message kind ${kind}`);
  const nodeLength = buf[16];
  const holderLength = kind === 2 ? buf[17] : 0;
  const ids = 17 + (kind === 2 ? 1 : 0);
  const body = ids + nodeLength + holderLength + 2;
  const total = body + HMAC_BYTES;
  if (buf.length < total) return fail('TRUNCATED', `witness message truncated: ${buf.length} bytes, expected ${total}`);
  if (buf.length > total) return fail('TRAILING_BYTES', `witness message has ${buf.length - total} trailing bytes`);
  if (!timingSafeEqual(buf.subarray(body, total), hmac(key, buf.subarray(0, body)))) return fail('BAD_AUTH', 'HMAC authentication failed');

  if (nodeLength === 0) return fail('BAD_FIELD', 'empty node id');
  const vrid = buf[body - 2];
  const flag = buf[body - 1];
  if (vrid === 0) return fail('BAD_FIELD', 'VRID 0');
  const sequence = buf.readBigUInt64BE(4);
  const leaseMs = buf.readUInt32BE(12);
  const nodeId = buf.toString('utf8', ids, ids + nodeLength);
  if (kind === 1) {
    if ((flag & ~FLAG_HELD) !== 0) return fail('BAD_FIELD', `unknown flags 0x${flag.toString(16)}`);
    return { ok: true, message: { kind: 'REQUEST', vrid, nodeId, held: flag === FLAG_HELD, leaseMs, sequence } };
  }
  const verdict = VERDICT_BY_CODE.get(flag);
  if (verdict === undefined) return fail('BAD_FIELD', `unknown verdict ${flag}`);
  const holder = holderLength === 0 ? null : buf.toString('utf8', ids + nodeLength, ids + nodeLength + holderLength);
  return { ok: true, message: { kind: 'REPLY', vrid, nodeId, verdict, leaseMs, holder, sequence } };
}
