import { quoteBytes } from '../../log-limit.ts';
import { TimerSlot } from '../../clock.ts';
import type { Clock } from '../../clock.ts';
import { OWNER_PRIORITY, effectivePriority, masterDownMs, outranks, skewMs } from './priority.ts';
import type {
  AnnounceKind,
  InstanceActions,
  InstanceEventKind,
  InstanceStatus,
  PeerAdvert,
  PeerSeen,
  Transition,
  VrrpState,
} from './types.ts';

export interface VrrpInstanceOptions {
  name: string;
  /** Stable id of this node in adverts (router_id or primary address). */
  nodeId: string;
  /** Primary IPv4 address of the interface (or unicast_src_ip): the equal-priority tie-break. */
  primaryAddress: string;
  /** Configured priority 1..255. */
  priority: number;
  advertIntMs: number;
  initialState?: 'MASTER' | 'BACKUP';
  nopreempt?: boolean;
  preemptDelayMs?: number;
  /** Interval of BACKUP_HELLO while BACKUP; default advertIntMs; null turns fast hand-over off. */
  helloIntervalMs?: number | null;
  /** Our VIPs, to log a mismatch with a master's list. */
  vips?: { address: string; prefix: number }[];
  /** garp_master_refresh: while MASTER, announce('refresh') this often; 0 or absent = off. */
  garpRefreshMs?: number;
  clock: Clock;
  actions: InstanceActions;
}

/** Settings a reload changes in place (absent = unchanged); see VrrpInstance.reconfigure. */
export interface Reconfigure {
  priority?: number;
  advertIntMs?: number;
  nopreempt?: boolean;
  preemptDelayMs?: number;
  initialState?: 'MASTER' | 'BACKUP';
  vips?: { address: string; prefix: number }[];
  garpRefreshMs?: number;
}

/** How a vrrp_sync_group steers its members; see sync-group.ts. */
export interface SyncGroupHook {
  readonly name: string;
  /** A member's own rules say MASTER; true = go now (the group promotes the others), false = wait. */
  memberWantsMaster(member: VrrpInstance, reason: string): boolean;
  memberTransitioned(member: VrrpInstance, t: Transition): void;
  memberFaultChanged(member: VrrpInstance): void;
}

/** Who else must agree before this instance becomes MASTER (the witness, see witness-guard.ts). */
export interface MasterGate {
  /** true = go now; false = wait (the instance stays BACKUP wanting MASTER until gateOpened). */
  mayBecomeMaster(reason: string): boolean;
}

/**
 * One vrrp_instance: the VRRPv3-style election (keepalived semantics, see the reference notes §1) as a pure
 * state machine. Inputs: start/stop, receive(advert), setFault, setPriorityAdjustment, timers of the injected
 * Clock. Outputs: InstanceActions calls, synchronously and in order.
 *
 * Fast hand-over. Backups send BACKUP_HELLO every hello interval, so a master knows the live backups; when
 * the master resigns (FAULT or stop) its priority-0 advert names the best live backup as `successor`. The named
 * successor takes over at once; every other backup keeps the RFC wait of one skew time, so a dead or faulty
 * successor costs only what RFC VRRP costs anyway. A backup that hears another live master ignores the
 * resignation (the resigning node was not its master). When no successor is named (the master heard no
 * hellos), a backup that outranks every live hello it hears takes over at once.
 *
 * Safety (no two masters for longer than one advert interval). Every entry into MASTER first sends an
 * ADVERT with the new master's priority (> 0). A master that receives an ADVERT from another master either
 * yields (the sender outranks it) or immediately re-advertises (it outranks the sender), and the sender
 * then yields on receipt. `outranks` is a total order evaluated identically on both nodes (priority,
 * address, node id), so exactly one of two masters survives the first advert exchange. Hence any overlap
 * of two masters ends one one-way delay after the second master's first advert, and if that advert is lost,
 * at the next periodic advert: at most one advert interval plus delivery time. The hand-over rules only
 * decide *when* a backup enters MASTER, never how masters resolve, so the bound holds in every interleaving:
 * a successor that is dead, in FAULT, or stale simply does not advertise (the others wait their skew); two
 * backups that both believe they are best both advertise at once and resolve in one exchange; a late hello
 * changes only whom the next resignation names; equal priorities resolve by address. The bound assumes
 * adverts are delivered within an interval; a partition gives split brain in VRRP too. (A sender not heard
 * from before adds one round trip, see below: at most one more interval if that answer is lost.)
 *
 * After a split brain (partition healed, paused master woken) clients may hold the loser's MAC for the VIP.
 * So the winner re-announces (InstanceActions.announce → gratuitous ARP) whenever it meets another master:
 * a lower-priority advert or a priority 0 from another node, once per conflict episode (a sender whose
 * previous conflicting advert is more than two of its intervals old). A master that yields first sends one
 * advert of its own priority (keepalived's higher_prio_send_advert), so the winner always sees a conflict,
 * whichever advert crossed the healed link first.
 *
 * A master yields only to a live sender (an advert or hello within three of its intervals). A higher-priority
 * advert from anyone else is answered with our own advert, and we yield on the sender's next advert: a real
 * master answers a lower advert at once, so a genuine preemption costs one round trip (one interval if that
 * answer is lost); a single stray or forged packet from a new node id changes nothing (HMAC stops the rest).
 *
 * Pauses (SIGSTOP, a VM or GC stall) are seen on the injected clock. A MASTER that has not advertised for
 * three intervals (a backup may have taken over) does not send its overdue advert: it listens briefly
 * (what arrived during the pause is read first), yields to a higher master, or, with nopreempt, to any
 * master that took over, and otherwise advertises and re-announces. A BACKUP whose master-down timer fires
 * an interval late listens the same way before it claims MASTER.
 */
