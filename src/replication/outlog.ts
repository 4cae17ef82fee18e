/**
 * The outbound replication log: a bounded ring of keys changed locally, numbered by sequence. Every peer link has
 * its own cursor into it, so a short disconnect resumes from the last acknowledged sequence. Entries name keys,
 * not values (like repcached): the current state is read when the entry is sent, so repeated writes of a key cost
 * one slot each but send the newest value. A cursor that falls out of the ring means "needs a full resync".
 * Sequences are plain numbers (2^53 changes is enough); the wire carries them as u64.
 */
export const EntryKind = { KEY: 0, TOUCH: 1, FLUSH: 2 } as const;
export type EntryKind = (typeof EntryKind)[keyof typeof EntryKind];

export class OutLog {
  readonly capacity: number;
  readonly #kinds: Uint8Array;
  readonly #keys: (Buffer | null)[];
  /** Flush entries only: version and delay (seconds). */
  readonly #flushes = new Map<number, { version: bigint; delay: number }>();
  readonly #times: Float64Array;
  /** Sequence of the next entry; the first entry is 1. */
  #next = 1;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError('log capacity must be a positive integer');
    this.capacity = capacity;
    this.#kinds = new Uint8Array(capacity);
    this.#keys = new Array(capacity).fill(null);
    this.#times = new Float64Array(capacity);
  }

  /** Sequence the next append will get. */
  get nextSeq(): number {
    return this.#next;
  }

  /** Oldest sequence still held. */
  get firstSeq(): number {
    return Math.max(1, this.#next - this.capacity);
  }

  append(kind: EntryKind, key: Buffer | null, atMs: number, version = 0n, delay = 0): number {
    const seq = this.#next++;
    const i = seq % this.capacity;
    if (this.#kinds[i] === EntryKind.FLUSH) this.#flushes.delete(seq - this.capacity);
    this.#kinds[i] = kind;
    this.#keys[i] = key;
    this.#times[i] = atMs;
    if (kind === EntryKind.FLUSH) this.#flushes.set(seq, { version, delay });
    return seq;
  }

  /** Whether a reader whose next wanted sequence is `seq` can still be served from the ring. */
  holds(seq: number): boolean {
    return seq >= this.firstSeq && seq <= this.#next;
  }

  /** Accessors for entry `seq`; the caller checks holds(seq) and seq < nextSeq first. */
  kindAt(seq: number): EntryKind {
    return this.#kinds[seq % this.capacity] as EntryKind;
  }

  keyAt(seq: number): Buffer | null {
    return this.#keys[seq % this.capacity];
  }

  flushAt(seq: number): { version: bigint; delay: number } {
    return this.#flushes.get(seq) ?? { version: 0n, delay: 0 };
  }

  /** When entry `seq` was logged (ms), or NaN if it is not in the ring. */
  timeOf(seq: number): number {
    if (seq >= this.#next || seq < this.firstSeq) return Number.NaN;
    return this.#times[seq % this.capacity];
  }
}
