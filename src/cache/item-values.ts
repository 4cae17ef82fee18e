import { copyIntoSlab } from './copy-in.ts';
import { B_ITFLAGS, B_NKEY, CHUNK_LINK_BYTES, chunkedValueOffset, F_NBYTES, HEADER_BYTES, IT_CHUNKED } from './layout.ts';

/**
 * Reads and writes the value bytes of items. A value normally follows the key
 * in the item's own chunk; a chunked item's value starts after its first
 * next-chunk link and continues in a chain of largest-class chunks, each
 * beginning with the link to the next (layout.ts).
 */
export class ItemValues {
  readonly #bytes: Buffer;
  readonly #u32: Uint32Array;
  readonly #largestChunk: number;

  constructor(bytes: Buffer, u32: Uint32Array, largestChunk: number) {
    this.#bytes = bytes;
    this.#u32 = u32;
    this.#largestChunk = largestChunk;
  }

  /** Copies item h's value into target at offset; returns bytes copied. */
  copyOut(h: number, target: Buffer, offset: number): number {
    const bytes = this.#bytes;
    const nbytes = this.#u32[h * 2 + F_NBYTES];
    const nkey = bytes[h * 8 + B_NKEY];
    if ((bytes[h * 8 + B_ITFLAGS] & IT_CHUNKED) === 0) {
      const start = h * 8 + HEADER_BYTES + nkey;
      return bytes.copy(target, offset, start, start + nbytes);
    }
    return this.#copyOutChunked(h, nkey, nbytes, target, offset);
  }

  /**
   * Copies item h's key and then its value into target at offset, the order a replication frame carries them;
   * returns the offset after them. An unchunked item's key and value are adjacent in its chunk: one copy.
   */
  copyKeyAndValueOut(h: number, target: Buffer, offset: number): number {
    const bytes = this.#bytes;
    const nbytes = this.#u32[h * 2 + F_NBYTES];
    const nkey = bytes[h * 8 + B_NKEY];
    const start = h * 8 + HEADER_BYTES;
    if ((bytes[h * 8 + B_ITFLAGS] & IT_CHUNKED) === 0) return offset + bytes.copy(target, offset, start, start + nkey + nbytes);
    bytes.copy(target, offset, start, start + nkey);
    return offset + nkey + this.#copyOutChunked(h, nkey, nbytes, target, offset + nkey);
  }

  /** Writes src at value position `pos` of item h. */
  write(h: number, pos: number, src: Buffer): void {
    this.writeFrom(h, pos, src, 0, src.length);
  }

  /** write() of src[start, start + len). */
  writeFrom(h: number, pos: number, src: Buffer, start: number, len: number): void {
    const bytes = this.#bytes;
    const nkey = bytes[h * 8 + B_NKEY];
    if ((bytes[h * 8 + B_ITFLAGS] & IT_CHUNKED) === 0) {
      copyIntoSlab(src, start, start + len, bytes, h * 8 + HEADER_BYTES + nkey + pos);
      return;
    }
    this.#writeChunked(h, nkey, pos, start === 0 && len === src.length ? src : src.subarray(start, start + len));
  }

  /** Copies item `from`'s value to value position `pos` of item `to`. */
  copyBetween(from: number, to: number, pos: number): void {
    const value = Buffer.allocUnsafe(this.#u32[from * 2 + F_NBYTES]);
    this.copyOut(from, value, 0);
    this.write(to, pos, value);
  }

  // The chunked paths are separate methods so that the plain ones stay small enough to inline.

  #copyOutChunked(h: number, nkey: number, nbytes: number, target: Buffer, offset: number): number {
    const bytes = this.#bytes;
    const first = h * 8 + chunkedValueOffset(nkey);
    let len = Math.min(nbytes, this.#largestChunk - chunkedValueOffset(nkey));
    bytes.copy(target, offset, first, first + len);
    let done = len;
    for (let c = this.#u32[linkIndex(h, nkey)]; done < nbytes && c !== 0; c = this.#u32[c * 2]) {
      len = Math.min(nbytes - done, this.#largestChunk - CHUNK_LINK_BYTES);
      const at = c * 8 + CHUNK_LINK_BYTES;
      bytes.copy(target, offset + done, at, at + len);
      done += len;
    }
    return done;
  }

  #writeChunked(h: number, nkey: number, pos: number, src: Buffer): void {
    const bytes = this.#bytes;
    const nbytes = this.#u32[h * 2 + F_NBYTES];
    const end = pos + src.length;
    let at = h * 8 + chunkedValueOffset(nkey);
    let len = Math.min(nbytes, this.#largestChunk - chunkedValueOffset(nkey));
    let segStart = 0;
    let c = this.#u32[linkIndex(h, nkey)];
    for (;;) {
      const segEnd = segStart + len;
      const from = Math.max(pos, segStart);
      const to = Math.min(end, segEnd);
      if (from < to) copyIntoSlab(src, from - pos, to - pos, bytes, at + (from - segStart));
      if (segEnd >= end || segEnd >= nbytes || c === 0) return;
      segStart = segEnd;
      len = Math.min(nbytes - segEnd, this.#largestChunk - CHUNK_LINK_BYTES);
      at = c * 8 + CHUNK_LINK_BYTES;
      c = this.#u32[c * 2];
    }
  }
}

/** u32 index of a chunked item's first next-chunk link. */
export function linkIndex(h: number, nkey: number): number {
  return h * 2 + ((chunkedValueOffset(nkey) - CHUNK_LINK_BYTES) >>> 2);
}
