import { S_AUTOMOVE, S_LAST_PAGE_MOVE } from './shared-scalars.ts';
import * as C from './counters.ts';
import { B_ITFLAGS, F_EXPTIME, F_PREV, F_TIME, IT_ACTIVE, IT_CHUNKED, IT_FETCHED, IT_LINKED } from './layout.ts';
import type { LinkedItems } from './linked-items.ts';
import type { ItemLiveness } from './liveness.ts';
import type { LruLists } from './lru.ts';
import type { SlabAllocator } from './slabs.ts';

/** How many tail items an allocation examines for expired / second-chance items before evicting. */
const LRU_SEARCH_DEPTH = 5;
/** A class whose LRU tail is younger than this share of another's tail age takes a page from it. */
const AUTOMOVE_RATIO = 0.8;

/**
 * Finds a chunk when a class has none free: takes a page from another class
 * (memcached's slab_automove), else reclaims an expired item or evicts one
 * from the class's LRU tail. Active tail items get a second chance (moved to
 * the head, flag cleared), like memcached's COLD->WARM move.
 *
 * `pinned` is an item that must not be evicted (the one being replaced).
 */
export class Evictor {
  readonly #bytes: Buffer;
  readonly #u32: Uint32Array;
  readonly #slabs: SlabAllocator;
  readonly #largestClass: number;
  readonly #lru: LruLists;
  readonly #items: LinkedItems;
  readonly #liveness: ItemLiveness;
  readonly #cls: Float64Array;
  readonly #g: Float64Array;
  /** false with -M: allocations fail instead of evicting. */
  readonly #evictions: boolean;
  /** The shared scalars: the second of the last page move. */
  readonly #s: Float64Array;

  constructor(
    slabs: SlabAllocator,
    lru: LruLists,
    items: LinkedItems,
    liveness: ItemLiveness,
    counters: { cls: Float64Array; g: Float64Array },
    evictions: boolean,
    scalars: Float64Array,
  ) {
    this.#s = scalars;
    this.#bytes = slabs.bytes;
    this.#u32 = slabs.u32;
    this.#slabs = slabs;
    this.#largestClass = slabs.largestClass;
    this.#lru = lru;
    this.#items = items;
    this.#liveness = liveness;
    this.#cls = counters.cls;
    this.#g = counters.g;
    this.#evictions = evictions;
  }

