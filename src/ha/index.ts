/** The pure HA cores (no I/O): election, sync groups, trackers, notify ordering, clocks. */
export { systemClock, TimerSlot } from './clock.ts';
export type { Clock, TimerId } from './clock.ts';
export { FakeClock } from './fake-clock.ts';
export { VrrpInstance } from './vrrp-instance.ts';
export type { SyncGroupHook, VrrpInstanceOptions } from './vrrp-instance.ts';
export { SyncGroup } from './sync-group.ts';
export type { GroupTransition, SyncGroupActions } from './sync-group.ts';
export { Tracker, applyTrack, promiseProber, tcpCheckTiming, trackEffect } from './tracker.ts';
export type { ProbeResult, Prober, TrackEffect, TrackTarget, TrackerChange, TrackerOptions, TrackerState } from './tracker.ts';
export { NotifyQueue, genericNotifyArgv, notifyJobs } from './notify-queue.ts';
export type { NotifyConfig, NotifyJob, NotifyOutcome, NotifyScope, NotifySpawner } from './notify-queue.ts';
export { effectivePriority, masterDownMs, outranks, skewMs, OWNER_PRIORITY } from './priority.ts';
export { advertAuthFromConfig, checkTrackerTiming, instanceOptionsFromConfig, scriptTrackerTiming } from './from-config.ts';
export type * from './types.ts';
