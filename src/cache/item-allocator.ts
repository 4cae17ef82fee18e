import { copyIntoSlab } from './copy-in.ts';
import type { Evictor } from './eviction.ts';
import { linkIndex } from './item-values.ts';
import {
  B_ITFLAGS,
  B_NKEY,
  CHUNK_LINK_BYTES,
  chunkedValueOffset,
  F_CAS_HI,
  F_CAS_LO,
  F_EXPTIME,
  F_FLAGS,
  F_HNEXT,
  F_NBYTES,
  F_TIME,
  HEADER_BYTES,
  IT_CHUNKED,
  itemTotal,
} from './layout.ts';
import type { LinkedItems } from './linked-items.ts';
import type { SlabAllocator } from './slabs.ts';

/**
 * Allocates new items: the chunk of the smallest class that holds the item,
 * or for an item larger than the largest chunk a chain of largest-class chunks
 * (layout.ts), evicting as needed.
 */
export class ItemAllocator {
  readonly #bytes: Buffer;
  readonly #u32: Uint32Array;
  readonly #slabs: SlabAllocator;
  readonly #largestClass: number;
  readonly #largestChunk: number;
  readonly #evictor: Evictor;
  readonly #items: LinkedItems;

  constructor(slabs: SlabAllocator, evictor: Evictor, items: LinkedItems) {
    this.#bytes = slabs.bytes;
    this.#u32 = slabs.u32;
    this.#slabs = slabs;
    this.#largestClass = slabs.largestClass;
    this.#largestChunk = slabs.sizes[slabs.largestClass];
    this.#evictor = evictor;
    this.#items = items;
  }

  /**
   * Allocates and fills in an item's header and key (value and CAS left to the caller); 0 = no memory.
   * `pinned` (0 = none) is an item the allocation must not evict: the one being replaced.
   */
  allocate(key: Buffer, flags: number, exptime: number, nbytes: number, now: number, pinned: number): number {
    return this.allocateFrom(key, 0, key.length, flags, exptime, nbytes, now, pinned);
  }

  /** allocate() with the key at src[keyStart, keyStart + nkey). */
  allocateFrom(src: Buffer, keyStart: number, nkey: number, flags: number, exptime: number, nbytes: number, now: number, pinned: number): number {
    const total = itemTotal(nkey, nbytes);
    let cls = this.#slabs.classFor(total);
    let chunked = false;
    if (cls === 0) {
      cls = this.#largestClass;
      chunked = true;
    }
    const h = this.#evictor.allocChunk(cls, now, pinned);
    if (h === 0) return 0;
    const u32 = this.#u32;
    const bytes = this.#bytes;
    if (chunked) {
      const link = linkIndex(h, nkey);
      u32[link] = 0;
      const perChunk = this.#largestChunk - CHUNK_LINK_BYTES;
      let remaining = nbytes - (this.#largestChunk - chunkedValueOffset(nkey));
      let tailLink = link;
      while (remaining > 0) {
        const c = this.#evictor.allocChunk(cls, now, pinned);
        if (c === 0) {
          this.#items.freeChain(u32[link]);
          this.#slabs.free(h, cls);
          return 0;
        }
        u32[c * 2] = 0;
        u32[tailLink] = c;
        tailLink = c * 2;
        remaining -= perChunk;
      }
    }
    u32[h * 2 + F_CAS_LO] = 0;
    u32[h * 2 + F_CAS_HI] = 0;
    u32[h * 2 + F_HNEXT] = 0;
    u32[h * 2 + F_TIME] = now;
    u32[h * 2 + F_EXPTIME] = exptime;
    u32[h * 2 + F_NBYTES] = nbytes;
    u32[h * 2 + F_FLAGS] = flags;
    bytes[h * 8 + B_NKEY] = nkey;
    bytes[h * 8 + B_ITFLAGS] = chunked ? IT_CHUNKED : 0;
    copyIntoSlab(src, keyStart, keyStart + nkey, bytes, h * 8 + HEADER_BYTES);
    return h;
  }
}
