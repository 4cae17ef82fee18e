import { TimerSlot, type Clock } from '../clock.ts';

/** unknown: no `stats` answer yet (or the last probe failed); cold: the cache has no complete copy (yet). */
export type Warmth = 'unknown' | 'cold' | 'warm';

/**
 * repcache's `replication_state`: `syncing` until the full copy from a peer is in (client port closed);
 * `partial` while it serves without a complete copy (its join timed out, or its source died mid-copy); then
 * `streaming`, `disconnected` (complete, serving alone) or `standalone` (no replication). A plain memcached has
 * no such stat; the probe reports it as `standalone`. Only a complete cache is warm.
 */
export function warmthOf(replicationState: string): 'cold' | 'warm' {
  return replicationState === 'syncing' || replicationState === 'partial' ? 'cold' : 'warm';
}

/** Why a cold cache is cold, for the log. */
const coldWhy = (state: string | null): string => (state === 'partial' ? 'it serves without a complete copy' : 'it syncs');

export interface WarmGateEvent {
  kind: 'cold' | 'warm' | 'serve-cold' | 'probe-failed' | 'replication-stale' | 'replication-current';
  level: 'info' | 'warn';
  message: string;
}

export interface WarmGateOptions {
  clock: Clock;
  /** Failback needs every replication peer heard within this bound (default REPLICATION_SILENCE_MS). */
  replicationSilenceMs?: number;
  /** The hold started or ended (bound instances are adjusted already). */
  changed?(holding: boolean): void;
  /** Something worth a log line. */
  event?(e: WarmGateEvent): void;
}

/** What the gate holds down: a VrrpInstance fits. */
export interface HoldTarget {
  readonly basePriority: number;
  setPriorityAdjustment(source: string, delta: number): void;
  setPreemptBlocked(reason: string | null, source?: string): void;
}

/** The priority-adjustment source name the gate uses on the instances it holds. */
export const WARMTH_SOURCE = 'cache warmth';

/** The preemption-block source name the gate uses while the cache's replication is not current. */
export const REPLICATION_SOURCE = 'cache replication';

/**
 * Default bound on how long ago every replication peer must have been heard for a failback. A live idle link
 * is heard at least every 150 ms (repcache's heartbeat, 100 ms, on its 50 ms tick) and the poller's answer is
 * at most 200 ms old, so a live link stays within it with 150 ms to spare; a cut one leaves it half a second
 * after the peer was last heard, not after the dead-peer timer (3 s), which is when `replication_state` would
 * stop saying `streaming`. The shorter the bound, the shorter the time before a failback in which a cut can
 * still cost the master's latest writes (async replication).
 */
export const REPLICATION_SILENCE_MS = 500;

export interface WarmGateStatus {
  warmth: Warmth;
  holding: boolean;
  replicationState: string | null;
  /** How long the cache has been not warm (null when warm). */
  coldForMs: number | null;
  /** How long the last cold spell lasted, once it ended. */
  lastWarmUpMs: number | null;
  master: boolean;
  /** Whether failback is allowed as far as replication goes (always true when the cache does not report it). */
  replicationCurrent: boolean;
  /** How long ago the stalest replication peer was heard (null: a peer's stream is down or behind, or not reported). */
  peersHeardMsAgo: number | null;
}

/**
 * Keeps a node whose cache is not warm out of the MASTER role while someone else can serve: a returning node
 * must not bring an empty cache into service (the stampede the seeds warn about). Pure: fed with the
 * `replication_state` polled from the local cache and with the instance's role.
 *
 * The hold is a priority adjustment down to the floor (effective priority 1). It does not block the election:
 * a held node never preempts a live master, but when no peer is alive it still becomes MASTER through the
 * usual master-down wait (or at once when a resigning master names it): availability first, and the gate
 * logs that a cold cache is serving.
 *
 * Warm is not enough for a failback: a cache whose replication link was cut still says `streaming` until its
 * dead-peer timer runs out, and lacks what the master's cache took since the cut. So preemption (taking the
 * VIP from a live master) also needs the cache's replication to be current: every peer's stream up, caught up,
 * and heard from within `replicationSilenceMs` (`repl_peers_heard_ms`), judged on the gate's clock, so a stats
 * answer that ages without a newer one blocks too. This is a preemption block, not a priority change: a MASTER
 * whose link goes quiet keeps the VIP (handing it to a peer cut off the same way would not help), and a node
 * whose master is gone still takes over.
 */
