import * as C from './counters.ts';
import type { HashIndex } from './hash-index.ts';
import { B_CLSID, B_ITFLAGS, B_NKEY, F_FLAGS, F_NBYTES, IT_CHUNKED, IT_LINKED, itemTotal, memcachedItemTotal } from './layout.ts';
import { linkIndex } from './item-values.ts';
import type { LruLists } from './lru.ts';
import type { SlabAllocator } from './slabs.ts';

/**
 * Linking items into the hash table and their class's LRU, and unlinking and
 * freeing them, with the item counts and byte totals that go with it
 * (curr_items, bytes, mem_requested, stats sizes).
 */
export class LinkedItems {
  readonly #bytes: Buffer;
  readonly #u32: Uint32Array;
  readonly #index: HashIndex;
  readonly #lru: LruLists;
  readonly #slabs: SlabAllocator;
  readonly #largestClass: number;
  readonly #cls: Float64Array;
  readonly #g: Float64Array;
  /** Item counts per 32-byte size bucket, updated only with track_sizes. */
  readonly #sizes: Float64Array;
  readonly #trackSizes: boolean;
  readonly #casEnabled: boolean;

  constructor(
    index: HashIndex,
    lru: LruLists,
    slabs: SlabAllocator,
    counters: { cls: Float64Array; g: Float64Array; sizes: Float64Array },
    trackSizes: boolean,
    casEnabled: boolean,
  ) {
    this.#bytes = slabs.bytes;
    this.#u32 = slabs.u32;
    this.#index = index;
    this.#lru = lru;
    this.#slabs = slabs;
    this.#largestClass = slabs.largestClass;
    this.#cls = counters.cls;
    this.#g = counters.g;
    this.#sizes = counters.sizes;
    this.#trackSizes = trackSizes;
    this.#casEnabled = casEnabled;
  }

  /** Links a new item whose key hashes to hv. */
  link(h: number, hv: number): void {
    const bytes = this.#bytes;
    const cls = bytes[h * 8 + B_CLSID];
    bytes[h * 8 + B_ITFLAGS] |= IT_LINKED;
    this.#lru.pushHead(h, cls);
    const ntotal = this.ntotal(h);
    const row = cls * C.C_FIELDS;
    this.#cls[row + C.C_NUMBER]++;
    this.#cls[row + C.C_MEM_REQUESTED] += ntotal;
    const g = this.#g;
    g[C.G_CURR_ITEMS]++;
    g[C.G_TOTAL_ITEMS]++;
    g[C.G_BYTES] += this.heldBytes(h);
    if (this.#trackSizes) this.#sizes[Math.ceil(ntotal / 32)]++;
    this.#index.insert(h, hv, g[C.G_CURR_ITEMS]);
  }

  /**
   * Moves linked item h into the free chunk `to` of its class (memcached's slab rebalancer rescuing it from a
   * page that changes class): same key, value, CAS and times, now at the head of its LRU. h is left empty, not
   * freed: its page is leaving the class.
   */
  move(h: number, to: number): void {
    const bytes = this.#bytes;
    const cls = bytes[h * 8 + B_CLSID];
    const hv = this.#index.hashOf(h);
    this.#index.remove(h, hv);
    this.#lru.remove(h, cls);
    bytes.copy(bytes, to * 8, h * 8, h * 8 + this.#slabs.sizes[cls]);
    this.#lru.pushHead(to, cls);
    this.#index.insert(to, hv, this.#g[C.G_CURR_ITEMS]);
    this.#slabs.forget(h, cls);
  }

  /** Removes a linked item from the hash table and its LRU, then frees its chunks. hv -1 = compute. */
  unlink(h: number, hv: number): void {
    this.#index.remove(h, hv < 0 ? this.#index.hashOf(h) : hv);
    const cls = this.#bytes[h * 8 + B_CLSID];
    this.#lru.remove(h, cls);
    const ntotal = this.ntotal(h);
    const row = cls * C.C_FIELDS;
    this.#cls[row + C.C_NUMBER]--;
    this.#cls[row + C.C_MEM_REQUESTED] -= ntotal;
    this.#g[C.G_CURR_ITEMS]--;
    this.#g[C.G_BYTES] -= this.heldBytes(h);
    if (this.#trackSizes) this.#sizes[Math.ceil(ntotal / 32)]--;
    this.#free(h);
  }

  /** Item h's size as memcached counts it (ITEM_ntotal). */
  ntotal(h: number): number {
    return memcachedItemTotal(
      this.#bytes[h * 8 + B_NKEY],
      this.#u32[h * 2 + F_NBYTES],
      this.#u32[h * 2 + F_FLAGS],
      this.#casEnabled,
    );
  }

  /**
   * Item h's size in our own layout (header, key, value): what `bytes` counts. memcached's ITEM_ntotal is larger
   * (a 56-byte header, CAS, the value's CRLF), and since -m holds more items here than in memcached, a sum of it
   * would run past limit_maxbytes in a full cache.
   */
  heldBytes(h: number): number {
    return itemTotal(this.#bytes[h * 8 + B_NKEY], this.#u32[h * 2 + F_NBYTES]);
  }

  /** Frees a chain of continuation chunks starting at chunk c (0 = empty chain). */
  freeChain(c: number): void {
    while (c !== 0) {
      const next = this.#u32[c * 2];
      this.#slabs.free(c, this.#largestClass);
      c = next;
    }
  }

  #free(h: number): void {
    const bytes = this.#bytes;
    if ((bytes[h * 8 + B_ITFLAGS] & IT_CHUNKED) !== 0) {
      this.freeChain(this.#u32[linkIndex(h, bytes[h * 8 + B_NKEY])]);
    }
    this.#slabs.free(h, bytes[h * 8 + B_CLSID]);
  }
}
