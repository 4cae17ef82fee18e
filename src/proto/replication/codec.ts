/**
 * The replication wire protocol (see PROTOCOL.md): length-prefixed binary frames.
 *
 *   frame = u32 bodyLength (big endian, counts the type byte) | u8 type | body
 *
 * Pure: bytes in, messages out and back. No sockets, no timers.
 */
export const PROTOCOL_MAGIC = 0x48565250; // "HVRP"
export const PROTOCOL_VERSION = 3;
/** Largest frame body accepted: a maximal item (-I up to 1 GB is memcached's cap; we bound frames at 128 MB). */
export const MAX_FRAME = 128 * 1024 * 1024;
export const NONCE_BYTES = 16;
/** Frame limit before authentication: HELLO, AUTH and ERROR are small. */
export const HANDSHAKE_MAX_FRAME = 4096;
export const PROOF_BYTES = 32;

export const FrameType = {
  HELLO: 1,
  AUTH: 2,
  RESUME: 3,
  SET: 4,
  DELETE: 5,
  TOUCH: 6,
  FLUSH: 7,
  ACK: 8,
  HEARTBEAT: 9,
  SYNC_BEGIN: 10,
  SYNC_ITEM: 11,
  SYNC_END: 12,
  ERROR: 13,
  NOT_READY: 14,
  STATE: 15,
  COUNTER: 16,
} as const;

export type Role = 'sender' | 'receiver';

/**
 * What a node's store holds (PROTOCOL.md, Joining): `complete` (everything the cluster had when it joined, or it
 * started a cold cluster, or an operator said so), `joining` (waiting for a complete copy, client port closed) or
 * `partial` (serving without a complete copy).
 */
export type Completeness = 'joining' | 'complete' | 'partial';
const COMPLETENESS: readonly Completeness[] = ['joining', 'complete', 'partial'];

/**
 * One origin's part of a counter (PROTOCOL.md, Counters): the sum of the increments and decrements node
 * `version & 1023` made on the counter whose base has version `base`, as of its operation `version`. Carries the
 * running sum, not one delta, so a duplicate or a stale frame changes nothing.
 */
export interface CounterPart { type: 'counter'; seq: bigint; base: bigint; version: bigint; sum: bigint; key: Buffer }

/** A counter part's sum is a signed 128-bit integer on the wire. */
export const COUNTER_SUM_MIN = -(1n << 127n);
export const COUNTER_SUM_MAX = (1n << 127n) - 1n;

/** A node's join status as peers see it: in HELLO and STATE. */
export interface NodeStatus {
  completeness: Completeness;
  /** The node has held data in this run (items or tombstones): false means it started empty and got nothing. */
  holdsData: boolean;
  /** Items in its store (an estimate: expired items may count). */
  items: number;
}

export interface Hello {
  type: 'hello';
  version: number;
  nodeId: number;
  /** Random per process start: a new run id means the sender's log restarted. */
  runId: bigint;
  role: Role;
  /** The sender's replication listen port, so a receiver can dial back. */
  listenPort: number;
  itemSizeMax: number;
  syncMode: boolean;
  completeness: Completeness;
  holdsData: boolean;
  items: number;
  nonce: Buffer;
}
export interface Auth { type: 'auth'; proof: Buffer }
/** Receiver → sender: where to start. `fromSeq` 0n means "full copy". */
export interface Resume { type: 'resume'; fromSeq: bigint }
export interface SetItem { type: 'set'; seq: bigint; version: bigint; flags: number; ttl: number; key: Buffer; value: Buffer }
export interface DeleteItem { type: 'delete'; seq: bigint; version: bigint; key: Buffer }
export interface TouchItem { type: 'touch'; seq: bigint; version: bigint; ttl: number; key: Buffer }
export interface Flush { type: 'flush'; seq: bigint; version: bigint; delay: number }
export interface Ack { type: 'ack'; seq: bigint }
export interface Heartbeat { type: 'heartbeat'; seq: bigint }
/** `source`: the sender's completeness when the copy began; only a `complete` copy completes a joining node. */
export interface SyncBegin { type: 'sync_begin'; startSeq: bigint; items: number; flushEpoch: bigint; copyId: bigint; source: 'complete' | 'partial' }
export interface SyncItem { type: 'sync_item'; version: bigint; flags: number; ttl: number; key: Buffer; value: Buffer }
export interface SyncEnd { type: 'sync_end'; items: number; copyId: bigint }
export interface ErrorFrame { type: 'error'; reason: string }
/** Sender → receiver: the answer to a copy request from a node that is still joining itself. */
export interface NotReady { type: 'not_ready' }
/** Sender → receiver: the sender's join status changed. */
export interface State extends NodeStatus { type: 'state' }

