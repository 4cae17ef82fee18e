import type { Clock, TimerId } from '../clock.ts';

/**
 * Under load a node ships its changes to a peer at most once per this many ms (-t 1 and the replication thread
 * of -t N alike). Each write wakes the peer: under a client load of a few thousand writes per second, shipping
 * every event-loop turn woke it once per one or two writes, and the wake-up itself (a context switch, a read, a
 * turn of its loop) cost the peer more than applying the writes. One write per millisecond carries everything
 * queued, and an isolated write still ships at once.
 */
export const COALESCE_MS = 1;

export interface FlushPacerOptions {
  clock: Clock;
  /** Runs fn once the current event-loop turn's I/O is handled (setImmediate). */
  soon: (fn: () => void) => void;
  /** Ships what the change stream holds to every peer. */
  flush: () => void;
  /** Minimum spacing of flushes; 0 flushes at the end of every turn that wrote (sync mode: a reply waits for the peer). */
  holdMs: number;
}

/**
 * When the senders ship (a plain object on the injected clock): a change asks for a flush; the flush runs at the
 * end of this turn, unless the previous flush was less than holdMs ago, when it waits until holdMs after that
 * one. Nothing is buffered here: the changes wait in the change stream, whose size and the senders' high-water
 * mark bound them as before.
 */
export class FlushPacer {
  readonly #o: FlushPacerOptions;
  #holdMs: number;
  #last = -Infinity;
  #soon = false;
  #timer: TimerId | null = null;
  #stopped = false;
  /** Flushes run, and how many of them were held (for tests and the benchmark). */
  flushes = 0;
  held = 0;

  constructor(o: FlushPacerOptions) {
    this.#o = o;
    this.#holdMs = o.holdMs;
  }

  /** A change was logged: ship it (now-ish, or with the batch that is being held). */
  request(): void {
    if (this.#soon || this.#timer !== null || this.#stopped) return;
    const wait = this.#last + this.#holdMs - this.#o.clock.now();
    if (wait <= 0) {
      this.#soon = true;
      this.#o.soon(this.#runSoon);
      return;
    }
    this.held++;
    this.#timer = this.#o.clock.setTimer(wait, this.#runHeld);
  }

  /** Whether a flush is due (at the end of this turn, or when its hold ends). */
  get pending(): boolean {
    return this.#soon || this.#timer !== null;
  }

  /** Whether a flush is waiting for its hold to end. */
  get holding(): boolean {
    return this.#timer !== null;
  }

  /**
   * A graceful stop begins: nothing is held from now on (a held flush is cancelled: the owner ships what is
   * queued at once), and later changes ship at the end of their turn while the peers drain.
   */
  release(): void {
    this.#holdMs = 0;
    if (this.#timer !== null) this.#o.clock.clearTimer(this.#timer);
    this.#timer = null;
  }

  /** No more flushes (the owner ships what is queued itself when it stops). */
  stop(): void {
    this.#stopped = true;
    if (this.#timer !== null) this.#o.clock.clearTimer(this.#timer);
    this.#timer = null;
  }

  readonly #runSoon = (): void => {
    this.#soon = false;
    this.#run();
  };

  readonly #runHeld = (): void => {
    this.#timer = null;
    this.#run();
  };

  #run(): void {
    if (this.#stopped) return;
    this.#last = this.#o.clock.now();
    this.flushes++;
    this.#o.flush();
  }
}
