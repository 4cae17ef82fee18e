import type { HavedConfig, VrrpInstance as InstanceConfig } from '../../config/model.ts';
import type { Logger } from '../../log.ts';
import { RateLimitedLog } from '../../log-limit.ts';
import { systemClock, type Clock } from '../../clock.ts';
import { NotifyQueue, notifyJobs, type NotifySpawner } from '../core/notify-queue.ts';
import { SyncGroup } from '../core/sync-group.ts';
import { applyTrack, type TrackerChange } from '../core/tracker.ts';
import { execaNotifySpawner } from '../adapters/notify-spawner.ts';
import type { AdvertTransport, AdvertTransportFactory } from '../adapters/advert-transport.ts';
import { UdpTransport, interfaceIPv4, interfaceIPv6LinkLocal } from '../adapters/udp-transport.ts';
import { instanceFamily } from '../../config/instance.ts';
import { VipManager } from '../adapters/vip-manager.ts';
import { cronScheduler } from '../adapters/cron-scheduler.ts';
import { PreemptWindow, type Scheduler } from '../core/preempt-window.ts';
import { CacheLink, type CacheLinkDeps } from './cache-link.ts';
import { ProxyLink, type ProxyLinkDeps } from './proxy-link.ts';
import { InstanceRuntime, installedAddresses, instanceKey, rebuildReason } from './instance-runtime.ts';
import type { RouteManager } from '../adapters/route-manager.ts';
import { NotifyFifoChannel } from '../adapters/notify-fifo.ts';
import { fifoLine } from '../core/fifo-queue.ts';
import { removeStateFile, writeStateFile } from './state-file.ts';
import { OperatorControls } from './operator-controls.ts';
import { processStartTime } from './proc-identity.ts';
import { missingInterfaces } from './host-check.ts';
import { buildTrackers, fingerprint, interfacesOf, realServerNotifier, type TrackBinding } from './trackers.ts';

export interface DaemonOptions {
  log: Logger;
  /** Where the JSON state dump goes (rewritten on every change and on SIGUSR1); null = never. */
  stateFile: string | null;
  configFile: string;
  clock?: Clock;
  vips?: VipManager;
  /** virtual_routes (default: `ip route` through execa, off when VIP management is off). */
  routes?: RouteManager;
  spawn?: NotifySpawner;
  /** preempt_schedule's cron; default node-cron. */
  scheduler?: Scheduler;
  /** Test hooks for the cache_daemon link (fake process, fake stats). */
  cache?: Pick<CacheLinkDeps, 'makeProcess' | 'fetch' | 'pollIntervalMs'>;
  /** Test hook for the proxy_daemon link (fake process). */
  proxy?: Pick<ProxyLinkDeps, 'makeProcess'>;
  /** The advert transport (default: UDP on the host). */
  transport?: AdvertTransportFactory;
  /** An interface's first IPv4 address that is not a VIP (default: the host's, see interfaceIPv4). */
  interfaceAddress?: (name: string, exclude: ReadonlySet<string>) => string | null;
  /** An interface's IPv6 link-local address with its zone (default: the host's, see interfaceIPv6LinkLocal). */
  interfaceAddress6?: (name: string) => string | null;
  /** Why an interface is not up, null when it is (default: /sys/class/net/IF/operstate). */
  interfaceUp?: (name: string) => Promise<string | null>;
}

/** What a reload did, per instance name (a rebuilt instance is in both stopped and started). */
export interface ReloadResult {
  kept: string[];
  updated: string[];
  started: string[];
  stopped: string[];
  /** What changed, per updated or rebuilt instance. */
  changes: Record<string, string[]>;
}

/**
 * haved's wiring: one InstanceRuntime per vrrp_instance, sync groups, trackers (vrrp_script, interfaces,
 * TCP_CHECK / MEMCACHE_CHECK) and the advert transport. Health checks on a real_server that is this host
 * put every instance in FAULT while they fail (the seeds' "stop keepalived in notify_down", done directly).
 */
