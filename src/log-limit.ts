import type { Logger } from './log.ts';

/** How many bytes of a stranger's input a log line may quote. */
export const QUOTE_LIMIT = 32;

/**
 * A short, printable prefix of bytes that came from the network: at most `limit` bytes, non-printable ones as
 * \xNN, with an ellipsis and the full length when cut. Never the raw bytes.
 */
export function quoteBytes(bytes: Uint8Array | string, limit = QUOTE_LIMIT): string {
  const buf = typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes;
  let out = '';
  const n = Math.min(buf.length, limit);
  for (let i = 0; i < n; i++) {
    const b = buf[i]!;
    out += b >= 0x20 && b < 0x7f && b !== 0x5c ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`;
  }
  return buf.length > limit ? `${out}... (${buf.length} bytes)` : out;
}

interface Reason {
  total: number;
  /** Occurrences since the last line written for this reason. */
  unlogged: number;
  lastLineAt: number;
}

/**
 * Warnings about what strangers send (bad adverts, refused replication peers, garbage datagrams): the first
 * occurrence of each reason is logged at once, later ones at most once per interval as one line carrying the
 * count since the previous line. Totals per reason are kept for stats. No timer: a line is written when an
 * occurrence arrives after the interval, or by flush().
 */
export class RateLimitedLog {
  readonly #log: Logger;
  readonly #intervalMs: number;
  readonly #now: () => number;
  readonly #reasons = new Map<string, Reason>();

  constructor(log: Logger, opts: { intervalMs?: number; now?: () => number } = {}) {
    this.#log = log;
    this.#intervalMs = opts.intervalMs ?? 60_000;
    this.#now = opts.now ?? (() => performance.now());
  }

  /** Counts one occurrence of `reason`; logs `message` (with `fields` and the count) when the interval allows. */
  warn(reason: string, message: string, fields: Record<string, unknown> = {}): void {
    const now = this.#now();
    let r = this.#reasons.get(reason);
    if (!r) {
      r = { total: 0, unlogged: 0, lastLineAt: -Infinity };
      this.#reasons.set(reason, r);
    }
    r.total++;
    r.unlogged++;
    if (now - r.lastLineAt < this.#intervalMs) return;
    this.#line(reason, r, now, message, fields);
  }

  /** Writes one line for every reason with occurrences not yet logged (call on a slow timer or at stop). */
  flush(): void {
    const now = this.#now();
    for (const [reason, r] of this.#reasons) {
      if (r.unlogged > 0) this.#line(reason, r, now, `${reason} (repeated)`, {});
    }
  }

  /** Occurrences per reason since start. */
  counts(): Record<string, number> {
    return Object.fromEntries([...this.#reasons].map(([k, r]) => [k, r.total]));
  }

  #line(reason: string, r: Reason, now: number, message: string, fields: Record<string, unknown>): void {
    this.#log.warn({ ...fields, reason, count: r.unlogged, total: r.total }, message);
    r.unlogged = 0;
    r.lastLineAt = now;
  }
}
