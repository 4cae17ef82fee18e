import { describe, expect, it } from 'vitest';
import { encode, encodeItemFrame, FrameDecoder, FrameType, HANDSHAKE_MAX_FRAME, ProtocolError, type ItemFrame, type Message } from '../../../src/proto/replication/codec.ts';

const key = Buffer.from('user:42');
const samples: Message[] = [
  {
    type: 'hello', version: 3, nodeId: 7, runId: 0x0102030405060708n, role: 'sender', listenPort: 11212, itemSizeMax: 1048576, syncMode: true,
    completeness: 'partial', holdsData: true, items: 400000, nonce: Buffer.alloc(16, 9),
  },
  { type: 'auth', proof: Buffer.alloc(32, 1) },
  { type: 'resume', fromSeq: 12345n },
  { type: 'set', seq: 5n, version: 0xfedcba9876543210n, flags: 0xffffffff, ttl: 300, key, value: Buffer.from('hello\r\nworld') },
  { type: 'set', seq: 6n, version: 1n, flags: 0, ttl: 0, key, value: Buffer.alloc(0) },
  { type: 'delete', seq: 7n, version: 99n, key },
  { type: 'touch', seq: 8n, version: 98n, ttl: 60, key },
  { type: 'flush', seq: 9n, version: 1000n, delay: 10 },
  { type: 'ack', seq: 9n },
  { type: 'heartbeat', seq: 10n },
  { type: 'sync_begin', startSeq: 11n, items: 200000, flushEpoch: 3n, copyId: 0xa1b2c3d4e5f60718n, source: 'complete' },
  { type: 'sync_item', version: 4n, flags: 1, ttl: 2, key, value: Buffer.from('v') },
  { type: 'sync_end', items: 200000, copyId: 0xa1b2c3d4e5f60718n },
  { type: 'error', reason: 'wrong secret' },
  { type: 'not_ready' },
  { type: 'state', completeness: 'complete', holdsData: false, items: 0 },
  { type: 'sync_begin', startSeq: 1n, items: 0, flushEpoch: 0n, copyId: 1n, source: 'partial' },
  { type: 'state', completeness: 'joining', holdsData: true, items: 4491 },
  { type: 'counter', seq: 12n, base: 0x0123456789abcdefn, version: 0xfedcba9876543210n, sum: 5n, key },
  { type: 'counter', seq: 0n, base: 1n, version: 2n, sum: -(1n << 127n), key },
  { type: 'counter', seq: 13n, base: 1n, version: 3n, sum: (1n << 127n) - 1n, key },
  { type: 'counter', seq: 14n, base: 1n, version: 4n, sum: -1n, key },
];

function decodeAll(chunks: Buffer[]): Message[] {
  const d = new FrameDecoder();
  const out: Message[] = [];
  for (const c of chunks) d.push(c, (m) => out.push(m));
  expect(d.pending).toBe(0);
  return out;
}

