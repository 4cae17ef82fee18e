import { describe, expect, it } from 'vitest';
import {
  BadMagicError, BinaryParser, HEADER_LENGTH, Op, Status, writeError, writeResponse, type BinaryRequest,
} from '../../../src/proto/binary/codec.ts';
import { OutBuffer } from '../../../src/net/out-buffer.ts';
import { arithExtras, request, setExtras, u32 } from '../../support/binary-client.ts';

/** What a test compares: the request's fields with buffers as hex (they are views, valid only in the callback). */
interface Seen {
  opcode: number; datatype: number; vbucket: number; bodyLength: number; opaque: number; cas: bigint;
  extras: string; key: string; value: string | null; skipped: number;
}

const seen = (r: BinaryRequest): Seen => ({
  opcode: r.opcode, datatype: r.datatype, vbucket: r.vbucket, bodyLength: r.bodyLength, opaque: r.opaque,
  cas: r.cas, extras: r.extras.toString('hex'), key: r.key.toString('latin1'),
  value: r.value === null ? null : r.value.toString('latin1'), skipped: r.skipped,
});

function parse(chunks: Buffer[], maxValueLength = 1024): Seen[] {
  const got: Seen[] = [];
  const p = new BinaryParser({ maxValueLength }, (r) => got.push(seen(r)));
  for (const c of chunks) p.push(c);
  return got;
}

const stream = Buffer.concat([
  request({ opcode: Op.SET, key: 'key', extras: setExtras(0xdeadbeef, 300), value: 'value', opaque: 0x01020304, cas: 0x1122334455667788n }),
  request({ opcode: Op.GETKQ, key: 'k2', opaque: 7 }),
  request({ opcode: Op.INCREMENT, key: 'n', extras: arithExtras(1n, 2n, 0xffffffff) }),
  request({ opcode: Op.APPENDQ, key: 'a', value: '' }),
  request({ opcode: Op.NOOP, opaque: 0xffffffff }),
  request({ opcode: Op.TOUCH, key: 't', extras: u32(9) }),
]);

const expected: Seen[] = [
  { opcode: Op.SET, datatype: 0, vbucket: 0, bodyLength: 16, opaque: 0x01020304, cas: 0x1122334455667788n, extras: 'deadbeef0000012c', key: 'key', value: 'value', skipped: 0 },
  { opcode: Op.GETKQ, datatype: 0, vbucket: 0, bodyLength: 2, opaque: 7, cas: 0n, extras: '', key: 'k2', value: null, skipped: 0 },
  { opcode: Op.INCREMENT, datatype: 0, vbucket: 0, bodyLength: 21, opaque: 0, cas: 0n, extras: '00000000000000010000000000000002ffffffff', key: 'n', value: null, skipped: 0 },
  { opcode: Op.APPENDQ, datatype: 0, vbucket: 0, bodyLength: 1, opaque: 0, cas: 0n, extras: '', key: 'a', value: '', skipped: 0 },
  { opcode: Op.NOOP, datatype: 0, vbucket: 0, bodyLength: 0, opaque: 0xffffffff, cas: 0n, extras: '', key: '', value: null, skipped: 0 },
  { opcode: Op.TOUCH, datatype: 0, vbucket: 0, bodyLength: 5, opaque: 0, cas: 0n, extras: '00000009', key: 't', value: null, skipped: 0 },
];

