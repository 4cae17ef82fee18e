/**
 * Item layout inside a slab chunk. A handle is the chunk's byte offset / 8, so
 * `h * 2` indexes the Uint32Array view and `h * 8` the byte view.
 *
 *   u32 0  cas low        u32 5  last access time (relative seconds)
 *   u32 1  cas high       u32 6  exptime (relative seconds, 0 = never)
 *   u32 2  hash chain     u32 7  value length
 *   u32 3  LRU prev       u32 8  client flags
 *   u32 4  LRU next       byte 36 key length, 37 class id, 38 item flags
 *   byte 40..             key, then value
 *
 * 40 bytes against memcached's 56 (48 + 8 CAS), and no NUL/CRLF padding.
 * Chunked items (larger than the biggest chunk) store, after the key padded to
 * 4 bytes, a u32 handle of the next chunk; every further chunk starts with the
 * handle of the one after it (0 ends the chain).
 */
export const F_CAS_LO = 0;
export const F_CAS_HI = 1;
export const F_HNEXT = 2;
export const F_PREV = 3;
export const F_NEXT = 4;
export const F_TIME = 5;
export const F_EXPTIME = 6;
export const F_NBYTES = 7;
export const F_FLAGS = 8;
export const B_NKEY = 36;
export const B_CLSID = 37;
export const B_ITFLAGS = 38;
export const HEADER_BYTES = 40;

export const IT_LINKED = 1;
export const IT_FETCHED = 2;
export const IT_ACTIVE = 4;
export const IT_CHUNKED = 8;
/** Meta protocol: marked stale (md I, ms I); a recache token (W) has been handed out; the key was sent in base64. */
export const IT_STALE = 16;
export const IT_TOKEN_SENT = 32;
export const IT_KEY_BINARY = 64;

/** Bytes a continuation chunk spends on its next-chunk link. */
export const CHUNK_LINK_BYTES = 4;

/** memcached's sizeof(item) on 64-bit, without CAS: the base of the chunk class sizes. */
export const MEMCACHED_ITEM_HEADER = 48;

export const KEY_MAX_LENGTH = 250;

/** Bytes of a non-chunked item in our layout. */
export function itemTotal(nkey: number, nbytes: number): number {
  return HEADER_BYTES + nkey + nbytes;
}

/** Offset (from the chunk start) of the first value byte of a chunked item's head chunk. */
export function chunkedValueOffset(nkey: number): number {
  return ((HEADER_BYTES + nkey + 3) & ~3) + CHUNK_LINK_BYTES;
}

/**
 * memcached's ITEM_ntotal: 48 + 8 (CAS) + key + 1 + value + 2 + 4 if flags != 0.
 * Used for `bytes`, `mem_requested`, `stats sizes` and the too-large check.
 */
export function memcachedItemTotal(nkey: number, nbytes: number, flags: number, casEnabled: boolean): number {
  return MEMCACHED_ITEM_HEADER + (casEnabled ? 8 : 0) + nkey + 1 + nbytes + 2 + (flags !== 0 ? 4 : 0);
}
