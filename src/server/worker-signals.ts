import { StoreLock } from '../cache/store-lock.ts';

/**
 * What the workers of repcache -t N share so that the node looks like one memcached to `stats conns` and `watch`
 * (memcached's connection ids and its logger are global): one Int32 table in a SharedArrayBuffer.
 *
 * - the next connection id (memcached's fd: unique over the node, so `stats conns` and watch's cfd never repeat);
 * - the next watch line id (memcached's gid);
 * - the union of every worker's watchers' kinds (`active`, read by the dispatchers on every command: 0 when nobody
 *   watches anywhere, so the hot path pays one load), each worker's own union, and the watchers of the node;
 * - per worker, the watch lines other workers sent it that it has not yet written (bounded: beyond
 *   MAX_FORWARDED_PENDING a sender drops lines and counts them, memcached's log_worker_dropped).
 */
const NEXT_CONN_ID = 0;
const NEXT_GID = 1;
const ACTIVE = 2;
const DROPPED = 3;
/** A lock (StoreLock) held while a worker publishes its watchers. */
const PUBLISHING = 4;
/** Watchers on every worker (memcached's limit is the node's). */
const WATCHERS = 5;
const HEADER = 6;
/** Per worker: its watchers' kinds, and the forwarded lines waiting for it. */
const PER_WORKER = 2;

/** Forwarded watch lines a worker may have waiting before senders drop more (memcached's logger drops too). */
export const MAX_FORWARDED_PENDING = 8192;

export class WorkerSignals {
  readonly buffer: SharedArrayBuffer;
  /** active[0]: the kinds some watcher on some worker wants (the dispatchers read it; see WatchLog.active). */
  readonly active: Int32Array;
  readonly worker: number;
  readonly threads: number;
  readonly #t: Int32Array;
  readonly #publishing: StoreLock;

  constructor(threads: number, worker: number, buffer: SharedArrayBuffer = WorkerSignals.allocate(threads)) {
    this.buffer = buffer;
    this.threads = threads;
    this.worker = worker;
    this.#t = new Int32Array(buffer);
    this.active = this.#t.subarray(ACTIVE, ACTIVE + 1);
    this.#publishing = new StoreLock(buffer, PUBLISHING * Int32Array.BYTES_PER_ELEMENT);
  }

  static allocate(threads: number): SharedArrayBuffer {
    return new SharedArrayBuffer((HEADER + threads * PER_WORKER) * 4);
  }

  nextConnId(): number {
    return Atomics.add(this.#t, NEXT_CONN_ID, 1) + 1;
  }

  nextGid(): number {
    return Atomics.add(this.#t, NEXT_GID, 1) + 1;
  }

  /**
   * This worker's watchers changed: publishes their kinds and count, and the union over the workers. Under a lock
   * of its own (a few loads; a watcher may start while its worker holds the store lock): two workers publishing at
   * once could otherwise leave a union that misses the other's kinds.
   */
  publishWatchers(flags: number): void {
    const t = this.#t;
    this.#publishing.acquire();
    try {
      Atomics.store(t, this.#slot(this.worker), flags);
      let union = 0;
      for (let w = 0; w < this.threads; w++) union |= Atomics.load(t, this.#slot(w));
      Atomics.store(t, ACTIVE, union);
    } finally {
      this.#publishing.release();
    }
  }

  /** The kinds worker `w`'s watchers want. */
  watchersOf(w: number): number {
    return Atomics.load(this.#t, this.#slot(w));
  }

  /** A new watcher, if the node has fewer than `limit`: false when it has as many already. */
  reserveWatcher(limit: number): boolean {
    const t = this.#t;
    for (let n = Atomics.load(t, WATCHERS); n < limit; n = Atomics.load(t, WATCHERS)) {
      if (Atomics.compareExchange(t, WATCHERS, n, n + 1) === n) return true;
    }
    return false;
  }

  /** A watcher reserveWatcher() counted has gone. */
  releaseWatcher(): void {
    Atomics.sub(this.#t, WATCHERS, 1);
  }

  /** Watchers on every worker (`stats`' log_watchers). */
  watcherCount(): number {
    return Atomics.load(this.#t, WATCHERS);
  }

  /** Reserves room for `n` lines forwarded to worker `w`; false (and they count as dropped) when it is full. */
  reserveForwarded(w: number, n: number): boolean {
    const at = this.#slot(w) + 1;
    if (Atomics.add(this.#t, at, n) + n <= MAX_FORWARDED_PENDING) return true;
    Atomics.sub(this.#t, at, n);
    Atomics.add(this.#t, DROPPED, n);
    return false;
  }

  /** This worker wrote (or gave up) `n` lines forwarded to it. */
  forwardedDone(n: number): void {
    Atomics.sub(this.#t, this.#slot(this.worker) + 1, n);
  }

  /** Lines dropped because the worker they were for had MAX_FORWARDED_PENDING waiting (log_worker_dropped). */
  get dropped(): number {
    return Atomics.load(this.#t, DROPPED);
  }

  #slot(w: number): number {
    return HEADER + w * PER_WORKER;
  }
}