export type Message =
  | Hello | Auth | Resume | SetItem | DeleteItem | TouchItem | Flush | Ack | Heartbeat
  | SyncBegin | SyncItem | SyncEnd | ErrorFrame | NotReady | State | CounterPart;

export class ProtocolError extends Error {
  override name = 'ProtocolError';
}

const HEADER = 5;

function frame(type: number, bodyLength: number): Buffer {
  const buf = Buffer.allocUnsafe(HEADER + bodyLength);
  buf.writeUInt32BE(bodyLength + 1, 0);
  buf[4] = type;
  return buf;
}

function checkKey(key: Buffer): void {
  if (key.length === 0 || key.length > 250) throw new ProtocolError(`key length ${key.length} out of range 1..250`);
}

export function encode(m: Message): Buffer {
  switch (m.type) {
    case 'hello': {
      if (m.nonce.length !== NONCE_BYTES) throw new ProtocolError('nonce must be 16 bytes');
      const b = frame(FrameType.HELLO, HELLO_BYTES);
      let o = HEADER;
      o = b.writeUInt32BE(PROTOCOL_MAGIC, o);
      o = b.writeUInt16BE(m.version, o);
      o = b.writeUInt16BE(m.nodeId, o);
      o = b.writeBigUInt64BE(m.runId, o);
      o = b.writeUInt8(m.role === 'sender' ? 0 : 1, o);
      o = b.writeUInt16BE(m.listenPort, o);
      o = b.writeUInt32BE(m.itemSizeMax, o);
      o = b.writeUInt8((m.syncMode ? 1 : 0) | (m.holdsData ? 2 : 0), o);
      o = b.writeUInt8(COMPLETENESS.indexOf(m.completeness), o);
      o = b.writeUInt32BE(m.items, o);
      m.nonce.copy(b, o);
      return b;
    }
    case 'auth': {
      if (m.proof.length !== PROOF_BYTES) throw new ProtocolError('proof must be 32 bytes');
      const b = frame(FrameType.AUTH, PROOF_BYTES);
      m.proof.copy(b, HEADER);
      return b;
    }
    case 'resume': return u64Frame(FrameType.RESUME, m.fromSeq);
    case 'ack': return u64Frame(FrameType.ACK, m.seq);
    case 'heartbeat': return u64Frame(FrameType.HEARTBEAT, m.seq);
    case 'set': {
      checkKey(m.key);
      const b = frame(FrameType.SET, 8 + 8 + 4 + 4 + 1 + m.key.length + m.value.length);
      let o = b.writeBigUInt64BE(m.seq, HEADER);
      o = b.writeBigUInt64BE(m.version, o);
      o = b.writeUInt32BE(m.flags >>> 0, o);
      o = b.writeUInt32BE(m.ttl, o);
      o = b.writeUInt8(m.key.length, o);
      o += m.key.copy(b, o);
      m.value.copy(b, o);
      return b;
    }
    case 'sync_item': {
      checkKey(m.key);
      const b = frame(FrameType.SYNC_ITEM, 8 + 4 + 4 + 1 + m.key.length + m.value.length);
      let o = b.writeBigUInt64BE(m.version, HEADER);
      o = b.writeUInt32BE(m.flags >>> 0, o);
      o = b.writeUInt32BE(m.ttl, o);
      o = b.writeUInt8(m.key.length, o);
      o += m.key.copy(b, o);
      m.value.copy(b, o);
      return b;
    }
    case 'delete': {
      checkKey(m.key);
      const b = frame(FrameType.DELETE, 8 + 8 + 1 + m.key.length);
      let o = b.writeBigUInt64BE(m.seq, HEADER);
      o = b.writeBigUInt64BE(m.version, o);
      o = b.writeUInt8(m.key.length, o);
      m.key.copy(b, o);
      return b;
    }
    case 'touch': {
      checkKey(m.key);
      const b = frame(FrameType.TOUCH, 8 + 8 + 4 + 1 + m.key.length);
      let o = b.writeBigUInt64BE(m.seq, HEADER);
      o = b.writeBigUInt64BE(m.version, o);
      o = b.writeUInt32BE(m.ttl, o);
      o = b.writeUInt8(m.key.length, o);
      m.key.copy(b, o);
      return b;
    }
    case 'counter': {
      checkKey(m.key);
      if (m.sum < COUNTER_SUM_MIN || m.sum > COUNTER_SUM_MAX) throw new ProtocolError('counter sum out of the signed 128-bit range');
      const b = frame(FrameType.COUNTER, 8 + 8 + 8 + 16 + 1 + m.key.length);
      let o = b.writeBigUInt64BE(m.seq, HEADER);
      o = b.writeBigUInt64BE(m.base, o);
      o = b.writeBigUInt64BE(m.version, o);
      const sum = BigInt.asUintN(128, m.sum);
      o = b.writeBigUInt64BE(sum >> 64n, o);
      o = b.writeBigUInt64BE(sum & 0xffffffffffffffffn, o);
      o = b.writeUInt8(m.key.length, o);
      m.key.copy(b, o);
      return b;
    }
    case 'flush': {
      const b = frame(FrameType.FLUSH, 8 + 8 + 4);
      let o = b.writeBigUInt64BE(m.seq, HEADER);
      o = b.writeBigUInt64BE(m.version, o);
      b.writeUInt32BE(m.delay, o);
      return b;
    }
    case 'sync_begin': {
      const b = frame(FrameType.SYNC_BEGIN, 8 + 4 + 8 + 8 + 1);
      let o = b.writeBigUInt64BE(m.startSeq, HEADER);
      o = b.writeUInt32BE(m.items, o);
      o = b.writeBigUInt64BE(m.flushEpoch, o);
      o = b.writeBigUInt64BE(m.copyId, o);
      b.writeUInt8(COMPLETENESS.indexOf(m.source), o);
      return b;
    }
    case 'sync_end': {
      const b = frame(FrameType.SYNC_END, 4 + 8);
      b.writeBigUInt64BE(m.copyId, b.writeUInt32BE(m.items, HEADER));
      return b;
    }
    case 'not_ready': return frame(FrameType.NOT_READY, 0);
    case 'state': {
      const b = frame(FrameType.STATE, 1 + 1 + 4);
      let o = b.writeUInt8(COMPLETENESS.indexOf(m.completeness), HEADER);
      o = b.writeUInt8(m.holdsData ? 1 : 0, o);
      b.writeUInt32BE(m.items, o);
      return b;
    }
    case 'error': {
      const text = Buffer.from(m.reason.slice(0, 1000), 'utf8');
      const b = frame(FrameType.ERROR, text.length);
      text.copy(b, HEADER);
      return b;
    }
  }
}