describe('BinaryParser', () => {
  it('reads header fields and splits extras, key and value', () => {
    expect(parse([stream])).toEqual(expected);
  });

  it('gives the same requests for a split at every offset', () => {
    for (let i = 1; i < stream.length; i++) {
      expect(parse([stream.subarray(0, i), stream.subarray(i)]), `split at ${i}`).toEqual(expected);
    }
  });

  it('gives the same requests fed one byte at a time', () => {
    const bytes = [...stream].map((b) => Buffer.from([b]));
    expect(parse(bytes)).toEqual(expected);
  });

  it('waits for a whole header, extras and key before handing a request over', () => {
    const get = request({ opcode: Op.GET, key: 'abc' });
    const got: Seen[] = [];
    const p = new BinaryParser({ maxValueLength: 100 }, (r) => got.push(seen(r)));
    p.push(get.subarray(0, HEADER_LENGTH));
    expect(got).toEqual([]);
    expect(p.pending).toBe(HEADER_LENGTH);
    p.push(get.subarray(HEADER_LENGTH, HEADER_LENGTH + 2));
    expect(got).toEqual([]);
    p.push(get.subarray(HEADER_LENGTH + 2));
    expect(got.map((r) => r.key)).toEqual(['abc']);
    expect(p.pending).toBe(0);
  });

  it('throws BadMagicError on a request that does not start with 0x80', () => {
    const bad = request({ opcode: Op.GET, key: 'a', magic: 0x81 });
    expect(() => parse([bad])).toThrow(BadMagicError);
    const text = Buffer.from('get a_key_long_enough_for_a_header\r\n');
    expect(() => parse([text])).toThrow(BadMagicError);
  });

  it('checks the magic of every request, not just the first', () => {
    const got: number[] = [];
    const p = new BinaryParser({ maxValueLength: 10 }, (r) => got.push(r.opcode));
    const two = Buffer.concat([request({ opcode: Op.NOOP }), request({ opcode: Op.NOOP, magic: 0x00 })]);
    expect(() => p.push(two)).toThrow(BadMagicError);
    expect(got).toEqual([Op.NOOP]);
  });

  it('does not wait for a value when the body is smaller than extras + key', () => {
    // memcached answers such a request at once; the bytes after the key are the next request
    const short = request({ opcode: Op.SET, key: 'abcd', extras: setExtras(0, 0), bodyLength: 4 });
    const got = parse([short]);
    expect(got).toHaveLength(1);
    expect(got[0]).toMatchObject({ bodyLength: 4, key: 'abcd', value: null, extras: '0000000000000000' });
  });

  it('does not read a value for a malformed set (wrong extras length)', () => {
    const bad = request({ opcode: Op.SET, key: 'k', extras: u32(1), value: 'vv' });
    const got = parse([bad.subarray(0, HEADER_LENGTH + 5)]);
    expect(got).toEqual([expect.objectContaining({ opcode: Op.SET, value: null, extras: '00000001', key: 'k' })]);
  });

  it('skips an oversized value without buffering it, in any split', () => {
    const big = Buffer.alloc(5000, 0x78);
    const all = Buffer.concat([
      request({ opcode: Op.SET, key: 'big', extras: setExtras(0, 0), value: big }),
      request({ opcode: Op.GET, key: 'after' }),
    ]);
    const want = [
      expect.objectContaining({ opcode: Op.SET, key: 'big', value: null, skipped: 5000 }),
      expect.objectContaining({ opcode: Op.GET, key: 'after' }),
    ];
    expect(parse([all], 1000)).toEqual(want);
    for (const i of [1, 24, 35, 36, 100, 4000, all.length - 30, all.length - 1]) {
      expect(parse([all.subarray(0, i), all.subarray(i)], 1000), `split at ${i}`).toEqual(want);
    }
    const p = new BinaryParser({ maxValueLength: 1000 }, () => {});
    p.push(all.subarray(0, 3000));
    expect(p.pending).toBe(0);
  });

  it('buffers a value up to the limit that arrives in many chunks', () => {
    const value = Buffer.alloc(100_000, 0x61);
    const all = request({ opcode: Op.SET, key: 'v', extras: setExtras(1, 2), value });
    const chunks: Buffer[] = [];
    for (let i = 0; i < all.length; i += 1000) chunks.push(all.subarray(i, i + 1000));
    const got = parse(chunks, 100_000);
    expect(got).toHaveLength(1);
    expect(got[0].value).toBe(value.toString('latin1'));
  });

  it('swallow() discards bytes the handler asks for, across chunks', () => {
    const got: number[] = [];
    const p = new BinaryParser({ maxValueLength: 10 }, (r) => {
      got.push(r.opcode);
      if (r.opcode === 0x55) p.swallow(r.bodyLength);
    });
    const all = Buffer.concat([request({ opcode: 0x55, bodyLength: 6 }), Buffer.from('junk!!'), request({ opcode: Op.NOOP })]);
    p.push(all.subarray(0, 26));
    p.push(all.subarray(26));
    expect(got).toEqual([0x55, Op.NOOP]);
  });

  it('swallow(n, then) runs then once the bytes are gone, before the next request', () => {
    const got: string[] = [];
    const p = new BinaryParser({ maxValueLength: 10 }, (r) => {
      got.push(`req ${r.opcode}`);
      if (r.opcode === 0x55) p.swallow(r.bodyLength, () => got.push('swallowed'));
    });
    const all = Buffer.concat([request({ opcode: 0x55, bodyLength: 6 }), Buffer.from('junk!!'), request({ opcode: Op.NOOP })]);
    p.push(all.subarray(0, 26));
    expect(got).toEqual(['req 85']);
    p.push(all.subarray(26, 30));
    expect(got).toEqual(['req 85', 'swallowed']);
    p.push(all.subarray(30));
    expect(got).toEqual(['req 85', 'swallowed', `req ${Op.NOOP}`]);
    p.swallow(0, () => got.push('at once'));
    expect(got.at(-1)).toBe('at once');
  });

  it('stop() ignores the rest of the stream', () => {
    const got: number[] = [];
    const p = new BinaryParser({ maxValueLength: 10 }, (r) => {
      got.push(r.opcode);
      if (r.opcode === Op.QUIT) p.stop();
    });
    p.push(Buffer.concat([request({ opcode: Op.QUIT }), request({ opcode: Op.NOOP })]));
    p.push(request({ opcode: Op.NOOP }));
    expect(got).toEqual([Op.QUIT]);
    expect(p.pending).toBe(0);
  });
});

