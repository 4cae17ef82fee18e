import { describe, expect, it } from 'vitest';
import { encode, encodeItemFrame, FrameDecoder, FrameType, HANDSHAKE_MAX_FRAME, ProtocolError, type ItemFrame, type Message } from '../../../src/replication/codec.ts';

const key = Buffer.from('user:42');
const samples: Message[] = [
  { type: 'hello', version: 1, nodeId: 7, runId: 0x0102030405060708n, role: 'sender', listenPort: 11212, itemSizeMax: 1048576, syncMode: true, nonce: Buffer.alloc(16, 9) },
  { type: 'auth', proof: Buffer.alloc(32, 1) },
  { type: 'resume', fromSeq: 12345n },
  { type: 'set', seq: 5n, version: 0xfedcba9876543210n, flags: 0xffffffff, ttl: 300, key, value: Buffer.from('hello\r\nworld') },
  { type: 'set', seq: 6n, version: 1n, flags: 0, ttl: 0, key, value: Buffer.alloc(0) },
  { type: 'delete', seq: 7n, version: 99n, key },
  { type: 'touch', seq: 8n, version: 98n, ttl: 60, key },
  { type: 'flush', seq: 9n, version: 1000n, delay: 10 },
  { type: 'ack', seq: 9n },
  { type: 'heartbeat', seq: 10n },
  { type: 'sync_begin', startSeq: 11n, items: 200000, flushEpoch: 3n },
  { type: 'sync_item', version: 4n, flags: 1, ttl: 2, key, value: Buffer.from('v') },
  { type: 'sync_end', items: 200000 },
  { type: 'error', reason: 'wrong secret' },
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
    const bad: [Buffer, string][] = [
      [Buffer.from('get foo\r\n'), 'frame length 1734702112 out of range 1..'], // a memcached client on the replication port
      [Buffer.from([0, 0, 0, 0, 1]), 'frame length 0 out of range 1..'],
      [Buffer.from([0, 0, 0, 1, 200]), 'unknown frame type 200'],
      [Buffer.from([0, 0, 0, 2, FrameType.ACK, 0]), 'ACK frame body is 1 bytes, expected 8'],
      [Buffer.concat([Buffer.from([0, 0, 0, 41, FrameType.HELLO]), Buffer.alloc(40)]), 'HELLO without the protocol magic: not a repcache peer'],
      [badRole, 'HELLO with unknown role 2'],
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

  it('before authentication, a frame header announcing a big frame is refused at once', () => {
    const big = encode({ type: 'set', seq: 1n, version: 1n, flags: 0, ttl: 0, key, value: Buffer.alloc(10_000) });
    expect(() => new FrameDecoder(HANDSHAKE_MAX_FRAME).push(big.subarray(0, 5), () => {})).toThrow(/frame length 10033 out of range/);
  });

  it('refuses keys out of range when encoding', () => {
    expect(() => encode({ type: 'delete', seq: 1n, version: 1n, key: Buffer.alloc(251, 97) })).toThrow(ProtocolError);
  });
});
