/**
 * The outbound replication log: a bounded ring of keys changed locally, numbered by sequence. Every peer link has
 * its own cursor into it, so a short disconnect resumes from the last acknowledged sequence. Entries name keys,
 * not values (like repcached): the current state is read when the entry is sent, so repeated writes of a key cost
 * one slot each but send the newest value. A cursor that falls out of the ring means "needs a full resync".
 */
export const EntryKind = { KEY: 0, TOUCH: 1, FLUSH: 2 } as const;
export type EntryKind = (typeof EntryKind)[keyof typeof EntryKind];

export interface LogEntry {
  seq: bigint;
  kind: EntryKind;
  key: Buffer | null;
  /** Flush entries: the flush version and delay (seconds). */
  version: bigint;
  delay: number;
  /** Local time (ms) the change was logged, for lag figures. */
  atMs: number;
}

export class OutLog {
  readonly capacity: number;
  readonly #kinds: Uint8Array;
  readonly #keys: (Buffer | null)[];
  readonly #versions: bigint[];
  readonly #delays: Uint32Array;
  readonly #times: Float64Array;
  /** Sequence of the next entry; the first entry is 1. */
  #next = 1n;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError('log capacity must be a positive integer');
    this.capacity = capacity;
    this.#kinds = new Uint8Array(capacity);
    this.#keys = new Array(capacity).fill(null);
    this.#versions = new Array(capacity).fill(0n);
    this.#delays = new Uint32Array(capacity);
    this.#times = new Float64Array(capacity);
  }

  /** Sequence the next append will get. */
  get nextSeq(): bigint {
    return this.#next;
  }

  /** Oldest sequence still held. */
  get firstSeq(): bigint {
    const first = this.#next - BigInt(this.capacity);
    return first > 1n ? first : 1n;
  }

  append(kind: EntryKind, key: Buffer | null, atMs: number, version = 0n, delay = 0): bigint {
    const seq = this.#next++;
    const i = Number(seq % BigInt(this.capacity));
    this.#kinds[i] = kind;
    this.#keys[i] = key;
    this.#versions[i] = version;
    this.#delays[i] = delay;
    this.#times[i] = atMs;
    return seq;
  }

  /** Whether a reader whose next wanted sequence is `seq` can still be served from the ring. */
  holds(seq: bigint): boolean {
    return seq >= this.firstSeq && seq <= this.#next;
  }

  /** Entry `seq`, or null if it is not (or no longer) in the ring. */
  get(seq: bigint): LogEntry | null {
    if (seq >= this.#next || seq < this.firstSeq) return null;
    const i = Number(seq % BigInt(this.capacity));
    return { seq, kind: this.#kinds[i] as EntryKind, key: this.#keys[i], version: this.#versions[i], delay: this.#delays[i], atMs: this.#times[i] };
  }

  /** When entry `seq` was logged (ms), or NaN if it is not in the ring. */
  timeOf(seq: bigint): number {
    if (seq >= this.#next || seq < this.firstSeq) return Number.NaN;
    return this.#times[Number(seq % BigInt(this.capacity))];
  }
}
