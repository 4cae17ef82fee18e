import { turnNow } from '../clock.ts';

/**
 * The store's change stream: one record per change that a client's command made to the store, numbered by
 * sequence, in a bounded ring. The store is its only writer; a subscriber (replication) reads it from its own
 * cursor, so a short disconnect resumes from the last acknowledged sequence, and a reader that falls out of the
 * ring needs a full resync.
 *
 * A record names what changed and carries what a reader needs without a lookup: the key (copied), the item handle
 * and its version as written (valid while the store's layout version is unchanged: see itemAt()), the version of a
 * delete (its tombstone) or of a flush, and the time it was made. Values are not copied: a reader sends the item's
 * current state, so repeated writes of a key cost one slot each but ship the newest value.
 *
 * Changes applied from a peer are not recorded: the ring is the resume window for this node's own changes, and a
 * peer's full copy or flush would push them out of it (the peer's own stream holds its changes). Expiry and
 * eviction are not recorded either: a peer expires items by itself, and eviction is a local memory decision.
 *
 * Layout: every field lives in typed arrays over SharedArrayBuffers and keys in one preallocated byte ring (no
 * allocation per change, nothing for the GC to trace), so that another thread can read the records. A record is
 * gone when its slot or its key bytes were reused. With several writer threads the cursors (#next, #byteOff,
 * #bytePos) would move into a shared header, a writer would claim a sequence and its key bytes with Atomics.add,
 * and a per-slot commit word would tell readers the record is whole; a single writer needs none of that.
 */
export const ChangeKind = { SET: 1, TOUCH: 2, DELETE: 3, FLUSH: 4, ARITH: 5 } as const;
export type ChangeKind = (typeof ChangeKind)[keyof typeof ChangeKind];

/** Key bytes reserved per record: longer keys on average make the ring hold fewer records. */
const KEY_BYTES_PER_RECORD = 64;

/** What a subscriber hears from the stream. */
export interface ChangeSubscriber {
  /** Record `seq` was appended (synchronously, inside the store's operation). */
  appended(seq: number, kind: ChangeKind): void;
  /**
   * Replication's synchronous mode: resolves once record `seq` (and every one before it) is safe on a peer, or
   * after a bounded wait; null when the reply to the command that made it need not wait.
   */
  settled(seq: number): Promise<void> | null;
}

/**
 * seq mod capacity for any sequence below 2^53. Not `seq % capacity`: past 2^31 changes (about an hour at 500k
 * writes/s) V8's `%` leaves integer arithmetic for a floating-point call costing ~20 ns, several times per change.
 */
export function ringSlot(seq: number, capacity: number): number {
  const i = seq - Math.floor(seq / capacity) * capacity;
  return i < 0 ? i + capacity : i >= capacity ? i - capacity : i;
}

const NONE = new SharedArrayBuffer(0);
const NO_BYTES = new Uint8Array(NONE);
const NO_F64 = new Float64Array(NONE);
const NO_U32 = new Uint32Array(NONE);
const NO_KEY = new Uint8Array(0);
const NO_U64 = new BigUint64Array(NONE);

export class ChangeStream {
  /** Records the ring holds; 0 until a subscriber sized it. */
  capacity = 0;
  /** Whether records are kept (a subscriber listens): the store writes none otherwise. */
  active = false;
  readonly #wallMs: () => number;
  #subscriber: ChangeSubscriber | null = null;
  #kinds = NO_BYTES;
  #times = NO_F64;
  /** Absolute position (bytes ever written) of each record's key, its offset in #keys and its length. */
  #keyAt = NO_F64;
  #keyOff = NO_U32;
  #keyLen = NO_BYTES;
  /** Per record: the item written (0: none), its version words (a delete's or a flush's for those), layout then. */
  #item = NO_U32;
  #high = NO_U32;
  #low = NO_U32;
  #layout = NO_U32;
  /** FLUSH records: the delay (seconds). */
  #delay = NO_U32;
  /** ARITH records (incr/decr): the item's version and value before the operation, and its value after. */
  #priorVersion = NO_U64;
  #priorValue = NO_U64;
  #value = NO_U64;
  /** ARITH records: 1 for an incr, 0 for a decr. */
  #incr = NO_BYTES;
  #keys = Buffer.from(NONE);
  #bytePos = 0;
  /** #bytePos within #keys: where the next key goes. */
  #byteOff = 0;
  /** Sequence of the next record; the first is 1. */
  #next = 1;
  /** Oldest sequence whose slot and key bytes are intact. */
  #first = 1;

  /** `wallMs`: the time recorded with each change (ms, wall clock). */
  constructor(wallMs: () => number = turnNow) {
    this.#wallMs = wallMs;
  }

