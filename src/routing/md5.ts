/**
 * The first 32-bit word of a key's MD5 digest (little-endian), which is all ketama and libmemcached's md5 hash
 * use of it. In JavaScript: for the short keys a cache sees, a call into node:crypto (a Hash object, a Buffer
 * for the digest) costs several times the 64 rounds themselves. Checked against node:crypto in the tests.
 */

const S = Int32Array.from([7, 12, 17, 22, 5, 9, 14, 20, 4, 11, 16, 23, 6, 10, 15, 21]);
const K = Int32Array.from({ length: 64 }, (_, i) => Math.floor(Math.abs(Math.sin(i + 1)) * 2 ** 32) | 0);
/** Message word of each round. */
const G = Int32Array.from({ length: 64 }, (_, i) => (i < 16 ? i : i < 32 ? 5 * i + 1 : i < 48 ? 3 * i + 5 : 7 * i) & 15);
/** The padded tail of a key (one or two blocks), reused by every call: one key at a time, no reentrancy. */
const TAIL = new Uint8Array(128);
const M = new Int32Array(16);
const H = new Int32Array(4);

function round(b: Uint8Array, at: number): void {
  for (let w = 0; w < 16; w++) {
    const i = at + w * 4;
    M[w] = b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24);
  }
  let a = H[0]!;
  let bb = H[1]!;
  let c = H[2]!;
  let d = H[3]!;
  let i = 0;
  for (; i < 16; i++) {
    const x = (a + ((bb & c) | (~bb & d)) + K[i]! + M[i]!) | 0;
    const s = S[i & 3]!;
    a = d;
    d = c;
    c = bb;
    bb = (bb + ((x << s) | (x >>> (32 - s)))) | 0;
  }
  for (; i < 32; i++) {
    const x = (a + ((d & bb) | (~d & c)) + K[i]! + M[G[i]!]!) | 0;
    const s = S[4 | (i & 3)]!;
    a = d;
    d = c;
    c = bb;
    bb = (bb + ((x << s) | (x >>> (32 - s)))) | 0;
  }
  for (; i < 48; i++) {
    const x = (a + (bb ^ c ^ d) + K[i]! + M[G[i]!]!) | 0;
    const s = S[8 | (i & 3)]!;
    a = d;
    d = c;
    c = bb;
    bb = (bb + ((x << s) | (x >>> (32 - s)))) | 0;
  }
  for (; i < 64; i++) {
    const x = (a + (c ^ (bb | ~d)) + K[i]! + M[G[i]!]!) | 0;
    const s = S[12 | (i & 3)]!;
    a = d;
    d = c;
    c = bb;
    bb = (bb + ((x << s) | (x >>> (32 - s)))) | 0;
  }
  H[0] = (H[0]! + a) | 0;
  H[1] = (H[1]! + bb) | 0;
  H[2] = (H[2]! + c) | 0;
  H[3] = (H[3]! + d) | 0;
}

export function md5FirstWord(key: Uint8Array): number {
  const n = key.length;
  H[0] = 0x67452301;
  H[1] = 0xefcdab89 | 0;
  H[2] = 0x98badcfe | 0;
  H[3] = 0x10325476;
  const full = n >>> 6;
  for (let blk = 0; blk < full; blk++) round(key, blk * 64);
  // the rest of the key, 0x80, zeros, the length in bits (64-bit little-endian)
  const rest = n - full * 64;
  const tailLen = rest < 56 ? 64 : 128;
  TAIL.fill(0, 0, tailLen);
  for (let i = 0; i < rest; i++) TAIL[i] = key[full * 64 + i]!;
  TAIL[rest] = 0x80;
  const bits = n * 8;
  for (let i = 0; i < 4; i++) TAIL[tailLen - 8 + i] = (bits >>> (8 * i)) & 0xff;
  const high = Math.floor(n / 0x20000000);
  for (let i = 0; i < 4; i++) TAIL[tailLen - 4 + i] = (high >>> (8 * i)) & 0xff;
  round(TAIL, 0);
  if (tailLen === 128) round(TAIL, 64);
  return H[0]! >>> 0;
}
