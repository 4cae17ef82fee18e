/**
 * Replication under repcache -t N: one replication thread runs the Replicator on the store the client workers
 * share; this file holds what the two kinds of thread share besides the store and its change stream.
 *
 * - `ReplicationShare`: the peers' acknowledgements (sync mode's replies wait on them in the workers), whether a
 *   peer link is up, the replication port's refusal counters, and the replication fields of `stats`, published
 *   by the replication thread as its sections end when it is quiet, and when a worker read them under load.
 * - `StoreSections`: how the replication thread takes the store lock (see LOCKING.md): the first use of the store,
 *   its change stream or the clock in an event-loop callback takes the lock, and a microtask queued then releases
 *   it once that callback's synchronous run is over. Each taking first reads the records the workers appended
 *   since the last one, so the replication thread's own state (tombstones, counters, flush epoch) is as current
 *   under the lock as -t 1's, whose stream reports each record as it is made.
 */
import type { StoreLock } from '../cache/store-lock.ts';
import type { ReplicationView } from '../metrics/repcache.ts';
import { REFUSAL_KINDS, type RefusalKind } from './refusals.ts';
import type { RefusalCounts } from './port.ts';

// BigInt64 words
const B_ACKED = 0;
const B_SYNC_ACKED = 1;
const B_SYNC_TIMEOUTS = 2;
/** One word per refusal kind (REFUSAL_KINDS' order). */
const B_REFUSALS = 4;
const B_FIELDS = B_REFUSALS + REFUSAL_KINDS.length;
// Int32 words
const I_ACK_BELL = 0;
const I_PEER_UP = 1;
const I_STATS_VERSION = 2;
const I_STATS_LENGTH = 3;
/** Rung by a worker that read the stats: the replication thread publishes them again (ReplicationShare.onRead). */
const I_STATS_READ = 4;
const I_FIELDS = 5;
const STATS_BYTES = 1 << 16;

export class ReplicationShare {
  readonly buffer: SharedArrayBuffer;
  readonly #b: BigInt64Array;
  readonly #i: Int32Array;
  readonly #stats: Uint8Array;
  /** The last publication this thread read whole, and its version (read again only when that changed). */
  #last: Published | null = null;
  #lastVersion = -1;

  constructor(buffer: SharedArrayBuffer = new SharedArrayBuffer(B_FIELDS * 8 + I_FIELDS * 4 + STATS_BYTES)) {
    this.buffer = buffer;
    this.#b = new BigInt64Array(buffer, 0, B_FIELDS);
    this.#i = new Int32Array(buffer, B_FIELDS * 8, I_FIELDS);
    this.#stats = new Uint8Array(buffer, B_FIELDS * 8 + I_FIELDS * 4, STATS_BYTES);
  }

  // ------------------------------------------------------------------ the replication thread's side

