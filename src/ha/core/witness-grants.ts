import type { Clock } from '../../clock.ts';
import type { WitnessVerdict } from '../../proto/witness/codec.ts';

export interface WitnessGrantsOptions {
  clock: Clock;
  /** The longest lease granted (a longer request is granted this long); also the quiet time after a start. */
  maxLeaseMs: number;
}

export interface GrantAnswer {
  verdict: WitnessVerdict;
  /** GRANTED: the lease; HELD: what is left of the holder's lease; WAIT: what is left of the quiet time. */
  leaseMs: number;
  holder: string | null;
}

/**
 * The witness's lease table: one lease per VRID, held by one node at a time, on the witness's own clock.
 *
 * A node holding a lease asks again before it ends (and is granted again); anyone else is told who holds it
 * until it ends on this clock. The holder counts its lease from when it sent the request, so it always
 * believes it holds the lease for less time than this table does: clock offsets do not matter, only rates.
 *
 * A witness that starts (or restarts) does not know who holds what. For `maxLeaseMs` it grants only to a
 * node that says it holds the lease: a node that believes so has not seen its lease end, and no other node
 * can believe the same (the leases were exclusive before the restart). Everyone else waits until every lease
 * granted before the restart has ended.
 */
export class WitnessGrants {
  #clock: Clock;
  #maxLeaseMs: number;
  #quietUntil: number;
  #leases = new Map<number, { holder: string; until: number }>();
  readonly counters = { granted: 0, renewed: 0, held: 0, wait: 0 };

  constructor(opts: WitnessGrantsOptions) {
    if (!(opts.maxLeaseMs > 0)) throw new RangeError('maxLeaseMs must be > 0');
    this.#clock = opts.clock;
    this.#maxLeaseMs = opts.maxLeaseMs;
    this.#quietUntil = opts.clock.now() + opts.maxLeaseMs;
  }

  request(r: { vrid: number; nodeId: string; held: boolean; leaseMs: number }): GrantAnswer {
    const now = this.#clock.now();
    const current = this.#leases.get(r.vrid);
    if (current && current.until > now && current.holder !== r.nodeId) {
      this.counters.held++;
      return { verdict: 'HELD', leaseMs: Math.ceil(current.until - now), holder: current.holder };
    }
    if (!current || current.until <= now) {
      if (now < this.#quietUntil && !r.held) {
        this.counters.wait++;
        return { verdict: 'WAIT', leaseMs: Math.ceil(this.#quietUntil - now), holder: null };
      }
    }
    const leaseMs = Math.min(Math.max(0, Math.floor(r.leaseMs)), this.#maxLeaseMs);
    if (current && current.holder === r.nodeId && current.until > now) this.counters.renewed++;
    else this.counters.granted++;
    this.#leases.set(r.vrid, { holder: r.nodeId, until: now + leaseMs });
    return { verdict: 'GRANTED', leaseMs, holder: null };
  }

  /** Every lease still running: VRID, holder and what is left (for status). */
  leases(): { vrid: number; holder: string; leftMs: number }[] {
    const now = this.#clock.now();
    return [...this.#leases]
      .filter(([, l]) => l.until > now)
      .map(([vrid, l]) => ({ vrid, holder: l.holder, leftMs: l.until - now }))
      .sort((a, b) => a.vrid - b.vrid);
  }

  get quietLeftMs(): number {
    return Math.max(0, this.#quietUntil - this.#clock.now());
  }
}
