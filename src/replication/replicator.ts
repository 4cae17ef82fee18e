
import { randomBytes, randomInt } from 'node:crypto';
import type { Logger } from '../log.ts';
import { plainAddress } from './access.ts';
import { ReplicationPort, type PeerAddress } from './port.ts';
import type { LinkSocket, LinkTlsFiles, ReplicationTransport } from './transport.ts';
import type { Hello } from '../proto/replication/codec.ts';
import { HybridClock, MAX_NODE_ID } from './hlc.ts';
import { ChangeKind, type ChangeStream } from '../cache/changes.ts';
import { Tombstones } from './tombstones.ts';
import { RemoteApplier } from './apply.ts';
import { Sender } from './sender.ts';
import { Receiver } from './receiver.ts';
import type { LinkState, LinkTiming } from './link.ts';
import type { LocalIdentity } from './handshake.ts';
import type { Completeness, NodeStatus } from '../proto/replication/codec.ts';
import { DEFAULT_COLD_WINDOW_MS, JoinPolicy } from './join.ts';
import type { SessionContext } from './context.ts';
import type { ReplicaStore } from './replica-store.ts';
import type { StoreLock } from '../cache/store-lock.ts';
import { plainView, StoreSections, type ReplicationShare } from './threads.ts';
import { COALESCE_MS, FlushPacer } from './flush-pacer.ts';
import { systemClock, type Clock } from '../clock.ts';

/** -t N: wake-ups of the replication thread closer than this mean load (see Replicator.#rearm). */
const BUSY_MS = 2;
/** -t N: the stats are published as a section ends, at most this often (the rest wait for a timer this long). */
const PUBLISH_MS = 1;
/**
 * -t N: sections closer than this to each other are a run (a stream of changes in or out, whose wake-ups a loaded
 * machine spreads to several milliseconds apart): their stats are published when a worker reads them or at the tick.
 */
const RUN_MS = 20;
/** Records the change stream keeps for the peers, and sync mode's bound, unless configured. */
export const DEFAULT_LOG_CAPACITY = 1 << 18;
export const DEFAULT_SYNC_TIMEOUT_MS = 1000;

export type { PeerAddress };

export interface ReplicationOptions {
  /** -x host[:port], repeatable. */
  peers: PeerAddress[];
  /** -X: replication listen port. */
  port: number;
  /** Address the replication port binds to (default: all interfaces). */
  listenHost?: string;
  /** Addresses the replication port binds to (repcache: -o repl_listen, else the -l addresses); wins over listenHost. */
  listenHosts?: string[];
  /** Source addresses (`addr` or `addr/bits`) allowed to connect besides the peers' own (see AccessList). */
  allow?: string[];
  /** Mutual TLS on every link: both ends present a certificate signed by `ca`. */
  tls?: LinkTlsFiles | null;
  /** Connections in the handshake at once; more are refused (`repl_refused_busy`). */
  maxPendingHandshakes?: number;
  /** Refusals of strangers are logged once per kind per this interval, with a count. */
  strangerLogIntervalMs?: number;
  /** Shared secret proving membership (empty: none). */
  secret?: string;
  /** Acknowledge a write to the client only after a peer has it (bounded by syncTimeoutMs). */
  syncMode?: boolean;
  syncTimeoutMs?: number;
  /** Records the store's change stream keeps for the peers (the resume window). */
  logCapacity?: number;
  tombstoneMax?: number;
  tombstoneLifetimeMs?: number;
  /** A joining node serves anyway after this long without a complete copy (and reports `partial`). */
  joinTimeoutMs?: number;
  /** -o repl_complete: this node is complete from the start (serves at once and is a source, even empty). */
  startComplete?: boolean;
  /** How long the cold-cluster condition must hold before an empty node declares itself complete. */
  coldWindowMs?: number;
  itemSizeMax?: number;
  timing?: Partial<LinkTiming>;
  /** How links dial and listen (default: TCP, with TLS when `tls` is set); tests pass an in-memory network. */
  transport?: ReplicationTransport;
  /** The clock that paces the senders' flushes (default: the system's). */
  clock?: Clock;
}

/**
 * repcache -t N: the replicator runs in its own thread on the store the client workers share (threads.ts): it
 * takes `lock` around its uses of the store, reads the workers' records from the shared change stream, and
 * publishes acknowledgements and its stats through `share`.
 */
export interface ReplicatorThreads {
  lock: StoreLock;
  share: ReplicationShare;
  /** Runs first in each section under the lock (the replication thread reads its store clock then). */
  entered?: () => void;
}

