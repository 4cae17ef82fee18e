import { FakeClock } from '../../support/fake-clock.ts';
import type { Clock, TimerId } from '../../../src/clock.ts';
import { VrrpInstance } from '../../../src/ha/core/vrrp-instance.ts';
import type { VrrpInstanceOptions } from '../../../src/ha/core/vrrp-instance.ts';
import type { Announcement, InstanceEvent, PeerAdvert, Transition } from '../../../src/ha/core/types.ts';

export interface Sent {
  at: number;
  kind: 'ADVERT' | 'BACKUP_HELLO';
  priority: number;
  successor: string | null;
}

/** One instance with every action recorded; adverts are injected by hand. */
export function solo(opts: Partial<Omit<VrrpInstanceOptions, 'clock' | 'actions'>> = {}, clock = new FakeClock()) {
  const sent: Sent[] = [];
  const transitions: (Transition & { at: number })[] = [];
  const events: InstanceEvent[] = [];
  const announces: (Announcement & { at: number })[] = [];
  const order: string[] = [];
  const inst = new VrrpInstance({
    name: 'VI_1',
    nodeId: 'self',
    primaryAddress: '198.18.0.10',
    priority: 100,
    advertIntMs: 1000,
    helloIntervalMs: null,
    ...opts,
    clock,
    actions: {
      sendAdvert: (a) => {
        sent.push({ at: clock.now(), ...a });
        order.push(`send ${a.kind} ${a.priority}${a.successor ? ` -> ${a.successor}` : ''}`);
      },
      transition: (t) => {
        transitions.push({ ...t, at: clock.now() });
        order.push(`${t.from}->${t.to}`);
      },
      announce: (a) => {
        announces.push({ ...a, at: clock.now() });
        order.push(`announce ${a.kind}`);
      },
      event: (e) => events.push(e),
    },
  });
  const adverts = () => sent.filter((s) => s.kind === 'ADVERT');
  const hellos = () => sent.filter((s) => s.kind === 'BACKUP_HELLO');
  return { clock, inst, sent, adverts, hellos, transitions, events, announces, order };
}

export function advert(from: string, priority: number, extra: Partial<PeerAdvert> = {}): PeerAdvert {
  return {
    kind: 'ADVERT',
    nodeId: from,
    primaryAddress: '198.18.0.20',
    priority,
    advertIntMs: 1000,
    successor: null,
    ...extra,
  };
}

/** A backup hello: makes `from` a live peer, so a MASTER yields to its adverts at once. */
export function hello(from: string, priority: number, extra: Partial<PeerAdvert> = {}): PeerAdvert {
  return advert(from, priority, { kind: 'BACKUP_HELLO', ...extra });
}

export interface NetNode {
  id: string;
  inst: VrrpInstance;
  alive: boolean;
  transitions: (Transition & { at: number })[];
  announces: (Announcement & { at: number })[];
  events: (InstanceEvent & { at: number })[];
  clock: PausableClock;
  /** Adverts that arrived while the node was paused, delivered on resume. */
  inbox: PeerAdvert[];
}

/**
 * One node's view of the shared FakeClock that can be paused (SIGSTOP): while paused its timers do not run;
 * resume() runs the overdue ones late, in deadline order, at the current time.
 */
export class PausableClock implements Clock {
  readonly #inner: FakeClock;
  paused = false;
  #overdue: { id: TimerId; at: number; fn: () => void }[] = [];
  #live = new Map<TimerId, TimerId>();
  #next = 1;

  constructor(inner: FakeClock) {
    this.#inner = inner;
  }

  now(): number {
    return this.#inner.now();
  }

  setTimer(ms: number, fn: () => void): TimerId {
    const id = this.#next++;
    const at = this.now() + Math.max(0, ms);
    this.#live.set(id, this.#inner.setTimer(ms, () => {
      this.#live.delete(id);
      if (this.paused) this.#overdue.push({ id, at, fn });
      else fn();
    }));
    return id;
  }

  clearTimer(id: TimerId): void {
    const inner = this.#live.get(id);
    if (inner !== undefined) this.#inner.clearTimer(inner);
    this.#live.delete(id);
    this.#overdue = this.#overdue.filter((t) => t.id !== id);
  }

  /** Runs the timers that fell due while paused (a timer cleared by an earlier one does not run). */
  runOverdue(): void {
    this.#overdue.sort((a, b) => a.at - b.at);
    while (this.#overdue.length > 0) this.#overdue.shift()!.fn();
  }
}
/**
 * Several instances of one VRID on a simulated LAN with per-message latency, packet filters and crashed
 * nodes (a crashed node neither sends nor receives). Tracks how long two live masters coexisted.
 */