  /** Starts keeping records in a ring of `capacity` records; `subscriber` hears of each. One subscriber at a time. */
  subscribe(subscriber: ChangeSubscriber, capacity: number): void {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError('change stream capacity must be a positive integer');
    if (this.#subscriber !== null) throw new Error('the change stream already has a subscriber');
    this.#subscriber = subscriber;
    if (capacity !== this.capacity) this.#allocate(capacity);
    this.active = true;
  }

  /** Stops keeping records (the ring and the sequence stay). */
  unsubscribe(): void {
    this.#subscriber = null;
    this.active = false;
  }

  #allocate(capacity: number): void {
    const shared = (bytes: number) => new SharedArrayBuffer(bytes);
    this.capacity = capacity;
    this.#kinds = new Uint8Array(shared(capacity));
    this.#times = new Float64Array(shared(capacity * 8));
    this.#keyAt = new Float64Array(shared(capacity * 8));
    this.#keyOff = new Uint32Array(shared(capacity * 4));
    this.#keyLen = new Uint8Array(shared(capacity));
    this.#item = new Uint32Array(shared(capacity * 4));
    this.#high = new Uint32Array(shared(capacity * 4));
    this.#low = new Uint32Array(shared(capacity * 4));
    this.#layout = new Uint32Array(shared(capacity * 4));
    this.#delay = new Uint32Array(shared(capacity * 4));
    this.#priorVersion = new BigUint64Array(shared(capacity * 8));
    this.#priorValue = new BigUint64Array(shared(capacity * 8));
    this.#value = new BigUint64Array(shared(capacity * 8));
    this.#incr = new Uint8Array(shared(capacity));
    this.#keys = Buffer.from(shared(Math.max(capacity * KEY_BYTES_PER_RECORD, 256)));
    this.#bytePos = this.#byteOff = 0;
    this.#first = this.#next;
  }

