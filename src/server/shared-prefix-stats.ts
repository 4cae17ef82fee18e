import type { PrefixCounter } from './stats.ts';

/** Prefixes the table counts; a new prefix past them (or past ARENA_BYTES of prefixes) is not counted. */
const SLOTS = 1024;
const ARENA_BYTES = 64 * 1024;
/** Header words: prefixes held, arena bytes used. */
const H_COUNT = 0;
const H_ARENA = 1;
const HEADER_WORDS = 2;
/** Per slot: where its prefix starts in the arena + 1 (0: empty), its length; and its four counts. */
const SLOT_WORDS = 2;
const COUNTS = 4;
const GET = 0;
const HIT = 1;
const SET = 2;
const DEL = 3;

/**
 * `stats detail` of repcache -t N: memcached's counts by key prefix (as PrefixStats) in one table in shared memory,
 * so that `stats detail dump` on any worker prints what every worker's clients did, and `stats reset` on any clears it.
 * Read and written under the store lock only (cache/LOCKING.md): every dispatcher call counts and dumps under it.
 * Bounded, where PrefixStats is not: SLOTS prefixes of at most ARENA_BYTES in all, as the memory is reserved at start.
 */
export class SharedPrefixStats implements PrefixCounter {
  readonly buffer: SharedArrayBuffer;
  readonly #delimiter: number;
  readonly #header: Int32Array;
  readonly #slots: Int32Array;
  readonly #counts: Float64Array;
  /** Slot indexes in the order their prefixes came (the dump's order, as PrefixStats'). */
  readonly #order: Int32Array;
  readonly #arena: Uint8Array;

  constructor(delimiter: string, buffer: SharedArrayBuffer = SharedPrefixStats.allocate()) {
    this.buffer = buffer;
    this.#delimiter = delimiter.charCodeAt(0);
    let at = 0;
    this.#counts = new Float64Array(buffer, at, SLOTS * COUNTS);
    at += SLOTS * COUNTS * 8;
    this.#header = new Int32Array(buffer, at, HEADER_WORDS);
    at += HEADER_WORDS * 4;
    this.#slots = new Int32Array(buffer, at, SLOTS * SLOT_WORDS);
    at += SLOTS * SLOT_WORDS * 4;
    this.#order = new Int32Array(buffer, at, SLOTS);
    at += SLOTS * 4;
    this.#arena = new Uint8Array(buffer, at, ARENA_BYTES);
  }

  static allocate(): SharedArrayBuffer {
    return new SharedArrayBuffer(SLOTS * COUNTS * 8 + HEADER_WORDS * 4 + SLOTS * SLOT_WORDS * 4 + SLOTS * 4 + ARENA_BYTES);
  }

  get(key: Buffer, hit: boolean): void {
    const s = this.#slot(key);
    if (s < 0) return;
    this.#counts[s * COUNTS + GET]++;
    if (hit) this.#counts[s * COUNTS + HIT]++;
  }

  set(key: Buffer): void {
    const s = this.#slot(key);
    if (s >= 0) this.#counts[s * COUNTS + SET]++;
  }

  del(key: Buffer): void {
    const s = this.#slot(key);
    if (s >= 0) this.#counts[s * COUNTS + DEL]++;
  }

  dump(): string {
    let out = '';
    const n = this.#header[H_COUNT];
    for (let i = 0; i < n; i++) {
      const s = this.#order[i];
      const start = this.#slots[s * SLOT_WORDS] - 1;
      const prefix = Buffer.from(this.#arena.buffer, this.#arena.byteOffset + start, this.#slots[s * SLOT_WORDS + 1]).toString('latin1');
      const c = s * COUNTS;
      out += `PREFIX ${prefix} get ${this.#counts[c + GET]} hit ${this.#counts[c + HIT]} set ${this.#counts[c + SET]} del ${this.#counts[c + DEL]}\r\n`;
    }
    return `${out}END\r\n`;
  }

  clear(): void {
    this.#header.fill(0);
    this.#slots.fill(0);
    this.#counts.fill(0);
  }

  /** The slot of key's prefix, taken if new; -1 if the key has no prefix, or the table is full. */
  #slot(key: Buffer): number {
    const len = key.indexOf(this.#delimiter);
    if (len < 0) return -1;
    let h = 0x811c9dc5;
    for (let i = 0; i < len; i++) h = Math.imul(h ^ key[i], 0x01000193);
    const slots = this.#slots;
    for (let probe = 0, s = (h >>> 0) % SLOTS; probe < SLOTS; probe++, s = s + 1 === SLOTS ? 0 : s + 1) {
      const at = slots[s * SLOT_WORDS];
      if (at === 0) return this.#take(s, key, len);
      if (slots[s * SLOT_WORDS + 1] === len && Buffer.compare(this.#arena.subarray(at - 1, at - 1 + len), key.subarray(0, len)) === 0) return s;
    }
    return -1;
  }

  #take(s: number, key: Buffer, len: number): number {
    const h = this.#header;
    // kept below three quarters full: probes stay short
    if (h[H_COUNT] >= (SLOTS * 3) / 4 || h[H_ARENA] + len > ARENA_BYTES) return -1;
    this.#arena.set(key.subarray(0, len), h[H_ARENA]);
    this.#slots[s * SLOT_WORDS] = h[H_ARENA] + 1;
    this.#slots[s * SLOT_WORDS + 1] = len;
    h[H_ARENA] += len;
    this.#order[h[H_COUNT]++] = s;
    return s;
  }
}
