import { TimerSlot } from '../../clock.ts';
import type { Clock } from '../../clock.ts';
import type { WitnessVerdict } from '../../proto/witness/codec.ts';
import type { VrrpState } from './types.ts';

export interface WitnessGuardOptions {
  clock: Clock;
  /** The lease asked of the witness. */
  leaseMs: number;
  /** Sends one lease request; returns its sequence (the reply echoes it). */
  request(held: boolean, leaseMs: number): bigint;
  /** The instance's state and whether it waits to become MASTER (VrrpInstance.state / wantsMaster). */
  state(): VrrpState;
  wantsMaster(): boolean;
  /** A MASTER must leave now (VrrpInstance.stepDown). */
  stepDown(reason: string): void;
  /** A waiting BACKUP may become MASTER now (VrrpInstance.gateOpened). */
  opened(reason: string): void;
  event?(kind: WitnessEventKind, message: string): void;
  /** How often the guard checks its deadlines (default min(100, leaseMs / 10)). */
  tickMs?: number;
}

export type WitnessEventKind = 'lease-granted' | 'lease-refused' | 'lease-lost' | 'step-down' | 'wait' | 'paused' | 'reply-dropped';

export interface WitnessGuardStatus {
  lease: 'held' | 'none';
  leaseLeftMs: number | null;
  holder: string | null;
  lastVerdict: WitnessVerdict | 'no reply' | null;
  peerHeardMsAgo: number | null;
  waiting: boolean;
  counters: WitnessGuardCounters;
}

export interface WitnessGuardCounters {
  requests: number;
  granted: number;
  refused: number;
  stepDowns: number;
  repliesDropped: number;
}

/**
 * The node's side of the witness, for one vrrp_instance: decides when the instance may be MASTER.
 *
 * The rule. A node may *become* MASTER when it holds the witness's lease, or when it heard another node of the
 * instance within two of that node's intervals (the peer is alive and the ordinary VRRP exchange settles
 * who is MASTER: a peer that resigned, preemption, two backups starting). A node may *stay* MASTER while it
 * holds the lease, or while it hears a backup's hellos (within two of its intervals). It renews the lease all
 * the time it is MASTER, so:
 * - link between the nodes cut, both see the witness: the MASTER keeps the lease, the backup's master-down
 *   timer fires, it asks and is told the lease is held: exactly one MASTER.
 * - MASTER isolated: it cannot renew and hears no hello; it steps down `marginMs` before its lease (counted
 *   from its request's send time) can end on the witness; the backup is granted the lease after that.
 * - witness down, pair healthy: the MASTER hears hellos and stays; a backup hears adverts and does not ask.
 * - witness down and link cut: the MASTER steps down, the backup cannot get the lease: no MASTER (safety
 *   over availability).
 * A backup that got the lease without hearing anybody still waits until three of the peer's intervals have
 * passed since it last heard it (plus the margin): a MASTER without a lease that last heard the backup at
 * about the same time has stepped down by then.
 *
 * Pauses: the guard checks every tick; a tick (or a datagram) that comes almost a margin later than due means
 * this process was stopped (or badly starved: a false alarm only forgets the peer, which matters only while
 * the witness is unreachable). Whatever was heard before, and what is read in the next moment (queued in the socket
 * during the pause), no longer proves a live peer: a MASTER whose lease ended meanwhile steps down at once.
 */
export class WitnessGuard {
  readonly leaseMs: number;
  readonly marginMs: number;
  readonly renewMs: number;
  #o: WitnessGuardOptions;
  #clock: Clock;
  #tickMs: number;
  #tick: TimerSlot;
  #lastTick = 0;
  /** The lease as this node counts it: from the send time of the granted request. */
  #leaseUntil = -Infinity;
  #outstanding = new Map<bigint, number>();
  #lastRequestAt = -Infinity;
  /** Last message of any kind from another node, and last hello of a live backup; with its interval. */
  #heard = { at: -Infinity, intervalMs: 0 };
  #hello = { at: -Infinity, intervalMs: 0 };
  /** Messages read before this time were queued during a pause. */
  #fenceUntil = -Infinity;
  #waiting = false;
  #lastVerdict: WitnessVerdict | 'no reply' | null = null;
  #holder: string | null = null;
  #started = false;
  readonly counters: WitnessGuardCounters = { requests: 0, granted: 0, refused: 0, stepDowns: 0, repliesDropped: 0 };

