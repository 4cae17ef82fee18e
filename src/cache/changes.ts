/**
 * The outbound replication log: a bounded ring of keys changed locally, numbered by sequence. Every peer link has
 * its own cursor into it, so a short disconnect resumes from the last acknowledged sequence. Entries name keys,
 * not values (like repcached): the current state is read when the entry is sent, so repeated writes of a key cost
 * one slot each but send the newest value. A cursor that falls out of the ring means "needs a full resync".
 *
 * Key bytes live in one preallocated byte ring (no allocation per change, nothing for the GC to trace); an entry
 * is gone when either its slot or its key bytes were reused. Sequences are plain numbers; the wire carries u64.
 */
export const EntryKind = { KEY: 0, TOUCH: 1, FLUSH: 2 } as const;
export type EntryKind = (typeof EntryKind)[keyof typeof EntryKind];

/** Key bytes reserved per entry: longer keys on average make the ring hold fewer entries. */
const KEY_BYTES_PER_ENTRY = 64;

/**
 * seq mod capacity for any sequence below 2^53. Not `seq % capacity`: past 2^31 changes (about an hour at 500k
 * writes/s) V8's `%` leaves integer arithmetic for a floating-point call costing ~20 ns, several times per change.
 */
export function ringSlot(seq: number, capacity: number): number {
  const i = seq - Math.floor(seq / capacity) * capacity;
  return i < 0 ? i + capacity : i >= capacity ? i - capacity : i;
}

export class OutLog {
  readonly capacity: number;
  readonly #kinds: Uint8Array;
  readonly #times: Float64Array;
  /** Absolute position (bytes ever written) of each entry's key, and its length. */
  readonly #keyAt: Float64Array;
  readonly #keyLen: Uint8Array;
  /** Per entry, optional: the store item written, its version words and the store's layout version then. */
  readonly #hint: Uint32Array;
  readonly #hintHigh: Uint32Array;
  readonly #hintLow: Uint32Array;
  readonly #hintLayout: Uint32Array;
  readonly #bytes: Buffer;
  #bytePos = 0;
  /** #bytePos within #bytes: where the next key goes. */
  #byteOff = 0;
  /** Offset of each entry's key in #bytes. */
  readonly #keyOff: Uint32Array;
  /** Flush entries only: version and delay (seconds). */
  readonly #flushes = new Map<number, { version: bigint; delay: number }>();
  /** Sequence of the next entry; the first entry is 1. */
  #next = 1;
  /** Oldest sequence whose slot and key bytes are intact. */
  #first = 1;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError('log capacity must be a positive integer');
    this.capacity = capacity;
    this.#kinds = new Uint8Array(capacity);
    this.#times = new Float64Array(capacity);
    this.#keyAt = new Float64Array(capacity);
    this.#keyLen = new Uint8Array(capacity);
    this.#keyOff = new Uint32Array(capacity);
    this.#hint = new Uint32Array(capacity);
    this.#hintHigh = new Uint32Array(capacity);
    this.#hintLow = new Uint32Array(capacity);
    this.#hintLayout = new Uint32Array(capacity);
    this.#bytes = Buffer.alloc(Math.max(capacity * KEY_BYTES_PER_ENTRY, 256));
  }

  #slot(seq: number): number {
    return ringSlot(seq, this.capacity);
  }

  /** Sequence the next append will get. */
  get nextSeq(): number {
    return this.#next;
  }

  /** Oldest sequence still held. */
  get firstSeq(): number {
    return this.#first;
  }

  /** Appends a change; `key` is copied. */
  append(kind: EntryKind, key: Buffer | null, atMs: number, version = 0n, delay = 0): number {
    const seq = this.#next++;
    const i = this.#slot(seq);
    if (this.#kinds[i] === EntryKind.FLUSH) this.#flushes.delete(seq - this.capacity);
    this.#kinds[i] = kind;
    this.#times[i] = atMs;
    const bytes = this.#bytes;
    const len = key ? key.length : 0;
    let at = this.#byteOff;
    if (at + len > bytes.length) {
      this.#bytePos += bytes.length - at; // keys never wrap: skip the tail
      at = 0;
    }
    for (let j = 0; j < len; j++) bytes[at + j] = key![j];
    this.#keyAt[i] = this.#bytePos;
    this.#keyOff[i] = at;
    this.#keyLen[i] = len;
    this.#hint[i] = 0;
    this.#bytePos += len;
    this.#byteOff = at + len;
    if (kind === EntryKind.FLUSH) this.#flushes.set(seq, { version, delay });
    // Drop entries whose slot or key bytes were just reused (both advance in sequence order).
    const floor = this.#bytePos - bytes.length;
    let first = this.#first;
    if (first <= seq - this.capacity || this.#keyAt[this.#slot(first)] < floor) {
      while (first < this.#next && (first <= seq - this.capacity || this.#keyAt[this.#slot(first)] < floor)) first++;
      this.#first = first;
    }
    return seq;
  }

  /**
   * Notes where entry `seq` (just appended) was written in the store: item handle, its version words and the
   * store's layout version, so the sender can check the item instead of looking the key up.
   */
  hint(seq: number, h: number, high: number, low: number, layout: number): void {
    const i = this.#slot(seq);
    this.#hint[i] = h;
    this.#hintHigh[i] = high;
    this.#hintLow[i] = low;
    this.#hintLayout[i] = layout;
  }

  /** The handle hint() noted for `seq` if it was noted under this layout version, else 0. */
  hintAt(seq: number, layout: number): number {
    const i = this.#slot(seq);
    return this.#hintLayout[i] === layout >>> 0 ? this.#hint[i] : 0;
  }

  hintHighAt(seq: number): number {
    return this.#hintHigh[this.#slot(seq)];
  }

  hintLowAt(seq: number): number {
    return this.#hintLow[this.#slot(seq)];
  }

  /** Whether a reader whose next wanted sequence is `seq` can still be served from the ring. */
  holds(seq: number): boolean {
    return seq >= this.#first && seq <= this.#next;
  }

  /** Accessors for entry `seq`; the caller checks holds(seq) and seq < nextSeq first. */
  kindAt(seq: number): EntryKind {
    return this.#kinds[this.#slot(seq)] as EntryKind;
  }

  /** The ring of key bytes: entry seq's key is keyBytes[keyOffsetAt(seq), + keyLengthAt(seq)) until the next append. */
  get keyBytes(): Buffer {
    return this.#bytes;
  }

  keyOffsetAt(seq: number): number {
    return this.#keyOff[this.#slot(seq)];
  }

  keyLengthAt(seq: number): number {
    return this.#keyLen[this.#slot(seq)];
  }

  /** A view of the key bytes, valid until the next append. */
  keyAt(seq: number): Buffer | null {
    const i = this.#slot(seq);
    const len = this.#keyLen[i];
    if (len === 0) return null;
    const at = this.#keyOff[i];
    return this.#bytes.subarray(at, at + len);
  }

  flushAt(seq: number): { version: bigint; delay: number } {
    return this.#flushes.get(seq) ?? { version: 0n, delay: 0 };
  }

  /** When entry `seq` was logged (ms), or NaN if it is not in the ring. */
  timeOf(seq: number): number {
    if (seq >= this.#next || seq < this.#first) return Number.NaN;
    return this.#times[this.#slot(seq)];
  }
}