export class VrrpInstance {
  readonly name: string;
  readonly nodeId: string;
  readonly primaryAddress: string;
  #basePriority: number;
  #advertIntMs: number;
  #initialState: 'MASTER' | 'BACKUP';
  #nopreempt: boolean;
  #preemptDelayMs: number;
  #helloIntervalMs: number | null;
  /** The hello interval follows the advert interval (it was not set on its own). */
  #helloFollowsAdvert: boolean;
  /** After an advert interval change while MASTER: this many adverts still go at `#cadence.ms`. */
  #cadence = { left: 0, ms: 0 };

  #clock: Clock;
  #actions: InstanceActions;
  #vips: { address: string; prefix: number }[] | null;
  #state: VrrpState = 'INIT';
  #faults = new Map<string, string>();
  #adjustments = new Map<string, number>();
  #masterDown: TimerSlot;
  #advertTimer: TimerSlot;
  #helloTimer: TimerSlot;
  #masterAdvertIntMs: number;
  /** The master this backup follows, from its last accepted advert. */
  #master: PeerSeen | null = null;
  /** When the master-down wait started (last accepted advert, or entering BACKUP). */
  #downSince = 0;
  #peers = new Map<string, PeerSeen & { intervalMs: number }>();
  #preemptUntil: number | null = null;
  #wantsMaster = false;
  #group: SyncGroupHook | null = null;
  #gate: MasterGate | null = null;
  #holds = new Set<string>();
  /** Why preemption waits, per source (preempt_schedule outside its window, a cache not current); none = as configured. */
  #preemptBlocks = new Map<string, string>();
  #deferLogged = false;
  #startRequested = false;
  #counters = { advertsSent: 0, advertsReceived: 0, discardedLower: 0, becameMaster: 0, announcements: 0, pausesDetected: 0 };
  #garpRefreshMs: number;
  #refreshTimer: TimerSlot;
  /** Every node heard from recently (LRU, bounded): who is live, and conflict episodes while MASTER. */
  #heard = new Map<string, { at: number; intervalMs: number; conflictAt: number | null }>();
  /** When we last sent an advert: a MASTER silent for 3 intervals was paused. */
  #lastAdvertAt = 0;
  #resumeTimer: TimerSlot;
  #resuming = false;

  constructor(opts: VrrpInstanceOptions) {
    if (!Number.isInteger(opts.priority) || opts.priority < 1 || opts.priority > 255) {
      throw new RangeError(`${opts.name}: priority must be 1..255, got ${opts.priority}`);
    }
    if (!(opts.advertIntMs > 0)) throw new RangeError(`${opts.name}: advert interval must be > 0`);
    this.name = opts.name;
    this.nodeId = opts.nodeId;
    this.primaryAddress = opts.primaryAddress;
    this.#basePriority = opts.priority;
    this.#advertIntMs = opts.advertIntMs;
    this.#initialState = opts.initialState ?? 'BACKUP';
    this.#nopreempt = opts.nopreempt ?? false;
    this.#preemptDelayMs = opts.preemptDelayMs ?? 0;
    this.#helloFollowsAdvert = opts.helloIntervalMs === undefined;
    this.#helloIntervalMs = opts.helloIntervalMs === undefined ? opts.advertIntMs : opts.helloIntervalMs;
    this.#clock = opts.clock;
    this.#actions = opts.actions;
    this.#vips = opts.vips ?? null;
    this.#masterAdvertIntMs = opts.advertIntMs;
    this.#masterDown = new TimerSlot(opts.clock);
    this.#advertTimer = new TimerSlot(opts.clock);
    this.#helloTimer = new TimerSlot(opts.clock);
    this.#refreshTimer = new TimerSlot(opts.clock);
    this.#resumeTimer = new TimerSlot(opts.clock);
    this.#garpRefreshMs = opts.garpRefreshMs ?? 0;
  }

  get basePriority(): number {
    return this.#basePriority;
  }