/** Bytes of a SET (with seq) or SYNC_ITEM (without) frame. */
export function itemFrameSize(withSeq: boolean, keyLength: number, valueLength: number): number {
  return HEADER + (withSeq ? 8 : 0) + 8 + 4 + 4 + 1 + keyLength + valueLength;
}

/**
 * Writes a SET or SYNC_ITEM frame's header into `b` at `o`, up to and including the key length; returns the offset
 * where the key's `keyLength` bytes go, followed by the value's `valueLength` (the sender copies both straight from
 * the store item: one copy, no allocation). `dv` is a DataView over the same bytes as `b`; the version comes as
 * two u32 words (hot path: no BigInt per frame).
 */
export function writeItemHeader(
  b: Buffer, dv: DataView, o: number, type: typeof FrameType.SET | typeof FrameType.SYNC_ITEM,
  seq: number, versionHigh: number, versionLow: number, flags: number, ttl: number, keyLength: number, valueLength: number,
): number {
  const withSeq = type === FrameType.SET;
  dv.setUint32(o, itemFrameSize(withSeq, keyLength, valueLength) - 4);
  b[o + 4] = type;
  o += 5;
  if (withSeq) {
    dv.setUint32(o, Math.floor(seq / 0x100000000));
    dv.setUint32(o + 4, seq >>> 0);
    o += 8;
  }
  dv.setUint32(o, versionHigh);
  dv.setUint32(o + 4, versionLow);
  dv.setUint32(o + 8, flags >>> 0);
  dv.setUint32(o + 12, ttl);
  b[o + 16] = keyLength;
  return o + 17;
}

export const dataViewOf = (b: Buffer): DataView => new DataView(b.buffer, b.byteOffset, b.byteLength);

