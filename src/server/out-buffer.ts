/**
 * A growable byte buffer that replies are assembled into, so a whole batch of pipelined
 * replies leaves in one socket write. take() hands out a copy-free view and starts over
 * in a fresh backing store, since the socket may still hold the previous one.
 */
export class OutBuffer {
  #buf: Buffer;
  #len = 0;
  readonly #initial: number;

  constructor(initial = 16 * 1024) {
    this.#initial = initial;
    this.#buf = Buffer.allocUnsafe(initial);
  }

  get length(): number { return this.#len; }

  /** Makes room for n more bytes and returns the buffer and offset to write them at. */
  reserve(n: number): Buffer {
    const need = this.#len + n;
    if (need > this.#buf.length) {
      let size = this.#buf.length * 2;
      while (size < need) size *= 2;
      const next = Buffer.allocUnsafe(size);
      this.#buf.copy(next, 0, 0, this.#len);
      this.#buf = next;
    }
    return this.#buf;
  }

  /** Commits n bytes written directly into reserve()'s buffer at offset `length`. */
  advance(n: number): void {
    this.#len += n;
  }

  bytes(b: Uint8Array): void {
    const n = b.length;
    const buf = this.reserve(n);
    if (n < 32) {
      const o = this.#len;
      for (let i = 0; i < n; i++) buf[o + i] = b[i];
    } else {
      buf.set(b, this.#len);
    }
    this.#len += n;
  }

  /** Appends b[start, end). */
  slice(b: Uint8Array, start: number, end: number): void {
    const n = end - start;
    const buf = this.reserve(n);
    buf.set(b.subarray(start, end), this.#len);
    this.#len += n;
  }

  /** Appends a string of bytes < 0x100 (ASCII / latin1). */
  latin1(s: string): void {
    const n = s.length;
    const buf = this.reserve(n);
    const o = this.#len;
    for (let i = 0; i < n; i++) buf[o + i] = s.charCodeAt(i);
    this.#len += n;
  }

  /** Appends a non-negative integer (< 2^53) in decimal. */
  uint(v: number): void {
    const buf = this.reserve(16);
    if (v < 10) { buf[this.#len++] = 48 + v; return; }
    let digits = 0;
    for (let t = v; t >= 1; t = Math.floor(t / 10)) digits++;
    let o = this.#len + digits;
    this.#len = o;
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
    buf[this.#len++] = b;
  }

  crlf(): void {
    const buf = this.reserve(2);
    buf[this.#len] = 13;
    buf[this.#len + 1] = 10;
    this.#len += 2;
  }

  /**
   * Returns what was written and resets. Small batches are copied out so the
   * backing store can be reused; large ones are handed over and replaced.
   */
  take(): Buffer {
    const n = this.#len;
    this.#len = 0;
    if (n <= 4096) return Buffer.from(this.#buf.subarray(0, n));
    const out = this.#buf.subarray(0, n);
    this.#buf = Buffer.allocUnsafe(Math.max(this.#initial, Math.min(out.length, 1 << 20)));
    return out;
  }

  /** Drops what was written after `length` was `mark`. */
  rewind(mark: number): void {
    if (mark < this.#len) this.#len = mark;
  }

  /** Drops everything written (the buffer stays allocated). */
  clear(): void {
    this.#len = 0;
  }
}