  /** A chunk of `cls`, reclaiming an expired item or evicting from the class's LRU tail if needed. */
  allocChunk(cls: number, now: number, pinned: number): number {
    const h = this.#slabs.alloc(cls);
    if (h !== 0) return h;
    if (this.#movePageTo(cls, now, pinned)) return this.#slabs.alloc(cls);
    return this.#pullTail(cls, now, pinned) ? this.#slabs.alloc(cls) : 0;
  }

  /**
   * memcached's slab_automove, checked at most once a second when class `cls` runs out of chunks:
   * if another class (with at least two pages) holds a page worth of free chunks, or its LRU tail is
   * clearly older than ours, its page with the fewest items is emptied (items evicted, counted in
   * slab_reassign_evictions_nomem) and handed to `cls`. Not with -M, which never evicts.
   */
  #movePageTo(cls: number, now: number, pinned: number): boolean {
    if (!this.#evictions || this.#s[S_AUTOMOVE] === 0 || now <= this.#s[S_LAST_PAGE_MOVE]) return false;
    this.#s[S_LAST_PAGE_MOVE] = now;
    const slabs = this.#slabs;
    const myAge = Math.max(0, this.#lru.tailAge(cls, now));
    let donor = 0;
    let donorScore = 0;
    for (let c = 1; c < this.#largestClass; c++) {
      if (c === cls || slabs.classPages(c) < 2) continue;
      const free = slabs.freeChunks(c) + slabs.freeChunksEnd(c);
      const score = free >= slabs.perPage[c] ? Infinity : this.#lru.tailAge(c, now);
      if (score > donorScore) {
        donor = c;
        donorScore = score;
      }
    }
    if (donor === 0 || myAge >= AUTOMOVE_RATIO * donorScore) return false;
    const page = this.#emptiestPage(donor, pinned);
    if (page < 0) return false;
    this.emptyPage(page, now);
    slabs.movePage(page, cls);
    this.#g[C.G_SLABS_MOVED]++;
    return true;
  }

  /** memcached 1.6.18's `slab_automove` setting: 0 turns the page moves above off (`slabs automove 0`). */
  get automove(): number {
    return this.#s[S_AUTOMOVE];
  }

  set automove(level: number) {
    this.#s[S_AUTOMOVE] = level;
  }

  /**
   * Frees every item of a page about to change class: with `rescue` (`slabs reassign`), a live item moves to a
   * free chunk of its class elsewhere while there is one (slab_reassign_rescues), as memcached's rebalancer
   * does; the others count in slab_reassign_evictions_nomem. An expired or flushed one is just reclaimed.
   */
  emptyPage(page: number, now: number, rescue = false): void {
    const slabs = this.#slabs;
    const bytes = this.#bytes;
    const cls = slabs.pageClass(page);
    const step = slabs.sizes[cls] / 8;
    const first = slabs.pageFirstChunk(page);
    const end = first + slabs.carvedChunks(page) * step;
    // a rescued item must not land in the page itself
    if (rescue) slabs.scrubPage(page);
    const evict: number[] = [];
    for (let c = first; c < end; c += step) {
      const flags = bytes[c * 8 + B_ITFLAGS];
      if ((flags & IT_LINKED) === 0) continue;
      if (this.#liveness.deadReason(c, now) !== 0) {
        evict.push(c);
        continue;
      }
      const to = rescue && (flags & IT_CHUNKED) === 0 ? slabs.allocSpare(cls) : 0;
      if (to !== 0) {
        this.#items.move(c, to);
        this.#g[C.G_SLAB_REASSIGN_RESCUES]++;
      } else {
        this.#g[C.G_SLAB_REASSIGN_EVICTIONS]++;
        evict.push(c);
      }
    }
    // (freed after the rescues: their chunks go back to the free list the page move then takes them out of)
    for (const c of evict) this.#items.unlink(c, -1);
  }

  /** The page of `cls` holding the fewest linked items, skipping the pinned item's page; -1 if none. */
  #emptiestPage(cls: number, pinned: number): number {
    const slabs = this.#slabs;
    const bytes = this.#bytes;
    const step = slabs.sizes[cls] / 8;
    let best = -1;
    let bestCount = Infinity;
    for (let page = 0; page < slabs.pagesUsed; page++) {
      if (slabs.pageClass(page) !== cls) continue;
      const first = slabs.pageFirstChunk(page);
      const end = first + slabs.carvedChunks(page) * step;
      if (pinned >= first && pinned < end) continue;
      let count = 0;
      for (let c = first; c < end && count < bestCount; c += step) if ((bytes[c * 8 + B_ITFLAGS] & IT_LINKED) !== 0) count++;
      if (count < bestCount) {
        best = page;
        bestCount = count;
      }
    }
    return best;
  }

  /** Frees one item of `cls` (memcached's lru_pull_tail); false if none may go. */
  #pullTail(cls: number, now: number, pinned: number): boolean {
    const u32 = this.#u32;
    const bytes = this.#bytes;
    const c = this.#cls;
    const row = cls * C.C_FIELDS;
    let cur = this.#lru.tail(cls);
    for (let tries = 0; cur !== 0 && tries < LRU_SEARCH_DEPTH; tries++) {
      const prev = u32[cur * 2 + F_PREV];
      if (cur !== pinned) {
        if (this.#liveness.deadReason(cur, now) !== 0) {
          c[row + C.C_RECLAIMED]++;
          c[row + C.C_DIRECT_RECLAIMS]++;
          if ((bytes[cur * 8 + B_ITFLAGS] & IT_FETCHED) === 0) c[row + C.C_EXPIRED_UNFETCHED]++;
          this.#items.unlink(cur, -1);
          return true;
        }
        if (this.#evictions) {
          if ((bytes[cur * 8 + B_ITFLAGS] & IT_ACTIVE) === 0) {
            this.#evict(cur, row, now);
            return true;
          }
          bytes[cur * 8 + B_ITFLAGS] &= ~IT_ACTIVE;
          this.#lru.remove(cur, cls);
          this.#lru.pushHead(cur, cls);
          c[row + C.C_MOVES_TO_WARM]++;
        }
      }
      cur = prev;
    }
    if (this.#evictions) {
      let tail = this.#lru.tail(cls);
      if (tail === pinned && tail !== 0) tail = u32[tail * 2 + F_PREV];
      if (tail !== 0) {
        this.#evict(tail, row, now);
        return true;
      }
    }
    c[row + C.C_OUTOFMEMORY]++;
    return false;
  }

  /** Told of each item evicted, before it goes (`watch evictions`). */
  onEvict: ((h: number, now: number) => void) | null = null;

  #evict(h: number, row: number, now: number): void {
    this.onEvict?.(h, now);
    const c = this.#cls;
    const itflags = this.#bytes[h * 8 + B_ITFLAGS];
    c[row + C.C_EVICTED]++;
    c[row + C.C_DIRECT_RECLAIMS]++;
    c[row + C.C_EVICTED_TIME] = now - this.#u32[h * 2 + F_TIME];
    if (this.#u32[h * 2 + F_EXPTIME] !== 0) c[row + C.C_EVICTED_NONZERO]++;
    if ((itflags & IT_FETCHED) === 0) c[row + C.C_EVICTED_UNFETCHED]++;
    if ((itflags & IT_ACTIVE) !== 0) c[row + C.C_EVICTED_ACTIVE]++;
    this.#items.unlink(h, -1);
  }
}
