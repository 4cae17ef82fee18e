/**
 * MurmurHash3 x86_32 over `len` bytes of `bytes` starting at `start`. A DataView reads a
 * little-endian word at any offset in one load: a quarter of the loads, and about half the time,
 * of assembling each word from four bytes. Works on unaligned Buffer slices and on the slab memory
 * alike, without allocating.
 */
export function murmur3(bytes: DataView, start: number, len: number, seed = 0): number {
  let h = seed | 0;
  const end4 = start + (len & ~3);
  let i = start;
  for (; i < end4; i += 4) {
    let k = bytes.getInt32(i, true);
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  const tail = len & 3;
  if (tail !== 0) {
    let k = bytes.getUint8(i);
    if (tail > 1) k |= bytes.getUint8(i + 1) << 8;
    if (tail > 2) k |= bytes.getUint8(i + 2) << 16;
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
  }
  h ^= len;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** A DataView of the bytes of `key`, for murmur3() and the hash index. */
export function keyView(key: Uint8Array): DataView {
  return new DataView(key.buffer, key.byteOffset, key.byteLength);
}
