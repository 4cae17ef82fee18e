import type { VrrpInstance as InstanceConfig, GlobalDefs, VirtualAddress, VirtualRoute } from '../../config/model.ts';
import { AdvertCodec, type AdvertErrorCode } from '../../proto/advert/index.ts';
import type { Logger } from '../../log.ts';
import { RateLimitedLog } from '../../log-limit.ts';
import type { Clock, TimerId } from '../../clock.ts';
import { advertAuthFromConfig, instanceOptionsFromConfig } from '../core/from-config.ts';
import { NotifyQueue, notifyJobs, type NotifySpawner } from '../core/notify-queue.ts';
import type { Announcement, Transition } from '../core/types.ts';
import { VrrpInstance } from '../core/vrrp-instance.ts';
import { fifoLine } from '../core/fifo-queue.ts';
import type { AdvertTransport } from '../adapters/advert-transport.ts';
import { describeVip, type VipManager } from '../adapters/vip-manager.ts';
import { noIPv4Reason, noIPv6Reason } from '../adapters/interfaces.ts';
import { MCAST_GROUP6 } from '../adapters/udp-transport.ts';
import { instanceFamily } from '../../config/instance.ts';
import { RouteManager, describeRoute } from '../adapters/route-manager.ts';
import type { WitnessLinkFactory } from '../adapters/witness-socket.ts';
import { WitnessClient } from './witness-client.ts';

export interface RuntimeDeps {
  clock: Clock;
  log: Logger;
  vips: VipManager;
  /** virtual_routes (default: `ip route`, off when VIP management is off). */
  routes?: RouteManager;
  spawn: NotifySpawner;
  transport: AdvertTransport;
  /** Primary IPv4 address of the instance's interface, null when it has none (the instance starts in FAULT). */
  interfaceAddress: string | null;
  /** notify_fifo: one line per state entered (after the notify scripts are queued) and per lower-priority master beaten. */
  fifo?: (line: string) => void;
  /** Called after every state change (the daemon rewrites its state file). */
  changed(): void;
  /** The witness's datagram path (tests); default UDP. */
  witnessLink?: WitnessLinkFactory;
  /** The witness secret (tests); default: read from its secret_file. */
  witnessSecret?: Buffer;
}

/** Why an advert was dropped before the election saw it: a decode/auth error, or a source that is no peer. */
export type DropReason = AdvertErrorCode | 'NOT_A_PEER';

/** Reload key, as keepalived matches instances: VRID + interface (names may change). */
export const instanceKey = (c: InstanceConfig) => `${c.virtualRouterId}@${c.interface}`;

/** Source addresses adverts are accepted from; null = any (multicast without allowed_peers). */
function peerSources(c: InstanceConfig): ReadonlySet<string> | null {
  const allowed = c.unicastPeers.length > 0 ? c.unicastPeers : c.allowedPeers;
  return allowed.length > 0 ? new Set(allowed) : null;
}

/** Every address the instance installs: virtual_ipaddress, then virtual_ipaddress_excluded (not in adverts). */
export const installedAddresses = (c: InstanceConfig): VirtualAddress[] => [...c.virtualIpAddresses, ...c.virtualIpAddressesExcluded];

/** Which of `before` and `after` (by key) were removed and added. */
function diff<T>(before: readonly T[], after: readonly T[], key: (x: T) => string): { removed: T[]; added: T[] } {
  const b = new Map(before.map((x) => [key(x), x]));
  const a = new Map(after.map((x) => [key(x), x]));
  return { removed: [...b].filter(([k]) => !a.has(k)).map(([, x]) => x), added: [...a].filter(([k]) => !b.has(k)).map(([, x]) => x) };
}

/** One VIP as `ip` sees it: a change of any of its attributes is a removal and an addition. */
const vipKey = (v: VirtualAddress, defaultDev: string) => JSON.stringify([v.address, v.prefix, v.dev ?? defaultDev, v.brd, v.scope, v.label]);

/**
 * Why a reload cannot apply the change of this instance in place (it is stopped and started again), or null.
 * In place: priority, advert_int, nopreempt, preempt_delay, state, the VIP list, peer lists within the same
 * mode, trackers, notify scripts, garp settings, preempt_schedule. Anything that changes who this node is on
 * the wire or where its adverts go needs a new instance.
 */
