import type { Clock, TimerId } from '../../clock.ts';

/** What keepalived writes on its notify FIFO for a state or an event. */
export type FifoState = 'MASTER' | 'BACKUP' | 'FAULT' | 'STOP' | 'MASTER_RX_LOWER_PRI';

/** keepalived's line: `INSTANCE "VI_1" MASTER 100\n`; a group's priority is always 0. */
export function fifoLine(scope: 'INSTANCE' | 'GROUP', name: string, state: FifoState, priority: number): string {
  return `${scope} "${name}" ${state} ${scope === 'GROUP' ? 0 : priority}\n`;
}

/** Writes without blocking: 'ok' when the whole line went, 'again' when the pipe is full (nothing written). */
export type FifoSink = (line: string) => 'ok' | 'again';

export interface FifoQueueOptions {
  sink: FifoSink;
  clock: Clock;
  /** Lines kept while the pipe is full; past that the oldest are dropped. Default 1024. */
  maxQueued?: number;
  /** How often a full pipe is tried again. Default 100 ms. */
  retryMs?: number;
  /** Lines dropped (the oldest first) since the last call; for a rate-limited warning. */
  onDrop?(count: number): void;
}

/**
 * The notify FIFO's lines in order, never blocking the daemon: a line goes straight into the pipe when it has
 * room; while the pipe is full (nobody reads) lines wait here, bounded, and are retried on a timer. When the
 * queue is full the oldest line is dropped (a reader that comes back needs the latest states more than old
 * ones), and counted.
 */
export class FifoQueue {
  readonly #sink: FifoSink;
  readonly #clock: Clock;
  readonly #max: number;
  readonly #retryMs: number;
  readonly #onDrop: ((n: number) => void) | undefined;
  #lines: string[] = [];
  #timer: TimerId | null = null;
  #closed = false;
  /** Lines written, and lines dropped because the queue was full. */
  readonly counts = { written: 0, dropped: 0 };

  constructor(opts: FifoQueueOptions) {
    this.#sink = opts.sink;
    this.#clock = opts.clock;
    this.#max = opts.maxQueued ?? 1024;
    this.#retryMs = opts.retryMs ?? 100;
    this.#onDrop = opts.onDrop;
  }

  get queued(): number {
    return this.#lines.length;
  }

  write(line: string): void {
    if (this.#closed) return;
    this.#lines.push(line);
    let dropped = 0;
    while (this.#lines.length > this.#max) {
      this.#lines.shift();
      dropped++;
    }
    if (dropped > 0) {
      this.counts.dropped += dropped;
      this.#onDrop?.(dropped);
    }
    if (this.#timer === null) this.#flush();
  }

  /** Stops retrying; returns the lines that never reached the pipe. */
  close(): string[] {
    this.#closed = true;
    if (this.#timer !== null) this.#clock.clearTimer(this.#timer);
    this.#timer = null;
    return this.#lines.splice(0);
  }

  #flush(): void {
    while (this.#lines.length > 0) {
      if (this.#sink(this.#lines[0]!) === 'again') {
        this.#timer = this.#clock.setTimer(this.#retryMs, () => {
          this.#timer = null;
          this.#flush();
        });
        return;
      }
      this.#lines.shift();
      this.counts.written++;
    }
  }
}
