import { ServerCounters } from './stats.ts';

/** The numeric fields of ServerCounters, in a fixed order: one column each. */
const FIELDS = Object.keys(new ServerCounters()).filter((k) => typeof new ServerCounters()[k as keyof ServerCounters] === 'number') as Array<
  keyof ServerCounters & string
>;
const CURR_CONNECTIONS = FIELDS.length;
const COLUMNS = FIELDS.length + 1;
/** Row 0 holds the reset epoch (column 0); worker i's counters are row i + 1. */
const EPOCH = 0;

export type WorkerCounterName = (typeof FIELDS)[number] | 'currConnections';

/**
 * The per-thread counters of repcache -t N (ServerCounters: connections, bytes read and written ...) published
 * by each worker to its row of one shared table, so that `stats` on any worker reports the sums, as memcached's
 * threadlocal stats are summed. A worker publishes on its timer and before it answers `stats`, so another
 * worker's share is at most a timer tick old. The store's own counters are shared already and need none of this.
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
    for (let i = 0; i < FIELDS.length; i++) t[this.#row + i] = c[FIELDS[i]] as number;
    t[this.#row + CURR_CONNECTIONS] = currConnections;
  }

  /** `stats reset`: every worker resets its counters at its next publish(). */
  requestReset(): void {
    this.#t[EPOCH]++;
  }

  sum(name: WorkerCounterName): number {
    const col = name === 'currConnections' ? CURR_CONNECTIONS : FIELDS.indexOf(name);
    let s = 0;
    for (let w = 1; w <= this.#threads; w++) s += this.#t[w * COLUMNS + col];
    return s;
  }
}
