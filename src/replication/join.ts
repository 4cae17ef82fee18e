import type { Completeness, NodeStatus } from '../proto/replication/codec.ts';

/**
 * Whether this node holds a complete copy of the cluster's data, and what it asks its peers for (PROTOCOL.md,
 * "Joining"). Pure: fed with what the links learn (peers' HELLO and STATE, copies received and sent) and ticked
 * with an injected clock; the Replicator opens the client port when it leaves `joining`.
 *
 *   joining → complete   a complete copy arrived; or the cold-cluster rule; (or the operator said so at start)
 *   joining → partial    the join timeout passed without a complete copy
 *   partial → complete   a complete copy arrived later
 */

/** What the policy needs to know about each configured peer (from the Sender that dials it). */
export interface ConfiguredPeer {
  /** Failed at least once and never connected: nothing listens there (or it is cut off). */
  unreachable: boolean;
  /** The peer's node id and run from its last authenticated HELLO, null until then. */
  heard: { nodeId: number; runId: bigint } | null;
}

export interface JoinPolicyOptions {
  now(): number;
  /** `complete` from the start (no peers configured, or the operator's -o repl_complete), else `joining`. */
  initial: 'complete' | 'joining';
  joinTimeoutMs: number;
  /** How long the cold-cluster condition must hold before an empty node declares itself complete. */
  coldWindowMs: number;
  /** Every change of completeness, with the reason to log. */
  changed(from: Completeness, to: Completeness, reason: string): void;
}

interface PeerInfo extends NodeStatus {
  runId: bigint;
}

const RANK: Record<Completeness, number> = { joining: 0, partial: 1, complete: 2 };

export const DEFAULT_COLD_WINDOW_MS = 500;

export class JoinPolicy {
  readonly #o: JoinPolicyOptions;
  readonly #startedAt: number;
  #completeness: Completeness;
  #holdsData = false;
  #coldSince: number | null = null;
  /** What each peer node (by node id) said of itself last, for its current run. */
  readonly #peers = new Map<number, PeerInfo>();
  /** Per peer node, the run that began as a copy of our store (joining and empty when our copy to it began). */
  readonly #copiedTo = new Map<number, bigint>();

  constructor(opts: JoinPolicyOptions) {
    this.#o = opts;
    this.#startedAt = opts.now();
    this.#completeness = opts.initial;
  }

  get completeness(): Completeness {
    return this.#completeness;
  }

  /** True once the store held something in this run (sticky: a node that had data is never "empty" again). */
  get holdsData(): boolean {
    return this.#holdsData;
  }

  /** The store holds items or tombstones now. */
  sawData(): void {
    this.#holdsData = true;
  }

  status(items: number): NodeStatus {
    if (items > 0) this.#holdsData = true;
    return { completeness: this.#completeness, holdsData: this.#holdsData, items };
  }

  /** A peer's HELLO (after authentication), STATE or the head of its complete copy: merged, newest run wins. */
  peer(nodeId: number, runId: bigint, s: NodeStatus): void {
    const p = this.#peers.get(nodeId);
    if (!p || p.runId !== runId) {
      this.#peers.set(nodeId, { runId, completeness: s.completeness, holdsData: s.holdsData, items: s.items });
      return;
    }
    // Within one run completeness only grows and holdsData is sticky, so links reporting out of order agree.
    if (RANK[s.completeness] > RANK[p.completeness]) p.completeness = s.completeness;
    p.holdsData ||= s.holdsData;
    p.items = s.items;
  }

  /** What the peer's current run said it is (null: not heard, or another run). */
  peerCompleteness(nodeId: number, runId?: bigint): Completeness | null {
    const p = this.#peers.get(nodeId);
    return p && (runId === undefined || p.runId === runId) ? p.completeness : null;
  }

  /** The item count of the largest complete peer heard of: what a complete copy would hold (null: unknown). */
  expectedItems(): number | null {
    let n: number | null = null;
    for (const p of this.#peers.values()) if (p.completeness === 'complete' && (n === null || p.items > n)) n = p.items;
    return n;
  }

  /**
   * We started sending a copy of our store to this run of a peer. If that run is joining and has never held data,
   * its store begins as our copy: remembered for resumeFor. (A run holding data already may hold what is nowhere
   * else, e.g. part of a copy from a source that died since.)
   */
  copyStarted(nodeId: number, runId: bigint): void {
    const p = this.#peers.get(nodeId);
    if (p && p.runId === runId && p.completeness === 'joining' && !p.holdsData) this.#copiedTo.set(nodeId, runId);
  }

  /** A copy from a peer arrived whole; only a complete one makes this node complete. */
  copyReceived(nodeId: number, complete: boolean, items: number): void {
    if (complete) this.#become('complete', `full copy of ${items} items received from node ${nodeId}`);
  }

  /** This node is not complete and the peer is: a copy from it would complete us. */
  wantsCopyFrom(nodeId: number, runId: bigint): boolean {
    return this.#completeness !== 'complete' && this.peerCompleteness(nodeId, runId) === 'complete';
  }

  /**
   * The RESUME to send a sending peer, given the last sequence+1 we applied from its run (0n: none).
   * - not complete, the peer is: 0 (a full copy), whatever we hold from it;
   * - otherwise resume where we stopped;
   * - never applied from this run, but that run began as a copy of our store: 1, its own changes only (what it
   *   held before it wrote anything came from us, or from peers that send it to us themselves);
   * - else 0: a full copy.
   */
  resumeFor(nodeId: number, runId: bigint, resumePoint: bigint): bigint {
    if (this.wantsCopyFrom(nodeId, runId)) return 0n;
    if (resumePoint > 0n) return resumePoint;
    if (this.#copiedTo.get(nodeId) === runId) return 1n;
    return 0n;
  }

  /**
   * The cold-cluster rule and the join timeout, evaluated every tick while joining. An empty node becomes
   * complete when, for the whole cold window, every configured peer is either unreachable or has said (after
   * authentication) that it is not complete and has never held data in its current run.
   */
  tick(peers: readonly ConfiguredPeer[]): void {
    if (this.#completeness !== 'joining') return;
    const now = this.#o.now();
    if (!this.#holdsData && peers.length > 0 && peers.every((p) => p.unreachable || (p.heard !== null && this.#isEmptyJoiner(p.heard)))) {
      this.#coldSince ??= now;
      if (now - this.#coldSince >= this.#o.coldWindowMs) {
        const reason = peers.every((p) => p.unreachable)
          ? 'no peer reachable: first node of a cold cluster, complete and empty'
          : 'every peer is empty and not complete: cold cluster, complete and empty';
        this.#become('complete', reason);
        return;
      }
    } else this.#coldSince = null;
    // A cold window under way finishes first, even past a shorter join timeout.
    if (this.#coldSince === null && now - this.#startedAt >= this.#o.joinTimeoutMs) {
      const expected = this.expectedItems();
      this.#become('partial', `no complete copy after ${this.#o.joinTimeoutMs} ms${expected !== null ? ` (a complete peer holds ${expected} items)` : ''}`);
    }
  }

  /** The operator declares this node complete. */
  declareComplete(reason: string): void {
    this.#become('complete', reason);
  }

  #isEmptyJoiner(h: { nodeId: number; runId: bigint }): boolean {
    const p = this.#peers.get(h.nodeId);
    return p !== undefined && p.runId === h.runId && p.completeness !== 'complete' && !p.holdsData;
  }

  #become(to: Completeness, reason: string): void {
    const from = this.#completeness;
    if (from === to || from === 'complete') return;
    this.#completeness = to;
    this.#coldSince = null;
    this.#o.changed(from, to, reason);
  }
}
