import { md5FirstWord } from './md5.ts';

/** The key hashes libmemcached (and so PHP Memcached, pylibmc and twemproxy) can place keys by. */
export type KeyHash = 'md5' | 'one_at_a_time' | 'crc32';

/** libmemcached's hashkit_md5: the first four digest bytes as a little-endian uint32. */
export function md5Hash(key: Uint8Array): number {
  return md5FirstWord(key);
}

/** Bob Jenkins' one-at-a-time hash, libmemcached's default (MEMCACHED_HASH_DEFAULT). */
export function oneAtATimeHash(key: Uint8Array): number {
  let h = 0;
  for (let i = 0; i < key.length; i++) {
    // libmemcached adds the byte as a signed char
    h = (h + ((key[i]! << 24) >> 24)) | 0;
    h = (h + (h << 10)) | 0;
    h ^= h >>> 6;
  }
  h = (h + (h << 3)) | 0;
  h ^= h >>> 11;
  h = (h + (h << 15)) | 0;
  return h >>> 0;
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** libmemcached's MEMCACHED_HASH_CRC: bits 16..30 of the CRC-32 (as the PECL memcache client used). */
export function crc32Hash(key: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < key.length; i++) c = CRC_TABLE[(c ^ key[i]!) & 0xff]! ^ (c >>> 8);
  return ((~c >>> 16) & 0x7fff) >>> 0;
}

export const KEY_HASHES: Record<KeyHash, (key: Uint8Array) => number> = {
  md5: md5Hash,
  one_at_a_time: oneAtATimeHash,
  crc32: crc32Hash,
};