  /** A peer acknowledged every record up to `seq`: the replies waiting for it may go. */
  acked(seq: number): void {
    const s = BigInt(seq);
    if (s <= Atomics.load(this.#b, B_ACKED)) return;
    Atomics.store(this.#b, B_ACKED, s);
    Atomics.add(this.#i, I_ACK_BELL, 1);
    Atomics.notify(this.#i, I_ACK_BELL);
  }

  /**
   * The refusal counters of the replication port, kept here rather than published: a refusal is counted before
   * the stranger's socket closes, so `stats` on any worker shows it to whoever saw that close.
   */
  refusalCounts(): RefusalCounts {
    const b = this.#b;
    return {
      add: (kind) => void Atomics.add(b, B_REFUSALS + REFUSAL_KINDS.indexOf(kind), 1n),
      get: (kind) => Number(Atomics.load(b, B_REFUSALS + REFUSAL_KINDS.indexOf(kind))),
    };
  }

  /** Whether some link to a peer is streaming or copying (sync mode waits only then, as -t 1 does). */
  set peerUp(up: boolean) {
    Atomics.store(this.#i, I_PEER_UP, up ? 1 : 0);
  }

  get peerUp(): boolean {
    return Atomics.load(this.#i, I_PEER_UP) === 1;
  }

  /**
   * The replication fields of `stats` and what the metrics endpoint reads of the links, as of now (a seqlock:
   * readers retry while a write is under way).
   */
  publishStats(entries: Array<[string, string | number]>, view: ReplicationView | null = null): void {
    const bytes = Buffer.from(JSON.stringify({ entries, view: view === null ? null : plainView(view) }));
    if (bytes.length > STATS_BYTES) return;
    Atomics.add(this.#i, I_STATS_VERSION, 1);
    this.#stats.set(bytes);
    Atomics.store(this.#i, I_STATS_LENGTH, bytes.length);
    Atomics.add(this.#i, I_STATS_VERSION, 1);
  }

  /**
   * Calls `read` (in a later task) each time a worker read the stats, until the returned function is called: under
   * load the replication thread publishes only then (and on its ticks), not at the end of every run of sections.
   */
  onRead(read: () => void): () => void {
    const i = this.#i;
    let stopped = false;
    const arm = (): void => {
      if (stopped) return;
      const r = Atomics.waitAsync(i, I_STATS_READ, Atomics.load(i, I_STATS_READ));
      const wake = () => {
        if (stopped) return;
        read();
        arm();
      };
      if (r.async) void r.value.then(wake);
      else queueMicrotask(wake);
    };
    arm();
    return () => {
      stopped = true;
      Atomics.add(i, I_STATS_READ, 1);
      Atomics.notify(i, I_STATS_READ); // lets the pending wait end
    };
  }

  // ------------------------------------------------------------------ a worker's side

  /** Tells the replication thread a worker read its stats (see onRead). */
  #ring(): void {
    Atomics.add(this.#i, I_STATS_READ, 1);
    Atomics.notify(this.#i, I_STATS_READ);
  }

  get ackedSeq(): bigint {
    return Atomics.load(this.#b, B_ACKED);
  }

  /**
   * The last published replication fields of `stats`, with the counters kept in shared words as of now: sync
   * mode's counts, which the workers keep, and the refusals. Under load the replication thread publishes when a
   * worker read them: the fields are then as of the previous read, or at most one tick (50 ms) old.
   */
  stats(): Array<[string, string | number]> {
    this.#ring();
    return this.published();
  }

  /** What stats() returns, without asking the replication thread for a new publication. */
  published(): Array<[string, string | number]> {
    const p = this.#read();
    if (p === null) return [['replication', 'MASTER'], ['replication_state', 'syncing']];
    const b = this.#b;
    const entries = p.entries.map((e): [string, string | number] => [e[0], e[1]]);
    for (const e of entries) {
      if (e[0] === 'repl_sync_acked') e[1] = Number(Atomics.load(b, B_SYNC_ACKED));
      else if (e[0] === 'repl_sync_timeouts') e[1] = Number(Atomics.load(b, B_SYNC_TIMEOUTS));
      else if (e[0].startsWith(REFUSED)) {
        const k = REFUSAL_KINDS.indexOf(e[0].slice(REFUSED.length) as RefusalKind);
        if (k >= 0) e[1] = Number(Atomics.load(b, B_REFUSALS + k));
      }
    }
    return entries;
  }

  /** The links as last published, for the metrics endpoint (null before the first publication). */
  view(): ReplicationView | null {
    this.#ring();
    return this.#read()?.view ?? null;
  }

  #read(): Published | null {
    // a write takes microseconds: spin through it (the writer may be descheduled mid-write, hence the many tries)
    for (let attempt = 0; attempt < 100_000; attempt++) {
      const v = Atomics.load(this.#i, I_STATS_VERSION);
      if (v % 2 === 1) continue;
      if (v === this.#lastVersion) return this.#last;
      const len = Atomics.load(this.#i, I_STATS_LENGTH);
      const text = Buffer.from(this.#stats.slice(0, len)).toString();
      if (Atomics.load(this.#i, I_STATS_VERSION) !== v) continue;
      let p: Published | null = null;
      try {
        p = len === 0 ? null : (JSON.parse(text) as Published);
      } catch {
        continue; // torn after all: read again
      }
      this.#last = p;
      this.#lastVersion = v;
      return p;
    }
    // the writer stalled mid-write for all those tries: the last complete publication this thread read
    return this.#last;
  }

  /** A worker's waits of sync mode (one per worker thread). */
  syncWaits(timeoutMs: number): SyncWaits {
    return new SyncWaits(this.#b, this.#i, timeoutMs);
  }
}

const REFUSED = 'repl_refused_';

interface Published {
  entries: Array<[string, string | number]>;
  view: ReplicationView | null;
}

/** The fields of a ReplicationView (getters of live objects included) as plain data. */
export function plainView(v: ReplicationView): ReplicationView {
  return {
    state: v.state,
    senders: v.senders.map((p) => ({
      host: p.host, port: p.port, inbound: p.inbound, lagMs: p.lagMs, queueDepth: p.queueDepth, bytesSent: p.bytesSent, bytesReceived: p.bytesReceived,
      machine: { state: p.machine.state, fullSyncs: p.machine.fullSyncs, resumes: p.machine.resumes, failures: p.machine.failures },
    })),
    receivers: [...v.receivers].map((r) => ({ remote: r.remote, bytesReceived: r.bytesReceived, machine: { state: r.machine.state } })),
  };
}

/**
 * Sync mode in a worker: a reply waits until a peer acknowledged its record (the shared acknowledged sequence
 * reaches it) or `timeoutMs` passed. One Atomics.waitAsync on the acknowledgement bell at a time serves all of
 * the worker's waiting replies.
 */
export class SyncWaits {
  readonly #b: BigInt64Array;
  readonly #i: Int32Array;
  readonly #timeoutMs: number;
  #waiters: Array<{ seq: bigint; resolve: () => void; timer: NodeJS.Timeout }> = [];
  #armed = false;

  constructor(b: BigInt64Array, i: Int32Array, timeoutMs: number) {
    this.#b = b;
    this.#i = i;
    this.#timeoutMs = timeoutMs;
  }

  /** ChangeSubscriber.settled: null when no wait is due (no peer up, or already acknowledged). */
  settled(seq: number): Promise<void> | null {
    if (Atomics.load(this.#i, I_PEER_UP) !== 1) return null;
    const s = BigInt(seq);
    if (Atomics.load(this.#b, B_ACKED) >= s) {
      Atomics.add(this.#b, B_SYNC_ACKED, 1n);
      return null;
    }
    return new Promise<void>((resolve) => {
      const w = {
        seq: s, resolve,
        timer: setTimeout(() => {
          Atomics.add(this.#b, B_SYNC_TIMEOUTS, 1n);
          const i = this.#waiters.indexOf(w);
          if (i >= 0) this.#waiters.splice(i, 1);
          resolve();
        }, this.#timeoutMs),
      };
      this.#waiters.push(w);
      this.#arm();
    });
  }

  #arm(): void {
    if (this.#armed || this.#waiters.length === 0) return;
    this.#armed = true;
    const rung = Atomics.load(this.#i, I_ACK_BELL);
    if (this.#release() && this.#waiters.length === 0) {
      this.#armed = false;
      return;
    }
    const r = Atomics.waitAsync(this.#i, I_ACK_BELL, rung, this.#timeoutMs);
    const wake = () => {
      this.#armed = false;
      this.#release();
      this.#arm();
    };
    if (r.async) void r.value.then(wake);
    else queueMicrotask(wake);
  }

  /** Resolves the waiters whose record is acknowledged; true if any. */
  #release(): boolean {
    const acked = Atomics.load(this.#b, B_ACKED);
    const ws = this.#waiters;
    let n = 0;
    while (n < ws.length && ws[n].seq <= acked) {
      clearTimeout(ws[n].timer);
      ws[n].resolve();
      n++;
    }
    if (n === 0) return false;
    Atomics.add(this.#b, B_SYNC_ACKED, BigInt(n));
    ws.splice(0, n);
    return true;
  }
}

/** See the file's comment. */
export class StoreSections {
  readonly #lock: StoreLock;
  readonly #entered: () => void;
  readonly #leaving: (() => (() => void) | null) | null;
  #held = false;
  /** What runs once the lock of the section held now is released (afterRelease). */
  #after: Array<() => void> = [];
  /** Sections taken (for tests and stats). */
  taken = 0;

  /**
   * `entered` runs first in each section (the replicator reads the workers' new records); `leaving` last, still
   * under the lock, and what it returns just after the lock is released (the replicator publishes its stats).
   */
  constructor(lock: StoreLock, entered: () => void, leaving: (() => (() => void) | null) | null = null) {
    this.#lock = lock;
    this.#entered = entered;
    this.#leaving = leaving;
  }

  get held(): boolean {
    return this.#held;
  }

  /** Takes the lock unless this callback already holds it; it is released when the callback's run is over. */
  enter(): void {
    if (this.#held) return;
    this.#lock.acquire();
    this.#held = true;
    this.taken++;
    queueMicrotask(this.#release);
    this.#entered();
  }

  /**
   * Runs fn just after the lock of the section held now is released, and returns true; false (fn not taken) when
   * no section is held. What needs no store, a socket write above all, is done there: the workers do not wait for it.
   */
  afterRelease(fn: () => void): boolean {
    if (!this.#held) return false;
    this.#after.push(fn);
    return true;
  }

  readonly #release = (): void => {
    let after: (() => void) | null = null;
    const queued = this.#after;
    try {
      after = this.#leaving?.() ?? null;
    } finally {
      this.#held = false;
      if (queued.length > 0) this.#after = [];
      this.#lock.release();
    }
    after?.();
    for (const fn of queued) fn();
  };

  /** Makes every method and getter of `obj` (from its class) enter a section first. */
  guard<T extends object>(obj: T): T {
    const o = obj as Record<string, unknown>;
    for (let proto = Object.getPrototypeOf(obj) as object | null; proto !== null && proto !== Object.prototype; proto = Object.getPrototypeOf(proto) as object | null) {
      for (const name of Object.getOwnPropertyNames(proto)) {
        if (name === 'constructor' || Object.prototype.hasOwnProperty.call(o, name)) continue;
        const d = Object.getOwnPropertyDescriptor(proto, name)!;
        if (d.get !== undefined) {
          const get = d.get;
          Object.defineProperty(o, name, { configurable: true, get: () => { this.enter(); return get.call(obj); } });
        } else if (typeof d.value === 'function') {
          const f = d.value as (...a: unknown[]) => unknown;
          // fixed parameters rather than rest: no array per call on the senders' hot path
          o[name] = (a?: unknown, b?: unknown, c?: unknown, e?: unknown, g?: unknown, h?: unknown, i?: unknown, j?: unknown, k?: unknown, l?: unknown, m?: unknown, n?: unknown) => {
            this.enter();
            return f.call(obj, a, b, c, e, g, h, i, j, k, l, m, n);
          };
        }
      }
    }
    return obj;
  }
}