  constructor(opts: WitnessGuardOptions) {
    if (!(opts.leaseMs >= 300)) throw new RangeError('witness lease must be at least 300 ms');
    this.#o = opts;
    this.#clock = opts.clock;
    this.leaseMs = opts.leaseMs;
    this.marginMs = Math.min(Math.max(200, opts.leaseMs / 10), opts.leaseMs / 4);
    this.renewMs = opts.leaseMs / 4;
    this.#tickMs = opts.tickMs ?? Math.min(100, opts.leaseMs / 10);
    this.#tick = new TimerSlot(opts.clock);
  }

  start(): void {
    if (this.#started) return;
    this.#started = true;
    this.#lastTick = this.#clock.now();
    this.#arm();
  }

  stop(): void {
    this.#started = false;
    this.#tick.cancel();
  }

  /** VrrpInstance's gate: may the instance become MASTER now? A refusal starts asking the witness. */
  mayBecomeMaster(reason: string): boolean {
    const now = this.#clock.now();
    this.#checkPause(now);
    if (this.#mayEnter(now)) {
      this.#waiting = false;
      return true;
    }
    if (!this.#waiting) this.#o.event?.('wait', `${reason}, but the witness lease is not ours and no peer is heard: asking the witness first`);
    this.#waiting = true;
    this.#maybeRequest(now, true);
    return false;
  }

  /** An authenticated advert or hello of this instance from another node. */
  heard(kind: 'ADVERT' | 'BACKUP_HELLO', priority: number, intervalMs: number): void {
    const now = this.#clock.now();
    this.#checkPause(now);
    if (now < this.#fenceUntil) return;
    this.#heard = { at: now, intervalMs };
    if (kind === 'BACKUP_HELLO') this.#hello = priority > 0 ? { at: now, intervalMs } : { at: -Infinity, intervalMs: 0 };
  }

  /** An authenticated reply from the witness. */
  reply(r: { sequence: bigint; verdict: WitnessVerdict; leaseMs: number; holder: string | null }): void {
    const sentAt = this.#outstanding.get(r.sequence);
    if (sentAt === undefined) {
      this.counters.repliesDropped++;
      this.#o.event?.('reply-dropped', `witness reply for sequence ${r.sequence} matches no request of ours (late, duplicated or replayed): dropped`);
      return;
    }
    for (const [seq, at] of this.#outstanding) if (at <= sentAt) this.#outstanding.delete(seq);
    const now = this.#clock.now();
    this.#lastVerdict = r.verdict;
    this.#holder = r.holder;
    if (r.verdict === 'GRANTED') {
      this.counters.granted++;
      const had = this.#leaseValid(now);
      this.#leaseUntil = Math.max(this.#leaseUntil, sentAt + r.leaseMs);
      if (!had && this.#leaseValid(now)) this.#o.event?.('lease-granted', `witness granted the lease (${r.leaseMs} ms)`);
    } else {
      this.counters.refused++;
      if (r.verdict === 'HELD') {
        // The witness says another node holds it: whatever we believed, we do not.
        if (this.#leaseUntil > now) this.#o.event?.('lease-lost', `witness says ${r.holder ?? 'another node'} holds the lease`);
        this.#leaseUntil = -Infinity;
      }
    }
    this.#evaluate(now);
  }

  status(): WitnessGuardStatus {
    const now = this.#clock.now();
    const valid = this.#leaseValid(now);
    return {
      lease: valid ? 'held' : 'none',
      leaseLeftMs: valid ? Math.round(this.#leaseUntil - this.marginMs - now) : null,
      holder: this.#holder,
      lastVerdict: this.#lastVerdict,
      peerHeardMsAgo: Number.isFinite(this.#heard.at) ? Math.round(now - this.#heard.at) : null,
      waiting: this.#waiting,
      counters: { ...this.counters },
    };
  }

  // ---- rules ----

  #leaseValid(now: number): boolean {
    return now < this.#leaseUntil - this.marginMs;
  }

  #peerFresh(now: number): boolean {
    return now - this.#heard.at <= 2 * this.#heard.intervalMs;
  }

  #backupFresh(now: number): boolean {
    return now - this.#hello.at <= 2 * this.#hello.intervalMs;
  }

  /** A MASTER without a lease that last heard us at about our last hearing of it has stepped down by then. */
  #peerSurelyDown(now: number): boolean {
    return !Number.isFinite(this.#heard.at) || now >= this.#heard.at + 3 * this.#heard.intervalMs + this.marginMs;
  }

  #mayEnter(now: number): boolean {
    if (this.#peerFresh(now)) return true;
    return this.#leaseValid(now) && this.#peerSurelyDown(now);
  }

  #evaluate(now: number): void {
    const state = this.#o.state();
    if (state === 'MASTER') {
      if (!this.#leaseValid(now) && !this.#backupFresh(now)) {
        this.counters.stepDowns++;
        const why = this.#lastVerdict === 'HELD' ? `the witness gave the lease to ${this.#holder ?? 'another node'}` : 'the witness lease ran out';
        this.#o.event?.('step-down', `${why} and no backup is heard: leaving MASTER`);
        this.#o.stepDown(`${why} and no backup is heard`);
        return;
      }
      this.#maybeRequest(now, false);
      return;
    }
    if (state !== 'BACKUP' || !this.#o.wantsMaster()) {
      this.#waiting = false;
      return;
    }
    // Only the lease opens the gate from here: a peer heard again is left to the election's own timers.
    if (this.#leaseValid(now) && this.#peerSurelyDown(now)) {
      this.#waiting = false;
      this.#o.opened('the witness granted the lease');
      return;
    }
    this.#waiting = true;
    this.#maybeRequest(now, false);
  }

  /** MASTER: renew every renewMs; waiting: ask every renewMs (at once when `now` is set and none is pending). */
  #maybeRequest(now: number, eager: boolean): void {
    if (now - this.#lastRequestAt < (eager ? this.#tickMs : this.renewMs)) return;
    this.#lastRequestAt = now;
    for (const [seq, at] of this.#outstanding) {
      if (now - at >= this.renewMs) this.#lastVerdict = 'no reply';
      if (now - at > this.leaseMs) this.#outstanding.delete(seq);
    }
    this.counters.requests++;
    const seq = this.#o.request(now < this.#leaseUntil, this.leaseMs);
    this.#outstanding.set(seq, now);
  }

  #checkPause(now: number): void {
    if (!this.#started) return;
    const late = now - this.#lastTick - this.#tickMs;
    // Undetected, a pause makes queued hellos look fresh by up to its length: the margin covers that much.
    if (late < this.marginMs * 0.9) return;
    this.#lastTick = now;
    this.#heard = { at: -Infinity, intervalMs: 0 };
    this.#hello = { at: -Infinity, intervalMs: 0 };
    this.#fenceUntil = now + FENCE_MS;
    this.#o.event?.('paused', `no check for ${Math.round(late + this.#tickMs)} ms (process stopped or stalled): what was heard before and what is queued no longer proves a live peer`);
    this.#arm();
    this.#evaluate(now);
  }

  #arm(): void {
    this.#tick.arm(this.#tickMs, () => {
      const now = this.#clock.now();
      this.#checkPause(now);
      this.#lastTick = now;
      this.#evaluate(now);
      this.#arm();
    });
  }
}

/** What the socket queued during a pause is read within this time after waking. */
const FENCE_MS = 100;
