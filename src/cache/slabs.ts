import { newScalars, S_LIMIT_PAGES, S_PAGE_MOVES, S_PAGES_USED } from './shared-scalars.ts';
import { B_CLSID, B_ITFLAGS, F_NEXT } from './layout.ts';
import { SlabConfigError } from './slab-classes.ts';

/** The shared memory of a SlabAllocator. */
export interface SlabBuffers {
  memory: SharedArrayBuffer;
  state: SharedArrayBuffer;
  pageClass: SharedArrayBuffer;
}

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
  readonly startLimitPages: number;
  readonly capacityPages: number;
  readonly largestClass: number;
  /** Per class allocator state (see S_* fields). */
  readonly state: Float64Array;
  #pageStride: number;
  /** The store's shared scalars: pages in use, pages moved. */
  readonly #s: Float64Array;
  /** size/8 -> smallest class id holding it; 0 = larger than every class. */
  #classBySize8: Uint8Array;
  /** Owning class of each page (0: the global pool). */
  readonly #pageClass: Uint8Array;

  /** attach: the buffers of an existing allocator (another thread's), else new ones. */
  constructor(sizes: readonly number[], pageSize: number, memoryLimitBytes: number, scalars: Float64Array = newScalars(), attach?: SlabBuffers) {
    this.#s = scalars;
    this.sizes = sizes;
    this.pageSize = pageSize;
    this.largestClass = sizes.length - 1;
    this.perPage = sizes.map((s) => (s === 0 ? 0 : Math.floor(pageSize / s)));
    this.#pageStride = Math.ceil(pageSize / 8) * 8;
    this.startLimitPages = Math.floor(memoryLimitBytes / pageSize);
    if (!attach) this.#s[S_LIMIT_PAGES] = this.startLimitPages;
    this.capacityPages = this.startLimitPages + this.largestClass;
    const arenaBytes = BASE_BYTES + this.capacityPages * this.#pageStride;
    if (arenaBytes > MAX_ARENA_BYTES) throw new SlabConfigError(`memory limit too large: ${memoryLimitBytes} bytes`);
    this.memory = attach?.memory ?? new SharedArrayBuffer(arenaBytes);
    this.bytes = Buffer.from(this.memory);
    this.u32 = new Uint32Array(this.memory);
    this.state = new Float64Array(attach?.state ?? new SharedArrayBuffer(sizes.length * S_FIELDS * 8));
    this.#pageClass = new Uint8Array(attach?.pageClass ?? new SharedArrayBuffer(this.capacityPages));
    const largest = sizes[this.largestClass];
    this.#classBySize8 = new Uint8Array(largest / 8 + 1);
    let cls = 1;
    for (let i = 0; i < this.#classBySize8.length; i++) {
      while (sizes[cls] < i * 8) cls++;
      this.#classBySize8[i] = cls;
    }
  }

  /** What another thread needs to attach to this allocator. */
  get buffers(): SlabBuffers {
    return { memory: this.memory, state: this.state.buffer as SharedArrayBuffer, pageClass: this.#pageClass.buffer as SharedArrayBuffer };
  }

  /** Pages the classes may take before they must evict; `cache_memlimit` lowers it (and raises it back, up to the start-up limit). */
  get limitPages(): number {
    return this.#s[S_LIMIT_PAGES];
  }

  set limitPages(pages: number) {
    this.#s[S_LIMIT_PAGES] = pages;
  }

  /** Pages handed from one class to another so far: a handle kept across a move may point inside an item. */
  get pageMoves(): number {
    return this.#s[S_PAGE_MOVES];
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
    let page: number;
    if (this.state[S_PAGES] > 0) {
      page = this.#poolPage(-1);
      this.state[S_PAGES]--;
    } else {
      const used = this.#s[S_PAGES_USED];
      if (used >= this.limitPages && pages > 0) return false;
      if (used >= this.capacityPages) return false;
      page = used;
      this.#s[S_PAGES_USED] = used + 1;
    }
    this.#pageClass[page] = cls;
    this.state[row + S_PAGES] = pages + 1;
    this.state[row + S_CARVE_NEXT] = this.pageFirstChunk(page);
    this.state[row + S_CARVE_LEFT] = this.perPage[cls];
    return true;
  }

  /**
   * A page of memcached's global page pool (class 0: pages `slabs reassign N 0` gave back, taken first by a class
   * that needs one), found from the page table so that every thread sees the same pool: the lowest (dir 1) or the
   * highest (dir -1) such page in use. Only called while the pool's count, state[S_PAGES] of class 0, is above 0.
   */
  #poolPage(dir: 1 | -1): number {
    const used = this.#s[S_PAGES_USED];
    for (let i = 0; i < used; i++) {
      const page = dir === 1 ? i : used - 1 - i;
      if (this.#pageClass[page] === 0) return page;
    }
    throw new Error('slab page pool count without a pool page');
  }

  /** The page `slabs reassign` takes from class `cls` (memcached: its first page); -1 if it has none. */
  firstPageOf(cls: number): number {
    if (cls === 0) return this.state[S_PAGES] > 0 ? this.#poolPage(1) : -1;
    for (let page = 0; page < this.#s[S_PAGES_USED]; page++) if (this.#pageClass[page] === cls) return page;
    return -1;
  }

  /**
   * `slabs reassign`: a page whose items are gone leaves its class for class `to` (0: the global pool). It
   * is zeroed, as memcached does, so no header of its old class is read as an item of the new one; `to`
   * carves it if it has nothing left to carve, else its chunks join `to`'s free list.
   */
  reassignPage(page: number, to: number): void {
    const from = this.#pageClass[page];
    if (from === 0) {
      this.state[S_PAGES]--;
      this.#s[S_PAGE_MOVES]++;
    } else {
      this.#leave(page);
    }
    const first = this.pageFirstChunk(page);
    this.bytes.fill(0, first * 8, first * 8 + this.pageSize);
    const st = this.state;
    const toRow = to * S_FIELDS;
    this.#pageClass[page] = to;
    st[toRow + S_PAGES]++;
    if (to === 0) {
      // in the pool: its class is 0 (pages past S_PAGES_USED are 0 too, but never carved)
    } else if (st[toRow + S_CARVE_LEFT] === 0) {
      st[toRow + S_CARVE_NEXT] = first;
      st[toRow + S_CARVE_LEFT] = this.perPage[to];
    } else {
      const step = this.sizes[to] / 8;
      for (let i = 0, c = first; i < this.perPage[to]; i++, c += step) {
        this.u32[c * 2 + F_NEXT] = st[toRow + S_FREE_HEAD];
        st[toRow + S_FREE_HEAD] = c;
      }
      st[toRow + S_FREE_COUNT] += this.perPage[to];
    }
  }

  /** Handle of the first chunk of page `page`. */
  pageFirstChunk(page: number): number {
    return (BASE_BYTES + page * this.#pageStride) / 8;
  }

  pageClass(page: number): number {
    return this.#pageClass[page];
  }

  /** How many chunks of `page` have been handed out at least once (the rest hold no item). */
  carvedChunks(page: number): number {
    const cls = this.#pageClass[page];
    const row = cls * S_FIELDS;
    const first = this.pageFirstChunk(page);
    const next = this.state[row + S_CARVE_NEXT];
    const inPage = next >= first && next < first + this.#pageStride / 8 && this.state[row + S_CARVE_LEFT] > 0;
    return inPage ? (next - first) / (this.sizes[cls] / 8) : this.perPage[cls];
  }

  /**
   * Moves a page whose chunks are all free to class `to` (memcached's slab
   * rebalancer, after the items in it were freed): its chunks leave the old
   * class's free list and it becomes `to`'s page for carving. `to` must have
   * nothing left to carve.
   */
  movePage(page: number, to: number): void {
    this.#leave(page);
    const st = this.state;
    const first = this.pageFirstChunk(page);
    const toRow = to * S_FIELDS;
    this.#pageClass[page] = to;
    st[toRow + S_PAGES]++;
    st[toRow + S_CARVE_NEXT] = first;
    st[toRow + S_CARVE_LEFT] = this.perPage[to];
  }

  /** Takes an emptied page out of its class: its chunks leave the free list, its uncarved rest is dropped. */
  #leave(page: number): void {
    this.#s[S_PAGE_MOVES]++;
    this.scrubPage(page);
    this.state[this.#pageClass[page] * S_FIELDS + S_PAGES]--;
  }

  /**
   * No chunk of `page` is handed out any more: its free chunks leave the free list and carving stops there (the
   * page stays its class's until it moves).
   */
  scrubPage(page: number): void {
    const from = this.#pageClass[page];
    const st = this.state;
    const row = from * S_FIELDS;
    const first = this.pageFirstChunk(page);
    const end = first + this.#pageStride / 8;
    let prev = 0;
    let removed = 0;
    for (let c = st[row + S_FREE_HEAD]; c !== 0; ) {
      const next = this.u32[c * 2 + F_NEXT];
      if (c >= first && c < end) {
        if (prev === 0) st[row + S_FREE_HEAD] = next;
        else this.u32[prev * 2 + F_NEXT] = next;
        removed++;
      } else {
        prev = c;
      }
      c = next;
    }
    st[row + S_FREE_COUNT] -= removed;
    const carveNext = st[row + S_CARVE_NEXT];
    if (carveNext >= first && carveNext < end) st[row + S_CARVE_LEFT] = 0;
  }

  /** A chunk of `cls` from its free list or its carving page, never a new page; 0 if none. */
  allocSpare(cls: number): number {
    const row = cls * S_FIELDS;
    return this.state[row + S_FREE_HEAD] !== 0 || this.state[row + S_CARVE_LEFT] > 0 ? this.alloc(cls) : 0;
  }

  /** Chunk h of `cls` no longer holds anything, and is not to be reused (its page is about to move). */
  forget(h: number, cls: number): void {
    this.bytes[h * 8 + B_ITFLAGS] = 0;
    this.state[cls * S_FIELDS + S_USED]--;
  }

  get pagesUsed(): number {
    return this.#s[S_PAGES_USED];
  }

  get totalMalloced(): number {
    return this.#s[S_PAGES_USED] * this.pageSize;
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
