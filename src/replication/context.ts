import type { DialedLink } from './transport.ts';
import type { Logger } from '../log.ts';
import type { ChangeStream } from '../cache/changes.ts';
import type { ReplicaStore } from './replica-store.ts';
import type { Completeness, ItemFrame, NodeStatus } from '../proto/replication/codec.ts';
import type { HybridClock } from './hlc.ts';
import type { Tombstones } from './tombstones.ts';
import type { Counters } from './counters.ts';
import type { LocalIdentity } from './handshake.ts';
import type { LinkState, LinkTiming } from './link.ts';
import type { RefusalKind } from './refusals.ts';

/** What a link session needs from the replicator that owns it. */
export interface SessionContext {
  readonly me: LocalIdentity;
  readonly store: ReplicaStore;
  /** The store's change stream: what the senders ship. */
  readonly changes: ChangeStream;
  readonly tombstones: Tombstones;
  /** This node's counters: what a sender ships for an incr/decr, and for a counter item (its base and parts). */
  readonly counters: Counters;
  readonly hlc: HybridClock;
  readonly logger: Logger;
  readonly timing: Partial<LinkTiming>;
  now(): number;
  flushEpoch(): bigint;
  /** This node's join status (HELLO, STATE) and its completeness alone. */
  status(): NodeStatus;
  completeness(): Completeness;
  /** What a peer said of itself, once authenticated: its HELLO, a STATE, a complete copy's head. */
  peerStatus(nodeId: number, runId: bigint, s: NodeStatus): void;
  /** Receiving side: the RESUME to send this run of a peer (0n: a full copy; see JoinPolicy.resumeFor). */
  resumePoint(nodeId: number, runId: bigint): bigint;
  /** Receiving side, on a live link: ask this peer for a full copy now (we are not complete, it is). */
  wantsCopyFrom(nodeId: number, runId: bigint): boolean;
  applied(nodeId: number, runId: bigint, seq: bigint): void;
  copyComplete(nodeId: number, items: number, complete: boolean): void;
  /** Sending side: a copy of our store to this run of a peer began. */
  copyStarted(nodeId: number, runId: bigint): void;
  /** A SET or SYNC_ITEM frame, applied straight from the receive buffer. */
  applyItem(f: ItemFrame): void;
  applyDelete(key: Buffer, version: bigint): void;
  applyTouch(key: Buffer, ttl: number, version: bigint): void;
  applyCounter(key: Buffer, base: bigint, version: bigint, sum: bigint): void;
  applyFlush(version: bigint, delay: number): void;
  peerHello(nodeId: number, host: string, listenPort: number): void;
  /** A handshake found the peer using our node id. */
  nodeIdCollision(peerRunId: bigint): void;
  /** Sending side. */
  acked(seq: number): void;
  /**
   * -t N: runs fn once the store lock this callback holds is released and returns true; false when it holds none
   * (the caller does it now). A sender's socket writes go there, so the workers never wait for a system call.
   */
  afterUnlock?(fn: () => void): boolean;
  /** `quiet`: a link a stranger may have opened (inbound, not yet authenticated): not worth a log line. */
  stateChanged(who: string, from: LinkState, to: LinkState, reason: string, quiet?: boolean): void;
  /** Opens a connection to a peer (TLS when configured); `ready` is the event after which data may flow. */
  dial(host: string, port: number): DialedLink;
  /** An inbound connection that had not authenticated was refused (counted, logged at a bounded rate). */
  refused(kind: RefusalKind, peer: string, detail: string): void;
}
