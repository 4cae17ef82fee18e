import { describe, expect, it } from 'vitest';
import { BinaryResponseError, BinaryResponseParser } from '../../../src/proto/binary/response-parser.ts';
import { writeResponse } from '../../../src/proto/binary/codec.ts';
import { OutBuffer } from '../../../src/net/out-buffer.ts';

/** Response packets as memcached writes them. */
function packets(): Buffer {
  const out = new OutBuffer();
  writeResponse(out, 0x01, 0, 7, 42n, null, null, null); // SET ok
  writeResponse(out, 0x0c, 0, 8, 43n, Buffer.from([0, 0, 0, 5]), Buffer.from('key'), Buffer.from('hello')); // GETK hit
  writeResponse(out, 0x00, 1, 9, 0n, null, null, Buffer.from('Not found')); // GET miss
  writeResponse(out, 0x10, 0, 10, 0n, null, Buffer.from('pid'), Buffer.from('1')); // STAT
  writeResponse(out, 0x0a, 0, 11, 0n, null, null, Buffer.alloc(70_000, 1)); // a large body
  return Buffer.from(out.take());
}

const describe1 = (all: Buffer, cuts: number[]) => {
  const got: string[] = [];
  const p = new BinaryResponseParser((r) => got.push(`op=${r.opcode} status=${r.status} opaque=${r.opaque} kind=${r.kind} len=${r.end - r.start} key=${r.keyLength} extras=${r.extrasLength} first=${r.buf[r.start]}`));
  let from = 0;
  for (const c of [...cuts, all.length]) {
    p.push(all.subarray(from, c));
    from = c;
  }
  return { got, pending: p.pending };
};

describe('BinaryResponseParser', () => {
  const all = packets();
  const want = describe1(all, []).got;

  it('reads each response packet whole, with its opcode, status, opaque and length', () => {
    expect(want).toEqual([
      'op=1 status=0 opaque=7 kind=0 len=24 key=0 extras=0 first=129',
      'op=12 status=0 opaque=8 kind=1 len=36 key=3 extras=4 first=129',
      'op=0 status=1 opaque=9 kind=0 len=33 key=0 extras=0 first=129',
      'op=16 status=0 opaque=10 kind=0 len=28 key=3 extras=0 first=129',
      'op=10 status=0 opaque=11 kind=0 len=70024 key=0 extras=0 first=129',
    ]);
  });

  it('gives the same packets however the bytes are split', () => {
    for (let i = 1; i < 200; i++) expect(describe1(all, [i]).got, `split at ${i}`).toEqual(want);
    const cuts = Array.from({ length: 40 }, (_, i) => Math.floor(((i + 1) * all.length) / 41));
    expect(describe1(all, cuts)).toEqual({ got: want, pending: 0 });
  });

  it('refuses what is not a response', () => {
    const p = new BinaryResponseParser(() => {});
    expect(() => p.push(Buffer.alloc(24, 0x80))).toThrow(BinaryResponseError);
    expect(() => p.push(Buffer.alloc(24, 0x81))).toThrow(/after a protocol error/);
    const bad = Buffer.alloc(24);
    bad[0] = 0x81;
    bad.writeUInt16BE(10, 2); // a key longer than the body
    expect(() => new BinaryResponseParser(() => {}).push(bad)).toThrow(/key and extras longer than its body/);
  });
});