export function rebuildReason(prev: InstanceConfig, next: InstanceConfig, prevGroup: string, nextGroup: string): string | null {
  if (prev.name !== next.name) return `renamed ${prev.name} -> ${next.name}`;
  if (prev.virtualRouterId !== next.virtualRouterId) return 'virtual_router_id changed';
  if (prev.interface !== next.interface) return 'interface changed';
  if ((prev.unicastPeers.length > 0) !== (next.unicastPeers.length > 0)) return 'unicast/multicast mode changed';
  if (instanceFamily(prev) !== instanceFamily(next)) return 'address family changed';
  if (prev.unicastSrcIp !== next.unicastSrcIp) return 'unicast_src_ip changed';
  if (prev.mcastSrcIp !== next.mcastSrcIp) return 'mcast_src_ip changed';
  if (JSON.stringify(prev.authentication && [prev.authentication.type, prev.authentication.secret]) !== JSON.stringify(next.authentication && [next.authentication.type, next.authentication.secret])) {
    return 'authentication changed';
  }
  if (next.unicastPeers.length === 0 && prevGroup !== nextGroup) return 'vrrp_mcast_group4 changed';
  if (fingerprintOf(prev.witness) !== fingerprintOf(next.witness)) return 'witness changed';
  return null;
}

/** The settings that differ, for the reload's log and reply ("priority 100 -> 150", "VIP added ..."). */
function describeChanges(prev: InstanceConfig, next: InstanceConfig): string[] {
  const out: string[] = [];
  const seconds = (ms: unknown) => String((ms as number) / 1000);
  const scalars: [keyof InstanceConfig, string, (x: unknown) => string][] = [
    ['priority', 'priority', String],
    ['advertIntMs', 'advert_int', seconds],
    ['nopreempt', 'nopreempt', String],
    ['preemptDelayMs', 'preempt_delay', seconds],
    ['preemptSchedule', 'preempt_schedule', (x) => (x === null ? 'none' : JSON.stringify(x))],
    ['state', 'state', String],
    ['garpMasterDelayMs', 'garp_master_delay', seconds],
    ['garpMasterRepeat', 'garp_master_repeat', String],
    ['garpMasterRefreshMs', 'garp_master_refresh', seconds],
    ['garpMasterRefreshRepeat', 'garp_master_refresh_repeat', String],
    ['garpLowerPrioDelayMs', 'garp_lower_prio_delay', seconds],
    ['garpLowerPrioRepeat', 'garp_lower_prio_repeat', String],
  ];
  for (const [k, kw, fmt] of scalars) if (prev[k] !== next[k]) out.push(`${kw} ${fmt(prev[k])} -> ${fmt(next[k])}`);
  const key = (v: VirtualAddress) => vipKey(v, prev.interface);
  for (const [kind, list] of [['VIP', (c: InstanceConfig) => c.virtualIpAddresses], ['excluded address', (c: InstanceConfig) => c.virtualIpAddressesExcluded]] as const) {
    const { removed, added } = diff(list(prev), list(next), key);
    for (const v of added) out.push(`${kind} added ${describeVip(v, next.interface)}`);
    for (const v of removed) out.push(`${kind} removed ${describeVip(v, prev.interface)}`);
  }
  const routes = diff(prev.virtualRoutes, next.virtualRoutes, describeRoute);
  for (const v of routes.added) out.push(`route added ${describeRoute(v)}`);
  for (const v of routes.removed) out.push(`route removed ${describeRoute(v)}`);
  if (prev.dontTrackPrimary !== next.dontTrackPrimary) out.push(`dont_track_primary ${prev.dontTrackPrimary} -> ${next.dontTrackPrimary}`);
  const blocks: [keyof InstanceConfig, string][] = [
    ['unicastPeers', 'unicast_peer'],
    ['allowedPeers', 'allowed_peers'],
    ['trackScripts', 'track_script'],
    ['trackInterfaces', 'track_interface'],
    ['notify', 'notify'],
    ['notifyMaster', 'notify_master'],
    ['notifyBackup', 'notify_backup'],
    ['notifyFault', 'notify_fault'],
    ['notifyStop', 'notify_stop'],
  ];
  for (const [k, kw] of blocks) if (fingerprintOf(prev[k]) !== fingerprintOf(next[k])) out.push(`${kw} changed`);
  return out;
}

const fingerprintOf = (x: unknown) => JSON.stringify(x, (k, v) => (k === 'where' ? undefined : v));

/**
 * One vrrp_instance with its I/O: drops adverts from sources that are not peers (unicast_peer, or the
 * multicast allow list allowed_peers), encodes/decodes adverts, installs the VIPs on MASTER (then GARP, then
 * notify_master), removes them on leaving MASTER (then notify_*), re-announces them when the election asks
 * (another master beaten, a pause, a link back, garp_master_refresh), and goes to FAULT when `ip` fails.
 * VIP operations run one after another on a chain so add/remove never interleave.
 */
