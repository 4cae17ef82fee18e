import { B_CLSID, B_ITFLAGS, F_NEXT } from './layout.ts';
import { SlabConfigError } from './slab-classes.ts';

/** Per-class allocator state, one row of these fields per class id. */
const S_FREE_HEAD = 0;
const S_FREE_COUNT = 1;
const S_CARVE_NEXT = 2;
const S_CARVE_LEFT = 3;
const S_PAGES = 4;
const S_USED = 5;
const S_FIELDS = 8;

/** Byte offset of the first page; handle 0 therefore never names a chunk. */
const BASE_BYTES = 64;
/** Handles are u32 in units of 8 bytes. */
const MAX_ARENA_BYTES = 2 ** 32 * 8;

/**
 * memcached's slab allocator over one SharedArrayBuffer. Pages are handed to
 * classes on demand up to `limitPages`; like memcached, a class that has no
 * page yet still gets one over the limit, so the buffer is sized for
 * limitPages + one page per class. The buffer is reserved, not touched: the
 * OS only backs pages once chunks are written.
 *
 * Chunks are carved lazily from a class's newest page (free_chunks_end) and
 * recycled through a per-class free list linked through the LRU-next field.
 * Sharing with worker threads later: alloc/free/newPage are the critical
 * sections (a per-class lock via Atomics on `state`).
 */
export class SlabAllocator {
  readonly memory: SharedArrayBuffer;
  readonly bytes: Buffer;
  readonly u32: Uint32Array;
  readonly sizes: readonly number[];
  readonly perPage: readonly number[];
  readonly pageSize: number;
  readonly limitPages: number;
  readonly capacityPages: number;
  readonly largestClass: number;
  /** Per class allocator state (see S_* fields). */
  readonly state: Float64Array;
  #pageStride: number;
  #pagesUsed = 0;
  /** size/8 -> smallest class id holding it; 0 = larger than every class. */
  #classBySize8: Uint8Array;

  constructor(sizes: readonly number[], pageSize: number, memoryLimitBytes: number) {
    this.sizes = sizes;
    this.pageSize = pageSize;
    this.largestClass = sizes.length - 1;
    this.perPage = sizes.map((s) => (s === 0 ? 0 : Math.floor(pageSize / s)));
    this.#pageStride = Math.ceil(pageSize / 8) * 8;
    this.limitPages = Math.floor(memoryLimitBytes / pageSize);
    this.capacityPages = this.limitPages + this.largestClass;
    const arenaBytes = BASE_BYTES + this.capacityPages * this.#pageStride;
    if (arenaBytes > MAX_ARENA_BYTES) throw new SlabConfigError(`memory limit too large: ${memoryLimitBytes} bytes`);
    this.memory = new SharedArrayBuffer(arenaBytes);
    this.bytes = Buffer.from(this.memory);
    this.u32 = new Uint32Array(this.memory);
    this.state = new Float64Array(new SharedArrayBuffer(sizes.length * S_FIELDS * 8));
    const largest = sizes[this.largestClass];
    this.#classBySize8 = new Uint8Array(largest / 8 + 1);
    let cls = 1;
    for (let i = 0; i < this.#classBySize8.length; i++) {
      while (sizes[cls] < i * 8) cls++;
      this.#classBySize8[i] = cls;
    }
  }

  /** Smallest class whose chunks hold `size` bytes, 0 if none does. */
  classFor(size: number): number {
    const i = (size + 7) >>> 3;
    return i < this.#classBySize8.length ? this.#classBySize8[i] : 0;
  }

  /** A chunk of class `cls`, or 0 when the class has no free chunk and no page can be added. */
  alloc(cls: number): number {
    const st = this.state;
    const row = cls * S_FIELDS;
    let h = st[row + S_FREE_HEAD];
    if (h !== 0) {
      st[row + S_FREE_HEAD] = this.u32[h * 2 + F_NEXT];
      st[row + S_FREE_COUNT]--;
      st[row + S_USED]++;
      this.bytes[h * 8 + B_CLSID] = cls;
      return h;
    }
    if (st[row + S_CARVE_LEFT] === 0 && !this.#newPage(cls)) return 0;
    h = st[row + S_CARVE_NEXT];
    st[row + S_CARVE_NEXT] = h + this.sizes[cls] / 8;
    st[row + S_CARVE_LEFT]--;
    st[row + S_USED]++;
    this.bytes[h * 8 + B_CLSID] = cls;
    return h;
  }

  free(h: number, cls: number): void {
    const st = this.state;
    const row = cls * S_FIELDS;
    this.bytes[h * 8 + B_ITFLAGS] = 0;
    this.u32[h * 2 + F_NEXT] = st[row + S_FREE_HEAD];
    st[row + S_FREE_HEAD] = h;
    st[row + S_FREE_COUNT]++;
    st[row + S_USED]--;
  }

  #newPage(cls: number): boolean {
    const row = cls * S_FIELDS;
    const pages = this.state[row + S_PAGES];
    if (this.#pagesUsed >= this.limitPages && pages > 0) return false;
    if (this.#pagesUsed >= this.capacityPages) return false;
    const start = BASE_BYTES + this.#pagesUsed * this.#pageStride;
    this.#pagesUsed++;
    this.state[row + S_PAGES] = pages + 1;
    this.state[row + S_CARVE_NEXT] = start / 8;
    this.state[row + S_CARVE_LEFT] = this.perPage[cls];
    return true;
  }

  get pagesUsed(): number {
    return this.#pagesUsed;
  }

  get totalMalloced(): number {
    return this.#pagesUsed * this.pageSize;
  }

  classPages(cls: number): number {
    return this.state[cls * S_FIELDS + S_PAGES];
  }

  usedChunks(cls: number): number {
    return this.state[cls * S_FIELDS + S_USED];
  }

  freeChunks(cls: number): number {
    return this.state[cls * S_FIELDS + S_FREE_COUNT];
  }

  freeChunksEnd(cls: number): number {
    return this.state[cls * S_FIELDS + S_CARVE_LEFT];
  }
}
