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
/** Held by a thread that died holding it (abandon()): never free again, the store may be half changed. */
const ABANDONED = 3;

/**
 * What a thread does about a lock whose holder died: a thread's death (an uncaught exception, running out of
 * memory, a terminate) does not release what it holds, and every other thread would wait for it for ever.
 */
export interface AbandonedLockPolicy {
  /** Called instead of returning the lock to a thread that finds it abandoned; must not return. */
  abandoned(): never;
  /**
   * Waiting this long without the lock changing hands, the holder is taken for dead: the lock is abandoned. Counted
   * in slices of at most a second that ran out, so a process stopped for a while (SIGSTOP) counts one. 0: never.
   */
  stuckAfterMs: number;
}

/** Thrown by a lock found abandoned, without a policy of its own. */
export class StoreLockAbandonedError extends Error {
  constructor() {
    super('the store lock was abandoned: a thread died holding it');
    this.name = 'StoreLockAbandonedError';
  }
}

const THROW: AbandonedLockPolicy = { abandoned: () => { throw new StoreLockAbandonedError(); }, stuckAfterMs: 0 };

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
  readonly #policy: AbandonedLockPolicy;
  /** A sleep's slice, and how many slices that ran out in a row make the holder taken for dead (0: never). */
  readonly #sliceMs: number;
  readonly #stuckSlices: number;

  /**
   * `byteOffset`: where its Int32 is in `buffer` (another table's word can be a lock of its own); `counts`: where this
   * thread counts its contended acquisitions (only those: the uncontended path counts nothing); `policy`: what this
   * thread does when the holder died (default: throws StoreLockAbandonedError once abandon() marked it so).
   */
  constructor(buffer: SharedArrayBuffer = new SharedArrayBuffer(4), byteOffset = 0, counts: LockCounts | null = null, policy: AbandonedLockPolicy = THROW) {
    this.buffer = buffer;
    this.#a = new Int32Array(buffer, byteOffset, 1);
    this.#counts = counts;
    this.#policy = policy;
    this.#sliceMs = policy.stuckAfterMs > 0 ? Math.min(1000, policy.stuckAfterMs) : Infinity;
    this.#stuckSlices = policy.stuckAfterMs > 0 ? Math.ceil(policy.stuckAfterMs / this.#sliceMs) : 0;
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
    let ranOut = 0;
    while (c !== UNLOCKED) {
      if (c === ABANDONED) this.#foundAbandoned();
      if (Atomics.wait(a, 0, CONTENDED, this.#sliceMs) !== 'timed-out') ranOut = 0;
      else if (++ranOut === this.#stuckSlices) this.abandon();
      c = Atomics.exchange(a, 0, CONTENDED);
    }
  }

  /**
   * Marks the lock abandoned, for good, and wakes every thread waiting for it: called by (or for) a thread that dies
   * holding it. Each thread then finding it taken follows its policy.
   */
  abandon(): void {
    Atomics.store(this.#a, 0, ABANDONED);
    Atomics.notify(this.#a, 0);
  }

  /** Whether abandon() marked the lock. */
  get abandoned(): boolean {
    return Atomics.load(this.#a, 0) === ABANDONED;
  }

  /** The word read ABANDONED after an exchange wrote CONTENDED over it: put it back, wake the others, follow the policy. */
  #foundAbandoned(): never {
    this.abandon();
    return this.#policy.abandoned();
  }

  /** acquire(), giving up after `ms`: returns whether it took the lock. */
  acquireWithin(ms: number): boolean {
    const a = this.#a;
    if (Atomics.compareExchange(a, 0, UNLOCKED, LOCKED) === UNLOCKED) return true;
    const deadline = performance.now() + ms;
    // as acquire() after its spins: mark it contended (taking it if it was free), then sleep until woken or too late
    for (let c: number; (c = Atomics.exchange(a, 0, CONTENDED)) !== UNLOCKED; ) {
      if (c === ABANDONED) {
        this.abandon();
        return false;
      }
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
    const was = Atomics.sub(a, 0, 1);
    if (was === LOCKED) return;
    // a holder taken for dead (stuck past the policy's time) that was not: the lock stays abandoned
    if (was === ABANDONED) return this.abandon();
    Atomics.store(a, 0, UNLOCKED);
    Atomics.notify(a, 0, 1);
  }
}

/**
 * A StoreLock that knows whether this thread holds it: for a thread whose holds span more than one call (the
 * replication thread's sections, released in a microtask), so that its death by an uncaught exception within one can
 * abandon() it rather than leave every other thread waiting.
 */
export class HeldStoreLock extends StoreLock {
  held = false;

  override acquire(): void {
    super.acquire();
    this.held = true;
  }

  override acquireWithin(ms: number): boolean {
    return (this.held = super.acquireWithin(ms));
  }

  override tryAcquire(): boolean {
    return (this.held = super.tryAcquire());
  }

  override release(): void {
    this.held = false;
    super.release();
  }
}
