/** Public types of the election core, shared by vrrp-instance.ts, sync-group.ts and the daemon. */
export type VrrpState = 'INIT' | 'BACKUP' | 'MASTER' | 'FAULT' | 'STOP';

export interface Transition {
  instance: string;
  from: VrrpState;
  to: VrrpState;
  /** Human-readable cause for the log, e.g. "master down timer expired (3609 ms without advert)". */
  reason: string;
  /** Effective priority at the time of the transition (for the generic notify's last argument). */
  priority: number;
}

/** An advert (or backup hello) as the instance sees it, after decoding and authentication. */
export interface PeerAdvert {
  kind: 'ADVERT' | 'BACKUP_HELLO';
  nodeId: string;
  primaryAddress: string;
  priority: number;
  advertIntMs: number;
  successor: string | null;
  vips?: { address: string; prefix: number }[];
}

/** What the instance asks the outside world to do. Called synchronously, in order. */
export interface InstanceActions {
  /** Send one advert (kind ADVERT) or backup hello (kind BACKUP_HELLO) now. */
  sendAdvert(advert: { kind: 'ADVERT' | 'BACKUP_HELLO'; priority: number; successor: string | null }): void;
  /**
   * A state change. On `to === 'MASTER'` the daemon adds the VIPs, sends GARPs, then notifies; on leaving
   * MASTER it removes the VIPs, then notifies. The advert that must precede (keepalived: advert first, then
   * VIPs; priority 0 when resigning) has already been passed to sendAdvert.
   */
  transition(t: Transition): void;
  /**
   * While MASTER: clients may hold a stale ARP entry for the VIPs (another master announced them, we were
   * paused, a link came back, or garp_master_refresh is due); the daemon sends gratuitous ARP bursts.
   */
  announce?(a: Announcement): void;
  /** Notable non-transition events for the log (discarded lower-priority advert, VIP mismatch...). */
  event?(e: InstanceEvent): void;
}

/**
 * Why a MASTER re-announces its VIPs. `conflict`: it won against another master (which may have sent its own
 * GARPs), uses garp_lower_prio_repeat/delay; `resumed` (after a pause) and `link-up` use garp_master_repeat/
 * delay; `refresh` is garp_master_refresh, one burst of garp_master_refresh_repeat.
 */
export type AnnounceKind = 'conflict' | 'resumed' | 'link-up' | 'refresh';

export interface Announcement {
  kind: AnnounceKind;
  reason: string;
}

export type InstanceEventKind =
  | 'discard-lower-priority'
  | 'forcing-election'
  | 'ignored-resign'
  | 'vip-mismatch'
  | 'interval-mismatch'
  | 'same-address'
  | 'priority-change'
  | 'sync-group-wait'
  | 'preempt-deferred'
  | 'preempt-allowed'
  | 'paused'
  | 'unconfirmed-master';

export interface InstanceEvent {
  instance: string;
  kind: InstanceEventKind;
  message: string;
}

export interface PeerSeen {
  nodeId: string;
  primaryAddress: string;
  priority: number;
  /** Clock time of the last message. */
  at: number;
}

export interface InstanceStatus {
  name: string;
  state: VrrpState;
  basePriority: number;
  effectivePriority: number;
  advertIntMs: number;
  masterAdvertIntMs: number;
  nopreempt: boolean;
  preemptDelayMs: number;
  faults: string[];
  priorityAdjustments: Record<string, number>;
  master: PeerSeen | null;
  backups: PeerSeen[];
  /** Remaining ms on the running timers (null when not armed). */
  timers: {
    masterDown: number | null;
    advert: number | null;
    hello: number | null;
    preemptUntil: number | null;
    garpRefresh: number | null;
  };
  /** MASTER just resumed from a pause and listens before advertising again. */
  resuming: boolean;
  wantsMaster: boolean;
  /** Sources keeping the instance in INIT (trackers without a first result). */
  holds: string[];
  counters: {
    advertsSent: number;
    advertsReceived: number;
    discardedLower: number;
    becameMaster: number;
    /** Re-announcements asked for (refreshes not counted). */
    announcements: number;
    pausesDetected: number;
  };
}