/** Picks this process's node id: the low bits of every version it issues. */
export function randomNodeId(): number {
  return randomInt(1, MAX_NODE_ID + 1);
}

/**
 * Master-master replication for one node: subscribes to the store's change stream, listens on the replication
 * port for peers pushing their changes (Receiver), dials every configured peer to push ours (Sender), and applies
 * remote changes with newest-version-wins rules. `ready` resolves when the node may open its client port.
 */
export class Replicator {
  readonly hlc: HybridClock;
  readonly changes: ChangeStream;
  readonly tombstones: Tombstones;
  readonly senders: Sender[] = [];
  readonly receivers = new Set<Receiver>();
  readonly ready: Promise<string>;
  readonly #opts: Required<Omit<ReplicationOptions, 'listenHost' | 'listenHosts' | 'timing' | 'allow' | 'tls' | 'transport' | 'clock'>> & Pick<ReplicationOptions, 'listenHost' | 'listenHosts' | 'timing' | 'allow' | 'tls' | 'transport'>;
  readonly #logger: Logger;
  readonly #store: ReplicaStore;
  readonly #me: LocalIdentity;
  readonly #ctx: SessionContext;
  readonly #apply: RemoteApplier;
  /** Per origin node: the run we last applied from, and its last applied sequence. */
  readonly #appliedFrom = new Map<number, { runId: bigint; seq: bigint }>();
  #resolveReady!: (why: string) => void;
  #isReady = false;
  readonly #port: ReplicationPort;
  /** The peers this node dials (the -x list without this node itself, or the holder of our port). */
  #peers: PeerAddress[] = [];
  readonly #join: JoinPolicy;
  #timer: NodeJS.Timeout | null = null;
  readonly #pacer: FlushPacer;
  #syncWaiters: Array<{ seq: number; resolve: () => void; timer: NodeJS.Timeout }> = [];
  syncTimeouts = 0;
  syncAcked = 0;
  fullCopiesReceived = 0;
  /** -t N: the store lock's sections, the shared state, and the next record of the workers' to note. */
  readonly #sections: StoreSections | null = null;
  readonly #share: ReplicationShare | null = null;
  #noted = 1;
  #bellArmed = false;
  #lastWake = -Infinity;
  #publishScheduled = false;
  #rearmTimer: NodeJS.Timeout | null = null;
  /** In the bell's wake-up, which ships at once (no pump to schedule). */
  #waking = false;
  #stopped = false;
  /** -t N: start() is done (sections publish the stats from then on). */
  #started = false;
  #publishedAt = -Infinity;
  /** When the last section ended (a run of sections closer than RUN_MS publishes only when due). */
  #leftAt = -Infinity;
  #publishDue = false;
  #publishTimer: NodeJS.Timeout | null = null;
  /** -t N: stops listening for the workers' reads of the stats (ReplicationShare.onRead). */
  #stopListening: (() => void) | null = null;
  /** -t N: records the workers wrote that left the ring before this thread noted them. */
  overruns = 0;