export class HaDaemon {
  readonly startedAt = new Date().toISOString();
  #opts: DaemonOptions;
  #log: Logger;
  #clock: Clock;
  #vips: VipManager;
  #spawn: NotifySpawner;
  #config: HavedConfig | null = null;
  #transport: AdvertTransport | null = null;
  /** Interfaces whose IPv6 announcing was set up (and logged). */
  readonly #ipv6Devs = new Set<string>();
  #runtimes: InstanceRuntime[] = [];
  #groups: { group: SyncGroup; notify: NotifyQueue; fingerprint: string }[] = [];
  #trackers = new Map<string, TrackBinding>();
  #applied = new Map<InstanceRuntime, Set<string>>();
  #rsNotify: ReturnType<typeof realServerNotifier>;
  #stateTimer: NodeJS.Timeout | null = null;
  #stopping = false;
  #cache: CacheLink | null = null;
  #proxy: ProxyLink | null = null;
  #windows = new Map<InstanceRuntime, PreemptWindow>();
  #scheduler: Scheduler | null = null;
  /** How VIPs are announced (set at start when some VIP is on a device with ARP); null = not needed. */
  #garpStatus: string | null = null;
  /** Priority overrides and maintenance mode, set through the control socket. */
  #controls: OperatorControls;
  /** After a clean stop the state file is gone and stays gone. */
  #stopped = false;
  readonly #pidStartTime = processStartTime(process.pid);
  #socketErrors: RateLimitedLog;
  /** notify_fifo / vrrp_notify_fifo, open while haved runs. */
  #fifos: NotifyFifoChannel[] = [];

  constructor(opts: DaemonOptions) {
    this.#opts = opts;
    this.#log = opts.log;
    this.#clock = opts.clock ?? systemClock;
    this.#vips = opts.vips ?? new VipManager();
    this.#spawn = opts.spawn ?? execaNotifySpawner;
    this.#controls = new OperatorControls(opts.log.child({ component: 'control' }));
    this.#socketErrors = new RateLimitedLog(opts.log, { now: () => this.#clock.now() });
    this.#rsNotify = realServerNotifier({ spawn: this.#spawn, clock: this.#clock, log: this.#log.child({ component: 'checker' }) });
  }

