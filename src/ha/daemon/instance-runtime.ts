import type { VrrpInstance as InstanceConfig, GlobalDefs } from '../../config/model.ts';
import { AdvertCodec, type AdvertErrorCode } from '../../proto/advert/index.ts';
import type { Logger } from '../../log.ts';
import { RateLimitedLog } from '../../log-limit.ts';
import type { Clock, TimerId } from '../../clock.ts';
import { advertAuthFromConfig, instanceOptionsFromConfig } from '../core/from-config.ts';
import { NotifyQueue, notifyJobs, type NotifySpawner } from '../core/notify-queue.ts';
import type { Announcement, Transition } from '../core/types.ts';
import { VrrpInstance } from '../core/vrrp-instance.ts';
import type { AdvertTransport } from '../adapters/advert-transport.ts';
import { describeVip, type VipManager } from '../adapters/vip-manager.ts';
import { noIPv4Reason } from '../adapters/interfaces.ts';

export interface RuntimeDeps {
  clock: Clock;
  log: Logger;
  vips: VipManager;
  spawn: NotifySpawner;
  transport: AdvertTransport;
  /** Primary IPv4 address of the instance's interface, null when it has none (the instance starts in FAULT). */
  interfaceAddress: string | null;
  /** Called after every state change (the daemon rewrites its state file). */
  changed(): void;
}

/** Why an advert was dropped before the election saw it: a decode/auth error, or a source that is no peer. */
export type DropReason = AdvertErrorCode | 'NOT_A_PEER';

/** Reload key, as keepalived matches instances: VRID + interface (names may change). */
export const instanceKey = (c: InstanceConfig) => `${c.virtualRouterId}@${c.interface}`;

/**
 * One vrrp_instance with its I/O: drops adverts from sources that are not peers (unicast_peer, or the
 * multicast allow list allowed_peers), encodes/decodes adverts, installs the VIPs on MASTER (then GARP, then
 * notify_master), removes them on leaving MASTER (then notify_*), re-announces them when the election asks
 * (another master beaten, a pause, a link back, garp_master_refresh), and goes to FAULT when `ip` fails.
 * VIP operations run one after another on a chain so add/remove never interleave.
 */
export class InstanceRuntime {
  readonly config: InstanceConfig;
  readonly instance: VrrpInstance;
  readonly notify: NotifyQueue;
  readonly nodeId: string;
  readonly drops: Partial<Record<DropReason, number>> = {};
  /** Transitions by the state entered. */
  readonly transitions: Partial<Record<Transition['to'], number>> = {};
  vipsInstalled = false;
  lastTransition: { from: string; to: string; reason: string; at: string } | null = null;

  #deps: RuntimeDeps;
  #codec: AdvertCodec;
  #log: Logger;
  #global: GlobalDefs;
  #chain: Promise<void> = Promise.resolve();
  #garpTimers: TimerId[] = [];
  /** Source addresses adverts are accepted from; null = any (multicast without allowed_peers). */
  #sources: ReadonlySet<string> | null;
  #dropLog: RateLimitedLog;
  /** Resolves the wait of a resigning master for its successor's first advert. */
  #successorSeen: (() => void) | null = null;