export class WarmGate {
  readonly #clock: Clock;
  readonly #opts: WarmGateOptions;
  #warmth: Warmth = 'unknown';
  #state: string | null = null;
  #coldSince: number;
  #lastWarmUpMs: number | null = null;
  #master = false;
  #servingColdLogged = false;
  #targets: HoldTarget[] = [];
  readonly #silenceMs: number;
  /** The cache reports repl_peers_heard_ms. */
  #linkReported = false;
  /** When (on our clock) the stalest peer was last heard; null: some peer's stream is down or behind. */
  #heardAt: number | null = null;
  #current = true;
  #whyStale = '';
  readonly #staleTimer: TimerSlot;

  constructor(opts: WarmGateOptions) {
    this.#clock = opts.clock;
    this.#opts = opts;
    this.#coldSince = opts.clock.now();
    this.#silenceMs = opts.replicationSilenceMs ?? REPLICATION_SILENCE_MS;
    this.#staleTimer = new TimerSlot(opts.clock);
  }

  get warmth(): Warmth {
    return this.#warmth;
  }

  /** True while the node must not take the VIP from a live peer. Not warm until proven warm. */
  get holding(): boolean {
    return this.#warmth !== 'warm';
  }

  /** The priority adjustment that keeps a held node below every peer (0 when not holding). */
  priorityAdjustment(basePriority: number): number {
    return this.holding ? 1 - basePriority : 0;
  }

  /** Whether a failback is allowed as far as the cache's replication goes (see the class comment). */
  get replicationCurrent(): boolean {
    return this.#current;
  }

