import type { Clock, TimerId } from '../clock.ts';
import { dropSpareReplyBuffers } from '../net/out-buffer.ts';

/** How long a server must have been quiet before it gives memory back. */
export const IDLE_MS = 10_000;

/**
 * Quiet: at most this much work (bytes read) in IDLE_MS. Health checks and `stats` polls (haved's, a monitor's)
 * read a few bytes a second and leave a server quiet; a few dozen requests a second do not.
 */
export const QUIET_WORK = 4096;

type Gc = (options: { type: 'major'; execution: 'sync'; flavor: 'last-resort' }) => void;

/**
 * V8's most thorough collection, the one it runs before it gives up on an allocation: besides the garbage, it
 * returns the young generation's pages beyond its minimum and compacts the old generation. An ordinary collection
 * keeps both semi-spaces (2 MB per thread) resident for good once a burst of allocations has grown them, which is
 * most of what a quiet cache holds above an empty Node. It needs V8's `gc`, which bin/run-node exposes
 * (--expose-gc) in every thread; without it (a test runner) this does nothing and returns false.
 */
export function collectAllGarbage(): boolean {
  const gc = (globalThis as { gc?: Gc }).gc;
  if (gc === undefined) return false;
  gc({ type: 'major', execution: 'sync', flavor: 'last-resort' });
  return true;
}

/**
 * Node's compile cache (bin/run-node) keeps, for the life of each thread, its own copy of every module's cache entry
 * (the type-stripped source and V8's code cache: about 0.7 MB for a serving thread's 70 modules) to write at exit
 * what changed. Flushing writes that now (nothing, when the cache was current) and frees the copies; a module loaded
 * later is read from the cache again. Without the compile cache this does nothing.
 */
export function dropCompileCacheCopies(): void {
  process.getBuiltinModule('node:module').flushCompileCache();
}

/**
 * What a quiet thread gives back: the spare large reply buffers it keeps for busy spells, the compile cache's copies
 * of the modules loaded since the last time, then V8's garbage.
 */
export function giveMemoryBack(): boolean {
  dropSpareReplyBuffers();
  dropCompileCacheCopies();
  return collectAllGarbage();
}

/**
 * Gives a quiet thread's memory back: once when start-up is over (its garbage, the young generation grown while
 * loading), then once after each busy spell, when `work` (a count that grows with the work done, e.g. bytes read)
 * has grown by at most QUIET_WORK in IDLE_MS. A busy server is never collected this way: its latency is left alone.
 */
export class IdleMemoryReducer {
  readonly #work: () => number;
  readonly #clock: Clock;
  readonly #collect: () => unknown;
  #timer: TimerId | null = null;
  #seen = 0;
  /** Busy since the last collection. */
  #busy = false;

  constructor(work: () => number, clock: Clock, collect: () => unknown = giveMemoryBack) {
    this.#work = work;
    this.#clock = clock;
    this.#collect = collect;
  }

  /** Start-up is over: collects now, then watches for quiet spells. */
  start(): void {
    this.#seen = this.#work();
    this.#collect();
    this.#arm();
  }

  stop(): void {
    if (this.#timer !== null) this.#clock.clearTimer(this.#timer);
    this.#timer = null;
  }

  #arm(): void {
    this.#timer = this.#clock.setTimer(IDLE_MS, () => {
      const now = this.#work();
      // a count reset (`stats reset`) is work too
      const quiet = now >= this.#seen && now - this.#seen <= QUIET_WORK;
      this.#seen = now;
      if (!quiet) this.#busy = true;
      else if (this.#busy) {
        this.#busy = false;
        this.#collect();
      }
      this.#arm();
    });
  }
}
