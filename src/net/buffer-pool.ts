/**
 * Large buffers kept for reuse, in sizes that are powers of two. A batch of replies larger than the reply buffer's
 * slab (values of 100 KB, pipelined) would otherwise take a fresh block from malloc each time, and free it soon
 * after: with glibc's mmap threshold fixed (bin/repcache sets it, so freed blocks do not stay resident), each such
 * block is an mmap, page faults and an munmap. The pool holds at most `capBytes` of free buffers; larger requests
 * are served but never kept. A buffer is lent by take() and comes back only through give(), once: one given back
 * twice, or never lent, is ignored, so a buffer is never handed out to two users at once.
 */
export interface BufferPoolOptions {
  /** The smallest size handed out (a power of two). */
  minSize: number;
  /** Buffers larger than this are made for the request and never kept. */
  maxSize: number;
  /** Most bytes of free buffers kept. */
  capBytes: number;
}

export class BufferPool {
  readonly options: BufferPoolOptions;
  /** Free buffers, by size. */
  readonly #free = new Map<number, Buffer[]>();
  #freeBytes = 0;
  /** Buffers lent and not given back yet. A buffer never given back (its write outlived the batch) is left to the GC. */
  readonly #lent = new WeakSet<Buffer>();

  constructor(options: BufferPoolOptions) {
    this.options = options;
  }

  /** The size take(n) hands out: the smallest power of two, at least minSize, that holds n bytes. */
  sizeFor(n: number): number {
    let size = this.options.minSize;
    while (size < n) size *= 2;
    return size;
  }

  /** A buffer of sizeFor(n) bytes (its contents are whatever was there), lent until give(). */
  take(n: number): Buffer {
    const size = this.sizeFor(n);
    if (size > this.options.maxSize) return Buffer.allocUnsafeSlow(size);
    let b = this.#free.get(size)?.pop();
    if (b === undefined) b = Buffer.allocUnsafeSlow(size);
    else this.#freeBytes -= size;
    this.#lent.add(b);
    return b;
  }

  /** Takes back a buffer take() lent, which nothing refers to any more; kept unless the pool is full. */
  give(b: Buffer): void {
    if (!this.#lent.has(b)) return;
    this.#lent.delete(b);
    if (b.length > this.options.maxSize || this.#freeBytes + b.length > this.options.capBytes) return;
    let list = this.#free.get(b.length);
    if (list === undefined) this.#free.set(b.length, (list = []));
    list.push(b);
    this.#freeBytes += b.length;
  }

  /** Lets every free buffer go (to the GC, and with it back to the OS). */
  drop(): void {
    this.#free.clear();
    this.#freeBytes = 0;
  }

  /** Bytes of free buffers held. */
  get freeBytes(): number {
    return this.#freeBytes;
  }
}
