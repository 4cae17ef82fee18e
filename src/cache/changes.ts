import { turnNow } from '../clock.ts';

/**
 * The store's change stream: one record per change that a client's command made to the store, numbered by
 * sequence, in a bounded ring. The store is its only writer (with -t N, the stores of every worker thread, on one
 * shared ring); a subscriber (replication) reads it from its own
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
 * gone when its slot or its key bytes were reused. The cursors (next sequence, first held, key byte positions) live
 * in a shared header too, so several threads can write one ring (repcache -t N): every writer and reader of a
 * shared stream holds the store lock (cache/LOCKING.md), so a record is whole whenever another thread can look.
 * A writer also rings the header's bell word after each record (see armBell()), which a reader on another thread
 * can Atomics.waitAsync on instead of polling.
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

/** The shared header: the cursors as f64 (H_*), then the bell as i32 words (I_*). */
const H_NEXT = 0;
const H_FIRST = 1;
/** Absolute position (bytes ever written) of the next key, and where it goes within the key ring. */
const H_BYTE_POS = 2;
const H_BYTE_OFF = 3;
/** The first record the reading thread has not noted yet (notedUpTo()): a writer must not overwrite it (hasRoom()). */
const H_NOTED = 4;
const H_FIELDS = 5;
/** Incremented (wrapping) after each record. */
const I_BELL = 0;
/** A reader waits on the bell: the next writer must Atomics.notify it (and clears this). */
const I_SLEEPING = 1;
/** Incremented by the reader each time it has noted records: writers waiting for room (waitForRoom()) wait on it. */
const I_NOTED = 2;
const I_FIELDS = 3;

/**
 * Records a writer keeps free between what the reading thread has noted and the ring's end, for the next command's
 * records (a delete, an incr, a flush_all makes one; a multi-key gat one per key).
 */
const ROOM = 64;

/** Every SharedArrayBuffer of a stream: what another thread needs to attach to it (ChangeStream.attach). */
export interface ChangeBuffers {
  capacity: number;
  header: SharedArrayBuffer;
  kinds: SharedArrayBuffer;
  times: SharedArrayBuffer;
  keyAt: SharedArrayBuffer;
  keyOff: SharedArrayBuffer;
  keyLen: SharedArrayBuffer;
  item: SharedArrayBuffer;
  high: SharedArrayBuffer;
  low: SharedArrayBuffer;
  layout: SharedArrayBuffer;
  delay: SharedArrayBuffer;
  priorVersion: SharedArrayBuffer;
  priorValue: SharedArrayBuffer;
  value: SharedArrayBuffer;
  incr: SharedArrayBuffer;
  keys: SharedArrayBuffer;
}