  #slot(seq: number): number {
    return ringSlot(seq, this.capacity);
  }

  // ------------------------------------------------------------------ the store's side

  /**
   * A SET (the item was stored or changed) or a TOUCH (its exptime was set) of item h, whose key is
   * keySrc[keyStart, + nkey) and whose version is (high, low) under store layout version `layout`.
   */
  item(kind: typeof ChangeKind.SET | typeof ChangeKind.TOUCH, keySrc: Uint8Array, keyStart: number, nkey: number, h: number, high: number, low: number, layout: number): number {
    const seq = this.#record(kind, keySrc, keyStart, nkey);
    const i = this.#slot(seq);
    this.#item[i] = h;
    this.#high[i] = high;
    this.#low[i] = low;
    this.#layout[i] = layout;
    this.#subscriber!.appended(seq, kind);
    return seq;
  }

  /**
   * An ARITH (`incr` true: incr, else decr) of item h, as item() records a SET, plus what replication ships as an
   * operation rather than a state: the item's version and numeric value before the operation, and its value after.
   */
  arith(keySrc: Uint8Array, keyStart: number, nkey: number, h: number, high: number, low: number, layout: number, incr: boolean, priorVersion: bigint, priorValue: bigint, value: bigint): number {
    const seq = this.#record(ChangeKind.ARITH, keySrc, keyStart, nkey);
    const i = this.#slot(seq);
    this.#item[i] = h;
    this.#high[i] = high;
    this.#low[i] = low;
    this.#layout[i] = layout;
    this.#priorVersion[i] = priorVersion;
    this.#priorValue[i] = priorValue;
    this.#value[i] = value;
    this.#incr[i] = incr ? 1 : 0;
    this.#subscriber!.appended(seq, ChangeKind.ARITH);
    return seq;
  }

  /** A DELETE of the key keySrc[keyStart, + nkey), with the version its tombstone carries. */
  deleted(keySrc: Uint8Array, keyStart: number, nkey: number, high: number, low: number): number {
    const seq = this.#record(ChangeKind.DELETE, keySrc, keyStart, nkey);
    const i = this.#slot(seq);
    this.#item[i] = 0;
    this.#high[i] = high;
    this.#low[i] = low;
    this.#subscriber!.appended(seq, ChangeKind.DELETE);
    return seq;
  }

  /** A FLUSH (flush_all) taking effect in `delaySeconds`, with the version items older than it lose to. */
  flushed(delaySeconds: number, high: number, low: number): number {
    const seq = this.#record(ChangeKind.FLUSH, NO_KEY, 0, 0);
    const i = this.#slot(seq);
    this.#item[i] = 0;
    this.#high[i] = high;
    this.#low[i] = low;
    this.#delay[i] = delaySeconds;
    this.#subscriber!.appended(seq, ChangeKind.FLUSH);
    return seq;
  }

  #record(kind: ChangeKind, keySrc: Uint8Array, keyStart: number, nkey: number): number {
    const seq = this.#next++;
    const i = this.#slot(seq);
    this.#kinds[i] = kind;
    this.#times[i] = this.#wallMs();
    const keys = this.#keys;
    let at = this.#byteOff;
    if (at + nkey > keys.length) {
      this.#bytePos += keys.length - at; // keys never wrap: skip the tail
      at = 0;
    }
    for (let j = 0; j < nkey; j++) keys[at + j] = keySrc[keyStart + j];
    this.#keyAt[i] = this.#bytePos;
    this.#keyOff[i] = at;
    this.#keyLen[i] = nkey;
    this.#bytePos += nkey;
    this.#byteOff = at + nkey;
    // Drop records whose slot or key bytes were just reused (both advance in sequence order).
    const floor = this.#bytePos - keys.length;
    let first = this.#first;
    if (first <= seq - this.capacity || this.#keyAt[this.#slot(first)] < floor) {
      while (first < this.#next && (first <= seq - this.capacity || this.#keyAt[this.#slot(first)] < floor)) first++;
      this.#first = first;
    }
    return seq;
  }

  // ------------------------------------------------------------------ readers

  /** Sequence the next record will get. */
  get nextSeq(): number {
    return this.#next;
  }

  /** Oldest sequence still held. */
  get firstSeq(): number {
    return this.#first;
  }

  /** Whether a reader whose next wanted sequence is `seq` can still be served from the ring. */
  holds(seq: number): boolean {
    return seq >= this.#first && seq <= this.#next;
  }

  /** Sync mode: see ChangeSubscriber.settled (null without a subscriber). */
  settled(seq: number): Promise<void> | null {
    return this.#subscriber === null ? null : this.#subscriber.settled(seq);
  }

  /** Accessors of record `seq`; the caller checks holds(seq) and seq < nextSeq first. */
  kindAt(seq: number): ChangeKind {
    return this.#kinds[this.#slot(seq)] as ChangeKind;
  }

  /** The ring of key bytes: record seq's key is keyBytes[keyOffsetAt(seq), + keyLengthAt(seq)) until the next record. */
  get keyBytes(): Buffer {
    return this.#keys;
  }

  keyOffsetAt(seq: number): number {
    return this.#keyOff[this.#slot(seq)];
  }

  keyLengthAt(seq: number): number {
    return this.#keyLen[this.#slot(seq)];
  }

  /** A view of the key bytes, valid until the next record; null for a FLUSH. */
  keyAt(seq: number): Buffer | null {
    const i = this.#slot(seq);
    const len = this.#keyLen[i];
    if (len === 0) return null;
    const at = this.#keyOff[i];
    return this.#keys.subarray(at, at + len);
  }

  /** The item a SET or TOUCH wrote if noted under this layout version, else 0 (then look the key up). */
  itemAt(seq: number, layout: number): number {
    const i = this.#slot(seq);
    return this.#layout[i] === layout >>> 0 ? this.#item[i] : 0;
  }

  versionHighAt(seq: number): number {
    return this.#high[this.#slot(seq)];
  }

  versionLowAt(seq: number): number {
    return this.#low[this.#slot(seq)];
  }

  /** The record's version as one number: the item's, a delete's or a flush's. */
  versionAt(seq: number): bigint {
    const i = this.#slot(seq);
    return (BigInt(this.#high[i]) << 32n) | BigInt(this.#low[i]);
  }

  /** An ARITH record's version of the item before the operation. */
  priorVersionAt(seq: number): bigint {
    return this.#priorVersion[this.#slot(seq)];
  }

  /** An ARITH record's value of the item before the operation. */
  priorValueAt(seq: number): bigint {
    return this.#priorValue[this.#slot(seq)];
  }

  /** Whether an ARITH record is an incr (else a decr). */
  isIncrAt(seq: number): boolean {
    return this.#incr[this.#slot(seq)] === 1;
  }

  /** An ARITH record's value of the item after the operation. */
  valueAt(seq: number): bigint {
    return this.#value[this.#slot(seq)];
  }

  /** A FLUSH's delay in seconds. */
  delayAt(seq: number): number {
    return this.#delay[this.#slot(seq)];
  }

  /** When record `seq` was made (ms), or NaN if it is not in the ring. */
  timeOf(seq: number): number {
    if (seq >= this.#next || seq < this.#first) return Number.NaN;
    return this.#times[this.#slot(seq)];
  }
}
