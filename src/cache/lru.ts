import { B_CLSID, F_NEXT, F_PREV, F_TIME } from './layout.ts';

/** Items are bumped in the LRU at most once per this many seconds (memcached's ITEM_UPDATE_INTERVAL). */
const ITEM_UPDATE_INTERVAL = 60;

/**
 * One doubly linked LRU list per slab class, threaded through the items'
 * prev/next fields; heads and tails are u32 handles in a SharedArrayBuffer.
 */
export class LruLists {
  readonly #bytes: Buffer;
  readonly #u32: Uint32Array;
  /** Heads at [cls * 2], tails at [cls * 2 + 1]. */
  readonly #ends: Uint32Array;

  /** ends: another thread's heads and tails to attach to, else new ones. */
  constructor(bytes: Buffer, u32: Uint32Array, classCount: number, ends?: SharedArrayBuffer) {
    this.#bytes = bytes;
    this.#u32 = u32;
    this.#ends = new Uint32Array(ends ?? new SharedArrayBuffer(classCount * 2 * 4));
  }

  get buffer(): SharedArrayBuffer {
    return this.#ends.buffer as SharedArrayBuffer;
  }

  /** Most recently used item of `cls`, 0 if the class is empty. */
  head(cls: number): number {
    return this.#ends[cls * 2];
  }

  /** Least recently used item of `cls`, 0 if the class is empty. */
  tail(cls: number): number {
    return this.#ends[cls * 2 + 1];
  }

  /** Seconds since the tail item of `cls` was last used, -1 if the class is empty. */
  tailAge(cls: number, now: number): number {
    const tail = this.#ends[cls * 2 + 1];
    return tail === 0 ? -1 : now - this.#u32[tail * 2 + F_TIME];
  }

  /** Last access time of the tail item of `cls`, -1 if the class is empty. */
  tailTime(cls: number): number {
    const tail = this.#ends[cls * 2 + 1];
    return tail === 0 ? -1 : this.#u32[tail * 2 + F_TIME];
  }

  /** Moves h to the head unless it was already moved within the last ITEM_UPDATE_INTERVAL seconds. */
  bumpIfStale(h: number, now: number): void {
    const u32 = this.#u32;
    if (u32[h * 2 + F_TIME] + ITEM_UPDATE_INTERVAL <= now) {
      u32[h * 2 + F_TIME] = now;
      const cls = this.#bytes[h * 8 + B_CLSID];
      this.remove(h, cls);
      this.pushHead(h, cls);
    }
  }

  pushHead(h: number, cls: number): void {
    const ends = this.#ends;
    const u32 = this.#u32;
    const head = ends[cls * 2];
    u32[h * 2 + F_PREV] = 0;
    u32[h * 2 + F_NEXT] = head;
    if (head !== 0) u32[head * 2 + F_PREV] = h;
    else ends[cls * 2 + 1] = h;
    ends[cls * 2] = h;
  }

  remove(h: number, cls: number): void {
    const ends = this.#ends;
    const u32 = this.#u32;
    const prev = u32[h * 2 + F_PREV];
    const next = u32[h * 2 + F_NEXT];
    if (prev !== 0) u32[prev * 2 + F_NEXT] = next;
    else ends[cls * 2] = next;
    if (next !== 0) u32[next * 2 + F_PREV] = prev;
    else ends[cls * 2 + 1] = prev;
  }
}