/** A whole SET/SYNC_ITEM frame in its own buffer (tests, small paths). */
export function encodeItemFrame(
  type: typeof FrameType.SET | typeof FrameType.SYNC_ITEM,
  seq: number, version: bigint, flags: number, ttl: number, key: Buffer, value: Buffer,
): Buffer {
  checkKey(key);
  const b = Buffer.allocUnsafe(itemFrameSize(type === FrameType.SET, key.length, value.length));
  const high = Number(version >> 32n);
  const low = Number(version & 0xffffffffn);
  const at = writeItemHeader(b, dataViewOf(b), 0, type, seq, high, low, flags, ttl, key.length, value.length);
  value.copy(b, at + key.copy(b, at));
  return b;
}

/** HELLO body: magic, version, node id, run id, role, listen port, item size max, flags, completeness, items, nonce. */
const HELLO_BYTES = 4 + 2 + 2 + 8 + 1 + 2 + 4 + 1 + 1 + 4 + NONCE_BYTES;

function completenessAt(type: number, body: Buffer, at: number): Completeness {
  const c = COMPLETENESS[body[at]];
  if (c === undefined) throw new ProtocolError(`${names[type]} frame with unknown completeness ${body[at]}`);
  return c;
}

function u64Frame(type: number, v: bigint): Buffer {
  const b = frame(type, 8);
  b.writeBigUInt64BE(v, HEADER);
  return b;
}

const names: Record<number, string> = Object.fromEntries(Object.entries(FrameType).map(([k, v]) => [v, k]));

/**
 * Parses one frame body (type byte excluded). Keys and values are views into the received bytes: consumers
 * copy what they keep.
 */
