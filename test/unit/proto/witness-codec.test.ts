import { describe, expect, it } from 'vitest';
import { decodeWitness, encodeWitness, WitnessEncodeError } from '../../../src/proto/witness/codec.ts';

const KEY = 'witness-codec-key-0123456789';

describe('witness codec', () => {
  it('a request, byte for byte', () => {
    const b = encodeWitness({ kind: 'REQUEST', vrid: 51, nodeId: 'n1', held: true, leaseMs: 3000, sequence: 0x0102030405060708n }, KEY);
    expect(b.subarray(0, 21).toString('hex')).toBe('6877' + '01' + '01' + '0102030405060708' + '00000bb8' + '02' + '6e31' + '33' + '01');
    expect(b.length).toBe(21 + 32);
  });

  it('a reply, byte for byte, and back', () => {
    const m = { kind: 'REPLY', vrid: 7, nodeId: 'n1', verdict: 'HELD', leaseMs: 1234, holder: 'n2', sequence: 9n } as const;
    const b = encodeWitness(m, KEY);
    expect(b.subarray(0, 24).toString('hex')).toBe('6877' + '01' + '02' + '0000000000000009' + '000004d2' + '02' + '02' + '6e31' + '6e32' + '07' + '02');
    expect(decodeWitness(b, KEY)).toEqual({ ok: true, message: m });
  });

  it('bad input: each with its own code, never a throw', () => {
    const ok = encodeWitness({ kind: 'REQUEST', vrid: 1, nodeId: 'n', held: false, leaseMs: 1, sequence: 1n }, KEY);
    const code = (b: Buffer, key = KEY) => {
      const r = decodeWitness(b, key);
      return r.ok ? 'ok' : r.error.code;
    };
    expect(code(ok)).toBe('ok');
    expect(code(ok, 'other-key-0123456789')).toBe('BAD_AUTH');
    expect(code(Buffer.from('GET / HTTP/1.0\r\n\r\n'))).toBe('BAD_MAGIC');
    expect(code(Buffer.from([0x68, 0x77, 9]))).toBe('BAD_VERSION');
    expect(code(ok.subarray(0, 10))).toBe('TRUNCATED');
    expect(code(ok.subarray(0, ok.length - 1))).toBe('TRUNCATED');
    expect(code(Buffer.concat([ok, Buffer.from([0])]))).toBe('TRAILING_BYTES');
    const kind = Buffer.from(ok);
    kind[3] = 3;
    expect(code(kind)).toBe('BAD_KIND');
  });

  it('fields out of range cannot be encoded', () => {
    const m = { kind: 'REQUEST', vrid: 1, nodeId: 'n', held: false, leaseMs: 1, sequence: 1n } as const;
    expect(() => encodeWitness({ ...m, vrid: 0 }, KEY)).toThrow(WitnessEncodeError);
    expect(() => encodeWitness({ ...m, nodeId: '' }, KEY)).toThrow(WitnessEncodeError);
    expect(() => encodeWitness({ ...m, leaseMs: 1.5 }, KEY)).toThrow(WitnessEncodeError);
    expect(() => encodeWitness({ ...m, sequence: -1n }, KEY)).toThrow(WitnessEncodeError);
  });
});