  /**
   * Hold these instances down while not warm, and block their preemption while replication is not current:
   * applies both now and on every change.
   */
  bind(...targets: HoldTarget[]): void {
    this.#targets.push(...targets);
    for (const t of targets) {
      t.setPriorityAdjustment(WARMTH_SOURCE, this.priorityAdjustment(t.basePriority));
      t.setPreemptBlocked(this.#blockReason(), REPLICATION_SOURCE);
    }
  }

  /** Replaces the held instances (after a reload); the old ones keep whatever adjustment they had. */
  rebind(...targets: HoldTarget[]): void {
    this.#targets = [];
    this.bind(...targets);
  }

  /**
   * A `stats` answer arrived with this replication_state and repl_peers_heard_ms (a number; null for `-`;
   * undefined when the cache does not report it, which leaves failback to warmth alone).
   */
  observe(replicationState: string, peersHeardMs?: number | null): void {
    this.#linkReported = peersHeardMs !== undefined;
    this.#heardAt = peersHeardMs === undefined || peersHeardMs === null ? null : this.#clock.now() - peersHeardMs;
    this.#checkLink();
    const before = this.#state;
    this.#state = replicationState;
    const to = warmthOf(replicationState);
    if (to === 'cold' && this.#warmth === 'cold' && before !== replicationState && replicationState === 'partial') {
      // Still cold, but no longer copying: the cache gave up waiting and serves without a complete copy.
      this.#emit('cold', 'warn', `cache is cold (replication_state partial): staying BACKUP, no preemption while ${coldWhy(replicationState)}`);
    }
    this.#set(to, `replication_state ${replicationState}`);
  }

  /** The cache did not answer `stats` (down or restarting): warmth unknown, so the node holds again. */
  probeFailed(reason: string): void {
    if (this.#linkReported || this.#heardAt !== null) {
      this.#linkReported = true;
      this.#heardAt = null;
      this.#checkLink();
    }
    if (this.#warmth === 'unknown') return;
    this.#state = null;
    this.#emit('probe-failed', 'warn', `cache stats probe failed (${reason}): holding until the cache reports warm`);
    this.#set('unknown', reason);
  }

  /** The instance's role changed; entering MASTER while not warm is logged as a cold serve. */
  roleChanged(state: string): void {
    this.#master = state === 'MASTER';
    if (!this.#master) this.#servingColdLogged = false;
    this.#checkColdServe();
  }

  status(): WarmGateStatus {
    return {
      warmth: this.#warmth,
      holding: this.holding,
      replicationState: this.#state,
      coldForMs: this.holding ? this.#clock.now() - this.#coldSince : null,
      lastWarmUpMs: this.#lastWarmUpMs,
      master: this.#master,
      replicationCurrent: this.#current,
      peersHeardMsAgo: this.#heardAt === null ? null : Math.round(this.#clock.now() - this.#heardAt),
    };
  }

  #isCurrent(now: number): boolean {
    return !this.#linkReported || (this.#heardAt !== null && now - this.#heardAt <= this.#silenceMs);
  }

  #blockReason(): string | null {
    return this.#current ? null : `the cache's replication is not current (${this.#whyStale})`;
  }

  /** Re-judges replication currency; while current, a timer re-judges when the last answer grows too old. */
  #checkLink(): void {
    const now = this.#clock.now();
    const current = this.#isCurrent(now);
    if (current && this.#heardAt !== null) this.#staleTimer.arm(this.#heardAt + this.#silenceMs + 1 - now, () => this.#checkLink());
    else this.#staleTimer.cancel();
    if (current === this.#current) return;
    this.#current = current;
    if (current) {
      this.#emit('replication-current', 'info', `cache replication is current (every peer heard ${Math.round(now - (this.#heardAt ?? now))} ms ago): failback allowed`);
    } else {
      this.#whyStale =
        this.#heardAt === null
          ? "a peer's stream into the cache is down, copying or catching up"
          : `a peer not heard for ${Math.round(now - this.#heardAt)} ms, bound ${this.#silenceMs} ms`;
      // info: a failback it defers is logged by the election (preempt-deferred, at most once per wait).
      this.#emit('replication-stale', 'info', `${this.#blockReason()}: no failback (preemption) until it is; taking over from a master that is gone is not affected`);
    }
    for (const t of this.#targets) t.setPreemptBlocked(this.#blockReason(), REPLICATION_SOURCE);
  }

  #set(to: Warmth, why: string): void {
    const from = this.#warmth;
    if (to === from) return;
    const wasHolding = this.holding;
    this.#warmth = to;
    const now = this.#clock.now();
    if (to === 'warm') {
      this.#lastWarmUpMs = now - this.#coldSince;
      this.#servingColdLogged = false;
      this.#emit('warm', 'info', `cache is warm (${why}) after ${Math.round(this.#lastWarmUpMs)} ms: preemption allowed`);
    } else {
      if (from === 'warm') this.#coldSince = now;
      if (to === 'cold') this.#emit('cold', this.#state === 'partial' ? 'warn' : 'info', `cache is cold (${why}): staying BACKUP, no preemption while ${coldWhy(this.#state)}`);
    }
    if (wasHolding !== this.holding) {
      for (const t of this.#targets) t.setPriorityAdjustment(WARMTH_SOURCE, this.priorityAdjustment(t.basePriority));
      this.#opts.changed?.(this.holding);
    }
    this.#checkColdServe();
  }

  #checkColdServe(): void {
    if (!this.#master || !this.holding || this.#servingColdLogged) return;
    this.#servingColdLogged = true;
    const cold = Math.round(this.#clock.now() - this.#coldSince);
    const why = this.#warmth !== 'cold' ? 'its state is unknown' : this.#state === 'partial' ? `partial copy, cold for ${cold} ms` : `still syncing for ${cold} ms`;
    this.#emit('serve-cold', 'warn', `MASTER with a cache that is not warm (${why}): no peer is serving, so it serves anyway (availability first)`);
  }

  #emit(kind: WarmGateEvent['kind'], level: WarmGateEvent['level'], message: string): void {
    this.#opts.event?.({ kind, level, message });
  }
}
