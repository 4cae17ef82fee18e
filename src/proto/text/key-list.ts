/**
 * The keys of a multiget line, read in place: words separated by spaces, the list ending at the end of the line or at
 * a NUL byte (memcached's tokenizer reads the line as a C string). Used instead of an array of views, so that a
 * line of millions of keys costs no memory beyond its own bytes.
 */

const SP = 0x20;
/** memcached's KEY_MAX_LENGTH */
export const KEY_MAX_LENGTH = 250;

/** Where the next key in b[pos, end) starts, or `end` when there is none. */
export function nextKey(b: Uint8Array, pos: number, end: number): number {
  while (pos < end && b[pos] === SP) pos++;
  return pos < end && b[pos] === 0 ? end : pos;
}

/** Where the key that starts at b[pos] ends (a space, a NUL or `end`). */
export function keyEnd(b: Uint8Array, pos: number, end: number): number {
  while (pos < end) {
    const c = b[pos];
    if (c === SP || c === 0) break;
    pos++;
  }
  return pos;
}

/** True when every key in b[pos, end) is at most KEY_MAX_LENGTH bytes long (one pass: lines may hold millions). */
export function keysFit(b: Uint8Array, pos: number, end: number): boolean {
  let run = 0;
  for (let i = pos; i < end; i++) {
    const c = b[i];
    if (c === SP) run = 0;
    else if (c === 0) return true;
    else if (++run > KEY_MAX_LENGTH) return false;
  }
  return true;
}

/** The keys of b[pos, end) as views (for callers that want them all at once). */
export function keyViews(b: Buffer, pos: number, end: number): Buffer[] {
  const keys: Buffer[] = [];
  for (let k = nextKey(b, pos, end); k < end; ) {
    const e = keyEnd(b, k, end);
    keys.push(b.subarray(k, e));
    k = nextKey(b, e, end);
  }
  return keys;
}

/** keysFit() over a line that arrives in pieces: feed() each piece as it comes, in order. */
export class KeyLengthCheck {
  /** Bytes of the key being read so far. */
  #run = 0;
  #ended = false;
  #fits = true;

  reset(): void {
    this.#run = 0;
    this.#ended = false;
    this.#fits = true;
  }

  /** Checks b[pos, end); returns whether every key so far fits. */
  feed(b: Uint8Array, pos: number, end: number): boolean {
    if (this.#ended || !this.#fits) return this.#fits;
    let run = this.#run;
    for (let i = pos; i < end; i++) {
      const c = b[i];
      if (c === SP) run = 0;
      else if (c === 0) {
        this.#ended = true;
        break;
      } else if (++run > KEY_MAX_LENGTH) {
        this.#fits = false;
        break;
      }
    }
    this.#run = run;
    return this.#fits;
  }
}
