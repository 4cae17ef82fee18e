import { readFile } from 'node:fs/promises';
import type { HavedConfig, HealthCheck, RealServer, VrrpInstance, VrrpScript } from '../../config/model.ts';
import type { Logger } from '../../log.ts';
import type { Clock } from '../../clock.ts';
import { checkTrackerTiming, scriptTrackerTiming } from '../core/from-config.ts';
import { NotifyQueue, type NotifySpawner } from '../core/notify-queue.ts';
import { Tracker, promiseProber, type TrackerChange, type TrackerState } from '../core/tracker.ts';
import { memcacheProbe, tcpProbe } from '../adapters/probes.ts';
import { runScript } from '../adapters/script-runner.ts';
import { missingInterfaceMessage } from '../adapters/interfaces.ts';

/** What a tracker does to the instances when its state changes. */
export interface TrackBinding {
  /** Fault / priority source name on the instances, e.g. "script chk_mc", "check 127.0.0.1:11211". */
  source: string;
  tracker: Tracker;
  kind: 'script' | 'interface' | 'check';
  /** Config fingerprint: a reload keeps a tracker whose fingerprint did not change. */
  fingerprint: string;
  /** For checks on a real_server: its notify scripts and whether it is this host's cache. */
  realServer?: RealServer;
}

export interface TrackerDeps {
  clock: Clock;
  log: Logger;
  spawn: NotifySpawner;
  onChange(binding: TrackBinding, change: TrackerChange): void;
  /** Injected for tests; default reads /sys/class/net/IF/operstate. */
  interfaceUp?: (name: string) => Promise<string | null>;
}

const INTERFACE_POLL_MS = 500;
/**
 * A read of /sys/class/net/IF/operstate that takes long says the host is starved (libuv's thread pool busy),
 * not that the link is down: only a read that does not answer for this long counts as down.
 */
const INTERFACE_TIMEOUT_MS = 2000;

/** Fingerprint of a config object without its "where" fields. */
export function fingerprint(x: unknown): string {
  return JSON.stringify(x, (k, v) => (k === 'where' ? undefined : v instanceof Map ? [...v] : v));
}

/**
 * The interfaces an instance depends on: its own, its track_interface ones and its VIPs' devices (loopback
 * aside). Each is polled; one coming back up makes a MASTER re-announce its VIPs.
 */
export function interfacesOf(c: VrrpInstance): string[] {
  const vipDevs = [...c.virtualIpAddresses, ...c.virtualIpAddressesExcluded].map((v) => v.dev).filter((d): d is string => d !== null && d !== 'lo');
  return [...new Set([c.interface, ...c.trackInterfaces.map((t) => t.name), ...vipDevs])];
}

export async function interfaceOperstate(name: string): Promise<string | null> {
  try {
    const s = (await readFile(`/sys/class/net/${name}/operstate`, 'utf8')).trim();
    return s === 'up' || s === 'unknown' ? null : `interface ${name} is ${s}`;
  } catch {
    return missingInterfaceMessage(name);
  }
}

/**
 * Builds the trackers a config needs: each vrrp_script tracked by an instance, the instances' own and tracked
 * interfaces, and every TCP_CHECK / MEMCACHE_CHECK of a real_server. Existing trackers with the same
 * fingerprint are reused (reload keeps their state).
 */