describe('replication codec', () => {
  it('round-trips every message type', () => {
    for (const m of samples) expect(decodeAll([encode(m)])).toEqual([m]);
  });

  it('has a stable byte layout (fixture)', () => {
    expect(encode({ type: 'ack', seq: 258n }).toString('hex')).toBe('00000009' + '08' + '0000000000000102');
    expect(encode({ type: 'delete', seq: 1n, version: 2n, key: Buffer.from('k') }).toString('hex')).toBe(
      '00000013' + '05' + '0000000000000001' + '0000000000000002' + '01' + '6b',
    );
  });

  it('has a stable byte layout for the protocol 2 handshake and join frames (fixture)', () => {
    expect(encode(samples[0]).toString('hex')).toBe(
      '0000002e' + '01' + '48565250' + '0003' + '0007' + '0102030405060708' + '00' + '2bcc' + '00100000'
        + '03' /* flags: sync mode | holds data */ + '02' /* partial */ + '00061a80' + '09'.repeat(16),
    );
    expect(encode({ type: 'sync_begin', startSeq: 11n, items: 200000, flushEpoch: 3n, copyId: 0xa1b2c3d4e5f60718n, source: 'complete' }).toString('hex')).toBe(
      '0000001e' + '0a' + '000000000000000b' + '00030d40' + '0000000000000003' + 'a1b2c3d4e5f60718' + '01',
    );
    expect(encode({ type: 'sync_end', items: 200000, copyId: 0xa1b2c3d4e5f60718n }).toString('hex')).toBe('0000000d' + '0c' + '00030d40' + 'a1b2c3d4e5f60718');
    expect(encode({ type: 'not_ready' }).toString('hex')).toBe('00000001' + '0e');
    expect(encode({ type: 'state', completeness: 'joining', holdsData: true, items: 4491 }).toString('hex')).toBe('00000007' + '0f' + '00' + '01' + '0000118b');
    expect(encode({ type: 'state', completeness: 'complete', holdsData: false, items: 0 }).toString('hex')).toBe('00000007' + '0f' + '01' + '00' + '00000000');
  });

  it('has a stable byte layout for the protocol 3 COUNTER frame (fixture)', () => {
    expect(encode({ type: 'counter', seq: 1n, base: 2n, version: 3n, sum: -2n, key: Buffer.from('k') }).toString('hex')).toBe(
      '0000002b' + '10' + '0000000000000001' + '0000000000000002' + '0000000000000003' + 'ff'.repeat(15) + 'fe' + '01' + '6b',
    );
  });

  it('refuses a counter sum outside the signed 128-bit range when encoding', () => {
    expect(() => encode({ type: 'counter', seq: 1n, base: 1n, version: 1n, sum: 1n << 127n, key })).toThrow(ProtocolError);
  });

  it('encodes items for the store path identically to encode()', () => {
    const value = Buffer.from('hello\r\nworld');
    expect(encodeItemFrame(FrameType.SET, 5, 0xfedcba9876543210n, 0xffffffff, 300, key, value)).toEqual(encode(samples[3]));
    const sync = samples[11] as { version: bigint; flags: number; ttl: number; value: Buffer };
    expect(encodeItemFrame(FrameType.SYNC_ITEM, 0, sync.version, sync.flags, sync.ttl, key, sync.value)).toEqual(encode(samples[11]));
  });

  it('decodes a stream split at every byte boundary', () => {
    const all = Buffer.concat(samples.map(encode));
    for (let i = 0; i <= all.length; i++) expect(decodeAll([all.subarray(0, i), all.subarray(i)])).toEqual(samples);
    expect(decodeAll([...all].map((b) => Buffer.from([b])))).toEqual(samples);
  });

  it('keeps nothing of a chunk after push: a reader may reuse its buffer, split anywhere', () => {
    const all = Buffer.concat(samples.map(encode));
    // What a consumer keeps must be copied in the callback; the decoder's own remainder must be a copy too.
    const copy = (m: Message) => Object.fromEntries(Object.entries(m).map(([k, v]) => [k, Buffer.isBuffer(v) ? Buffer.from(v) : v]));
    const readBuffer = Buffer.alloc(all.length);
    for (let i = 0; i <= all.length; i += 3) {
      const d = new FrameDecoder();
      const out: unknown[] = [];
      for (const part of [all.subarray(0, i), all.subarray(i)]) {
        part.copy(readBuffer);
        d.push(readBuffer.subarray(0, part.length), (m) => out.push(copy(m)));
        readBuffer.fill(0xee);
      }
      expect(out).toEqual(samples.map(copy));
      expect(d.pending).toBe(0);
    }
  });

  it('truncated frames never yield a message and never throw', () => {
    for (const m of samples) {
      const b = encode(m);
      for (let i = 0; i < b.length; i++) {
        const d = new FrameDecoder();
        const out: Message[] = [];
        d.push(b.subarray(0, i), (x) => out.push(x));
        expect(out).toEqual([]);
      }
    }
  });

  it('rejects garbage with a ProtocolError saying what is wrong', () => {
    const badRole = encode(samples[0]);
    badRole[5 + 16] = 2;
    const badCompleteness = encode(samples[0]);
    badCompleteness[5 + 24] = 3;
    // A protocol 1 HELLO: same magic, version 1, a shorter body.
    const v1Hello = Buffer.concat([Buffer.from([0, 0, 0, 41, FrameType.HELLO]), Buffer.from('48565250', 'hex'), Buffer.from([0, 1]), Buffer.alloc(34)]);
    // A protocol 2 HELLO: the layout of 3, version 2 (3 added the COUNTER frame).
    const v2Hello = encode(samples[0]);
    v2Hello[5 + 5] = 2;
    const joiningCopy = encode(samples[16]);
    joiningCopy[5 + 28] = 0;
    const bad: [Buffer, string][] = [
      [Buffer.from('get foo\r\n'), 'frame length 1734702112 out of range 1..'], // a memcached client on the replication port
      [Buffer.from([0, 0, 0, 0, 1]), 'frame length 0 out of range 1..'],
      [Buffer.from([0, 0, 0, 1, 200]), 'unknown frame type 200'],
      [Buffer.from([0, 0, 0, 2, FrameType.ACK, 0]), 'ACK frame body is 1 bytes, expected 8'],
      [Buffer.concat([Buffer.from([0, 0, 0, 41, FrameType.HELLO]), Buffer.alloc(40)]), 'HELLO without the protocol magic: not a repcache peer'],
      [badRole, 'HELLO with unknown role 2'],
      [badCompleteness, 'HELLO frame with unknown completeness 3'],
      [v1Hello, 'peer speaks protocol version 1, this node speaks 3'],
      [v2Hello, 'peer speaks protocol version 2, this node speaks 3'],
      [Buffer.from([0, 0, 0, 44, FrameType.COUNTER, ...Buffer.alloc(40), 1, 0x61, 0x62]), 'COUNTER frame has trailing bytes'],
      [Buffer.from([0, 0, 0, 43, FrameType.COUNTER, ...Buffer.alloc(40), 2, 0x61]), 'COUNTER frame has a bad key length 2'],
      [Buffer.from([0, 0, 0, 20, FrameType.COUNTER, ...Buffer.alloc(19)]), 'COUNTER frame body is 19 bytes, expected at least 42'],
      [Buffer.from([0, 0, 0, 43, FrameType.COUNTER, 0, 0x20, ...Buffer.alloc(38), 1, 0x61]), 'COUNTER frame with sequence'],
      [joiningCopy, 'SYNC_BEGIN from a joining node: it has no copy to give'],
      [Buffer.from([0, 0, 0, 7, FrameType.STATE, 1, 2, 0, 0, 0, 0]), 'STATE frame with unknown flags 2'],
      [Buffer.from([0, 0, 0, 2, FrameType.NOT_READY, 0]), 'NOT_READY frame body is 1 bytes, expected 0'],
      [Buffer.from([0, 0, 0, 5, FrameType.SYNC_END, 0, 0, 0, 0]), 'SYNC_END frame body is 4 bytes, expected 12'],
      [Buffer.from([0, 0, 0, 19, FrameType.DELETE, ...Buffer.alloc(16), 5, 0x61]), 'DELETE frame has a bad key length 5'],
      [Buffer.from([0, 0, 0, 19, FrameType.DELETE, ...Buffer.alloc(16), 0, 0x61]), 'DELETE frame has a bad key length 0'],
      [Buffer.from([0, 0, 0, 20, FrameType.DELETE, ...Buffer.alloc(16), 1, 0x61, 0x62]), 'DELETE frame has trailing bytes'],
      [Buffer.from([0, 0, 0, 24, FrameType.TOUCH, ...Buffer.alloc(20), 1, 0x61, 0x62]), 'TOUCH frame has trailing bytes'],
    ];
    for (const [b, message] of bad) {
      let thrown: unknown = null;
      try {
        new FrameDecoder().push(b, () => {});
      } catch (e) {
        thrown = e;
      }
      expect(thrown, message).toBeInstanceOf(ProtocolError);
      expect((thrown as Error).message.startsWith(message), `${(thrown as Error).message} / ${message}`).toBe(true);
    }
  });

  it('fuzz: random bytes either decode or throw ProtocolError, nothing else', () => {
    let seed = 12345;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    const valid = Buffer.concat(samples.map(encode));
    for (let n = 0; n < 2000; n++) {
      const b = Buffer.from(valid);
      for (let j = 0; j < 1 + rnd() * 4; j++) b[Math.floor(rnd() * b.length)] = Math.floor(rnd() * 256);
      try {
        new FrameDecoder(1 << 20).push(b, () => {});
      } catch (e) {
        expect(e).toBeInstanceOf(ProtocolError);
      }
    }
  });

  it('with onItem, SET and SYNC_ITEM frames arrive as in-place ItemFrames, split anywhere', () => {
    const asMessage = (f: ItemFrame): Message =>
      f.type === FrameType.SET
        ? { type: 'set', seq: BigInt(f.seq), version: f.version, flags: f.flags, ttl: f.ttl, key: Buffer.from(f.key), value: Buffer.from(f.value) }
        : { type: 'sync_item', version: f.version, flags: f.flags, ttl: f.ttl, key: Buffer.from(f.key), value: Buffer.from(f.value) };
    const big: Message = { type: 'set', seq: 2n ** 52n + 3n, version: 0xffffffffffffffffn, flags: 1, ttl: 2, key, value: Buffer.from('x') };
    const stream = [...samples, big];
    const all = Buffer.concat(stream.map(encode));
    for (let i = 0; i <= all.length; i += 7) {
      const d = new FrameDecoder();
      const out: Message[] = [];
      for (const c of [all.subarray(0, i), all.subarray(i)]) d.push(c, (m) => out.push(m), (f) => out.push(asMessage(f)));
      expect(out).toEqual(stream);
    }
  });

  it('with onItem, malformed item frames are refused with the same errors', () => {
    const bad: [Buffer, string][] = [
      [Buffer.from([0, 0, 0, 11, FrameType.SET, ...Buffer.alloc(10)]), 'SET frame body is 10 bytes, expected at least 26'],
      [Buffer.from([0, 0, 0, 28, FrameType.SET, ...Buffer.alloc(24), 9, 0x61, 0x62]), 'SET frame has a bad key length 9'],
      [Buffer.from([0, 0, 0, 19, FrameType.SYNC_ITEM, ...Buffer.alloc(16), 0, 0x61]), 'SYNC_ITEM frame has a bad key length 0'],
    ];
    for (const [b, message] of bad) {
      expect(() => new FrameDecoder().push(b, () => {}, () => {})).toThrow(ProtocolError);
      expect(() => new FrameDecoder().push(b, () => {}, () => {})).toThrow(message);
    }
  });

  it('a SET numbered above 2^53 - 1 is refused on both decoding paths (the fast one would round it)', () => {
    const top = encode({ type: 'set', seq: 2n ** 53n - 1n, version: 1n, flags: 0, ttl: 0, key, value: Buffer.alloc(0) });
    const seqs: bigint[] = [];
    new FrameDecoder().push(top, () => {}, (f) => seqs.push(BigInt(f.seq)));
    expect(seqs).toEqual([2n ** 53n - 1n]);
    const over = encode({ type: 'set', seq: 2n ** 56n + 1n, version: 1n, flags: 0, ttl: 0, key, value: Buffer.alloc(0) });
    for (const onItem of [undefined, () => {}]) {
      expect(() => new FrameDecoder().push(over, () => {}, onItem)).toThrow('SET frame with sequence 72057594037927937, above 2^53 - 1');
    }
  });

  it('before authentication, a frame header announcing a big frame is refused at once', () => {
    const big = encode({ type: 'set', seq: 1n, version: 1n, flags: 0, ttl: 0, key, value: Buffer.alloc(10_000) });
    expect(() => new FrameDecoder(HANDSHAKE_MAX_FRAME).push(big.subarray(0, 5), () => {})).toThrow(/frame length 10033 out of range/);
  });

  it('refuses keys out of range when encoding', () => {
    expect(() => encode({ type: 'delete', seq: 1n, version: 1n, key: Buffer.alloc(251, 97) })).toThrow(ProtocolError);
  });
});