describe('binary response writer', () => {
  it('writes header, extras, key and value', () => {
    const out = new OutBuffer();
    writeResponse(out, Op.GETK, Status.SUCCESS, 0xa1b2c3d4, 0x0102030405060708n, u32(5), Buffer.from('k'), Buffer.from('val'));
    expect(out.take().toString('hex')).toBe(
      '810c0001' + '04000000' + '00000008' + 'a1b2c3d4' + '0102030405060708' + '00000005' + '6b' + '76616c',
    );
  });

  it('writes memcached\'s error text as the value with CAS 0', () => {
    const out = new OutBuffer();
    writeError(out, Op.DELETE, Status.KEY_ENOENT, 9);
    const b = out.take();
    expect(b.subarray(0, 24).toString('hex')).toBe('81040000' + '00000001' + '00000009' + '00000009' + '0000000000000000');
    expect(b.subarray(24).toString()).toBe('Not found');
  });

  it('has the status texts memcached 1.6.18 sends', () => {
    const text = (s: number) => {
      const out = new OutBuffer();
      writeError(out, 0, s, 0);
      return out.take().subarray(24).toString();
    };
    expect(text(Status.KEY_EEXISTS)).toBe('Data exists for key.');
    expect(text(Status.E2BIG)).toBe('Too large.');
    expect(text(Status.EINVAL)).toBe('Invalid arguments');
    expect(text(Status.NOT_STORED)).toBe('Not stored.');
    expect(text(Status.DELTA_BADVAL)).toBe('Non-numeric server-side value for incr or decr');
    expect(text(Status.UNKNOWN_COMMAND)).toBe('Unknown command');
    expect(text(Status.ENOMEM)).toBe('Out of memory');
    expect(text(Status.AUTH_ERROR)).toBe('Auth failure.');
  });
});

describe('BinaryParser: pause and resume', () => {
  it('hands over no request after pause() until resume(), keeping what is pushed meanwhile', () => {
    const got: Seen[] = [];
    const p: BinaryParser = new BinaryParser({ maxValueLength: 1024 }, (r) => {
      got.push(seen(r));
      p.pause();
    });
    const chunk = Buffer.from(stream);
    p.push(chunk.subarray(0, chunk.length - 3));
    expect(got).toHaveLength(1);
    chunk.fill(0); // the caller's buffer is reused
    p.push(Buffer.from(stream.subarray(stream.length - 3)));
    expect(got).toHaveLength(1);
    while (p.paused) p.resume();
    expect(got).toEqual(parse([stream]));
  });
});