export class InstanceRuntime {
  #config: InstanceConfig;
  readonly instance: VrrpInstance;
  readonly notify: NotifyQueue;
  readonly nodeId: string;
  readonly drops: Partial<Record<DropReason, number>> = {};
  /** Transitions by the state entered. */
  readonly transitions: Partial<Record<Transition['to'], number>> = {};
  vipsInstalled = false;
  lastTransition: { from: string; to: string; reason: string; at: string } | null = null;

  #deps: RuntimeDeps;
  #routes: RouteManager;
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
  /** The witness (null: keepalived's behaviour) and whether the transition under way is its step-down. */
  readonly witness: WitnessClient | null = null;
  #witnessStepDown = false;

  constructor(config: InstanceConfig, global: GlobalDefs, deps: RuntimeDeps) {
    this.#config = config;
    this.#deps = deps;
    this.#routes = deps.routes ?? new RouteManager({ disabled: deps.vips.disabled });
    this.#global = global;
    this.#log = deps.log.child({ instance: config.name, vrid: config.virtualRouterId });
    this.#codec = new AdvertCodec({ auth: advertAuthFromConfig(config) });
    const primary = config.unicastSrcIp ?? deps.interfaceAddress ?? '0.0.0.0';
    this.nodeId = primary;
    this.#sources = peerSources(config);
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
    if (config.witness) {
      const deps2 = { clock: deps.clock, log: this.#log, dropLog: this.#dropLog, link: deps.witnessLink, secret: deps.witnessSecret };
      this.witness = new WitnessClient(config.witness, config.virtualRouterId, this.nodeId, this.instance, deps2, () => {
        this.#witnessStepDown = true;
      });
    }
    if (deps.interfaceAddress === null && config.unicastSrcIp === null) {
      this.instance.setFault('interface', instanceFamily(config) === 6 ? noIPv6Reason(config.interface) : noIPv4Reason(config.interface));
    }
  }

  get config(): InstanceConfig {
    return this.#config;
  }

  /**
   * A reload changed settings that apply in place (the caller checked with rebuildReason that nothing else
   * changed): the election gets the new priority, interval and preemption rules, and of the VIPs only those
   * added or removed are touched: while the VIPs are in place, a removed one is deleted and an added one is
   * added and announced (gratuitous ARP), on the serial chain with the other VIP work. Returns what changed.
   */
  update(next: InstanceConfig, global: GlobalDefs): string[] {
    const prev = this.#config;
    this.#global = global;
    const changes = describeChanges(prev, next);
    const { removed, added } = diff(installedAddresses(prev), installedAddresses(next), (v) => vipKey(v, prev.interface));
    const routes = diff(prev.virtualRoutes, next.virtualRoutes, describeRoute);
    this.#config = next;
    this.#sources = peerSources(next);
    this.instance.reconfigure({
      priority: next.priority,
      advertIntMs: next.advertIntMs,
      nopreempt: next.nopreempt,
      preemptDelayMs: next.preemptDelayMs,
      initialState: next.state,
      vips: next.virtualIpAddresses.map((v) => ({ address: v.address, prefix: v.prefix })),
      garpRefreshMs: next.garpMasterRefreshMs,
    });
    const installedNow = this.vipsInstalled;
    if (routes.removed.length > 0) {
      this.#enqueue(async () => {
        if (!installedNow && !this.vipsInstalled) return;
        await this.#removeRoutes(routes.removed, 'routes removed by reload');
      });
    }
    if (removed.length > 0) {
      this.#enqueue(async () => {
        // A removal queued before this update reads the new list: the dropped VIP is ours to delete.
        if (!installedNow && !this.vipsInstalled) return;
        const errors = await this.#deps.vips.removeAll(removed, next.interface);
        for (const e of errors) this.#log.error({ err: e.message }, 'cannot remove a VIP');
        this.#log.info({ vips: removed.map((v) => describeVip(v, next.interface)) }, 'VIPs removed by reload');
        this.#deps.changed();
      });
    }
    if (added.length > 0) this.#enqueue(() => this.#addByReload(added));
    if (routes.added.length > 0) {
      this.#enqueue(async () => {
        if (this.instance.state !== 'MASTER' || !this.vipsInstalled) return; // else the next transition adds them
        const current = new Set(this.#config.virtualRoutes.map(describeRoute));
        await this.#addRoutes(routes.added.filter((v) => current.has(describeRoute(v))), 'routes added by reload');
      });
    }
    return changes;
  }

  /** virtual_routes: a failure is logged; the addresses stay (clients reach the VIPs without the routes). */
  async #addRoutes(routes: readonly VirtualRoute[], what: string): Promise<void> {
    if (routes.length === 0) return;
    const errors = await this.#routes.addAll(routes);
    for (const e of errors) this.#log.error({ err: e.message }, 'cannot add a virtual route');
    this.#log.info({ routes: routes.map(describeRoute), failed: errors.length }, what);
  }

  async #removeRoutes(routes: readonly VirtualRoute[], what: string): Promise<void> {
    if (routes.length === 0) return;
    const errors = await this.#routes.removeAll(routes);
    for (const e of errors) this.#log.error({ err: e.message }, 'cannot remove a virtual route');
    this.#log.info({ routes: routes.map(describeRoute) }, what);
  }

  /** While MASTER with the VIPs in place (else the next transition adds them with the rest). */
  async #addByReload(added: VirtualAddress[]): Promise<void> {
    if (this.instance.state !== 'MASTER' || !this.vipsInstalled) return;
    const c = this.#config;
    const current = new Set(installedAddresses(c).map((v) => vipKey(v, c.interface)));
    const still = added.filter((v) => current.has(vipKey(v, c.interface)));
    const failed: VirtualAddress[] = [];
    for (const v of still) {
      try {
        await this.#deps.vips.add(v, c.interface);
      } catch (e) {
        // The other VIPs stay: one bad new address must not take the working ones down. Retried while MASTER.
        this.#log.error({ err: (e as Error).message }, `cannot add the VIP added by reload (retry in ${VIP_RETRY_MS} ms; the other VIPs stay)`);
        failed.push(v);
      }
    }
    const ok = still.filter((v) => !failed.includes(v));
    if (ok.length > 0) {
      this.#log.info({ vips: ok.map((v) => describeVip(v, c.interface)) }, 'VIPs added by reload');
      this.#garp(c.garpMasterRepeat, c.garpMasterDelayMs, ok);
      this.#deps.changed();
    }
    if (failed.length > 0) this.#deps.clock.setTimer(VIP_RETRY_MS, () => this.#enqueue(() => this.#addByReload(failed)));
  }

  /** The multicast group of this instance's family. */
  get #group(): string {
    return instanceFamily(this.config) === 6 ? MCAST_GROUP6 : this.#global.mcastGroup4;
  }

  get multicast(): boolean {
    return this.config.unicastPeers.length === 0;
  }

  /** Removes this instance's VIPs left on the host by a crash, then joins the group and starts the election. */
  async start(removeStale: boolean): Promise<void> {
    if (removeStale) {
      const routeErrors = await this.#routes.removeAll(this.config.virtualRoutes);
      for (const e of routeErrors) this.#log.warn({ err: e.message }, 'could not remove a stale virtual route');
      const errors = await this.#deps.vips.removeAll(installedAddresses(this.config), this.config.interface);
      for (const e of errors) this.#log.warn({ err: e.message }, 'could not remove a stale VIP');
      this.#log.debug('removed VIPs left by a previous run (if any)');
    }
    if (this.multicast && this.#deps.interfaceAddress) {
      try {
        this.#deps.transport.join(this.#group, this.#deps.interfaceAddress);
      } catch (e) {
        this.instance.setFault('multicast', (e as Error).message);
      }
    }
    this.witness?.start();
    this.instance.start();
  }

  receive(buf: Buffer, from: string): void {
    // an IPv6 multicast advert comes from a link-local address with its zone ("fe80::1%eth0")
    if (this.#sources !== null && !this.#sources.has(from.replace(/%.*$/, ''))) {
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
    this.witness?.guard.heard(m.kind, m.priority, m.advertIntMs);
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
    this.witness?.stop();
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
    else if (this.#deps.interfaceAddress) this.#deps.transport.sendMulticast(buf, this.#group, this.#deps.interfaceAddress);
  }

  #onTransition(t: Transition): void {
    this.lastTransition = { from: t.from, to: t.to, reason: t.reason, at: new Date().toISOString() };
    this.transitions[t.to] = (this.transitions[t.to] ?? 0) + 1;
    this.#log.info({ from: t.from, to: t.to, priority: t.priority, reason: t.reason }, `${t.from} -> ${t.to}: ${t.reason}`);
    this.#deps.changed();
    // keepalived's order: notify_<state>, notify, then the FIFO line.
    const notifyAll = () => {
      this.notify.enqueue(...notifyJobs(this.config, 'INSTANCE', this.config.name, t.to, t.priority));
      if (t.to !== 'INIT') this.#deps.fifo?.(fifoLine('INSTANCE', this.config.name, t.to, t.priority));
    };
    if (t.to === 'MASTER') {
      this.#enqueue(async () => {
        if (this.instance.state !== 'MASTER') return; // left again before we got here
        try {
          await this.#deps.vips.addAll(installedAddresses(this.config), this.config.interface);
        } catch (e) {
          this.#log.error({ err: (e as Error).message }, 'cannot add the VIPs: going to FAULT');
          this.instance.setFault('vip', (e as Error).message);
          // Retry later: the device may appear (or the permission be fixed) without a restart.
          this.#deps.clock.setTimer(VIP_RETRY_MS, () => this.instance.setFault('vip', null));
          return;
        }
        this.vipsInstalled = true;
        this.#log.info({ vips: this.#vipList() }, this.#deps.vips.disabled ? `MASTER without VIPs: VIP management is off (${this.#deps.vips.disabled})` : 'VIPs added');
        await this.#addRoutes(this.config.virtualRoutes, 'virtual routes added');
        this.#garp(this.config.garpMasterRepeat, this.config.garpMasterDelayMs);
        notifyAll();
        this.#deps.changed();
      });
    } else if (t.from === 'MASTER' || this.vipsInstalled) {
      this.#cancelGarp();
      // Preempted (→ BACKUP): the new master's advert is here already, only the grace is left to wait.
      // The witness's step-down must not wait: its lease ends on the witness soon and the peer gets it.
      const handOver = !this.#witnessStepDown && t.from === 'MASTER' && (t.to === 'BACKUP' || this.instance.status().backups.length > 0);
      this.#witnessStepDown = false;
      this.#enqueue(async () => {
        if (handOver) await (t.to === 'BACKUP' ? this.#sleep(HANDOVER_GRACE_MS) : this.#awaitSuccessor());
        if (this.instance.state === 'MASTER') return; // back to MASTER meanwhile: keep the VIPs
        if (this.vipsInstalled) {
          await this.#removeRoutes(this.config.virtualRoutes, 'virtual routes removed');
          const errors = await this.#deps.vips.removeAll(installedAddresses(this.config), this.config.interface);
          for (const e of errors) this.#log.error({ err: e.message }, 'cannot remove a VIP');
          this.vipsInstalled = false;
          this.#log.info({ vips: this.#vipList() }, 'VIPs removed');
          this.#deps.changed();
        }
        notifyAll();
      });
    } else {
      this.#enqueue(async () => notifyAll());
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
    if (a.kind === 'conflict' && this.#deps.fifo) {
      // on the chain: after the MASTER line that the VIP work of becoming MASTER writes
      this.#enqueue(async () => {
        if (this.instance.state === 'MASTER') this.#deps.fifo?.(fifoLine('INSTANCE', c.name, 'MASTER_RX_LOWER_PRI', this.instance.status().effectivePriority));
      });
    }
    if (a.kind === 'link-up' && c.virtualRoutes.length > 0) {
      // the kernel flushed the routes through the link when it went down (a MASTER kept with dont_track_primary
      // or a weighted track_interface): put them back ("File exists" for those still there)
      this.#enqueue(async () => {
        if (this.instance.state === 'MASTER' && this.vipsInstalled) await this.#addRoutes(this.config.virtualRoutes, 'virtual routes restored: a link came back');
      });
    }
    if (repeat === 0) return; // garp_lower_prio_repeat 0: none
    this.#enqueue(async () => {
      if (this.instance.state !== 'MASTER' || !this.vipsInstalled) return;
      this.#log[a.kind === 'refresh' ? 'debug' : 'info']({ announce: a.kind }, `re-announcing the VIPs: ${a.reason}`);
      this.#garp(repeat, delayMs);
    });
  }

  /** One burst of `repeat` GARPs per VIP now and, when delayMs > 0, a second one then (while MASTER). */
  #garp(repeat: number, delayMs: number, only?: readonly VirtualAddress[]): void {
    const c = this.config;
    const burst = () =>
      this.#deps.vips.garp(only ?? installedAddresses(c), c.interface, repeat, (e) => this.#log.warn({ err: e.message }, 'gratuitous ARP failed'));
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
    return installedAddresses(this.config).map((v) => describeVip(v, this.config.interface));
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
        ? `multicast ${this.#group.includes(':') ? `[${this.#group}]` : this.#group}:${this.#global.advertPort}${this.#sources ? ` from ${[...this.#sources].join(',')}` : ''}`
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
      witness: this.witness?.status() ?? null,
    };
  }
}

const VIP_RETRY_MS = 5000;
const HANDOVER_GRACE_MS = 100;
const HANDOVER_CAP_MS = 3000;
const INFO_EVENTS = new Set(['priority-change', 'forcing-election', 'preempt-deferred', 'preempt-allowed', 'paused']);
const delay = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref());
