import { ServerCounters } from './stats.ts';

const CURR_CONNECTIONS = ServerCounters.COLUMNS;
/** The reset epoch the row's counters count from. */
const ROW_EPOCH = ServerCounters.COLUMNS + 1;
const COLUMNS = ServerCounters.COLUMNS + 2;
/** Row 0 holds the reset epoch (column 0); worker i's counters are row i + 1. */
const EPOCH = 0;

/**
 * The per-thread counters of repcache -t N (ServerCounters: connections, bytes read and written ...) published
 * by each worker to its row of one shared table, so that `stats` on any worker reports the sums, as memcached's
 * threadlocal stats are summed. A worker publishes after each command it runs and on its timer. The store's own
 * counters are shared already and need none of this.
 */
export class WorkerCounterTable {
  readonly buffer: SharedArrayBuffer;
  readonly #t: Float64Array;
  readonly #row: number;
  readonly #threads: number;
  #epoch = 0;

  constructor(threads: number, worker: number, buffer: SharedArrayBuffer = WorkerCounterTable.allocate(threads)) {
    this.buffer = buffer;
    this.#t = new Float64Array(buffer);
    this.#threads = threads;
    this.#row = (worker + 1) * COLUMNS;
    this.#epoch = this.#t[EPOCH];
  }

  static allocate(threads: number): SharedArrayBuffer {
    return new SharedArrayBuffer((threads + 1) * COLUMNS * 8);
  }

  /** Writes this worker's counters to its row; first resets them if a `stats reset` happened on any worker. */
  publish(c: ServerCounters, currConnections: number): void {
    const t = this.#t;
    if (t[EPOCH] !== this.#epoch) {
      this.#epoch = t[EPOCH];
      c.reset();
    }
    c.writeTo(t, this.#row);
    t[this.#row + CURR_CONNECTIONS] = currConnections;
    t[this.#row + ROW_EPOCH] = this.#epoch;
  }

  /** `stats reset`: every worker resets its counters at its next publish(). */
  requestReset(): void {
    this.#t[EPOCH]++;
  }

  /**
   * Every worker's counters added up, and the connections open on all of them. A row published before the last
   * `stats reset` counts as its worker will publish it next, reset (what reset() keeps, as connection_structures).
   */
  sums(): { counters: ServerCounters; currConnections: number } {
    const t = this.#t;
    const counters = new ServerCounters();
    let currConnections = 0;
    for (let w = 1; w <= this.#threads; w++) {
      const row = w * COLUMNS;
      if (t[row + ROW_EPOCH] === t[EPOCH]) {
        counters.addFrom(t, row);
      } else {
        const stale = new ServerCounters();
        stale.addFrom(t, row);
        stale.reset();
        const reset = new Float64Array(ServerCounters.COLUMNS);
        stale.writeTo(reset, 0);
        counters.addFrom(reset, 0);
      }
      currConnections += t[row + CURR_CONNECTIONS];
    }
    return { counters, currConnections };
  }
}