  get advertIntMs(): number {
    return this.#advertIntMs;
  }

  get initialState(): 'MASTER' | 'BACKUP' {
    return this.#initialState;
  }

  get nopreempt(): boolean {
    return this.#nopreempt;
  }

  get preemptDelayMs(): number {
    return this.#preemptDelayMs;
  }

  get helloIntervalMs(): number | null {
    return this.#helloIntervalMs;
  }

  get garpRefreshMs(): number {
    return this.#garpRefreshMs;
  }

  get state(): VrrpState {
    return this.#state;
  }

  get effectivePriority(): number {
    return effectivePriority(this.basePriority, this.#adjustments.values());
  }

  get isOwner(): boolean {
    return this.basePriority === OWNER_PRIORITY;
  }

  /** True while BACKUP with the master-down timer expired but its sync group not yet ready. */
  get wantsMaster(): boolean {
    return this.#wantsMaster;
  }

  /** Fault sources other than `except` (sync groups exclude their own). */
  hasFault(except?: string): boolean {
    for (const source of this.#faults.keys()) if (source !== except) return true;
    return false;
  }

  attachSyncGroup(group: SyncGroupHook | null): void {
    this.#group = group;
  }

  /** With a gate, every way into MASTER asks it first (the owner's shortcut at start-up too). */
  attachGate(gate: MasterGate | null): void {
    this.#gate = gate;
  }

  /** The gate now allows what it refused: a BACKUP still wanting MASTER takes it. */
  gateOpened(reason: string): void {
    if (this.#state === 'BACKUP' && this.#wantsMaster) this.#wantMaster(reason);
  }

  /** The gate withdraws its consent: a MASTER resigns (priority 0 naming a successor) and becomes BACKUP. */
  stepDown(reason: string): void {
    if (this.#state !== 'MASTER') return;
    this.#resign();
    this.#leaveMaster('BACKUP', reason);
  }

  /**
   * Keeps the instance in INIT after start() until every hold is released: keepalived waits for each tracked
   * script's first result, so a failing check goes INIT → FAULT without a BACKUP notify first.
   */
  hold(source: string): void {
    if (this.#state === 'INIT') this.#holds.add(source);
  }

  release(source: string): void {
    if (!this.#holds.delete(source)) return;
    if (this.#holds.size === 0 && this.#startRequested) this.start();
  }

  /** INIT → BACKUP (or MASTER at once for a 255 owner with state MASTER, or FAULT if a fault is set). */
  start(): void {
    if (this.#state !== 'INIT') return;
    this.#startRequested = true;
    if (this.#holds.size > 0) return;
    if (this.#faults.size > 0) {
      this.#setState('FAULT', `starting with fault: ${this.#faultSummary()}`);
      return;
    }
    if (this.isOwner && this.initialState === 'MASTER' && this.#gate === null) {
      this.#becomeMaster('priority 255 address owner with state MASTER');
      return;
    }
    if (this.preemptDelayMs > 0) this.#preemptUntil = this.#clock.now() + this.preemptDelayMs;
    this.#enterBackup('start-up');
  }

  /** Leave the election: a MASTER sends priority 0 (naming a successor) first. Final. */
  stop(reason = 'stopping'): void {
    if (this.#state === 'STOP') return;
    this.#holds.clear();
    if (this.#state === 'MASTER') this.#resign();
    else if (this.#state === 'BACKUP') this.#sendHello(0);
    this.#cancelTimers();
    this.#setState('STOP', reason);
  }

  /** An authenticated advert or hello for this VRID from another node. */
  receive(adv: PeerAdvert): void {
    if (adv.nodeId === this.nodeId) return; // our own multicast looped back
    if (this.#state !== 'BACKUP' && this.#state !== 'MASTER') return; // FAULT ignores adverts (keepalived)
    const now = this.#clock.now();
    // After SIGCONT the socket is often read before the overdue timers run.
    this.#checkPause(now);
    const known = this.#isLive(adv.nodeId, now);
    this.#noteHeard(adv, now);
    if (adv.kind === 'BACKUP_HELLO') {
      if (adv.priority === 0) this.#peers.delete(adv.nodeId);
      else this.#peers.set(adv.nodeId, { ...pick(adv), at: now, intervalMs: adv.advertIntMs });
      return;
    }
    this.#counters.advertsReceived++;
    this.#peers.delete(adv.nodeId);
    if (this.#state === 'BACKUP') this.#backupReceive(adv, now);
    else this.#masterReceive(adv, now, known);
  }

  /** An interface of this instance (its own, a VIP's, a tracked one) came back up: a MASTER re-announces. */
  linkUp(ifname: string): void {
    if (this.#state === 'MASTER' && !this.#resuming) this.#announce('link-up', `interface ${ifname} is up again`);
  }

  /** Sets (reason) or clears (null) one fault source: tracker name, interface, "vip", sync group. */
  setFault(source: string, reason: string | null): void {
    const had = this.#faults.size > 0;
    if (reason === null) {
      if (!this.#faults.delete(source)) return;
    } else {
      if (this.#faults.get(source) === reason) return;
      const isNew = !this.#faults.has(source);
      this.#faults.set(source, reason);
      if (!isNew) return;
    }
    const has = this.#faults.size > 0;
    if (!had && has) this.#enterFault(`${source}: ${reason}`);
    else if (had && !has) this.#exitFault(`fault cleared (${source})`);
    this.#group?.memberFaultChanged(this);
  }

  /** Tracker weight contribution of one source (0 removes it). */
  setPriorityAdjustment(source: string, delta: number): void {
    const before = this.effectivePriority;
    if (delta === 0) this.#adjustments.delete(source);
    else this.#adjustments.set(source, delta);
    this.#priorityChanged(before, `${source} ${delta >= 0 ? '+' : ''}${delta}`);
  }

  /**
   * A reload changed this instance's settings in place (see Reconfigure). Priority: a BACKUP tells the master
   * (hello) and re-arms its master-down wait with the new skew, so one raised above the master preempts by the
   * usual rule (it discards the master's lower adverts; nopreempt and preempt_delay hold it back); a MASTER
   * advertises the new priority on its timer, so a backup that now outranks it takes over the same way.
   * Advert interval: a MASTER advertises the new interval at once and keeps the shorter of the two cadences for
   * three more adverts (backups adopt the master's interval from its adverts: a lengthened interval must not
   * look like a dead master to a backup that missed one advert); a BACKUP's hellos and, without a known
   * master, its master-down wait follow the new interval.
   */
  reconfigure(r: Reconfigure): void {
    if (r.nopreempt !== undefined) this.#nopreempt = r.nopreempt;
    if (r.initialState !== undefined) this.#initialState = r.initialState;
    if (r.vips !== undefined) this.#vips = r.vips;
    if (r.preemptDelayMs !== undefined && r.preemptDelayMs !== this.#preemptDelayMs) {
      this.#preemptDelayMs = r.preemptDelayMs;
      if (r.preemptDelayMs === 0) this.#preemptUntil = null;
    }
    if (r.garpRefreshMs !== undefined && r.garpRefreshMs !== this.#garpRefreshMs) {
      this.#garpRefreshMs = r.garpRefreshMs;
      if (this.#state === 'MASTER') this.#armRefresh();
    }
    if (r.advertIntMs !== undefined && r.advertIntMs !== this.#advertIntMs) this.#setAdvertInterval(r.advertIntMs);
    if (r.priority !== undefined && r.priority !== this.#basePriority) {
      if (!Number.isInteger(r.priority) || r.priority < 1 || r.priority > 255) {
        throw new RangeError(`${this.name}: priority must be 1..255, got ${r.priority}`);
      }
      const before = this.effectivePriority;
      this.#basePriority = r.priority;
      this.#priorityChanged(before, `priority ${r.priority} by reload`);
    }
  }

  #priorityChanged(before: number, why: string): void {
    const after = this.effectivePriority;
    if (after === before) return;
    this.#event('priority-change', `effective priority ${before} -> ${after} (${why})`);
    if (this.#state === 'BACKUP') {
      this.#sendHello(after);
      if (this.#masterDown.armed) this.#armMasterDown(this.#downSince + this.#masterDownInterval() - this.#clock.now());
    }
  }

  #setAdvertInterval(ms: number): void {
    if (!(ms > 0)) throw new RangeError(`${this.name}: advert interval must be > 0`);
    const old = this.#advertIntMs;
    this.#advertIntMs = ms;
    if (this.#helloFollowsAdvert) this.#helloIntervalMs = ms;
    if (this.#state === 'MASTER' && !this.#resuming) {
      this.#cadence = { left: 3, ms: Math.min(old, ms) };
      this.#sendAdvert(this.effectivePriority, null);
      this.#armAdvertTimer();
    } else if (this.#state === 'BACKUP') {
      if (this.#helloTimer.armed && this.#helloIntervalMs !== null) this.#armHello();
      if (this.#master === null && this.#masterAdvertIntMs === old) {
        this.#masterAdvertIntMs = ms;
        if (this.#masterDown.armed) this.#armMasterDown(this.#downSince + this.#masterDownInterval() - this.#clock.now());
      }
    }
  }

  /**
   * Blocks (reason) or allows (null) preemption for one source (default: preempt_schedule): while any source
   * blocks, the instance follows a live lower-priority master like `nopreempt`. An election without a live
   * master is never blocked (availability first).
   */
  setPreemptBlocked(reason: string | null, source = PREEMPT_SCHEDULE_SOURCE): void {
    const was = this.#preemptBlock;
    if (reason === null) this.#preemptBlocks.delete(source);
    else this.#preemptBlocks.set(source, reason);
    if (this.#preemptBlock !== null || was === null) return;
    this.#deferLogged = false;
    // The last block ended (the window opened, the cache caught up): take over from a live lower-priority
    // master now (the usual preemption would wait a master-down interval, longer than a short window).
    const m = this.#master;
    const own = this.effectivePriority;
    if (this.#state !== 'BACKUP' || this.nopreempt || !m || m.priority >= own) return;
    if (this.#clock.now() - m.at >= this.#masterDownInterval()) return;
    this.#event('preempt-allowed', `failback allowed now (${was} ended): priority ${own} takes over from master ${m.nodeId} (${m.priority})`);
    this.#wantMaster(`preemption window open: priority ${own} outranks master ${m.nodeId} (${m.priority})`);
  }

  get preemptBlocked(): string | null {
    return this.#preemptBlock;
  }

  get #preemptBlock(): string | null {
    return this.#preemptBlocks.size === 0 ? null : [...this.#preemptBlocks.values()].join('; ');
  }

  /** Sync group: the group decided to go MASTER. */
  groupPromote(reason: string): void {
    if (this.#state === 'BACKUP') this.#becomeMaster(reason);
  }

  /** Sync group: another member left MASTER for BACKUP. */
  groupDemote(reason: string): void {
    if (this.#state === 'MASTER') this.#leaveMaster('BACKUP', reason);
  }

  status(): InstanceStatus {
    const now = this.#clock.now();
    const left = (slot: TimerSlot) => (slot.deadline === null ? null : slot.deadline - now);
    return {
      name: this.name,
      state: this.#state,
      basePriority: this.basePriority,
      effectivePriority: this.effectivePriority,
      advertIntMs: this.advertIntMs,
      masterAdvertIntMs: this.#masterAdvertIntMs,
      nopreempt: this.nopreempt,
      preemptDelayMs: this.preemptDelayMs,
      faults: [...this.#faults].map(([s, r]) => `${s}: ${r}`),
      priorityAdjustments: Object.fromEntries(this.#adjustments),
      master: this.#master ? { ...this.#master } : null,
      backups: this.#livePeers(now).map(({ intervalMs: _i, ...p }) => p),
      timers: {
        masterDown: left(this.#masterDown),
        advert: left(this.#advertTimer),
        hello: left(this.#helloTimer),
        preemptUntil: this.#preemptUntil === null || this.#preemptUntil <= now ? null : this.#preemptUntil - now,
        garpRefresh: left(this.#refreshTimer),
      },
      resuming: this.#resuming,
      wantsMaster: this.#wantsMaster,
      holds: [...this.#holds],
      counters: { ...this.#counters },
    };
  }

  // ---- BACKUP ----

  #backupReceive(adv: PeerAdvert, now: number): void {
    const own = this.effectivePriority;
    if (adv.priority === 0) {
      this.#onResign(adv, now);
      return;
    }
    const blocked = this.#preemptBlock !== null && adv.priority < own;
    if (blocked && !this.nopreempt && !this.#deferLogged) {
      this.#deferLogged = true;
      this.#event('preempt-deferred', `priority ${own} outranks master ${adv.nodeId} (${adv.priority}) but failback waits: ${this.#preemptBlock}`);
    }
    if (this.nopreempt || blocked || adv.priority >= own || this.#preemptDelayPending(now)) {
      if (adv.priority >= own) this.#preemptUntil = null;
      this.#checkAdvertContents(adv);
      this.#master = { ...pick(adv), at: now };
      this.#masterAdvertIntMs = adv.advertIntMs;
      this.#wantsMaster = false;
      this.#downSince = now;
      this.#armMasterDown(this.#masterDownInterval());
      return;
    }
    this.#counters.discardedLower++;
    this.#event('discard-lower-priority', `received lower priority (${adv.priority}) advert from ${adv.nodeId} - discarding`);
  }

  #preemptDelayPending(now: number): boolean {
    if (this.preemptDelayMs <= 0) return false;
    if (this.#preemptUntil === null) this.#preemptUntil = now + this.preemptDelayMs;
    return now < this.#preemptUntil;
  }

  #onResign(adv: PeerAdvert, now: number): void {
    const m = this.#master;
    if (m && m.nodeId !== adv.nodeId && now - m.at < this.#masterDownInterval()) {
      this.#event('ignored-resign', `priority 0 from ${adv.nodeId} ignored: following live master ${m.nodeId}`);
      return;
    }
    this.#master = null;
    this.#masterAdvertIntMs = adv.advertIntMs;
    if (adv.successor === this.nodeId) {
      this.#wantMaster(`successor named by resigning master ${adv.nodeId}`);
    } else if (adv.successor === null && this.helloIntervalMs !== null && this.#bestAmongHellos(now, adv.nodeId)) {
      this.#wantMaster(`master ${adv.nodeId} resigned and we outrank every live backup`);
    } else {
      this.#downSince = now - 3 * this.#masterAdvertIntMs; // so a priority change keeps "skew from now"
      this.#armMasterDown(skewMs(this.effectivePriority, this.#masterAdvertIntMs));
    }
  }

  #bestAmongHellos(now: number, exclude: string): boolean {
    const me = { priority: this.effectivePriority, primaryAddress: this.primaryAddress, nodeId: this.nodeId };
    return this.#livePeers(now).every((p) => p.nodeId === exclude || !outranks(p, me));
  }

  #enterBackup(reason: string): void {
    this.#master = null;
    this.#wantsMaster = false;
    this.#masterAdvertIntMs = this.advertIntMs;
    this.#downSince = this.#clock.now();
    this.#armMasterDown(this.#masterDownInterval());
    this.#setState('BACKUP', reason);
    this.#startHellos();
  }

  #armMasterDown(ms: number): void {
    const wait = Math.max(0, ms);
    const due = this.#clock.now() + wait;
    this.#masterDown.arm(wait, () => {
      const late = this.#clock.now() - due;
      if (late < this.#masterAdvertIntMs) {
        this.#masterDownExpired();
        return;
      }
      // Stopped or stalled: the master's adverts may be waiting in the socket. Read them before claiming.
      this.#counters.pausesDetected++;
      const listen = this.#resumeListenMs();
      this.#event('paused', `master down timer fired ${Math.round(late)} ms late (process stopped or stalled): listening ${listen} ms for the master before claiming MASTER`);
      this.#masterDown.arm(listen, () => this.#masterDownExpired());
    });
  }

  #masterDownExpired(): void {
    const waited = Math.round(this.#clock.now() - this.#downSince);
    this.#wantMaster(`master down timer expired (${waited} ms without a valid advert)`);
  }

  #masterDownInterval(): number {
    return masterDownMs(this.effectivePriority, this.#masterAdvertIntMs);
  }

  #wantMaster(reason: string): void {
    if (this.#state !== 'BACKUP') return;
    this.#masterDown.cancel();
    if (this.#gate && !this.#gate.mayBecomeMaster(reason)) {
      // Wait for the gate, and ask again after another master-down interval (a peer heard meanwhile is then
      // judged by the usual rules: a higher master is followed, a lower one preempted after the usual wait).
      this.#wantsMaster = true;
      this.#armMasterDown(this.#masterDownInterval());
      return;
    }
    if (this.#group && !this.#group.memberWantsMaster(this, reason)) {
      this.#wantsMaster = true;
      this.#event('sync-group-wait', `${reason}; waiting for sync group ${this.#group.name}`);
      return;
    }
    this.#becomeMaster(reason);
  }

  #startHellos(): void {
    if (this.helloIntervalMs === null) return;
    this.#sendHello(this.effectivePriority);
    this.#armHello();
  }

  #armHello(): void {
    const tick = () => {
      this.#sendHello(this.effectivePriority);
      this.#armHello();
    };
    if (this.#helloIntervalMs !== null) this.#helloTimer.arm(this.#helloIntervalMs, tick);
  }

  #sendHello(priority: number): void {
    if (this.helloIntervalMs === null) return;
    this.#actions.sendAdvert({ kind: 'BACKUP_HELLO', priority, successor: null });
  }

  // ---- MASTER ----

  #becomeMaster(reason: string): void {
    this.#cancelTimers();
    this.#wantsMaster = false;
    this.#preemptUntil = null;
    this.#master = null;
    this.#counters.becameMaster++;
    this.#sendAdvert(this.effectivePriority, null); // advert first: the old master drops the VIPs before our GARPs
    this.#armAdvertTimer();
    this.#armRefresh();
    this.#setState('MASTER', reason);
  }

  #armRefresh(): void {
    this.#refreshTimer.cancel();
    if (this.#garpRefreshMs <= 0) return;
    const refresh = () => {
      if (!this.#resuming) this.#announce('refresh', 'garp_master_refresh');
      this.#refreshTimer.arm(this.#garpRefreshMs, refresh);
    };
    this.#refreshTimer.arm(this.#garpRefreshMs, refresh);
  }

  #armAdvertTimer(): void {
    const next = () => {
      if (this.#cadence.left <= 0) return this.#advertIntMs;
      this.#cadence.left--;
      return this.#cadence.ms;
    };
    // Adverts keep to their cadence: a tick that ran late (a busy event loop) shortens the next wait, so the
    // backups' master-down timers do not see the lateness add up; more than one interval late starts afresh.
    let due = this.#clock.now();
    const schedule = () => {
      due += next();
      this.#advertTimer.arm(Math.max(0, due - this.#clock.now()), tick);
    };
    const tick = () => {
      const now = this.#clock.now();
      if (this.#checkPause(now)) return;
      this.#sendAdvert(this.effectivePriority, null);
      if (now - due > this.#advertIntMs) due = now;
      schedule();
    };
    schedule();
  }

  #masterReceive(adv: PeerAdvert, now: number, known: boolean): void {
    if (adv.priority === 0) {
      // Only a master resigns: it held the VIPs too (split brain), and clients may still use its address.
      this.#reassert(adv, now, `master ${adv.nodeId} resigned while we are MASTER`);
      return;
    }
    const me = this.#candidate();
    if (adv.priority === me.priority && adv.primaryAddress === me.primaryAddress) {
      this.#event('same-address', `equal priority advert from ${adv.nodeId} with our address ${adv.primaryAddress}`);
    }
    if (outranks(adv, me)) {
      const why =
        adv.priority > me.priority
          ? `higher priority ${adv.priority} advert from ${adv.nodeId}`
          : `same priority ${adv.priority} advert from ${adv.nodeId} with higher address ${adv.primaryAddress}`;
      if (!known && !this.#resuming) {
        const who = quoteBytes(adv.nodeId, 64);
        const what = adv.priority > me.priority ? 'higher priority' : 'same priority, higher address,';
        this.#event('unconfirmed-master', `${what} ${adv.priority} advert from ${who}, a node not heard from before: answering with our advert, yielding on its next one`);
        this.#sendAdvert(me.priority, null);
        return;
      }
      this.#sendAdvert(me.priority, null); // the winner sees a lower advert and re-announces
      this.#yieldTo(adv, why);
      return;
    }
    if (this.#resuming && (this.nopreempt || this.#preemptBlock !== null)) {
      // It took over while we were stopped: like a returning node that does not preempt, follow it. A
      // priority 0 (not our higher priority, which it would yield to) makes it re-announce.
      this.#sendAdvert(0, null);
      this.#yieldTo(adv, `resumed from a pause to find master ${adv.nodeId} (${adv.priority}) in charge; following it (${this.nopreempt ? 'nopreempt' : this.#preemptBlock})`);
      return;
    }
    this.#reassert(adv, now, `lower priority (${adv.priority}) advert from master ${adv.nodeId}`, () =>
      this.#event('forcing-election', `received lower priority (${adv.priority}) advert from ${adv.nodeId}, forcing new election`),
    );
  }

  /**
   * We stay MASTER against another master: advertise now (every time: its answer to us may be waiting for
   * it); log and re-announce once per conflict episode (after a pause the socket may hold many of its adverts).
   */
  #reassert(adv: PeerAdvert, now: number, reason: string, logOnce?: () => void): void {
    const h = this.#heard.get(adv.nodeId);
    const newEpisode = !h || h.conflictAt === null || now - h.conflictAt > 2 * Math.max(adv.advertIntMs, 1);
    if (h) h.conflictAt = now;
    if (newEpisode) logOnce?.();
    const resumed = this.#resuming;
    if (resumed) this.#endResume();
    else this.#sendAdvert(this.effectivePriority, null);
    if (newEpisode || resumed) this.#announce('conflict', reason);
  }

  #yieldTo(adv: PeerAdvert, why: string): void {
    this.#leaveMaster('BACKUP', why);
    this.#master = { ...pick(adv), at: this.#clock.now() };
    this.#masterAdvertIntMs = adv.advertIntMs;
    this.#downSince = this.#clock.now();
    this.#armMasterDown(this.#masterDownInterval());
  }

  /**
   * True when a MASTER finds it has not advertised for three intervals (a backup may have taken over): it
   * stops advertising and listens briefly; the next advert or the listening timer decides.
   */
  #checkPause(now: number): boolean {
    if (this.#state !== 'MASTER' || this.#resuming) return false;
    const silentMs = now - this.#lastAdvertAt;
    if (silentMs < 3 * this.advertIntMs) return false;
    this.#counters.pausesDetected++;
    this.#resuming = true;
    this.#advertTimer.cancel();
    const listen = this.#resumeListenMs();
    this.#event('paused', `no advert sent for ${Math.round(silentMs)} ms (process stopped or stalled): listening ${listen} ms for another master before advertising again`);
    this.#resumeTimer.arm(listen, () => {
      this.#endResume();
      this.#announce('resumed', `resumed after ${Math.round(silentMs)} ms without advertising; no other master heard`);
    });
    return true;
  }

  #endResume(): void {
    this.#resuming = false;
    this.#resumeTimer.cancel();
    this.#sendAdvert(this.effectivePriority, null);
    this.#armAdvertTimer();
  }

  /** Long enough for the event loop to read what queued up during a pause; short against the backups' timers. */
  #resumeListenMs(): number {
    return Math.min(this.advertIntMs / 4, RESUME_LISTEN_MAX_MS);
  }

  #announce(kind: AnnounceKind, reason: string): void {
    if (this.#state !== 'MASTER') return;
    if (kind !== 'refresh') this.#counters.announcements++;
    this.#actions.announce?.({ kind, reason });
  }

  #stopMasterTimers(): void {
    this.#advertTimer.cancel();
    this.#refreshTimer.cancel();
    this.#resumeTimer.cancel();
    this.#resuming = false;
    this.#cadence.left = 0;
  }

  #leaveMaster(to: 'BACKUP' | 'FAULT' | 'STOP', reason: string): void {
    this.#stopMasterTimers();
    if (to !== 'BACKUP') {
      this.#resign();
      this.#cancelTimers();
      this.#setState(to, reason);
      return;
    }
    this.#enterBackup(reason);
  }

  /** Priority-0 advert naming the best live backup. */
  #resign(): void {
    const best = this.#livePeers(this.#clock.now()).reduce<PeerSeen | null>(
      (acc, p) => (acc === null || outranks(p, acc) ? p : acc),
      null,
    );
    this.#sendAdvert(0, best ? best.nodeId : null);
  }

  #sendAdvert(priority: number, successor: string | null): void {
    this.#counters.advertsSent++;
    this.#lastAdvertAt = this.#clock.now();
    this.#actions.sendAdvert({ kind: 'ADVERT', priority, successor });
  }

  // ---- FAULT ----

  #enterFault(reason: string): void {
    if (this.#state === 'MASTER') this.#leaveMaster('FAULT', reason);
    else if (this.#state === 'BACKUP') {
      this.#sendHello(0); // withdraw from succession
      this.#cancelTimers();
      this.#setState('FAULT', reason);
    }
  }

  #exitFault(reason: string): void {
    if (this.#state !== 'FAULT') return;
    if (this.isOwner && this.initialState === 'MASTER' && this.#gate === null) this.#becomeMaster(reason);
    else this.#enterBackup(reason);
  }

  // ---- helpers ----

  #candidate() {
    return { priority: this.effectivePriority, primaryAddress: this.primaryAddress, nodeId: this.nodeId };
  }

  #isLive(nodeId: string, now: number): boolean {
    const h = this.#heard.get(nodeId);
    return h !== undefined && now - h.at <= 3 * h.intervalMs;
  }

  #noteHeard(adv: PeerAdvert, now: number): void {
    const prev = this.#heard.get(adv.nodeId);
    this.#heard.delete(adv.nodeId); // re-insert: the map's order is least recently heard first
    this.#heard.set(adv.nodeId, { at: now, intervalMs: adv.advertIntMs, conflictAt: prev?.conflictAt ?? null });
    if (this.#heard.size > HEARD_MAX) this.#heard.delete(this.#heard.keys().next().value!);
  }

  #livePeers(now: number): (PeerSeen & { intervalMs: number })[] {
    return [...this.#peers.values()].filter((p) => now - p.at <= 3 * p.intervalMs);
  }

  #checkAdvertContents(adv: PeerAdvert): void {
    if (adv.advertIntMs !== this.advertIntMs && this.#master?.nodeId !== adv.nodeId) {
      this.#event('interval-mismatch', `advert interval ${adv.advertIntMs} ms from ${adv.nodeId}, ours ${this.advertIntMs} ms (adopted)`);
    }
    if (!this.#vips || !adv.vips || this.#master?.nodeId === adv.nodeId) return;
    const key = (v: { address: string; prefix: number }) => `${v.address}/${v.prefix}`;
    const ours = this.#vips.map(key).sort().join(',');
    const theirs = adv.vips.map(key).sort().join(',');
    if (ours !== theirs) this.#event('vip-mismatch', `VIP list from ${adv.nodeId} [${theirs}] differs from ours [${ours}]`);
  }

  #cancelTimers(): void {
    this.#masterDown.cancel();
    this.#helloTimer.cancel();
    this.#stopMasterTimers();
  }

  #faultSummary(): string {
    return [...this.#faults].map(([s, r]) => `${s}: ${r}`).join('; ');
  }

  #setState(to: VrrpState, reason: string): void {
    const from = this.#state;
    this.#state = to;
    const t: Transition = { instance: this.name, from, to, reason, priority: this.effectivePriority };
    this.#actions.transition(t);
    this.#group?.memberTransitioned(this, t);
  }

  #event(kind: InstanceEventKind, message: string): void {
    this.#actions.event?.({ instance: this.name, kind, message });
  }
}

/** The preemption block source of `preempt_schedule` (PreemptWindow). */
export const PREEMPT_SCHEDULE_SOURCE = 'preempt_schedule';

/** Nodes remembered as heard from; adverts must authenticate first, so this is only a bound. */
const HEARD_MAX = 64;
const RESUME_LISTEN_MAX_MS = 50;

function pick(adv: PeerAdvert): Omit<PeerSeen, 'at'> {
  return { nodeId: adv.nodeId, primaryAddress: adv.primaryAddress, priority: adv.priority };
}