export function decodeBody(type: number, body: Buffer): Message {
  const need = (n: number, exact = true) => {
    if (exact ? body.length !== n : body.length < n) {
      throw new ProtocolError(`${names[type]} frame body is ${body.length} bytes, expected ${exact ? '' : 'at least '}${n}`);
    }
  };
  const key = (at: number): Buffer => {
    const len = body[at];
    if (len === 0 || at + 1 + len > body.length) throw new ProtocolError(`${names[type]} frame has a bad key length ${len}`);
    return body.subarray(at + 1, at + 1 + len);
  };
  switch (type) {
    case FrameType.HELLO: {
      // Magic and version first: another version's HELLO has another layout, and deserves a clear refusal.
      need(6, false);
      if (body.readUInt32BE(0) !== PROTOCOL_MAGIC) throw new ProtocolError('HELLO without the protocol magic: not a repcache peer');
      const version = body.readUInt16BE(4);
      if (version !== PROTOCOL_VERSION) throw new ProtocolError(`peer speaks protocol version ${version}, this node speaks ${PROTOCOL_VERSION}`);
      need(HELLO_BYTES);
      const role = body[16];
      if (role > 1) throw new ProtocolError(`HELLO with unknown role ${role}`);
      return {
        type: 'hello', version, nodeId: body.readUInt16BE(6), runId: body.readBigUInt64BE(8),
        role: role === 0 ? 'sender' : 'receiver', listenPort: body.readUInt16BE(17), itemSizeMax: body.readUInt32BE(19),
        syncMode: (body[23] & 1) === 1, holdsData: (body[23] & 2) === 2, completeness: completenessAt(type, body, 24),
        items: body.readUInt32BE(25), nonce: Buffer.from(body.subarray(29, 29 + NONCE_BYTES)),
      };
    }
    case FrameType.AUTH:
      need(PROOF_BYTES);
      return { type: 'auth', proof: Buffer.from(body) };
    case FrameType.RESUME:
      need(8);
      return { type: 'resume', fromSeq: body.readBigUInt64BE(0) };
    case FrameType.ACK:
      need(8);
      return { type: 'ack', seq: body.readBigUInt64BE(0) };
    case FrameType.HEARTBEAT:
      need(8);
      return { type: 'heartbeat', seq: body.readBigUInt64BE(0) };
    case FrameType.SET: {
      need(8 + 8 + 4 + 4 + 2, false);
      const seq = body.readBigUInt64BE(0);
      if (seq > MAX_SEQ) throw new ProtocolError(`SET frame with sequence ${seq}, above 2^53 - 1`);
      const k = key(24);
      return {
        type: 'set', seq, version: body.readBigUInt64BE(8), flags: body.readUInt32BE(16),
        ttl: body.readUInt32BE(20), key: k, value: body.subarray(25 + k.length),
      };
    }
    case FrameType.SYNC_ITEM: {
      need(8 + 4 + 4 + 2, false);
      const k = key(16);
      return {
        type: 'sync_item', version: body.readBigUInt64BE(0), flags: body.readUInt32BE(8), ttl: body.readUInt32BE(12),
        key: k, value: body.subarray(17 + k.length),
      };
    }
    case FrameType.DELETE: {
      need(8 + 8 + 2, false);
      const k = key(16);
      if (body.length !== 17 + k.length) throw new ProtocolError('DELETE frame has trailing bytes');
      return { type: 'delete', seq: body.readBigUInt64BE(0), version: body.readBigUInt64BE(8), key: k };
    }
    case FrameType.TOUCH: {
      need(8 + 8 + 4 + 2, false);
      const k = key(20);
      if (body.length !== 21 + k.length) throw new ProtocolError('TOUCH frame has trailing bytes');
      return { type: 'touch', seq: body.readBigUInt64BE(0), version: body.readBigUInt64BE(8), ttl: body.readUInt32BE(16), key: k };
    }
    case FrameType.COUNTER: {
      need(8 + 8 + 8 + 16 + 2, false);
      const k = key(40);
      if (body.length !== 41 + k.length) throw new ProtocolError('COUNTER frame has trailing bytes');
      const seq = body.readBigUInt64BE(0);
      if (seq > MAX_SEQ) throw new ProtocolError(`COUNTER frame with sequence ${seq}, above 2^53 - 1`);
      const sum = BigInt.asIntN(128, (body.readBigUInt64BE(24) << 64n) | body.readBigUInt64BE(32));
      return { type: 'counter', seq, base: body.readBigUInt64BE(8), version: body.readBigUInt64BE(16), sum, key: k };
    }
    case FrameType.FLUSH:
      need(20);
      return { type: 'flush', seq: body.readBigUInt64BE(0), version: body.readBigUInt64BE(8), delay: body.readUInt32BE(16) };
    case FrameType.SYNC_BEGIN: {
      need(29);
      const source = completenessAt(type, body, 28);
      if (source === 'joining') throw new ProtocolError('SYNC_BEGIN from a joining node: it has no copy to give');
      return {
        type: 'sync_begin', startSeq: body.readBigUInt64BE(0), items: body.readUInt32BE(8), flushEpoch: body.readBigUInt64BE(12),
        copyId: body.readBigUInt64BE(20), source,
      };
    }
    case FrameType.SYNC_END:
      need(12);
      return { type: 'sync_end', items: body.readUInt32BE(0), copyId: body.readBigUInt64BE(4) };
    case FrameType.NOT_READY:
      need(0);
      return { type: 'not_ready' };
    case FrameType.STATE:
      need(6);
      if (body[1] > 1) throw new ProtocolError(`STATE frame with unknown flags ${body[1]}`);
      return { type: 'state', completeness: completenessAt(type, body, 0), holdsData: body[1] === 1, items: body.readUInt32BE(2) };
    case FrameType.ERROR:
      return { type: 'error', reason: body.toString('utf8') };
    default:
      throw new ProtocolError(`unknown frame type ${type}`);
  }
}

const TWO_32 = 2 ** 32;
/** Senders number their changes below 2^53 (a JavaScript number holds them exactly); a SET above is malformed. */
const MAX_SEQ = 2n ** 53n - 1n;
const MAX_SEQ_HIGH = 2 ** 21 - 1;

/** Big-endian u32 at o: inline byte math, cheaper than Buffer#readUInt32BE's bounds checks on the hot path. */
const u32be = (b: Buffer, o: number): number => ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;

/**
 * A SET or SYNC_ITEM frame decoded in place, as numbers and offsets into the receive buffer: no Message object,
 * no BigInt and no view per replicated write. The decoder reuses one instance and its buffer, so a consumer
 * copies what it keeps.
 */
export class ItemFrame {
  type: typeof FrameType.SET | typeof FrameType.SYNC_ITEM = FrameType.SET;
  /** SET only (0 in a SYNC_ITEM); senders number their changes below 2^53. */
  seq = 0;
  versionHigh = 0;
  versionLow = 0;
  flags = 0;
  ttl = 0;
  /** The key is bytes[keyStart, keyStart + keyLength), the value bytes[valueStart, valueStart + valueLength). */
  bytes: Buffer = Buffer.alloc(0);
  keyStart = 0;
  keyLength = 0;
  valueStart = 0;
  valueLength = 0;

