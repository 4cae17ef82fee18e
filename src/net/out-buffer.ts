import { BufferPool } from './buffer-pool.ts';

/** Replies are written into slabs of this size; a larger batch gets a buffer of its own, from LARGE. */
const SLAB_SIZE = 64 * 1024;
/** When less than this is left after a take(), the next batch starts a new slab. */
const MIN_ROOM = 4 * 1024;
/** Views of a slab's start kept for reuse, by length modulo this (a power of two). */
const VIEW_SLOTS = 8;
const NO_VIEW = Buffer.alloc(0);

/**
 * The thread's buffers for batches larger than a slab (a few replies of large values), reused rather than taken
 * from malloc and freed per batch: 128 KB to 1 MB, at most 1 MB of them free (a batch is flushed past the output
 * limit, 256 KB by default, so one of each size up to 512 KB covers values up to a few hundred KB). Larger batches
 * get a buffer of their own, as before.
 */
const LARGE = new BufferPool({ minSize: 2 * SLAB_SIZE, maxSize: 1024 * 1024, capBytes: 1024 * 1024 });

/** Lets the thread's spare large reply buffers go (a quiet server gives its memory back). */
export function dropSpareReplyBuffers(): void {
  LARGE.drop();
}

/** Bytes of spare large reply buffers the thread holds (for tests). */
export function spareReplyBufferBytes(): number {
  return LARGE.freeBytes;
}

/**
 * A growable byte buffer that replies are assembled into, so a whole batch of pipelined
 * replies leaves in one socket write. take() hands out a view of the batch without copying
 * and the next batch continues after it in the same slab; handed-out bytes are not written
 * again (the socket may still hold them), so a full slab is replaced, not reused. The usual
 * write is copied by the kernel at once: recycle() then says so, and while no batch of the
 * slab is held the next one starts over at its beginning, in memory the CPU cache still has.
 */
export class OutBuffer {
  #buf: Buffer = Buffer.allocUnsafe(SLAB_SIZE);
  /** While a batch is in a large buffer: the slab it outgrew, free of held batches, to go back to after it. */
  #home: Buffer | null = null;
  /** The large buffer the latest take() handed out: back to LARGE when recycle() says the kernel copied it. */
  #largeOut: Buffer | null = null;
  /** the current batch is #buf[#start, #end) */
  #start = 0;
  #end = 0;
  /** The latest batch take() returned from #buf, until recycle() releases it. */
  #latestHeld = false;
  /** A batch of #buf taken before the latest one may still be in use. */
  #earlierHeld = false;
  /**
   * Views #buf[0, n) that take() handed out, by n % VIEW_SLOTS. After recycle() most batches start at 0 and
   * have one of a few lengths (a hit, STORED), and making a view costs as much as writing a small reply.
   */
  #views: Buffer[] = new Array<Buffer>(VIEW_SLOTS).fill(NO_VIEW);