export class Net {
  readonly clock = new FakeClock();
  readonly nodes = new Map<string, NetNode>();
  latency: (from: string, to: string, kind: PeerAdvert['kind']) => number | null = () => 1;
  log: string[] = [];
  #dualSince: number | null = null;
  maxDualMs = 0;
  dualEpisodes = 0;

  add(id: string, priority: number, address: string, opts: Partial<Omit<VrrpInstanceOptions, 'clock' | 'actions'>> = {}): NetNode {
    const clock = new PausableClock(this.clock);
    const node: NetNode = { id, alive: true, transitions: [], announces: [], events: [], clock, inbox: [], inst: undefined as unknown as VrrpInstance };
    node.inst = new VrrpInstance({
      name: 'VI_1',
      nodeId: id,
      primaryAddress: address,
      priority,
      advertIntMs: 1000,
      ...opts,
      clock,
      actions: {
        sendAdvert: (a) => {
          if (!node.alive || clock.paused) return;
          const msg: PeerAdvert = {
            kind: a.kind,
            nodeId: id,
            primaryAddress: address,
            priority: a.priority,
            advertIntMs: node.inst.advertIntMs,
            successor: a.successor,
          };
          if (a.kind === 'ADVERT') this.log.push(`${this.clock.now()} ${id} advert ${a.priority}${a.successor ? ` -> ${a.successor}` : ''}`);
          for (const dst of this.nodes.values()) {
            if (dst === node) continue;
            const delay = this.latency(id, dst.id, a.kind);
            if (delay === null) continue;
            this.clock.setTimer(delay, () => {
              if (!dst.alive) return;
              if (dst.clock.paused) dst.inbox.push(msg);
              else dst.inst.receive(msg);
            });
          }
        },
        transition: (t) => {
          node.transitions.push({ ...t, at: this.clock.now() });
          this.log.push(`${this.clock.now()} ${id} ${t.from}->${t.to}: ${t.reason}`);
          this.#watch();
        },
        announce: (a) => {
          node.announces.push({ ...a, at: this.clock.now() });
          this.log.push(`${this.clock.now()} ${id} announce ${a.kind}: ${a.reason}`);
        },
        event: (e) => {
          node.events.push({ ...e, at: this.clock.now() });
          if (e.kind === 'paused' || e.kind === 'unconfirmed-master') this.log.push(`${this.clock.now()} ${id} ${e.kind}: ${e.message}`);
        },
      },
    });
    this.nodes.set(id, node);
    return node;
  }

  get(id: string): NetNode {
    const n = this.nodes.get(id);
    if (!n) throw new Error(`no node ${id}`);
    return n;
  }

  /** kill -9: silent from now on. */
  crash(id: string): void {
    this.get(id).alive = false;
    this.#watch();
  }

  /** SIGSTOP: the node runs nothing and sends nothing; what it is sent waits in its inbox. */
  pause(id: string): void {
    this.get(id).clock.paused = true;
  }

  /**
   * SIGCONT: the inbox (the socket) and the overdue timers run now, in either order: Node reads a socket that
   * became readable while it slept before the timers phase, but a pause can also end in the timers phase.
   */
  resume(id: string, first: 'io' | 'timers' = 'io'): void {
    const n = this.get(id);
    n.clock.paused = false;
    const io = () => {
      for (const m of n.inbox.splice(0)) if (n.alive) n.inst.receive(m);
    };
    if (first === 'io') io();
    n.clock.runOverdue();
    io();
  }

  masters(): string[] {
    return [...this.nodes.values()].filter((n) => n.alive && n.inst.state === 'MASTER').map((n) => n.id);
  }

  /** Time of the first transition of `id` to `state` at or after `since`. */
  when(id: string, state: string, since = 0): number | null {
    return this.get(id).transitions.find((t) => t.to === state && t.at >= since)?.at ?? null;
  }

  #watch(): void {
    const now = this.clock.now();
    const n = this.masters().length;
    if (n > 1 && this.#dualSince === null) {
      this.#dualSince = now;
      this.dualEpisodes++;
    } else if (n <= 1 && this.#dualSince !== null) {
      this.maxDualMs = Math.max(this.maxDualMs, now - this.#dualSince);
      this.#dualSince = null;
    }
  }

  /** Closes a dual-master episode still open at the end of a run. */
  finish(): void {
    this.#watch();
    if (this.#dualSince !== null) this.maxDualMs = Math.max(this.maxDualMs, this.clock.now() - this.#dualSince);
  }
}