  /** Reads the frame whose body is buf[start, end); the same checks (and errors) as decodeBody. */
  read(type: typeof FrameType.SET | typeof FrameType.SYNC_ITEM, buf: Buffer, start: number, end: number): void {
    let o = start;
    if (type === FrameType.SET) {
      if (end - start < 26 || u32be(buf, o) > MAX_SEQ_HIGH) throw decodeError(type, buf, start, end);
      this.seq = u32be(buf, o) * TWO_32 + u32be(buf, o + 4);
      o += 8;
    } else {
      if (end - start < 18) throw decodeError(type, buf, start, end);
      this.seq = 0;
    }
    const klen = buf[o + 16];
    if (klen === 0 || o + 17 + klen > end) throw decodeError(type, buf, start, end);
    this.type = type;
    this.versionHigh = u32be(buf, o);
    this.versionLow = u32be(buf, o + 4);
    this.flags = u32be(buf, o + 8);
    this.ttl = u32be(buf, o + 12);
    this.bytes = buf;
    this.keyStart = o + 17;
    this.keyLength = klen;
    this.valueStart = o + 17 + klen;
    this.valueLength = end - this.valueStart;
  }

  /** A view of the key (slow paths and tests). */
  get key(): Buffer {
    return this.bytes.subarray(this.keyStart, this.keyStart + this.keyLength);
  }

  /** A view of the value (slow paths and tests). */
  get value(): Buffer {
    return this.bytes.subarray(this.valueStart, this.valueStart + this.valueLength);
  }

  /** The version as a BigInt (slow paths and tests). */
  get version(): bigint {
    return (BigInt(this.versionHigh) << 32n) | BigInt(this.versionLow);
  }
}

/** The ProtocolError decodeBody gives for a malformed body. */
function decodeError(type: number, buf: Buffer, start: number, end: number): ProtocolError {
  try {
    decodeBody(type, buf.subarray(start, end));
  } catch (err) {
    if (err instanceof ProtocolError) return err;
    throw err;
  }
  return new ProtocolError(`malformed ${names[type]} frame`);
}

const EMPTY = Buffer.alloc(0);

/** Incremental decoder: feed chunks as they arrive, get whole messages back. `chunk` is not kept after push(). */
export class FrameDecoder {
  /** Largest frame body accepted; links keep it small until the peer has authenticated. */
  maxFrame: number;
  #buf: Buffer = EMPTY;
  readonly #item = new ItemFrame();

  constructor(maxFrame = MAX_FRAME) {
    this.maxFrame = maxFrame;
  }

  /** Bytes received but not yet part of a complete frame. */
  get pending(): number {
    return this.#buf.length;
  }

  /**
   * Throws ProtocolError on garbage; the caller must then close the link. With `onItem`, SET and SYNC_ITEM frames
   * arrive there as a reused ItemFrame instead of as Messages.
   */
  push(chunk: Buffer, onMessage: (m: Message) => void, onItem?: (f: ItemFrame) => void): void {
    const buf = this.#buf.length === 0 ? chunk : Buffer.concat([this.#buf, chunk]);
    let off = 0;
    while (buf.length - off >= HEADER) {
      const len = u32be(buf, off);
      if (len === 0 || len > this.maxFrame + 1) throw new ProtocolError(`frame length ${len} out of range 1..${this.maxFrame + 1}`);
      if (buf.length - off < 4 + len) break;
      const type = buf[off + 4];
      const start = off + HEADER;
      off += 4 + len;
      if (onItem !== undefined && (type === FrameType.SET || type === FrameType.SYNC_ITEM)) {
        this.#item.read(type, buf, start, off);
        onItem(this.#item);
      } else {
        onMessage(decodeBody(type, buf.subarray(start, off)));
      }
    }
    // Keep the partial frame, as a copy unless it is already one: the caller may reuse `chunk` (a socket's read
    // buffer), and a large chunk is not pinned by a small remainder.
    this.#buf = off === buf.length ? EMPTY : off === 0 && buf !== chunk ? buf : Buffer.from(buf.subarray(off));
    if (this.#buf.length >= HEADER) {
      const len = this.#buf.readUInt32BE(0);
      if (len === 0 || len > this.maxFrame + 1) throw new ProtocolError(`frame length ${len} out of range 1..${this.maxFrame + 1}`);
    }
  }
}
