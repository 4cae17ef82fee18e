/** Spins before sleeping: a command holds the lock for a microsecond or two, far less than a futex sleep. */
const SPINS = 200;

/** Where a lock counts the acquisitions that found it held, and those of them that slept (ServerCounters). */
export interface LockCounts {
  storeLockContended: number;
  storeLockWaits: number;
}

const UNLOCKED = 0;
const LOCKED = 1;
/** Locked, and a thread may sleep on it: release must wake one. */
const CONTENDED = 2;

/**
 * The store-wide mutex of repcache -t N (see LOCKING.md): one Int32 in a SharedArrayBuffer, taken with
 * compare-and-swap and slept on with Atomics.wait (Drepper's three-state futex mutex), so an uncontended
 * acquire and release cost two atomic operations and no system call. Not reentrant. Node lets every thread
 * Atomics.wait, the main thread too (a browser's may not): the main thread serves as worker 0 and takes it like the
 * others.
 */
export class StoreLock {
  readonly buffer: SharedArrayBuffer;
  readonly #a: Int32Array;
  readonly #counts: LockCounts | null;

  /**
   * `byteOffset`: where its Int32 is in `buffer` (another table's word can be a lock of its own); `counts`: where this
   * thread counts its contended acquisitions (only those: the uncontended path counts nothing).
   */
  constructor(buffer: SharedArrayBuffer = new SharedArrayBuffer(4), byteOffset = 0, counts: LockCounts | null = null) {
    this.buffer = buffer;
    this.#a = new Int32Array(buffer, byteOffset, 1);
    this.#counts = counts;
  }

  acquire(): void {
    const a = this.#a;
    let c = Atomics.compareExchange(a, 0, UNLOCKED, LOCKED);
    if (c === UNLOCKED) return;
    const counts = this.#counts;
    if (counts !== null) counts.storeLockContended++;
    for (let i = 0; i < SPINS; i++) {
      if (Atomics.load(a, 0) === UNLOCKED && (c = Atomics.compareExchange(a, 0, UNLOCKED, LOCKED)) === UNLOCKED) return;
    }
    if (c !== CONTENDED) c = Atomics.exchange(a, 0, CONTENDED);
    if (c !== UNLOCKED && counts !== null) counts.storeLockWaits++;
    while (c !== UNLOCKED) {
      Atomics.wait(a, 0, CONTENDED);
      c = Atomics.exchange(a, 0, CONTENDED);
    }
  }

  /** acquire(), giving up after `ms`: returns whether it took the lock. */
  acquireWithin(ms: number): boolean {
    const a = this.#a;
    if (Atomics.compareExchange(a, 0, UNLOCKED, LOCKED) === UNLOCKED) return true;
    const deadline = performance.now() + ms;
    // as acquire() after its spins: mark it contended (taking it if it was free), then sleep until woken or too late
    while (Atomics.exchange(a, 0, CONTENDED) !== UNLOCKED) {
      const left = deadline - performance.now();
      if (left <= 0) return false;
      Atomics.wait(a, 0, CONTENDED, left);
    }
    return true;
  }

  /** Takes the lock if it is free, without waiting; returns whether it did. */
  tryAcquire(): boolean {
    return Atomics.compareExchange(this.#a, 0, UNLOCKED, LOCKED) === UNLOCKED;
  }

  release(): void {
    const a = this.#a;
    if (Atomics.sub(a, 0, 1) !== LOCKED) {
      Atomics.store(a, 0, UNLOCKED);
      Atomics.notify(a, 0, 1);
    }
  }
}
