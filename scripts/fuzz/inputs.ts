/**
 * Fuzz inputs for the running daemons: generated from the codec properties' arbitraries (test/fuzz/) and mutated
 * from valid messages (bytes flipped, inserted, cut, repeated, numbers swapped for boundary values, two inputs
 * spliced). Deterministic for a seed.
 */
import fc from 'fast-check';
import { encodeAdvert, type AdvertMessage } from '../../src/proto/advert/index.ts';
import { encode, PROTOCOL_VERSION, type Message } from '../../src/proto/replication/codec.ts';
import { request as binaryRequest } from '../../test/support/binary-client.ts';

/** Deterministic PRNG (mulberry32). */
export function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const BOUNDARY = ['0', '-1', '1', '255', '256', '65535', '65536', '2147483647', '2147483648', '4294967295', '4294967296', '18446744073709551615', '18446744073709551616', '99999999999999999999999', '-2147483648', '0x10', '1e9', ''];

/** One mutation of `b` (or a splice with `other`). */
export function mutate(b: Buffer, other: Buffer, r: () => number): Buffer {
  const i = Math.floor(r() * (b.length + 1));
  switch (Math.floor(r() * 8)) {
    case 0: { // flip a byte
      const c = Buffer.from(b);
      if (c.length) c[i % c.length] = Math.floor(r() * 256);
      return c;
    }
    case 1: // insert random bytes
      return Buffer.concat([b.subarray(0, i), Buffer.from(Array.from({ length: 1 + Math.floor(r() * 16) }, () => Math.floor(r() * 256))), b.subarray(i)]);
    case 2: // cut
      return Buffer.concat([b.subarray(0, i), b.subarray(i + 1 + Math.floor(r() * 32))]);
    case 3: // truncate
      return b.subarray(0, i);
    case 4: { // repeat a range
      const j = Math.min(b.length, i + 1 + Math.floor(r() * 64));
      return Buffer.concat([b.subarray(0, j), b.subarray(i, j), b.subarray(j)]);
    }
    case 5: { // a number swapped for a boundary value
      const s = b.toString('latin1');
      const nums = [...s.matchAll(/\d+/g)];
      if (nums.length === 0) return Buffer.concat([b, Buffer.from(BOUNDARY[Math.floor(r() * BOUNDARY.length)]!)]);
      const m = nums[Math.floor(r() * nums.length)]!;
      return Buffer.from(s.slice(0, m.index) + BOUNDARY[Math.floor(r() * BOUNDARY.length)] + s.slice(m.index! + m[0].length), 'latin1');
    }
    case 6: // splice
      return Buffer.concat([b.subarray(0, i), other.subarray(Math.floor(r() * other.length))]);
    default: { // a big-endian length field set to an extreme
      const c = Buffer.from(b);
      if (c.length >= 4) c.writeUInt32BE([0, 1, 0xffffffff, 0x7fffffff, 0x10000, c.length][Math.floor(r() * 6)]!, Math.floor(r() * (c.length - 3)));
      return c;
    }
  }
}

/** Generated inputs, `n` of them, from an arbitrary, deterministically for (seed, batch). */
export function generated<T>(arb: fc.Arbitrary<T>, n: number, seed: number): T[] {
  return fc.sample(arb, { numRuns: n, seed });
}

/** A mix: half generated, half mutated from a pool of valid ones (chains of 1..3 mutations). */
export function batch(valid: Buffer[], any: Buffer[], n: number, r: () => number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < n; i++) {
    if (r() < 0.5 && any.length) {
      out.push(any[Math.floor(r() * any.length)]!);
      continue;
    }
    let b = valid[Math.floor(r() * valid.length)]!;
    const other = valid[Math.floor(r() * valid.length)]!;
    for (let k = 1 + Math.floor(r() * 3); k > 0; k--) b = mutate(b, other, r);
    out.push(b);
  }
  return out;
}

// ---- valid messages to mutate ------------------------------------------------------------------------------------------

