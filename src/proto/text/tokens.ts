/** memcached's command-line tokenizer (proto_text.c tokenize_command), over a byte range. */

/** memcached's MAX_TOKENS: 23 words are split off, the terminal slot makes 24. */
export const MAX_TOKENS = 24;
const SP = 0x20;
const LF = 0x0a;
const CR = 0x0d;

/** splitLine(): no \n before the end of the bytes. */
export const NO_LF = -1;
/** splitLine(): a NUL or the word limit came first; find the \n, then split() the line. */
export const UNSURE = -2;

/**
 * Splits b[s, e) at single spaces, skipping empty words; only ' ' separates (tabs and \r stay in
 * words) and a NUL byte ends the line, as C's strlen() does. Stops after MAX_TOKENS - 1 words.
 */
export class Tokens {
  readonly start = new Int32Array(MAX_TOKENS);
  readonly end = new Int32Array(MAX_TOKENS);
  /** Words found (memcached's ntokens is count + 1). */
  count = 0;
  /** True when the line had more words than were split off (the rest is only read by get). */
  truncated = false;

  /** Splits the line b[s, e), which holds no \n; returns the number of words. */
  split(b: Buffer, s: number, e: number): number {
    const i = this.#words(b, s, e);
    this.truncated = this.count === MAX_TOKENS - 1 && i + 1 < e && b[i] === SP && b[i + 1] !== 0;
    return this.count;
  }

  /**
   * split() and the search for the line's \n in one pass, saving a Buffer#indexOf call per command. From b[s],
   * finds the first \n before e and splits the line as split(b, s, le) does, le being the end of the line
   * without its \r\n (memcached keeps a \r that is the line's only byte). Returns the \n's index, NO_LF or UNSURE.
   */
  splitLine(b: Buffer, s: number, e: number): number {
    const nl = this.#words(b, s, e);
    this.truncated = false;
    if (nl === e) return NO_LF;
    if (b[nl] !== LF) return UNSURE;
    const n = this.count;
    if (nl - s > 1 && b[nl - 1] === CR && --this.end[n - 1] === this.start[n - 1]) this.count = n - 1;
    return nl;
  }

  /**
   * Splits words off b[s, e) into start/end/count up to e, a \n, a NUL, or a space after the last word there is
   * room for; returns where it stopped.
   */
  #words(b: Buffer, s: number, e: number): number {
    const start = this.start;
    const end = this.end;
    let n = 0;
    let i = s;
    while (i < e) {
      const c = b[i];
      if (c === SP) {
        i++;
        continue;
      }
      if (c === LF || c === 0) break;
      const from = i++;
      // The word runs to a space, a \n, a NUL or the end. Most of its bytes are above space: one test each.
      for (;;) {
        while (i < e && b[i] > SP) i++;
        if (i === e) break;
        const d = b[i];
        if (d === SP || d === LF || d === 0) break;
        i++;
      }
      start[n] = from;
      end[n] = i;
      n++;
      if (n === MAX_TOKENS - 1 && i < e && b[i] === SP) break;
    }
    this.count = n;
    return i;
  }

  length(i: number): number {
    return this.end[i] - this.start[i];
  }

  /** Word i equals the given bytes. */
  is(b: Buffer, i: number, word: Uint8Array): boolean {
    const s = this.start[i];
    const n = word.length;
    if (this.end[i] - s !== n) return false;
    for (let k = 0; k < n; k++) if (b[s + k] !== word[k]) return false;
    return true;
  }

  /** Word i begins with the given bytes. */
  startsWith(b: Buffer, i: number, prefix: Uint8Array): boolean {
    const s = this.start[i];
    const n = prefix.length;
    if (this.end[i] - s < n) return false;
    for (let k = 0; k < n; k++) if (b[s + k] !== prefix[k]) return false;
    return true;
  }

  latin1(b: Buffer, i: number): string {
    return b.toString('latin1', this.start[i], this.end[i]);
  }
}
