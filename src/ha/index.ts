/**
 * The pure HA cores (no I/O): election, sync groups, trackers, notify ordering, clocks.
 *
 * Wiring, per vrrp_instance (the daemon's side):
 * - `new VrrpInstance(instanceOptionsFromConfig(cfg, { nodeId, primaryAddress, clock: systemClock, actions }))`
 *   and one `AdvertCodec({ auth: advertAuthFromConfig(cfg) })` (src/proto/advert).
 * - actions.sendAdvert(a) → codec.encode({ ...a, vrid, advertIntMs, nodeId, primaryAddress, vips }) → UDP.
 *   Incoming datagram → drop it if its source is not a peer (unicast_peer / allowed_peers) → peekVrid → that
 *   instance's codec.decode → ok: instance.receive(message) (an AdvertMessage is a PeerAdvert); error:
 *   count error.code.
 * - actions.announce(a) (MASTER only): gratuitous ARP bursts per a.kind, after the queued VIP operations.
 *   An interface of the instance going DOWN → UP: instance.linkUp(name).
 * - actions.transition(t) is synchronous and in order; run the side effects on a per-instance serial chain:
 *   to MASTER: ip addr add, GARP, then notifyJobs(...) into the NotifyQueue; from MASTER: ip addr del, then
 *   notify. A failed `ip addr add` → instance.setFault('vip', reason) (priority 0 goes out, the peer takes
 *   over); clear it with setFault('vip', null) when a retry may succeed.
 * - Trackers: `new Tracker({ ...scriptTrackerTiming(s) | checkTrackerTiming(c), probe, clock, onChange })`,
 *   call applyTrack(instance, source, tracker.state, weight, reverse) once before instance.start() and on
 *   every change (UNKNOWN holds the instance in INIT). Interface state: tracker.report('ok' | 'fail').
 * - Sync groups: `new SyncGroup(name, members, { transition })` before starting the members; group
 *   transitions carry priority 0 for the generic notify.
 * - SIGTERM: instance.stop('SIGTERM') sends priority 0 naming the successor, then transitions to STOP.
 */
export { systemClock, TimerSlot } from './clock.ts';
export type { Clock, TimerId } from './clock.ts';
export { FakeClock } from './fake-clock.ts';
export { VrrpInstance } from './core/vrrp-instance.ts';
export type { SyncGroupHook, VrrpInstanceOptions } from './core/vrrp-instance.ts';
export { SyncGroup } from './core/sync-group.ts';
export type { GroupTransition, SyncGroupActions } from './core/sync-group.ts';
export { Tracker, applyTrack, promiseProber, tcpCheckTiming, trackEffect } from './core/tracker.ts';
export type { ProbeResult, Prober, TrackEffect, TrackTarget, TrackerChange, TrackerOptions, TrackerState } from './core/tracker.ts';
export { NotifyQueue, genericNotifyArgv, notifyJobs } from './core/notify-queue.ts';
export type { NotifyConfig, NotifyJob, NotifyOutcome, NotifyScope, NotifySpawner } from './core/notify-queue.ts';
export { effectivePriority, masterDownMs, outranks, skewMs, OWNER_PRIORITY } from './core/priority.ts';
export { advertAuthFromConfig, checkTrackerTiming, instanceOptionsFromConfig, scriptTrackerTiming } from './core/from-config.ts';
export type * from './core/types.ts';