  constructor(store: ReplicaStore, hlc: HybridClock, opts: ReplicationOptions, logger: Logger, threads?: ReplicatorThreads) {
    this.changes = store.changes;
    if (threads !== undefined) {
      this.#noted = this.changes.nextSeq;
      this.changes.notedUpTo(this.#noted);
      const entered = threads.entered;
      const sections = (this.#sections = new StoreSections(threads.lock, () => {
        entered?.();
        this.#catchUp();
      }, () => this.#leaving()));
      this.#share = threads.share;
      // every use of the store, its stream and the clock in a callback takes the lock first (threads.ts)
      sections.guard(store);
      sections.guard(store.changes);
      sections.guard(hlc);
    }
    this.#store = store;
    this.hlc = hlc;
    this.#logger = logger;
    this.#opts = {
      secret: '', syncMode: false, syncTimeoutMs: DEFAULT_SYNC_TIMEOUT_MS, logCapacity: DEFAULT_LOG_CAPACITY, tombstoneMax: 1 << 18,
      tombstoneLifetimeMs: 3600_000, joinTimeoutMs: 15_000, itemSizeMax: 1024 * 1024, maxPendingHandshakes: 64,
      strangerLogIntervalMs: 60_000, startComplete: false, coldWindowMs: DEFAULT_COLD_WINDOW_MS, ...opts,
    };
    this.tombstones = new Tombstones(this.#opts.tombstoneMax, this.#opts.tombstoneLifetimeMs);
    this.#apply = new RemoteApplier(store, hlc, this.tombstones, logger);
    this.#me = {
      nodeId: hlc.nodeId, runId: randomBytes(8).readBigUInt64BE(0), listenPort: opts.port,
      itemSizeMax: this.#opts.itemSizeMax, syncMode: this.#opts.syncMode, secret: this.#opts.secret,
    };
    this.ready = new Promise((res) => (this.#resolveReady = res));
    // Async mode coalesces flushes under load; sync mode never holds one (a client's reply waits for the peer's
    // ack), and -t N's replication thread paces itself by when it listens for the workers' bell (#rearm).
    this.#pacer = new FlushPacer({
      clock: opts.clock ?? systemClock, soon: setImmediate, flush: this.#runPump,
      holdMs: this.#opts.syncMode || threads !== undefined ? 0 : COALESCE_MS,
    });
    const o = this.#opts;
    this.#port = new ReplicationPort({
      port: o.port, peers: o.peers, allow: o.allow ?? [], tls: o.tls ?? null, transport: o.transport,
      listenHosts: o.listenHosts ?? (o.listenHost !== undefined ? [o.listenHost] : []),
      timeoutMs: o.timing?.connectTimeoutMs ?? 3000, maxPending: o.maxPendingHandshakes, strangerLogIntervalMs: o.strangerLogIntervalMs,
      admit: (socket, hello, settled) => this.#admit(socket, hello, settled),
      counted: () => this.#publishSoon(),
      counts: this.#share?.refusalCounts(),
    }, logger);
    this.#join = new JoinPolicy({
      now: () => Date.now(),
      initial: this.#opts.peers.length === 0 || this.#opts.startComplete ? 'complete' : 'joining',
      joinTimeoutMs: this.#opts.joinTimeoutMs,
      coldWindowMs: this.#opts.coldWindowMs,
      changed: (from, to, reason) => this.#completenessChanged(from, to, reason),
    });
    this.#ctx = this.#context();
    if (this.#sections === null) this.changes.subscribe({ appended: (seq, kind) => this.#appended(seq, kind), settled: (seq) => this.#settled(seq) }, this.#opts.logCapacity);
  }

  /** -t N, at the start of each section under the store lock: notes the records the workers wrote since the last. */
  #catchUp(): void {
    const changes = this.changes;
    const next = changes.nextSeq;
    let seq = this.#noted;
    if (seq >= next) return;
    const first = changes.firstSeq;
    if (seq < first) {
      this.overruns += first - seq;
      this.#logger.warn({ lost: first - seq }, 'replication: the change log overflowed before the replication thread read it; peers get a full copy');
      seq = first;
    }
    for (; seq < next; seq++) this.#note(seq, changes.kindAt(seq));
    this.#noted = next;
    changes.notedUpTo(next);
    if (!this.#waking) this.#schedulePump();
  }

  /** -t N: wakes when a worker appends a record (the stream's bell), to ship it. */
  #armBell(): void {
    if (this.#bellArmed || this.#stopped) return;
    this.#bellArmed = true;
    const changes = this.changes;
    const rung = changes.armBell();
    const r = Atomics.waitAsync(changes.bellWords, 0, rung);
    const wake = () => {
      this.#bellArmed = false;
      if (this.#stopped) return;
      // one section: note the new records, ship them, arm the bell again
      this.#waking = true;
      try {
        this.#sections!.enter();
      } finally {
        this.#waking = false;
      }
      if (!this.#pacer.pending) this.#runPump();
    };
    if (r.async) void r.value.then(wake);
    else queueMicrotask(wake);
  }

  /** -t N: publishes once this turn's events are handled (a link's state changed, a stranger was refused). */
  #publishSoon(): void {
    if (this.#share === null || this.#publishScheduled) return;
    this.#publishScheduled = true;
    setImmediate(() => {
      this.#publishScheduled = false;
      if (this.#stopped) return;
      this.#publishDue = true;
      this.#publish();
    });
  }

  /**
   * -t N, at the end of each section: the stats as the section left them, read under the lock and published just
   * after it. When the thread is quiet, a section publishes as it ends (at most once per PUBLISH_MS: the rest
   * wait for a timer). In a run of sections closer than RUN_MS (a stream of changes in or out: hundreds to
   * thousands per second) they are published only when due: a worker read them (#readerAsked), a link changed
   * state, or the 50 ms tick. Each publication costs the fields, their JSON and a copy: at one per 10 ms in such
   * runs that was about a seventh of a streaming peer's replication thread (perf).
   */
  #leaving(): (() => void) | null {
    const share = this.#share;
    if (share === null || this.#stopped || !this.#started) return null;
    // whether sync mode's replies wait for a peer: as of every section, not of the last publication
    share.peerUp = this.senders.some((s) => s.machine.state === 'streaming' || s.machine.state === 'syncing');
    const now = performance.now();
    const inRun = now - this.#leftAt < RUN_MS;
    this.#leftAt = now;
    if (!this.#publishDue) {
      if (inRun) return null;
      if (now - this.#publishedAt < PUBLISH_MS) {
        this.#publishLater(this.#publishedAt + PUBLISH_MS - now);
        return null;
      }
    }
    this.#publishDue = false;
    if (this.#publishTimer !== null) clearTimeout(this.#publishTimer);
    this.#publishTimer = null;
    this.#publishedAt = now;
    // the links' getters may read the change stream: read them here, still under the lock
    const entries = this.stats();
    const view = plainView(this);
    return () => share.publishStats(entries, view);
  }

  #publishLater(ms: number): void {
    if (this.#publishTimer === null) this.#publishTimer = setTimeout(this.#publishNow, ms);
  }

  /** A publication that is due (the hold is over: a timer may fire a little before performance.now says so). */
  readonly #publishNow = (): void => {
    this.#publishTimer = null;
    if (this.#stopped) return;
    this.#publishDue = true;
    this.#publish();
  };

  /** -t N: a worker read the stats: publish them again (at most once per PUBLISH_MS), so its next read is current. */
  #readerAsked(): void {
    if (this.#stopped) return;
    const wait = this.#publishedAt + PUBLISH_MS - performance.now();
    if (wait > 0) this.#publishLater(wait);
    else this.#publishNow();
  }

  /** -t N: the shared state the workers read (a peer up for sync mode, the stats), published as a section ends. */
  #publish(): void {
    this.#sections?.enter();
  }

  /** complete, joining or partial (see JoinPolicy). */
  get completeness(): Completeness {
    return this.#join.completeness;
  }

  get nodeId(): number {
    return this.#me.nodeId;
  }

  get isReady(): boolean {
    return this.#isReady;
  }

  #markReady(why: string): void {
    if (this.#isReady) return;
    this.#isReady = true;
    this.#logger.info({ reason: why }, `replication: ready to serve clients (${why})`);
    this.#resolveReady(why);
  }

  #completenessChanged(from: Completeness, to: Completeness, reason: string): void {
    if (to === 'partial') {
      const expected = this.#join.expectedItems();
      this.#logger.warn(
        { reason, items: this.#store.itemCount, expected },
        `replication: serving WITHOUT a complete copy (${reason}); holding ${this.#store.itemCount}${expected !== null ? ` of ${expected}` : ''} items; replication_state is partial until a complete copy arrives`,
      );
    } else if (from === 'partial') {
      this.#logger.info({ reason }, `replication: complete now (${reason}); no longer partial`);
    }
    this.#markReady(to === 'partial' ? `partial: ${reason}` : reason);
    this.#announce();
  }

  /** Tells every peer we push to that our join status changed (each link sends STATE only on a change). */
  #announce(): void {
    const s = this.#status();
    for (const sender of this.senders) sender.announce(s);
  }

  #status(): NodeStatus {
    if (this.tombstones.size > 0) this.#join.sawData();
    return this.#join.status(this.#store.itemCount);
  }

  /**
   * Opens the replication port and dials the peers. When the port is already held on this host by the peer
   * (repcached's pairing of two nodes on one host with one -X), this node dials that peer for both directions.
   */
  async start(): Promise<void> {
    this.#peers = await this.#port.open();
    const dialOnly = this.#port.dialOnly;
    this.#me.listenPort = dialOnly ? 0 : this.#opts.port;
    this.#logger.info({ node: this.nodeId, peers: this.#peers.map((p) => `${p.host}:${p.port}`) }, 'replication: started');
    for (const p of this.#peers) {
      this.#addSender(p.host, p.port);
      if (dialOnly) this.#addPuller(p.host, p.port);
    }
    this.#timer = setInterval(() => this.#tick(), 50);
    this.#timer.unref();
    // repcached's one-host pairing: the node that holds the port its -x names has no one to copy from
    if (this.#peers.length === 0) this.#join.declareComplete('no peer to copy from: this node holds the replication port its -x names');
    if (this.#join.completeness === 'complete') this.#markReady(this.#opts.startComplete ? 'complete by the operator\'s -o repl_complete' : 'no peers configured');
    if (this.#sections !== null) {
      this.#started = true;
      this.#armBell();
      this.#stopListening = this.#share!.onRead(() => this.#readerAsked());
      this.#publishDue = true;
      this.#publish();
    }
  }

  #addSender(host: string, port: number): Sender {
    const s = new Sender(this.#ctx, host, port);
    this.senders.push(s);
    s.start();
    return s;
  }

  /** A receiving link this node dials (when it does not listen): the peer's changes come over it. */
  #addPuller(host: string, port: number): void {
    const r = new Receiver(this.#ctx, { host, port });
    this.receivers.add(r);
    r.start();
  }

  /** A connection passed the gate with a HELLO: its role says which end of a link we are. */
  #admit(socket: LinkSocket, hello: Hello, settled: () => void): void {
    if (hello.role === 'sender') {
      const r = new Receiver(this.#ctx, { socket, hello });
      this.receivers.add(r);
      r.onClosed = () => this.receivers.delete(r);
      r.onSettled = settled;
      r.start();
      return;
    }
    const s = new Sender(this.#ctx, plainAddress(socket.remoteAddress ?? ''), socket.remotePort ?? 0, { socket, hello });
    this.senders.push(s);
    s.onClosed = () => {
      const i = this.senders.indexOf(s);
      if (i >= 0) this.senders.splice(i, 1);
    };
    s.onSettled = () => {
      settled();
      if (!s.authenticated) return;
      // A newer link from a node replaces its older one (half-open after a crash or a cut).
      for (const o of [...this.senders]) if (o !== s && o.inbound && o.peerNodeId === s.peerNodeId) o.stop('replaced by a newer link from the same node');
    };
    s.start();
  }

  #tick(): void {
    for (const s of this.senders) s.machine.tick();
    for (const r of this.receivers) r.machine.tick();
    if (this.#join.completeness === 'joining') {
      this.#status(); // notes the store's first data
      const dialed = this.senders.filter((s) => !s.inbound);
      this.#join.tick(dialed.map((s) => ({ unreachable: s.machine.connects === 0 && s.machine.failures > 0, heard: s.heard })));
    }
    this.#announce();
    // every tick, busy or not: the fields that age by themselves (heard_ms), and a run of sections' changes
    this.#publishDue = true;
    this.#publish();
  }

  /**
   * A record of the store's change stream: a delete leaves a tombstone (so an older write from a peer cannot bring
   * the key back), a flush raises the flush epoch; then the senders ship it, once this turn's I/O is done.
   */
  #appended(seq: number, kind: ChangeKind): void {
    this.#note(seq, kind);
    this.#schedulePump();
  }

  #note(seq: number, kind: ChangeKind): void {
    const changes = this.changes;
    if (kind === ChangeKind.DELETE) this.tombstones.record(changes.keyAt(seq)!, changes.versionAt(seq));
    else if (kind === ChangeKind.FLUSH) this.#apply.localFlush(changes.versionAt(seq), changes.delayAt(seq));
    else if (kind === ChangeKind.ARITH) {
      this.#apply.counters.local(changes.keyAt(seq)!, changes.isIncrAt(seq), changes.priorVersionAt(seq), changes.priorValueAt(seq), changes.versionAt(seq), changes.valueAt(seq));
    }
  }

  /** Synchronous mode: the reply to the command that made record `seq` waits until a peer has it (bounded). */
  #settled(seq: number): Promise<void> | null {
    return this.#opts.syncMode ? this.#waitForAck(seq) : null;
  }

  /**
   * Sends after the turn's I/O, so every client chunk read in that turn goes out in one write per peer; in async
   * mode, when the last flush was less than COALESCE_MS ago, the next waits until COALESCE_MS after it (see
   * FlushPacer): under a steady load of small requests a turn holds only a write or two, and each flush wakes
   * the peer.
   */
  #schedulePump(): void {
    this.#pacer.request();
  }

  readonly #runPump = (): void => {
    for (const s of this.senders) s.pump();
    if (this.#sections !== null) this.#rearm();
  };

  /**
   * -t N, after shipping: waits for the next record. Under load (the last wake-up was less than BUSY_MS ago) and
   * in async mode it waits COALESCE_MS first, so a wake-up ships a millisecond's records rather than one or two:
   * each costs a cross-thread notification, a section under the lock and a write (and wakes the peer).
   */
  #rearm(): void {
    const now = performance.now();
    const busy = now - this.#lastWake < BUSY_MS && !this.#opts.syncMode;
    this.#lastWake = now;
    if (!busy) this.#armBell();
    else if (!this.#bellArmed && this.#rearmTimer === null) {
      this.#rearmTimer = setTimeout(() => {
        this.#rearmTimer = null;
        this.#armBell();
      }, COALESCE_MS);
    }
  }

  #waitForAck(seq: number): Promise<void> | null {
    if (!this.senders.some((s) => s.machine.state === 'streaming' || s.machine.state === 'syncing')) return null;
    return new Promise<void>((resolve) => {
      const w = {
        seq, resolve,
        timer: setTimeout(() => {
          this.syncTimeouts++;
          const i = this.#syncWaiters.indexOf(w);
          if (i >= 0) this.#syncWaiters.splice(i, 1);
          resolve();
        }, this.#opts.syncTimeoutMs),
      };
      this.#syncWaiters.push(w);
    });
  }

  #acked(seq: number): void {
    this.#share?.acked(seq);
    const ws = this.#syncWaiters;
    let n = 0;
    while (n < ws.length && ws[n].seq <= seq) {
      clearTimeout(ws[n].timer);
      ws[n].resolve();
      n++;
    }
    if (n > 0) {
      this.syncAcked += n;
      ws.splice(0, n);
    }
  }

  get staleRemote(): number {
    return this.#apply.stale;
  }

  /** Applies one change as if a peer had sent it (the receiving path without a socket; used by tests). */
  applyRemote(m: { type: 'set'; key: Buffer; flags: number; ttl: number; value: Buffer; version: bigint } | { type: 'delete'; key: Buffer; version: bigint } | { type: 'touch'; key: Buffer; ttl: number; version: bigint } | { type: 'flush'; version: bigint; delay: number } | { type: 'counter'; key: Buffer; base: bigint; version: bigint; sum: bigint }): void {
    switch (m.type) {
      case 'counter': return this.#apply.counter(m.key, m.base, m.version, m.sum);
      case 'set': return this.#apply.set(m.key, m.flags, m.ttl, m.value, m.version);
      case 'delete': return this.#apply.delete(m.key, m.version);
      case 'touch': return this.#apply.touch(m.key, m.ttl, m.version);
      case 'flush': return this.#apply.flush(m.version, m.delay);
    }
  }

  #context(): SessionContext {
    return {
      me: this.#me,
      store: this.#store,
      changes: this.changes,
      tombstones: this.tombstones,
      counters: this.#apply.counters,
      hlc: this.hlc,
      logger: this.#logger,
      timing: this.#opts.timing ?? {},
      now: () => Date.now(),
      flushEpoch: () => this.#apply.flushEpoch,
      status: () => this.#status(),
      completeness: () => this.#join.completeness,
      peerStatus: (nodeId, runId, st) => this.#join.peer(nodeId, runId, st),
      resumePoint: (nodeId, runId) => {
        const a = this.#appliedFrom.get(nodeId);
        return this.#join.resumeFor(nodeId, runId, a && a.runId === runId ? a.seq + 1n : 0n);
      },
      wantsCopyFrom: (nodeId, runId) => this.#join.wantsCopyFrom(nodeId, runId),
      copyStarted: (nodeId, runId) => this.#join.copyStarted(nodeId, runId),
      applied: (nodeId, runId, seq) => {
        const a = this.#appliedFrom.get(nodeId);
        if (a && a.runId === runId) a.seq = seq;
        else this.#appliedFrom.set(nodeId, { runId, seq });
      },
      copyComplete: (nodeId, items, complete) => {
        this.fullCopiesReceived++;
        if (!complete && this.#join.completeness !== 'complete') {
          this.#logger.info({ node: nodeId, items }, `replication: a partial copy of ${items} items from node ${nodeId} was merged; it does not make this node complete`);
        }
        this.#join.copyReceived(nodeId, complete, items);
      },
      applyItem: (f) => {
        this.#sections?.enter();
        this.#apply.item(f);
      },
      applyDelete: (k, ver) => {
        this.#sections?.enter();
        this.#apply.delete(k, ver);
      },
      applyTouch: (k, t, ver) => {
        this.#sections?.enter();
        this.#apply.touch(k, t, ver);
      },
      applyCounter: (k, base, ver, sum) => {
        this.#sections?.enter();
        this.#apply.counter(k, base, ver, sum);
      },
      applyFlush: (ver, d) => {
        this.#sections?.enter();
        this.#apply.flush(ver, d);
      },
      peerHello: (nodeId, host, listenPort) => this.#peerHello(nodeId, host, listenPort),
      nodeIdCollision: (peerRunId) => this.#nodeIdCollision(peerRunId),
      acked: (seq) => this.#acked(seq),
      ...(this.#sections !== null ? { afterUnlock: (fn: () => void) => this.#sections!.afterRelease(fn) } : {}),
      stateChanged: (who, from, to, reason, quiet) => this.#stateChanged(who, from, to, reason, quiet),
      dial: (host, port) => this.#port.dial(host, port),
      refused: (kind, peer, detail) => this.#port.refused(kind, peer, detail),
    };
  }

  /** A peer dialed us: it is alive, so a link of ours in backoff retries now; on a node without -x, a link back. */
  #peerHello(nodeId: number, host: string, listenPort: number): void {
    // A new link from a node replaces its older one (half-open after a crash or a cut).
    const same = [...this.receivers].filter((r) => !r.dials && r.peerNodeId === nodeId);
    for (const r of same.slice(0, -1)) r.stop('replaced by a newer link from the same node');
    if (this.senders.some((s) => s.peerNodeId === nodeId && s.machine.up)) return;
    for (const s of this.senders) s.machine.kick();
    // Dial back only when no peers were configured here (repcached style: one side names the other). With a
    // configured list the mesh is explicit, and a configured address may be a proxy or a NAT address.
    if (this.#peers.length > 0) return;
    const h = host.replace(/^::ffff:/, '');
    const known = this.senders.some((s) => s.peerNodeId === nodeId || (s.port === listenPort && sameHost(s.host, h)));
    if (!known && listenPort > 0) {
      this.#logger.info({ node: nodeId, host: h, port: listenPort }, 'replication: peer not in our list dialed us; linking back');
      this.#addSender(h, listenPort);
    }
  }

  /**
   * Two nodes drew the same node id: the one with the smaller run id draws again (both sides see the collision
   * and agree who moves), and the links retry. Versions issued before keep the old id, which is harmless.
   */
  #nodeIdCollision(peerRunId: bigint): void {
    if (this.#me.runId > peerRunId) return;
    const old = this.#me.nodeId;
    const taken = new Set([old, ...this.senders.map((s) => s.peerNodeId), ...[...this.receivers].map((r) => r.peerNodeId)]);
    let id = randomNodeId();
    while (taken.has(id)) id = randomNodeId();
    this.hlc.setNodeId(id);
    this.#me.nodeId = id;
    this.#logger.warn({ old, node: id }, `replication: node id ${old} is also used by a peer; this node now uses ${id}`);
    for (const s of this.senders) s.machine.kick();
  }

  #stateChanged(who: string, from: LinkState, to: LinkState, reason: string, stranger = false): void {
    // A peer that stays down would log every retry: after a few, retries go to debug. A link that has not
    // authenticated is reported by the refusal log (bounded) if it fails.
    const quiet = stranger || (to === 'connecting' && /^retry ([4-9]|\d\d)/.test(reason)) || (from === 'connecting' && to === 'backoff' && this.#retrying(who));
    const level = quiet ? 'debug' : to === 'backoff' || (to === 'closed' && reason !== 'shutdown') ? 'warn' : 'info';
    this.#logger[level]({ peer: who, from, to, reason }, `replication: ${who} ${from} -> ${to} (${reason})`);
    this.#publishSoon();
  }

  #retrying(who: string): boolean {
    const link = this.senders.find((x) => x.name === who) ?? [...this.receivers].find((r) => r.dials && r.name === who);
    return link !== undefined && link.machine.failures > 4;
  }

  /**
   * `replication_state` for stats and haved: `syncing` until this node may serve, `partial` while it serves
   * without a complete copy, then `streaming`, `disconnected` or `standalone`.
   */
  get state(): string {
    if (!this.#isReady) return 'syncing';
    if (this.#join.completeness === 'partial') return 'partial';
    if (this.senders.length === 0 && this.receivers.size === 0) return 'standalone';
    const up = this.senders.some((s) => s.machine.state === 'streaming') || [...this.receivers].some((r) => r.machine.state === 'streaming');
    return up ? 'streaming' : 'disconnected';
  }

  /**
   * How long ago this peer's changes last arrived on a stream into this node that is current (Receiver.current:
   * streaming and caught up); null when there is no such stream (down, copying, sending its backlog, never heard).
   */
  heardMs(s: Sender, now = Date.now()): number | null {
    const id = s.heard?.nodeId;
    if (id === undefined) return null;
    let at = -Infinity;
    for (const r of this.receivers) if (r.peerNodeId === id && r.current) at = Math.max(at, r.machine.lastReceivedAt);
    return at === -Infinity ? null : Math.max(0, Math.round(now - at));
  }

  /**
   * The oldest of heardMs() over every peer (0 with none): what haved's failback gate reads. null when some
   * peer's changes do not reach this node, or have not caught up.
   */
  peersHeardMs(now = Date.now()): number | null {
    let worst = 0;
    for (const s of this.senders) {
      const ms = this.heardMs(s, now);
      if (ms === null) return null;
      worst = Math.max(worst, ms);
    }
    return worst;
  }

  stats(): Array<[string, string | number]> {
    this.#sections?.enter();
    const now = Date.now();
    const heard = (ms: number | null) => (ms === null ? '-' : ms);
    const out: Array<[string, string | number]> = [
      ['replication', 'MASTER'],
      ['replication_state', this.state],
      ['repl_node_id', this.nodeId],
      ['repl_port', this.#opts.port],
      ...this.#port.stats(),
      ['repl_sync_mode', this.#opts.syncMode ? 1 : 0],
      ['repl_log_seq', this.changes.nextSeq - 1],
      ['repl_log_capacity', this.changes.capacity],
      ['repl_applied', this.#apply.applied],
      ['repl_stale', this.#apply.stale],
      ['repl_tombstones', this.tombstones.size],
      ['repl_full_copies_received', this.fullCopiesReceived],
      ['repl_expected_items', this.#join.completeness === 'complete' ? '-' : (this.#join.expectedItems() ?? '-')],
      ['repl_sync_acked', this.syncAcked],
      ['repl_sync_timeouts', this.syncTimeouts],
      ...(this.#sections !== null ? [['repl_log_overruns', this.overruns], ['repl_lock_sections', this.#sections.taken]] as Array<[string, number]> : []),
      ['repl_peers', this.senders.length],
      ['repl_peers_heard_ms', heard(this.peersHeardMs(now))],
    ];
    this.senders.forEach((s, i) => {
      const p = `repl_peer_${i}_`;
      out.push(
        [`${p}addr`, `${s.host}:${s.port}`], [`${p}node_id`, s.peerNodeId], [`${p}state`, s.machine.state],
        [`${p}completeness`, (s.heard && this.#join.peerCompleteness(s.heard.nodeId, s.heard.runId)) ?? '-'],
        [`${p}lag_ms`, s.lagMs], [`${p}queue_depth`, s.queueDepth], [`${p}bytes_sent`, s.bytesSent],
        [`${p}bytes_received`, s.bytesReceived], [`${p}full_syncs`, s.machine.fullSyncs], [`${p}resumes`, s.machine.resumes],
        [`${p}failures`, s.machine.failures], [`${p}sync_progress`, s.copying ? `${s.syncSent}/${s.syncTotal}` : '-'],
        [`${p}heard_ms`, heard(this.heardMs(s, now))],
      );
    });
    let i = 0;
    for (const r of this.receivers) {
      const p = `repl_in_${i++}_`;
      out.push(
        [`${p}addr`, r.remote], [`${p}node_id`, r.peerNodeId], [`${p}state`, r.machine.state], [`${p}applied_seq`, String(r.applied)],
        [`${p}bytes_received`, r.bytesReceived], [`${p}sync_progress`, r.syncing ? `${r.syncItems}/${r.syncTotal}` : '-'],
      );
    }
    return out;
  }

  /** One line for logs and health checks. */
  statusLine(): string {
    const peers = this.senders.map((s) => `${s.host}:${s.port}=${s.machine.state}${s.queueDepth ? `(${s.queueDepth} queued)` : ''}`).join(' ');
    return `replication ${this.state} node=${this.nodeId} ${peers}`.trim();
  }

  /** Graceful: give connected peers up to drainMs to acknowledge everything, then close. */
  async stop(drainMs = 2000): Promise<void> {
    const deadline = Date.now() + drainMs;
    this.#pacer.release(); // a held flush goes now, and what comes while the peers drain goes at once
    this.#sections?.enter(); // the records the workers wrote last
    for (const s of this.senders) s.pump();
    while (Date.now() < deadline && this.senders.some((s) => s.machine.state === 'streaming' && s.queueDepth > 0)) {
      await new Promise((r) => setTimeout(r, 20));
    }
    this.#pacer.stop();
    if (this.#timer) clearInterval(this.#timer);
    for (const w of this.#syncWaiters) {
      clearTimeout(w.timer);
      w.resolve();
    }
    this.#syncWaiters = [];
    for (const s of [...this.senders]) s.stop();
    for (const r of [...this.receivers]) r.stop();
    await this.#port.close();
    this.#stopped = true;
    if (this.#rearmTimer !== null) clearTimeout(this.#rearmTimer);
    if (this.#publishTimer !== null) clearTimeout(this.#publishTimer);
    this.#stopListening?.();
    if (this.#sections === null) this.changes.unsubscribe();
  }
}

function sameHost(a: string, b: string): boolean {
  const norm = (h: string) => (h === 'localhost' ? '127.0.0.1' : h.replace(/^::ffff:/, ''));
  return norm(a) === norm(b);
}
