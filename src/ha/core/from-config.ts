import type { VrrpInstance as VrrpInstanceConfig, VrrpScript, HealthCheck } from '../../config/model.ts';
import type { AdvertAuth } from '../../proto/advert/types.ts';
import type { Clock } from '../../clock.ts';
import type { InstanceActions } from './types.ts';
import type { VrrpInstanceOptions } from './vrrp-instance.ts';
import { tcpCheckTiming } from './tracker.ts';
import type { TrackerOptions } from './tracker.ts';

/** Maps a parsed vrrp_instance onto the election core's options. */
export function instanceOptionsFromConfig(
  cfg: VrrpInstanceConfig,
  ctx: { nodeId: string; primaryAddress: string; clock: Clock; actions: InstanceActions },
): VrrpInstanceOptions {
  return {
    name: cfg.name,
    nodeId: ctx.nodeId,
    primaryAddress: cfg.unicastSrcIp ?? ctx.primaryAddress,
    priority: cfg.priority,
    advertIntMs: cfg.advertIntMs,
    initialState: cfg.state,
    nopreempt: cfg.nopreempt,
    preemptDelayMs: cfg.preemptDelayMs,
    vips: cfg.virtualIpAddresses.map((v) => ({ address: v.address, prefix: v.prefix })),
    garpRefreshMs: cfg.garpMasterRefreshMs,
    clock: ctx.clock,
    actions: ctx.actions,
  };
}

/**
 * The advert auth of an instance: HMAC is haved's (recommended); PASS is keepalived's cleartext password,
 * and AH, which cannot exist over UDP, is checked like PASS (the config reader warns about both).
 */
export function advertAuthFromConfig(cfg: VrrpInstanceConfig): AdvertAuth {
  const a = cfg.authentication;
  if (a === null) return { type: 'none' };
  if (a.type === 'HMAC') return { type: 'HMAC', key: a.secret };
  return { type: 'PASS', password: a.secret };
}

/** Tracker timing of a vrrp_script. */
export function scriptTrackerTiming(s: VrrpScript): Pick<TrackerOptions, 'intervalMs' | 'timeoutMs' | 'rise' | 'fall' | 'initial'> {
  return { intervalMs: s.intervalMs, timeoutMs: s.timeoutMs, rise: s.rise, fall: s.fall, initial: 'UNKNOWN' };
}

/** Tracker timing of a TCP_CHECK / MEMCACHE_CHECK. */
export function checkTrackerTiming(c: HealthCheck): ReturnType<typeof tcpCheckTiming> {
  return tcpCheckTiming(c);
}