  async start(config: HavedConfig): Promise<void> {
    this.#config = config;
    const transport = this.#opts.transport ?? ((o) => new UdpTransport(o));
    this.#transport = transport({
      port: config.global.advertPort,
      onMessage: (buf, from) => this.#route(buf, from),
      // one line per kind of error a minute: a cut link fails every advert (`send EPERM 10.0.0.2:112`)
      onError: (e) => this.#socketErrors.warn(e.message.replace(/ \d+\.\d+\.\d+\.\d+(:\d+)?/g, '').replace(/ (?=[0-9a-f]*:)[0-9a-f:]+(%\w+)?(:\d+)?/gi, ''), 'advert socket error', { err: e.message }),
    });
    await this.#transport.start();
    if (hasIPv6(config)) await this.#transport.enableIPv6?.();
    try {
      this.#fifos = await this.#openFifos(config, true);
    } catch (e) {
      await this.#transport.close();
      this.#transport = null;
      throw e;
    }
    this.#log.info({ port: config.global.advertPort, group: config.global.mcastGroup4 }, 'advert socket bound');
    this.#runtimes = config.instances.map((c) => this.#makeRuntime(c, config));
    for (const m of missingInterfaces(config)) this.#log.error({ where: m.split(': ')[0] }, m);
    this.#buildGroups(config);
    this.#rebuildTrackers(config);
    if (this.#vips.disabled) {
      this.#log.warn({ reason: this.#vips.disabled }, `running without VIP management (${this.#vips.disabled}): the election runs, but no address is added or removed`);
    } else {
      if (needsArp(config)) await this.#detectArping();
      this.#prepareIPv6(config);
    }
    if (config.cacheDaemon) {
      this.#cache = this.#makeCache(config);
      this.#cache.bind(this.#cacheTargets(config));
      this.#cache.start();
    }
    if (config.proxyDaemon) {
      this.#proxy = this.#makeProxy(config);
      this.#proxy.bind(this.#runtimes.map((rt) => rt.instance));
      this.#proxy.start();
    }
    this.#bindWindows(this.#runtimes);
    for (const rt of this.#runtimes) this.#controls.apply(rt);
    for (const rt of this.#runtimes) await rt.start(true);
    this.#applyTrackers();
    for (const b of this.#trackers.values()) b.tracker.start();
    this.writeState();
  }

  /**
   * SIGHUP / `haved reload`: the instances are matched by VRID + interface. An unchanged one is kept as it runs
   * (state, VIPs, timers); a changed one is updated in place (InstanceRuntime.update) unless the change needs a
   * new instance (rebuildReason): then it is stopped (priority 0, VIPs released) and started again in BACKUP,
   * like a removed and a new one. Trackers, the cache and the proxy restart only if their own settings changed.
   */
  async reload(next: HavedConfig): Promise<ReloadResult> {
    const prev = this.#config!;
    if (next.global.advertPort !== prev.global.advertPort) {
      this.#log.warn({ from: prev.global.advertPort, to: next.global.advertPort }, 'vrrp_udp_port cannot change on reload - keeping the old port (restart haved to change it)');
      next.global.advertPort = prev.global.advertPort;
    }
    if (fingerprint(next.global.metricsListen) !== fingerprint(prev.global.metricsListen)) {
      this.#log.warn({ from: prev.global.metricsListen, to: next.global.metricsListen }, 'metrics_listen cannot change on reload - keeping the old one (restart haved to change it)');
      next.global.metricsListen = prev.global.metricsListen;
    }
    const old = new Map(this.#runtimes.map((rt) => [instanceKey(rt.config), rt]));
    const result: ReloadResult = { kept: [], updated: [], started: [], stopped: [], changes: {} };
    const survivors = new Map<InstanceConfig, InstanceRuntime>();
    const updates: [InstanceRuntime, InstanceConfig][] = [];
    const leaving: InstanceRuntime[] = [];
    for (const c of next.instances) {
      const rt = old.get(instanceKey(c));
      if (!rt) continue;
      old.delete(instanceKey(c));
      const why = rebuildReason(rt.config, c, prev.global.mcastGroup4, next.global.mcastGroup4);
      if (why) {
        leaving.push(rt);
        result.changes[c.name] = [`${why}: rebuilt (stopped, then started in BACKUP)`];
      } else if (fingerprint(rt.config) === fingerprint(c)) {
        survivors.set(c, rt);
        result.kept.push(c.name);
      } else {
        survivors.set(c, rt);
        updates.push([rt, c]);
      }
    }
    leaving.push(...old.values());
    for (const c of next.instances) {
      const gone = [...old.values()].find((rt) => rt.config.name === c.name);
      if (gone) result.changes[c.name] = [`${gone.config.virtualRouterId === c.virtualRouterId ? 'interface' : 'virtual_router_id'} changed: stopped, then started in BACKUP`];
    }
    await Promise.all(
      leaving.map(async (rt) => {
        this.#log.info({ instance: rt.config.name }, old.has(instanceKey(rt.config)) ? 'instance removed by reload: stopping it (priority 0, VIPs released)' : `instance ${rt.config.name} cannot change in place: stopping it to start it again`);
        await rt.stop(old.has(instanceKey(rt.config)) ? 'removed by reload' : 'rebuilt by reload');
        this.#applied.delete(rt);
        this.#windows.get(rt)?.stop();
        this.#windows.delete(rt);
        result.stopped.push(rt.config.name);
      }),
    );
    this.#config = next;
    if (hasIPv6(next)) await this.#transport?.enableIPv6?.();
    if (!this.#vips.disabled) this.#prepareIPv6(next);
    if (fingerprint(next.global.notifyFifos) !== fingerprint(prev.global.notifyFifos)) {
      for (const f of this.#fifos.splice(0)) f.close();
      this.#fifos = await this.#openFifos(next, false);
    }
    if (!this.#vips.disabled && this.#garpStatus === null && needsArp(next)) await this.#detectArping();
    for (const [rt, c] of updates) {
      const scheduleChanged = rt.config.preemptSchedule !== c.preemptSchedule;
      const changes = rt.update(c, next.global);
      result.updated.push(c.name);
      result.changes[c.name] = changes;
      this.#log.info({ instance: c.name, changes }, `instance ${c.name} updated in place: ${changes.join('; ')}`);
      if (scheduleChanged) {
        this.#windows.get(rt)?.stop();
        this.#windows.delete(rt);
        // A new window sets its own block (no preemption in between); none: preempt as configured from now.
        if (c.preemptSchedule === null) rt.instance.setPreemptBlocked(null);
        else this.#bindWindows([rt]);
      }
    }
    const fresh: InstanceRuntime[] = [];
    this.#runtimes = next.instances.map((c) => {
      const rt = survivors.get(c);
      if (rt) return rt;
      const made = this.#makeRuntime(c, next);
      fresh.push(made);
      result.started.push(c.name);
      return made;
    });
    for (const rt of survivors.values()) rt.instance.attachSyncGroup(null);
    this.#buildGroups(next);
    this.#rebuildTrackers(next);
    await this.#reloadCache(prev, next);
    await this.#reloadProxy(prev, next);
    this.#bindWindows(fresh);
    this.#controls.retain(this.#runtimes);
    for (const rt of [...fresh, ...updates.map(([r]) => r)]) this.#controls.apply(rt);
    for (const rt of fresh) await rt.start(false);
    this.#applyTrackers();
    for (const b of this.#trackers.values()) b.tracker.start();
    const { changes, ...lists } = result;
    this.#log.info({ ...lists, changes }, 'configuration reloaded');
    this.writeState();
    return result;
  }

  /** SIGTERM/SIGINT: priority-0 adverts, VIPs removed, notify_stop; then the socket closes. */
  async stop(reason: string): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    for (const b of this.#trackers.values()) b.tracker.stop();
    await Promise.all(this.#runtimes.map((rt) => rt.stop(reason)));
    await Promise.race([Promise.all(this.#groups.map((g) => g.notify.idle())), delay(1500)]);
    for (const f of this.#fifos.splice(0)) f.close();
    await delay(20); // let the priority-0 datagrams leave before the socket closes
    for (const w of this.#windows.values()) w.stop();
    // The proxy and the cache stop last: clients reach the peer through the VIP before this one goes away.
    await this.#proxy?.stop();
    await this.#cache?.stop();
    await this.#transport?.close();
    if (this.#stateTimer) clearTimeout(this.#stateTimer);
    this.#stopped = true;
    if (this.#opts.stateFile) removeStateFile(this.#opts.stateFile);
  }

  /** `haved priority NAME N|reset`; throws OperatorError (unknown instance, out of range, owner). */
  setPriorityOverride(instance: string, priority: number | null) {
    const r = this.#controls.setPriority(this.#runtimes, instance, priority);
    this.#scheduleState();
    return r;
  }

  /** `haved maintenance on|off`. */
  setMaintenance(on: boolean) {
    const r = this.#controls.setMaintenance(this.#runtimes, on);
    this.#scheduleState();
    return r;
  }

  status() {
    return {
      pid: process.pid,
      /** With pid: tells this process from a later one with the same pid (see proc-identity.ts). */
      pidStartTime: this.#pidStartTime,
      configFile: this.#opts.configFile,
      startedAt: this.startedAt,
      updatedAt: new Date().toISOString(),
      routerId: this.#config?.global.routerId ?? null,
      stopping: this.#stopping,
      maintenanceSince: this.#controls.maintenanceSince,
      vipManagement: this.#vips.disabled ? `off: ${this.#vips.disabled}` : 'on',
      gratuitousArp: this.#garpStatus,
      instances: this.#runtimes.map((rt) => ({
        ...rt.status(),
        priorityOverride: this.#controls.overrideOf(rt.config.name),
        preemptSchedule: this.#windows.get(rt)?.status() ?? null,
      })),
      cache: this.#cache?.status() ?? null,
      proxy: this.#proxy?.status() ?? null,
      syncGroups: this.#groups.map((g) => ({ ...g.group.status(), notifyOutcomes: { ...g.notify.outcomes } })),
      realServerNotifyOutcomes: { ...this.#rsNotify.outcomes },
      checks: [...this.#trackers.values()].map((b) => ({
        ...b.tracker.status(),
        kind: b.kind,
        local: b.realServer?.local ?? false,
      })),
    };
  }

  /** IPv6 VIPs are announced by the kernel (VipManager.prepareIPv6): says at start where that is impossible. */
  #prepareIPv6(config: HavedConfig): void {
    const devs = new Set(config.instances.flatMap((i) => installedAddresses(i).filter((v) => v.address.includes(':')).map((v) => v.dev ?? i.interface)));
    for (const dev of devs) {
      if (this.#ipv6Devs.has(dev)) continue;
      this.#ipv6Devs.add(dev);
      const reason = this.#vips.prepareIPv6(dev);
      if (reason) this.#log.error({ dev, reason }, `IPv6 VIPs on ${dev} cannot be announced: ${reason}. They are added with nodad; clients keep the old MAC until their neighbour entry goes stale (seconds)`);
      else this.#log.info({ dev }, `IPv6 VIPs on ${dev} are announced by unsolicited neighbour advertisement (net.ipv6.conf.${dev}.ndisc_notify=1, accept_dad=0)`);
    }
  }

  async #detectArping(): Promise<void> {
    const a = await this.#vips.detectArping();
    this.#garpStatus = 'unavailable' in a ? `impossible: ${a.unavailable}` : `${a.file} (${a.flavour})`;
    if ('unavailable' in a) {
      this.#log.error(
        { reason: a.unavailable },
        `gratuitous ARP is impossible: ${a.unavailable}. The VIPs still move, but clients and switches keep the old MAC for a VIP until their ARP entry expires (seconds to minutes)`,
      );
      return;
    }
    this.#log.info({ arping: a.file, flavour: a.flavour }, `gratuitous ARP with ${a.file} (${a.flavour === 'habets' ? "Habets' arping" : 'iputils arping'})`);
    if (a.note) this.#log.warn({ arping: a.file }, `${a.file}: ${a.note}`);
  }

  writeState(): void {
    const path = this.#opts.stateFile;
    if (!path || this.#stopped) return;
    try {
      writeStateFile(path, this.status());
    } catch (e) {
      this.#log.warn({ err: (e as Error).message, path }, 'cannot write the state file');
    }
  }

  #scheduleState(): void {
    if (this.#stateTimer || !this.#opts.stateFile) return;
    this.#stateTimer = setTimeout(() => {
      this.#stateTimer = null;
      this.writeState();
    }, 50);
  }

  #makeRuntime(c: InstanceConfig, cfg: HavedConfig): InstanceRuntime {
    const vipAddrs = new Set(cfg.instances.flatMap((i) => installedAddresses(i).map((v) => v.address)));
    const addr =
      c.mcastSrcIp ??
      (instanceFamily(c) === 6 ? (this.#opts.interfaceAddress6 ?? interfaceIPv6LinkLocal)(c.interface) : (this.#opts.interfaceAddress ?? interfaceIPv4)(c.interface, vipAddrs));
    return new InstanceRuntime(c, cfg.global, {
      clock: this.#clock,
      log: this.#log.child({ component: 'vrrp' }),
      vips: this.#vips,
      ...(this.#opts.routes ? { routes: this.#opts.routes } : {}),
      spawn: this.#spawn,
      transport: this.#transport!,
      interfaceAddress: addr,
      fifo: (line) => this.#fifoWrite(line),
      changed: () => {
        this.#cache?.roleChanged(this.#runtimes.some((r) => r.instance.state === 'MASTER'));
        this.#scheduleState();
      },
    });
  }

  #makeCache(cfg: HavedConfig): CacheLink {
    return new CacheLink(cfg.cacheDaemon!, { log: this.#log, clock: this.#clock, changed: () => this.#scheduleState(), ...this.#opts.cache });
  }

  /**
   * The instances the cache's state drives: all of them, unless a proxy_daemon fronts the cache; then the VIP
   * follows the proxy, which routes around a dead cache (to its backup) by itself.
   */
  #cacheTargets(cfg: HavedConfig) {
    return cfg.proxyDaemon ? [] : this.#runtimes.map((rt) => rt.instance);
  }

  #makeProxy(cfg: HavedConfig): ProxyLink {
    return new ProxyLink(cfg.proxyDaemon!, { log: this.#log, clock: this.#clock, changed: () => this.#scheduleState(), ...this.#opts.proxy });
  }

  /** A changed proxy_daemon block restarts the proxy; unchanged keeps it (bound to the new instances). */
  async #reloadProxy(prev: HavedConfig, next: HavedConfig): Promise<void> {
    const instances = this.#runtimes.map((rt) => rt.instance);
    if (fingerprint(prev.proxyDaemon) === fingerprint(next.proxyDaemon)) {
      this.#proxy?.bind(instances);
      return;
    }
    if (this.#proxy) {
      this.#log.info(next.proxyDaemon ? 'proxy_daemon changed by reload: restarting the proxy' : 'proxy_daemon removed by reload: stopping the proxy');
      const old = this.#proxy;
      this.#proxy = null;
      old.bind(instances);
      await old.stop();
      if (!next.proxyDaemon) old.unbind();
    }
    if (next.proxyDaemon) {
      this.#proxy = this.#makeProxy(next);
      this.#proxy.bind(instances);
      this.#proxy.start();
    }
  }

  /** A changed cache_daemon block restarts the cache (stop, then start the new one); unchanged keeps it. */
  async #reloadCache(prev: HavedConfig, next: HavedConfig): Promise<void> {
    const instances = this.#cacheTargets(next);
    if (next.proxyDaemon && !prev.proxyDaemon) this.#cache?.unbind(); // the VIP follows the proxy from now on
    if (fingerprint(prev.cacheDaemon) === fingerprint(next.cacheDaemon)) {
      this.#cache?.bind(instances);
      return;
    }
    if (this.#cache) {
      this.#log.info(next.cacheDaemon ? 'cache_daemon changed by reload: restarting the cache' : 'cache_daemon removed by reload: stopping the cache');
      const old = this.#cache;
      this.#cache = null;
      old.bind(instances); // its stop puts the instances (old and new) in FAULT: the VIP leaves first
      await old.stop();
      if (!next.cacheDaemon) old.unbind();
    }
    if (next.cacheDaemon) {
      this.#cache = this.#makeCache(next);
      this.#cache.bind(instances);
      this.#cache.start();
    }
  }

  /**
   * The notify FIFOs of the config. At start a FIFO that cannot be used stops haved (its reader would wait
   * for nothing); on a reload it is logged and haved runs on without it.
   */
  async #openFifos(cfg: HavedConfig, fatal: boolean): Promise<NotifyFifoChannel[]> {
    const out: NotifyFifoChannel[] = [];
    for (const f of cfg.global.notifyFifos) {
      try {
        out.push(await NotifyFifoChannel.open(f, { clock: this.#clock, log: this.#log.child({ component: 'notify_fifo' }), spawn: this.#spawn }));
      } catch (e) {
        if (fatal) {
          for (const o of out) o.close();
          throw e;
        }
        this.#log.error({ err: (e as Error).message }, `${f.keyword} not used: ${(e as Error).message}`);
      }
    }
    return out;
  }

  #fifoWrite(line: string): void {
    for (const f of this.#fifos) f.write(line);
  }

  /** One PreemptWindow per instance with preempt_schedule. */
  #bindWindows(runtimes: InstanceRuntime[]): void {
    for (const rt of runtimes) {
      const expr = rt.config.preemptSchedule;
      if (!expr) continue;
      this.#scheduler ??= this.#opts.scheduler ?? cronScheduler(this.#log.child({ component: 'cron' }));
      const log = this.#log.child({ component: 'vrrp', instance: rt.config.name });
      const w = new PreemptWindow({ expr, clock: this.#clock, scheduler: this.#scheduler, event: (e) => log.info(e.message) });
      w.bind(rt.instance);
      w.start();
      this.#windows.set(rt, w);
    }
  }

  /** One SyncGroup per vrrp_sync_group; on a reload a group with the same settings and members is kept (its state). */
  #buildGroups(cfg: HavedConfig): void {
    const previous = this.#groups;
    this.#groups = cfg.syncGroups.map((g) => {
      const members = g.members.map((n) => this.#runtimes.find((rt) => rt.config.name === n)?.instance).filter((m) => m !== undefined);
      const print = fingerprint(g);
      const same = previous.find((p) => p.fingerprint === print && p.group.members.length === members.length && p.group.members.every((m, i) => m === members[i]));
      if (same) {
        for (const m of members) m.attachSyncGroup(same.group);
        return same;
      }
      const log = this.#log.child({ component: 'vrrp', group: g.name });
      const notify = new NotifyQueue({
        spawn: this.#spawn,
        clock: this.#clock,
        onOutcome: (o) => log[o.kind === 'exit' && o.code === 0 ? 'info' : 'warn']({ script: o.job.argv.join(' '), outcome: o.kind }, `${o.job.label}: ${o.detail}`),
      });
      const group = new SyncGroup(g.name, members, {
        transition: (t) => {
          log.info({ from: t.from, to: t.to, reason: t.reason }, `group ${t.from} -> ${t.to}: ${t.reason}`);
          // Group notifies follow the members' VIP work, like the instances' own notifies.
          void Promise.all(this.#runtimes.map((rt) => rt.settled())).then(() => {
            notify.enqueue(...notifyJobs(g, 'GROUP', g.name, t.to, 0));
            if (t.to !== 'INIT') this.#fifoWrite(fifoLine('GROUP', g.name, t.to, 0));
          });
        },
      });
      return { group, notify, fingerprint: print };
    });
  }

  #rebuildTrackers(cfg: HavedConfig): void {
    const next = buildTrackers(
      cfg,
      {
        clock: this.#clock,
        log: this.#log,
        spawn: this.#spawn,
        onChange: (b, c) => this.#onTrackerChange(b, c),
        ...(this.#opts.interfaceUp ? { interfaceUp: this.#opts.interfaceUp } : {}),
      },
      this.#trackers,
    );
    for (const [source, b] of this.#trackers) if (next.get(source)?.tracker !== b.tracker) b.tracker.stop();
    this.#trackers = next;
  }

  #onTrackerChange(b: TrackBinding, c: TrackerChange): void {
    const log = this.#log.child({ component: b.kind === 'check' ? 'checker' : 'track' });
    log[c.to === 'DOWN' ? 'warn' : 'info']({ tracker: c.tracker, from: c.from, to: c.to, reason: c.reason }, `${c.tracker}: ${c.from} -> ${c.to} (${c.reason})`);
    if (b.kind === 'check' && b.realServer && c.from !== 'UNKNOWN') this.#rsNotify(b.realServer, c.to);
    this.#applyTrackers();
    if (b.kind === 'interface' && c.from === 'DOWN' && c.to === 'UP') {
      const name = b.source.slice('interface '.length);
      for (const rt of this.#runtimes) if (interfacesOf(rt.config).includes(name)) rt.instance.linkUp(name);
    }
    this.#scheduleState();
  }

  /** Recomputes every tracker's effect on every instance (idempotent); clears sources that no longer apply. */
  #applyTrackers(): void {
    const cfg = this.#config!;
    const inGroup = new Set(cfg.syncGroups.flatMap((g) => g.members));
    for (const rt of this.#runtimes) {
      const c = rt.config;
      const now = new Set<string>();
      const apply = (source: string, weight: number, reverse: boolean) => {
        const b = this.#trackers.get(source);
        if (!b) return;
        // keepalived ignores weighted trackers of sync-group members
        if (weight !== 0 && inGroup.has(c.name)) weight = 0;
        now.add(source);
        applyTrack(rt.instance, source, b.tracker.state, weight, reverse, `${source} is ${b.tracker.state}: ${b.tracker.status().last}`);
      };
      if (!c.dontTrackPrimary) apply(`interface ${c.interface}`, 0, false);
      for (const t of c.trackInterfaces) apply(`interface ${t.name}`, t.weight, t.reverse);
      for (const t of c.trackScripts) apply(`script ${t.name}`, t.weight ?? cfg.scripts.get(t.name)?.weight ?? 0, t.reverse);
      for (const b of this.#trackers.values()) if (b.kind === 'check' && b.realServer?.local) apply(b.source, 0, false);
      const before = this.#applied.get(rt) ?? new Set();
      for (const s of before) {
        if (now.has(s)) continue;
        rt.instance.setFault(s, null);
        rt.instance.setPriorityAdjustment(s, 0);
      }
      this.#applied.set(rt, now);
    }
  }

  #route(buf: Buffer, from: string): void {
    if (buf.length < 5) return;
    const vrid = buf[4];
    for (const rt of this.#runtimes) if (rt.config.virtualRouterId === vrid) rt.receive(buf, from);
  }
}

const delay = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Some VIP is on a device with ARP (not loopback): gratuitous ARP is needed. */
const hasIPv6 = (cfg: HavedConfig) => cfg.instances.some((i) => instanceFamily(i) === 6);
const needsArp = (cfg: HavedConfig) => cfg.instances.some((i) => installedAddresses(i).some((v) => (v.dev ?? i.interface) !== 'lo' && !v.address.includes(':')));


