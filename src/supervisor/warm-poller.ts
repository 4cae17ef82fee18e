import { TimerSlot, type Clock } from '../clock.ts';
import { fetchStats, type CacheStats } from './stats-probe.ts';

/** What the poller feeds: a WarmGate, or a wrapper that also watches the answers. */
export interface WarmthSink {
  /** peersHeardMs: see CacheStats (undefined: the cache does not report it). */
  observe(replicationState: string, peersHeardMs?: number | null): void;
  probeFailed(reason: string): void;
}

export interface WarmPollerOptions {
  host: string;
  port: number;
  gate: WarmthSink;
  clock: Clock;
  /** Default 200 ms: the warm-up is noticed within one interval. */
  intervalMs?: number;
  timeoutMs?: number;
  /** Default: fetchStats over TCP. */
  fetch?: (host: string, port: number, timeoutMs: number) => Promise<CacheStats>;
}

/**
 * Feeds a WarmGate with the local cache's replication_state and how recently its peers were heard, one `stats`
 * at a time (never two in flight).
 */
export class WarmPoller {
  readonly #o: Required<WarmPollerOptions>;
  readonly #timer: TimerSlot;
  #running = false;

  constructor(opts: WarmPollerOptions) {
    this.#o = { intervalMs: 200, timeoutMs: 1000, fetch: fetchStats, ...opts };
    this.#timer = new TimerSlot(opts.clock);
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    void this.#poll();
  }

  stop(): void {
    this.#running = false;
    this.#timer.cancel();
  }

  async #poll(): Promise<void> {
    const { host, port, gate, timeoutMs, intervalMs } = this.#o;
    try {
      const s = await this.#o.fetch(host, port, timeoutMs);
      if (this.#running) gate.observe(s.replicationState, s.peersHeardMs);
    } catch (e) {
      if (this.#running) gate.probeFailed((e as Error).message);
    }
    if (this.#running) this.#timer.arm(intervalMs, () => void this.#poll());
  }
}