function newHeader(): SharedArrayBuffer {
  const b = new SharedArrayBuffer(H_FIELDS * 8 + I_FIELDS * 4);
  const h = new Float64Array(b, 0, H_FIELDS);
  h[H_NEXT] = h[H_FIRST] = h[H_NOTED] = 1;
  return b;
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
  /** The cursors (H_*), shared by every thread attached to the stream. */
  #h: Float64Array;
  /** The bell words (I_*). */
  #bell: Int32Array;
  /** Whether other threads use this ring: only then is the bell rung. */
  #shared = false;
  /** Sequence of the last record this thread wrote (0: none): what its own replies wait for in sync mode. */
  lastOwnSeq = 0;

  /** `wallMs`: the time recorded with each change (ms, wall clock). */
  constructor(wallMs: () => number = turnNow) {
    this.#wallMs = wallMs;
    const header = newHeader();
    this.#h = new Float64Array(header, 0, H_FIELDS);
    this.#bell = new Int32Array(header, H_FIELDS * 8, I_FIELDS);
  }

  /**
   * Makes the ring of `capacity` records now, so that other threads can attach to it (repcache -t N) before any
   * subscriber; a later subscribe() with the same capacity keeps it.
   */
  share(capacity: number): ChangeBuffers {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError('change stream capacity must be a positive integer');
    if (capacity !== this.capacity) this.#allocate(capacity);
    this.#shared = true;
    return this.buffers;
  }

  /** This stream's shared memory (empty arrays until a ring was made). */
  get buffers(): ChangeBuffers {
    const sab = (a: { buffer: ArrayBufferLike }) => a.buffer as SharedArrayBuffer;
    return {
      capacity: this.capacity, header: sab(this.#h), kinds: sab(this.#kinds), times: sab(this.#times), keyAt: sab(this.#keyAt),
      keyOff: sab(this.#keyOff), keyLen: sab(this.#keyLen), item: sab(this.#item), high: sab(this.#high), low: sab(this.#low),
      layout: sab(this.#layout), delay: sab(this.#delay), priorVersion: sab(this.#priorVersion), priorValue: sab(this.#priorValue),
      value: sab(this.#value), incr: sab(this.#incr), keys: sab(this.#keys),
    };
  }

  /**
   * Uses the ring another thread made (share()): records written here are seen there and the other way round. Every
   * thread writing or reading it holds the same lock around each use (the store lock).
   */
  attach(b: ChangeBuffers): void {
    this.capacity = b.capacity;
    this.#h = new Float64Array(b.header, 0, H_FIELDS);
    this.#bell = new Int32Array(b.header, H_FIELDS * 8, I_FIELDS);
    this.#kinds = new Uint8Array(b.kinds);
    this.#times = new Float64Array(b.times);
    this.#keyAt = new Float64Array(b.keyAt);
    this.#keyOff = new Uint32Array(b.keyOff);
    this.#keyLen = new Uint8Array(b.keyLen);
    this.#item = new Uint32Array(b.item);
    this.#high = new Uint32Array(b.high);
    this.#low = new Uint32Array(b.low);
    this.#layout = new Uint32Array(b.layout);
    this.#delay = new Uint32Array(b.delay);
    this.#priorVersion = new BigUint64Array(b.priorVersion);
    this.#priorValue = new BigUint64Array(b.priorValue);
    this.#value = new BigUint64Array(b.value);
    this.#incr = new Uint8Array(b.incr);
    this.#keys = Buffer.from(b.keys);
    this.#shared = true;
  }

  /**
   * Starts keeping records without a subscriber in this thread: another thread reads them (repcache -t N, where
   * the replication thread reads what the client workers write). `settled` is sync mode's wait, as a subscriber's.
   */
  keepRecords(settled: ChangeSubscriber['settled'] = () => null): void {
    this.#subscriber = { appended: () => {}, settled };
    this.active = true;
  }

  /** The bell's word (Int32Array index 0) and the number of rings so far: wait with Atomics.waitAsync(words, 0, rung). */
  get bellWords(): Int32Array {
    return this.#bell;
  }

  /**
   * A reader on another thread is about to wait on the bell: the next record notifies it. Returns the bell's value
   * to wait for a change of.
   */
  armBell(): number {
    Atomics.store(this.#bell, I_SLEEPING, 1);
    return Atomics.load(this.#bell, I_BELL);
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
    const h = this.#h;
    h[H_BYTE_POS] = h[H_BYTE_OFF] = 0;
    h[H_FIRST] = h[H_NEXT];
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
    const h = this.#h;
    const seq = h[H_NEXT];
    const next = (h[H_NEXT] = seq + 1);
    this.lastOwnSeq = seq;
    const i = this.#slot(seq);
    this.#kinds[i] = kind;
    this.#times[i] = this.#wallMs();
    const keys = this.#keys;
    let at = h[H_BYTE_OFF];
    let pos = h[H_BYTE_POS];
    if (at + nkey > keys.length) {
      pos += keys.length - at; // keys never wrap: skip the tail
      at = 0;
    }
    for (let j = 0; j < nkey; j++) keys[at + j] = keySrc[keyStart + j];
    this.#keyAt[i] = pos;
    this.#keyOff[i] = at;
    this.#keyLen[i] = nkey;
    h[H_BYTE_POS] = pos += nkey;
    h[H_BYTE_OFF] = at + nkey;
    // Drop records whose slot or key bytes were just reused (both advance in sequence order).
    const floor = pos - keys.length;
    let first = h[H_FIRST];
    if (first <= seq - this.capacity || this.#keyAt[this.#slot(first)] < floor) {
      while (first < next && (first <= seq - this.capacity || this.#keyAt[this.#slot(first)] < floor)) first++;
      h[H_FIRST] = first;
    }
    if (this.#shared) this.#ring();
    return seq;
  }

  #ring(): void {
    const bell = this.#bell;
    Atomics.add(bell, I_BELL, 1);
    if (Atomics.load(bell, I_SLEEPING) !== 0) {
      Atomics.store(bell, I_SLEEPING, 0);
      Atomics.notify(bell, I_BELL);
    }
  }

  /**
   * -t N, the reading thread (under the lock): it has noted every record before `seq` (tombstones, counters' parts,
   * the flush epoch, which live in its memory): writers may overwrite them. Wakes the writers waiting for room.
   */
  notedUpTo(seq: number): void {
    this.#h[H_NOTED] = seq;
    Atomics.add(this.#bell, I_NOTED, 1);
    Atomics.notify(this.#bell, I_NOTED);
  }

  /**
   * -t N, a writer (under the lock), before a command: whether the ring has room for its records without
   * overwriting one the reading thread has not noted yet. A record overwritten unnoted loses what only the reader
   * keeps of it: a delete's tombstone (a peer's full copy then leaves the key there), an incr's part, a flush.
   */
  hasRoom(): boolean {
    const h = this.#h;
    return !this.#shared || h[H_NEXT] - h[H_NOTED] <= this.capacity - Math.min(ROOM, this.capacity >>> 2) || !this.active;
  }

  /**
   * -t N, a writer that found no room, with the lock released: waits (at most `ms`) for the reading thread to note
   * more records. The bell it rang with its last record wakes that thread.
   */
  waitForRoom(ms: number): void {
    const bell = this.#bell;
    const seen = Atomics.load(bell, I_NOTED);
    if (this.hasRoom()) return;
    Atomics.wait(bell, I_NOTED, seen, ms);
  }

  // ------------------------------------------------------------------ readers

  /** Sequence the next record will get. */
  get nextSeq(): number {
    return this.#h[H_NEXT];
  }

  /** Oldest sequence still held. */
  get firstSeq(): number {
    return this.#h[H_FIRST];
  }

  /** Whether a reader whose next wanted sequence is `seq` can still be served from the ring. */
  holds(seq: number): boolean {
    const h = this.#h;
    return seq >= h[H_FIRST] && seq <= h[H_NEXT];
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
    const h = this.#h;
    if (seq >= h[H_NEXT] || seq < h[H_FIRST]) return Number.NaN;
    return this.#times[this.#slot(seq)];
  }
}