export function buildTrackers(cfg: HavedConfig, deps: TrackerDeps, previous: Map<string, TrackBinding>): Map<string, TrackBinding> {
  const out = new Map<string, TrackBinding>();
  const add = (b: Omit<TrackBinding, 'tracker'>, make: () => Tracker) => {
    const old = previous.get(b.source);
    if (old && old.fingerprint === b.fingerprint) out.set(b.source, { ...old, realServer: b.realServer });
    else out.set(b.source, { ...b, tracker: make() });
  };

  const scripts = new Set(cfg.instances.flatMap((i) => i.trackScripts.map((t) => t.name)));
  for (const name of scripts) {
    const s = cfg.scripts.get(name);
    if (!s) continue;
    const source = `script ${name}`;
    // The weight is applied by the daemon from the config, not by the tracker: changing it keeps the check.
    add({ source, kind: 'script', fingerprint: fingerprint({ ...s, weight: 0 }) }, () => scriptTracker(source, s, deps, () => out.get(source)!));
  }

  const ifaces = new Set(cfg.instances.flatMap(interfacesOf));
  const up = deps.interfaceUp ?? interfaceOperstate;
  for (const name of ifaces) {
    const source = `interface ${name}`;
    add({ source, kind: 'interface', fingerprint: name }, () =>
      new Tracker({
        name: source,
        intervalMs: INTERFACE_POLL_MS,
        timeoutMs: INTERFACE_TIMEOUT_MS,
        initial: 'UNKNOWN',
        clock: deps.clock,
        probe: promiseProber(() => up(name)),
        onChange: (c) => deps.onChange(out.get(source)!, c),
      }),
    );
  }

  for (const vs of cfg.virtualServers) {
    for (const rs of vs.realServers) {
      rs.checks.forEach((check, i) => {
        const host = check.connectIp ?? rs.address;
        const port = check.connectPort ?? rs.port;
        const source = `${check.kind} ${host}:${port}${rs.checks.length > 1 ? ` #${i + 1}` : ''}`;
        add({ source, kind: 'check', fingerprint: fingerprint({ check, rs: { ...rs, checks: [] } }), realServer: rs }, () =>
          checkTracker(source, check, host, port, deps, () => out.get(source)!),
        );
      });
    }
  }
  return out;
}

function scriptTracker(source: string, s: VrrpScript, deps: TrackerDeps, binding: () => TrackBinding): Tracker {
  const timing = scriptTrackerTiming(s);
  return new Tracker({
    name: source,
    ...timing,
    initial: s.initFail ? 'DOWN' : timing.initial,
    clock: deps.clock,
    probe: promiseProber(async () => {
      const r = await runScript(s.script, { timeoutMs: s.timeoutMs, user: s.user });
      return r.ok ? null : r.reason;
    }),
    onChange: (c) => deps.onChange(binding(), c),
  });
}

function checkTracker(source: string, check: HealthCheck, host: string, port: number, deps: TrackerDeps, binding: () => TrackBinding): Tracker {
  const probe = check.kind === 'MEMCACHE_CHECK' ? memcacheProbe : tcpProbe;
  return new Tracker({
    name: source,
    ...checkTrackerTiming(check),
    clock: deps.clock,
    probe: promiseProber(() => probe({ host, port, timeoutMs: check.connectTimeoutMs, bindTo: check.bindTo })),
    onChange: (c) => deps.onChange(binding(), c),
  });
}

/** Runs real_server notify_up / notify_down (no extra arguments, keepalived's rule), in order. */
export function realServerNotifier(deps: { spawn: NotifySpawner; clock: Clock; log: Logger }): ((rs: RealServer, state: TrackerState) => void) & { outcomes: NotifyQueue['outcomes'] } {
  const queue = new NotifyQueue({
    spawn: deps.spawn,
    clock: deps.clock,
    onOutcome: (o) => deps.log[o.kind === 'exit' && o.code === 0 ? 'info' : 'warn']({ script: o.job.argv.join(' '), outcome: o.kind, code: o.code }, `${o.job.label}: ${o.detail}`),
  });
  const notify = (rs: RealServer, state: TrackerState) => {
    const cmd = state === 'DOWN' ? rs.notifyDown : state === 'UP' ? rs.notifyUp : null;
    if (cmd) queue.enqueue({ argv: [...cmd.argv], user: cmd.user, label: `${state === 'DOWN' ? 'notify_down' : 'notify_up'} of real_server ${rs.address}:${rs.port}` });
  };
  return Object.assign(notify, { outcomes: queue.outcomes });
}
