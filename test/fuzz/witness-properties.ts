/** Properties of the witness lease protocol (src/proto/witness/codec.ts). */
import fc from 'fast-check';
import { decodeWitness, encodeWitness, type WitnessMessage } from '../../src/proto/witness/codec.ts';
import { anyBytes, same, type NamedProperty } from './shared.ts';

const id = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }).filter((s) => Buffer.byteLength(s) <= 255);
const u64 = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n });
const u32 = fc.nat(0xffff_ffff);
export const witnessMessage: fc.Arbitrary<WitnessMessage> = fc.oneof(
  fc.record({ kind: fc.constant('REQUEST' as const), vrid: fc.integer({ min: 1, max: 255 }), nodeId: id, held: fc.boolean(), leaseMs: u32, sequence: u64 }),
  fc.record({
    kind: fc.constant('REPLY' as const),
    vrid: fc.integer({ min: 1, max: 255 }),
    nodeId: id,
    verdict: fc.constantFrom('GRANTED', 'HELD', 'WAIT' as const),
    leaseMs: u32,
    holder: fc.option(id, { nil: null }),
    sequence: u64,
  }),
);
const key = fc.oneof(fc.string({ minLength: 1, maxLength: 64 }), fc.uint8Array({ minLength: 1, maxLength: 64 }));

export const witnessProperties: NamedProperty[] = [
  {
    name: 'decode(encode(message)) is the message',
    property: fc.property(witnessMessage, key, (m, k) => {
      const r = decodeWitness(encodeWitness(m, k), k);
      if (!r.ok) throw new Error(`refused: ${r.error.code} ${r.error.message}`);
      same(r.message, m, 'witness message');
    }),
  },
  {
    name: 'any byte changed, cut or extended, or another key: refused',
    property: fc.property(witnessMessage, key, key, fc.nat(), fc.integer({ min: 1, max: 255 }), fc.constantFrom('flip', 'cut', 'extend', 'key'), (m, k, other, where, xor, how) => {
      const b = encodeWitness(m, k);
      const i = where % b.length;
      if (how === 'key') {
        if (Buffer.from(other).equals(Buffer.from(k))) return;
        if (decodeWitness(b, other).ok) throw new Error('accepted a message signed with another key');
        return;
      }
      const bad = how === 'flip' ? Buffer.from(b).fill(b[i]! ^ xor, i, i + 1) : how === 'cut' ? b.subarray(0, i) : Buffer.concat([b, Buffer.alloc(1 + (where % 64))]);
      if (decodeWitness(bad, k).ok) throw new Error(`accepted a changed message (${how} at ${i})`);
    }),
  },
  {
    name: 'any datagram: decodeWitness never throws and accepts nothing it cannot authenticate',
    property: fc.property(anyBytes(600), key, (b, k) => {
      const r = decodeWitness(b, k);
      if (r.ok) throw new Error('accepted random bytes');
    }),
  },
];