  constructor(config: InstanceConfig, global: GlobalDefs, deps: RuntimeDeps) {
    this.config = config;
    this.#deps = deps;
    this.#global = global;
    this.#log = deps.log.child({ instance: config.name, vrid: config.virtualRouterId });
    this.#codec = new AdvertCodec({ auth: advertAuthFromConfig(config) });
    const primary = config.unicastSrcIp ?? deps.interfaceAddress ?? '0.0.0.0';
    this.nodeId = primary;
    const allowed = config.unicastPeers.length > 0 ? config.unicastPeers : config.allowedPeers;
    this.#sources = allowed.length > 0 ? new Set(allowed) : null;
    this.#dropLog = new RateLimitedLog(this.#log, { now: () => deps.clock.now() });
    this.notify = new NotifyQueue({
      spawn: deps.spawn,
      clock: deps.clock,
      onOutcome: (o) =>
        this.#log[o.kind === 'exit' && o.code === 0 ? 'info' : 'warn'](
          { script: o.job.argv.join(' '), outcome: o.kind, code: o.code, ms: Math.round(o.durationMs) },
          `${o.job.label}: ${o.detail}`,
        ),
    });
    this.instance = new VrrpInstance(
      instanceOptionsFromConfig(config, {
        nodeId: this.nodeId,
        primaryAddress: primary,
        clock: deps.clock,
        actions: {
          sendAdvert: (a) => this.#send(a),
          transition: (t) => this.#onTransition(t),
          announce: (a) => this.#onAnnounce(a),
          event: (e) => {
            // one packet from anyone who knows a PASS password triggers it: rate-limited
            if (e.kind === 'unconfirmed-master') this.#dropLog.warn(e.kind, e.message, { event: e.kind });
            else this.#log[INFO_EVENTS.has(e.kind) ? 'info' : 'debug']({ event: e.kind }, e.message);
          },
        },
      }),
    );
    if (deps.interfaceAddress === null && config.unicastSrcIp === null) {
      this.instance.setFault('interface', noIPv4Reason(config.interface));
    }
  }

  get multicast(): boolean {
    return this.config.unicastPeers.length === 0;
  }

  /** Removes this instance's VIPs left on the host by a crash, then joins the group and starts the election. */
  async start(removeStale: boolean): Promise<void> {
    if (removeStale) {
      const errors = await this.#deps.vips.removeAll(this.config.virtualIpAddresses, this.config.interface);
      for (const e of errors) this.#log.warn({ err: e.message }, 'could not remove a stale VIP');
      this.#log.debug('removed VIPs left by a previous run (if any)');
    }
    if (this.multicast && this.#deps.interfaceAddress) {
      try {
        this.#deps.transport.join(this.#global.mcastGroup4, this.#deps.interfaceAddress);
      } catch (e) {
        this.instance.setFault('multicast', (e as Error).message);
      }
    }
    this.instance.start();
  }

  receive(buf: Buffer, from: string): void {
    if (this.#sources !== null && !this.#sources.has(from)) {
      const list = this.multicast ? 'allowed_peers' : 'unicast_peer';
      this.#drop('NOT_A_PEER', from, `advert from ${from} dropped: not a peer (${list})`);
      return;
    }
    const r = this.#codec.decode(buf);
    if (!r.ok) {
      this.#drop(r.error.code, from, `advert dropped: ${r.error.message}`);
      return;
    }
    const m = r.message;
    if (m.nodeId === this.nodeId) return;
    if (m.kind === 'ADVERT' && m.priority > 0) this.#successorSeen?.();
    this.instance.receive({
      kind: m.kind,
      nodeId: m.nodeId,
      primaryAddress: m.primaryAddress,
      priority: m.priority,
      advertIntMs: m.advertIntMs,
      successor: m.successor,
      vips: m.vips,
    });
  }

  /** Counted per reason; logged once per reason and minute with the count (a flood writes no more). */
  #drop(reason: DropReason, from: string, message: string): void {
    this.drops[reason] = (this.drops[reason] ?? 0) + 1;
    this.#dropLog.warn(reason, message, { from, code: reason });
  }

  /** STOP: priority 0 (if MASTER), VIPs removed, notify_stop; resolves when all of it is done (bounded). */
  async stop(reason: string): Promise<void> {
    this.instance.stop(reason);
    this.#dropLog.flush();
    await this.settled();
    await Promise.race([this.notify.idle(), delay(2000)]);
  }

  /** Resolves when the queued VIP operations are done. */
  settled(): Promise<void> {
    return this.#chain;
  }

  #send(a: { kind: 'ADVERT' | 'BACKUP_HELLO'; priority: number; successor: string | null }): void {
    const c = this.config;
    let buf: Buffer;
    try {
      buf = this.#codec.encode({
        kind: a.kind,
        vrid: c.virtualRouterId,
        priority: a.priority,
        advertIntMs: c.advertIntMs,
        nodeId: this.nodeId,
        primaryAddress: this.instance.primaryAddress,
        vips: c.virtualIpAddresses.map((v) => ({ address: v.address, prefix: v.prefix })),
        successor: a.successor,
      });
    } catch (e) {
      this.#log.error({ err: (e as Error).message }, 'cannot encode advert');
      return;
    }
    if (!this.multicast) this.#deps.transport.sendUnicast(buf, c.unicastPeers, c.unicastSrcIp);
    else if (this.#deps.interfaceAddress) this.#deps.transport.sendMulticast(buf, this.#global.mcastGroup4, this.#deps.interfaceAddress);
  }

  #onTransition(t: Transition): void {
    this.lastTransition = { from: t.from, to: t.to, reason: t.reason, at: new Date().toISOString() };
    this.transitions[t.to] = (this.transitions[t.to] ?? 0) + 1;
    this.#log.info({ from: t.from, to: t.to, priority: t.priority, reason: t.reason }, `${t.from} -> ${t.to}: ${t.reason}`);
    this.#deps.changed();
    const jobs = () => notifyJobs(this.config, 'INSTANCE', this.config.name, t.to, t.priority);
    if (t.to === 'MASTER') {
      this.#enqueue(async () => {
        if (this.instance.state !== 'MASTER') return; // left again before we got here
        try {
          await this.#deps.vips.addAll(this.config.virtualIpAddresses, this.config.interface);
        } catch (e) {
          this.#log.error({ err: (e as Error).message }, 'cannot add the VIPs: going to FAULT');
          this.instance.setFault('vip', (e as Error).message);
          // Retry later: the device may appear (or the permission be fixed) without a restart.
          this.#deps.clock.setTimer(VIP_RETRY_MS, () => this.instance.setFault('vip', null));
          return;
        }
        this.vipsInstalled = true;
        this.#log.info({ vips: this.#vipList() }, this.#deps.vips.disabled ? `MASTER without VIPs: VIP management is off (${this.#deps.vips.disabled})` : 'VIPs added');
        this.#garp(this.config.garpMasterRepeat, this.config.garpMasterDelayMs);
        this.notify.enqueue(...jobs());
        this.#deps.changed();
      });
    } else if (t.from === 'MASTER' || this.vipsInstalled) {
      this.#cancelGarp();
      // Preempted (→ BACKUP): the new master's advert is here already, only the grace is left to wait.
      const handOver = t.from === 'MASTER' && (t.to === 'BACKUP' || this.instance.status().backups.length > 0);
      this.#enqueue(async () => {
        if (handOver) await (t.to === 'BACKUP' ? this.#sleep(HANDOVER_GRACE_MS) : this.#awaitSuccessor());
        if (this.instance.state === 'MASTER') return; // back to MASTER meanwhile: keep the VIPs
        if (this.vipsInstalled) {
          const errors = await this.#deps.vips.removeAll(this.config.virtualIpAddresses, this.config.interface);
          for (const e of errors) this.#log.error({ err: e.message }, 'cannot remove a VIP');
          this.vipsInstalled = false;
          this.#log.info({ vips: this.#vipList() }, 'VIPs removed');
          this.#deps.changed();
        }
        this.notify.enqueue(...jobs());
      });
    } else {
      this.#enqueue(async () => this.notify.enqueue(...jobs()));
    }
  }

  /**
   * A resigning master (FAULT, STOP) keeps its VIPs until its successor's first advert plus a short grace
   * (bounded): meanwhile connections to the VIP are refused at once (RST) instead of vanishing, and the
   * successor's gratuitous ARP moves the clients before the address disappears here. Without it a SYN sent
   * between our removal and the successor's GARP is lost and the client waits a TCP retransmission (>= 200 ms).
   * The overlap is harmless: this node serves nothing (its cache is down) or the same replicated data (stop).
   */
  #awaitSuccessor(): Promise<void> {
    const capMs = Math.min(3 * this.config.advertIntMs, HANDOVER_CAP_MS);
    const clock = this.#deps.clock;
    return new Promise<void>((resolve) => {
      let cap: TimerId;
      const done = () => {
        clock.clearTimer(cap);
        this.#successorSeen = null;
        resolve();
      };
      cap = clock.setTimer(capMs, done);
      this.#successorSeen = () => {
        this.#successorSeen = null;
        clock.clearTimer(cap);
        cap = clock.setTimer(HANDOVER_GRACE_MS, done);
      };
    });
  }

  #sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => this.#deps.clock.setTimer(ms, resolve));
  }

  #enqueue(op: () => Promise<void>): void {
    this.#chain = this.#chain.then(op).catch((e: Error) => this.#log.error({ err: e.message }, 'VIP operation failed'));
  }

  /**
   * The election asks to re-announce (see Announcement): after the VIP operations queued so far, and only
   * while MASTER with the VIPs in place (becoming MASTER sends its own bursts).
   */
  #onAnnounce(a: Announcement): void {
    const c = this.config;
    const [repeat, delayMs] =
      a.kind === 'refresh'
        ? [c.garpMasterRefreshRepeat, 0]
        : a.kind === 'conflict'
          ? [c.garpLowerPrioRepeat, c.garpLowerPrioDelayMs]
          : [c.garpMasterRepeat, c.garpMasterDelayMs];
    if (repeat === 0) return; // garp_lower_prio_repeat 0: none
    this.#enqueue(async () => {
      if (this.instance.state !== 'MASTER' || !this.vipsInstalled) return;
      this.#log[a.kind === 'refresh' ? 'debug' : 'info']({ announce: a.kind }, `re-announcing the VIPs: ${a.reason}`);
      this.#garp(repeat, delayMs);
    });
  }

  /** One burst of `repeat` GARPs per VIP now and, when delayMs > 0, a second one then (while MASTER). */
  #garp(repeat: number, delayMs: number): void {
    const c = this.config;
    const burst = () =>
      this.#deps.vips.garp(c.virtualIpAddresses, c.interface, repeat, (e) => this.#log.warn({ err: e.message }, 'gratuitous ARP failed'));
    burst();
    if (delayMs <= 0) return;
    const id = this.#deps.clock.setTimer(delayMs, () => {
      this.#garpTimers = this.#garpTimers.filter((t) => t !== id);
      if (this.instance.state === 'MASTER') burst();
    });
    this.#garpTimers.push(id);
  }

  #cancelGarp(): void {
    for (const t of this.#garpTimers.splice(0)) this.#deps.clock.clearTimer(t);
  }

  #vipList(): string[] {
    return this.config.virtualIpAddresses.map((v) => describeVip(v, this.config.interface));
  }

  status() {
    const s = this.instance.status();
    return {
      name: this.config.name,
      vrid: this.config.virtualRouterId,
      interface: this.config.interface,
      state: s.state,
      priority: s.effectivePriority,
      basePriority: s.basePriority,
      advertIntMs: s.advertIntMs,
      nopreempt: s.nopreempt,
      transport: this.multicast
        ? `multicast ${this.#global.mcastGroup4}:${this.#global.advertPort}${this.#sources ? ` from ${[...this.#sources].join(',')}` : ''}`
        : `unicast ${this.config.unicastPeers.join(',')}`,
      auth: this.config.authentication?.type ?? 'none',
      vips: this.#vipList(),
      vipsInstalled: this.vipsInstalled,
      master: s.master,
      faults: s.faults,
      priorityAdjustments: s.priorityAdjustments,
      lastTransition: this.lastTransition,
      counters: s.counters,
      dropped: { ...this.drops },
      transitions: { ...this.transitions },
      notifyOutcomes: { ...this.notify.outcomes },
    };
  }
}

const VIP_RETRY_MS = 5000;
const HANDOVER_GRACE_MS = 100;
const HANDOVER_CAP_MS = 3000;
const INFO_EVENTS = new Set(['priority-change', 'forcing-election', 'preempt-deferred', 'preempt-allowed', 'paused']);
const delay = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref());
