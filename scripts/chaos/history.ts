/** What a chaos run records: the client's requests, the monitor's samples, the faults and the VIP's moves. */

/** Workload keys k0..k{KEYS-1}, counters n0..n{COUNTERS-1}, from CONNS client connections. */
export const KEYS = 200;
export const COUNTERS = 4;
export const CONNS = 4;

export type OpKind = 'set' | 'cas' | 'delete' | 'incr' | 'get' | 'init';
/** ok: the server said it was done; fail: it said no; nf: a delete of an absent key; unknown: no answer in time. */
export type OpResult = 'ok' | 'fail' | 'nf' | 'unknown';

/** One client request: wall-clock ms when it was sent (t0) and answered or given up (t1). */
export interface Op {
  k: OpKind;
  /** The client connection (-1: set-up). */
  c: number;
  key: string;
  /** set/cas: the value written (unique per run); get: the value read (null: a miss). */
  value?: string | null;
  t0: number;
  t1: number;
  r: OpResult;
  reply?: string;
}

/** One `stats` sample of a node (0 = a, 1 = b) by the client's monitor; ok false: no answer. */
export interface MonSample {
  k: 'mon';
  t: number;
  node: number;
  ok: boolean;
  state?: string;
  peer?: string;
  in?: string;
  syncTimeouts?: number;
  pid?: number;
}

export type FaultKind =
  | 'kill-cache' | 'kill-haved' | 'partition-repl' | 'partition-node' | 'partition-pair' | 'advert-loss'
  | 'crash-mid-sync' | 'pause-haved' | 'pause-cache' | 'disk-full';

/** Faults that lose what the node held in memory (a process killed): an async write acked just before is at risk. */
export const KILLS: readonly FaultKind[] = ['kill-cache', 'kill-haved', 'crash-mid-sync'];

/** Faults during which two VIP holders are expected: the nodes cannot hear each other, or one cannot act. */
export const SPLIT: readonly FaultKind[] = ['partition-node', 'partition-pair', 'advert-loss', 'pause-haved', 'kill-haved', 'crash-mid-sync'];

export interface Episode {
  kind: FaultKind;
  node: number;
  /** When the fault was injected, and healed (a process restarted, a rule removed, SIGCONT). */
  start: number;
  heal: number;
  /** What the injector saw (e.g. whether a full copy was under way). */
  note?: string;
}

/** A VIP change seen on a node (ip monitor): it now holds it or not. */
export interface VipEvent {
  t: number;
  node: number;
  holds: boolean;
}

/** key -> [value, cas] as a node returned it at the end. */
export type Dump = Record<string, [string, string]>;