  /** Bytes in the current batch. */
  get length(): number { return this.#end - this.#start; }

  /** Where the next byte goes in the Buffer reserve() returns. */
  get offset(): number { return this.#end; }

  /** Makes room for n more bytes and returns the buffer to write them into at `offset`. */
  reserve(n: number): Buffer {
    if (this.#end + n > this.#buf.length) this.#grow(n);
    return this.#buf;
  }

  #grow(n: number): void {
    const held = this.#end - this.#start;
    const old = this.#buf;
    const next = held + n <= SLAB_SIZE ? Buffer.allocUnsafe(SLAB_SIZE) : LARGE.take(held + n);
    old.copy(next, 0, this.#start, this.#end);
    // A large buffer holds only the batch being written (take() hands it out and leaves it): nothing else refers to it.
    if (old.length > SLAB_SIZE) LARGE.give(old);
    else if (next.length > SLAB_SIZE && !this.#latestHeld && !this.#earlierHeld) this.#home = old;
    this.#replace(next);
    this.#start = 0;
    this.#end = held;
  }

  /** Commits n bytes written directly into reserve()'s buffer at `offset`. */
  advance(n: number): void {
    this.#end += n;
  }

  bytes(b: Uint8Array): void {
    const n = b.length;
    const buf = this.reserve(n);
    const o = this.#end;
    if (n < 32) {
      for (let i = 0; i < n; i++) buf[o + i] = b[i];
    } else {
      buf.set(b, o);
    }
    this.#end = o + n;
  }

  /** Appends b[start, end). */
  slice(b: Uint8Array, start: number, end: number): void {
    const n = end - start;
    const buf = this.reserve(n);
    buf.set(b.subarray(start, end), this.#end);
    this.#end += n;
  }

  /** Appends a string of bytes < 0x100 (ASCII / latin1). */
  latin1(s: string): void {
    const n = s.length;
    const buf = this.reserve(n);
    const o = this.#end;
    for (let i = 0; i < n; i++) buf[o + i] = s.charCodeAt(i);
    this.#end = o + n;
  }

  /** Appends a non-negative integer (< 2^53) in decimal. */
  uint(v: number): void {
    const buf = this.reserve(16);
    if (v < 10) { buf[this.#end++] = 48 + v; return; }
    let digits = 0;
    for (let t = v; t >= 1; t = Math.floor(t / 10)) digits++;
    let o = this.#end + digits;
    this.#end = o;
    while (v >= 1) {
      const q = Math.floor(v / 10);
      buf[--o] = 48 + (v - q * 10);
      v = q;
    }
  }

  /** Appends a bigint (>= 0) in decimal. */
  bigint(v: bigint): void {
    if (v < 9007199254740992n) this.uint(Number(v));
    else this.latin1(v.toString());
  }

  byte(b: number): void {
    const buf = this.reserve(1);
    buf[this.#end++] = b;
  }

  crlf(): void {
    const buf = this.reserve(2);
    buf[this.#end] = 13;
    buf[this.#end + 1] = 10;
    this.#end += 2;
  }

  #replace(buf: Buffer): void {
    this.#buf = buf;
    this.#views.fill(NO_VIEW);
  }

  /** Returns the current batch (a view, not a copy) and starts the next one. */
  take(): Buffer {
    // an earlier large batch never recycled is left to the GC (a write may still read it)
    this.#largeOut = null;
    const out = this.#start === 0 ? this.#viewOfStart(this.#end) : this.#buf.subarray(this.#start, this.#end);
    if (this.#buf.length > SLAB_SIZE) {
      this.#largeOut = this.#buf;
      this.#replace(this.#home ?? Buffer.allocUnsafe(SLAB_SIZE));
      this.#home = null;
      this.#start = this.#end = 0;
      this.#latestHeld = this.#earlierHeld = false;
    } else if (this.#buf.length - this.#end < MIN_ROOM) {
      this.#replace(Buffer.allocUnsafe(SLAB_SIZE));
      this.#start = this.#end = 0;
      this.#latestHeld = this.#earlierHeld = false;
    } else {
      this.#start = this.#end;
      this.#earlierHeld ||= this.#latestHeld;
      this.#latestHeld = true;
    }
    return out;
  }

  /** #buf[0, n), the same view as last time when one of that length was made. */
  #viewOfStart(n: number): Buffer {
    const slot = n & (VIEW_SLOTS - 1);
    const view = this.#views[slot];
    if (view.length === n) return view;
    return (this.#views[slot] = this.#buf.subarray(0, n));
  }

  /**
   * The batch the last take() returned is no longer referenced (the kernel copied it). Call it
   * right after that take(), before any other; a batch never recycled stays untouched.
   */
  recycle(): void {
    if (this.#start !== this.#end) return;
    const large = this.#largeOut;
    if (large !== null) {
      this.#largeOut = null;
      LARGE.give(large);
      return;
    }
    if (!this.#latestHeld) return;
    this.#latestHeld = false;
    if (!this.#earlierHeld) this.#start = this.#end = 0;
  }

  /** Drops what was written after `length` was `mark`. */
  rewind(mark: number): void {
    if (mark < this.length) this.#end = this.#start + mark;
  }

  /** Drops the current batch. */
  clear(): void {
    this.#end = this.#start;
  }
}