export const TEXT_SEEDS = [
  'set k 0 0 5\r\nhello\r\n', 'get k\r\n', 'gets a b c k\r\n', 'gat 10 k\r\n', 'cas k 0 0 1 1\r\nx\r\n', 'incr n 5\r\n',
  'decr n 18446744073709551615\r\n', 'delete k noreply\r\n', 'touch k 100\r\n', 'append k 0 0 2\r\nxy\r\n',
  'prepend k 0 0 2\r\nxy\r\n', 'flush_all 0\r\n', 'stats\r\n', 'stats slabs\r\n', 'stats items\r\n', 'stats settings\r\n',
  'stats conns\r\n', 'stats detail dump\r\n', 'version\r\n', 'verbosity 1\r\n', 'mn\r\n', 'mg k v f t c k s\r\n',
  'ms k 2 T0 F5 I\r\nhi\r\n', 'ma n N0 J13 D2 MI\r\n', 'md k q I T30\r\n', 'me k\r\n', 'mg S2hlbGxv b v\r\n',
  'lru_crawler metadump all\r\n', 'slabs reassign 1 2\r\n', 'lru mode flat\r\n', 'watch fetchers\r\n',
  'cache_memlimit 64\r\n', 'get ' + 'x'.repeat(250) + '\r\n', 'set big 0 0 2000000\r\n',
].map((s) => Buffer.from(s, 'latin1'));

export const BINARY_SEEDS = [
  binaryRequest({ opcode: 0x01, key: 'k', extras: Buffer.alloc(8), value: 'hello' }),
  binaryRequest({ opcode: 0x00, key: 'k' }), binaryRequest({ opcode: 0x0c, key: 'k' }), binaryRequest({ opcode: 0x0d, key: 'k' }),
  binaryRequest({ opcode: 0x05, key: 'n', extras: Buffer.alloc(20) }), binaryRequest({ opcode: 0x04, key: 'k' }),
  binaryRequest({ opcode: 0x0e, key: 'k', value: 'x' }), binaryRequest({ opcode: 0x1c, key: 'k', extras: Buffer.alloc(4) }),
  binaryRequest({ opcode: 0x1d, key: 'k', extras: Buffer.alloc(4) }), binaryRequest({ opcode: 0x10 }), binaryRequest({ opcode: 0x10, key: 'items' }),
  binaryRequest({ opcode: 0x08, extras: Buffer.alloc(4) }), binaryRequest({ opcode: 0x0a }), binaryRequest({ opcode: 0x0b }),
  binaryRequest({ opcode: 0x20 }), binaryRequest({ opcode: 0x21, key: 'PLAIN', value: '\0u\0p' }),
  binaryRequest({ opcode: 0x11, key: 'k', extras: Buffer.alloc(8), value: 'v' }),
];

const hello = (role: 'sender' | 'receiver'): Message => ({
  type: 'hello', version: PROTOCOL_VERSION, nodeId: 9, runId: 1n, role, listenPort: 1, itemSizeMax: 1 << 20, syncMode: false,
  completeness: 'joining', holdsData: false, items: 0, nonce: Buffer.alloc(16, 7),
});
export const REPL_SEEDS = [
  encode(hello('receiver')), encode(hello('sender')), encode({ type: 'auth', proof: Buffer.alloc(32, 1) }),
  Buffer.concat([encode(hello('sender')), encode({ type: 'auth', proof: Buffer.alloc(32) }), encode({ type: 'set', seq: 1n, version: 1n, flags: 0, ttl: 0, key: Buffer.from('k'), value: Buffer.from('v') })]),
  encode({ type: 'resume', fromSeq: 0n }), encode({ type: 'error', reason: 'x' }), encode({ type: 'heartbeat', seq: 1n }),
  encode({ type: 'sync_begin', startSeq: 1n, items: 1, flushEpoch: 0n, copyId: 1n, source: 'complete' }),
  encode({ type: 'counter', seq: 1n, base: 1n, version: 2n, sum: -1n, key: Buffer.from('k') }),
  Buffer.from([0xff, 0xff, 0xff, 0xff, 1]), Buffer.from('stats\r\n'),
];

export function advertSeeds(key: string): Buffer[] {
  const base: AdvertMessage = { kind: 'ADVERT', vrid: 51, priority: 100, advertIntMs: 1000, nodeId: 'fuzz', primaryAddress: '127.0.0.2', vips: [{ address: '198.18.0.100', prefix: 32 }], successor: null, sequence: 1n };
  return [
    encodeAdvert(base, { type: 'HMAC', key }), encodeAdvert({ ...base, priority: 0, successor: 'x' }, { type: 'HMAC', key }),
    encodeAdvert({ ...base, kind: 'BACKUP_HELLO' }, { type: 'HMAC', key }), encodeAdvert(base, { type: 'PASS', password: 'pw' }),
    encodeAdvert(base, { type: 'none' }), encodeAdvert({ ...base, vips: Array.from({ length: 255 }, () => ({ address: '1.2.3.4', prefix: 32 })) }, { type: 'HMAC', key: 'wrong' }),
  ];
}
