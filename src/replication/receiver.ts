import type { LinkSocket } from './transport.ts';
import { encode, FrameDecoder, FrameType, HANDSHAKE_MAX_FRAME, MAX_FRAME, ProtocolError, type Auth, type Hello, type ItemFrame, type Message } from '../proto/replication/codec.ts';
import { Handshake, HandshakeError } from './handshake.ts';
import { closeLinkSocket, decodeOrRefuse, strangerEnding } from './session-io.ts';
import { LinkMachine } from './link.ts';
import { plainAddress } from './access.ts';
import type { SessionContext } from './context.ts';
import { adoptReadingWithUserBuffer } from '../net/user-buffer.ts';

/** Reads of an inbound link land in one buffer of this size, reused (see Receiver.start). */
const READ_BUFFER = 64 * 1024;

/**
 * How long a receiver may hold back its ACK when the sender does not run in synchronous mode. There an ACK only
 * trims the sender's lag figure and resume bookkeeping, so one ACK per interval replaces one per read: under a
 * load that sends a few writes per message, the ACK's write (and the sender's read of it) was half the cost of
 * every message. A synchronous sender holds each client's reply until the ACK, so it gets one per event-loop turn.
 */
export const LAZY_ACK_MS = 5;
/**
 * Under a steady stream (the last ACK less than this long ago) a sender not in synchronous mode gets one ACK per
 * this interval: four in five of the ACKs of LAZY_ACK_MS are saved, each a write and a timer here, and a read on
 * the sender (whose lag and queue depth figures are then this coarse). A write after a quiet spell is still
 * acknowledged LAZY_ACK_MS after it arrived.
 */
export const STREAM_ACK_MS = 20;

/** Where a receiving link comes from: a peer that dialed us (with the HELLO it sent), or a peer we dial. */
export type ReceiverEnd = { socket: LinkSocket; hello: Hello } | { host: string; port: number };

/**
 * The receiving end of a link: applies one peer's changes to the local store and acknowledges them.
 * It tells the peer where to resume (the last sequence applied from that peer's current run) or asks for a
 * full copy (JoinPolicy.resumeFor decides); a peer still joining answers NOT_READY and the link waits for its
 * STATE, then asks again. A copy counts toward this node's completeness only if its source was complete.
 * Usually the peer dialed us; a node whose replication port is held by its peer (two nodes sharing one -X on
 * one host, as repcached pairs them) dials the peer for this direction too, and then reconnects with backoff
 * like a sender.
 */
export class Receiver {
  readonly machine: LinkMachine;
  readonly remote: string;
  /** True when this node dialed the link. */
  readonly dials: boolean;
  readonly #ctx: SessionContext;
  readonly #dialTo: { host: string; port: number } | null;
  #socket: LinkSocket | null = null;
  #hs: Handshake;
  #decoder = new FrameDecoder(HANDSHAKE_MAX_FRAME);
  /** Accepting side: our AUTH, sent once the dialer proved itself. */
  #pendingAuth: Auth | null = null;
  /** Accepting side, until start(): the socket and the HELLO the gate read from it. */
  #accepted: { socket: LinkSocket; hello: Hello } | null = null;
  readonly #onMessageBound = (m: Message): void => this.#onMessage(m);
  readonly #onItemBound = (f: ItemFrame): void => this.#onItem(f);
  /** Highest SET sequence in the chunk being decoded: `applied` (a BigInt) is updated once per chunk. */
  #chunkSeq = 0;
  peerNodeId = -1;
  peerRunId = 0n;
  applied = 0n;
  #ackedSent = 0n;
  /** The sender said it sent everything it had (a HEARTBEAT) since this stream began or last resynced. */
  #caughtUp = false;
  #ackScheduled = false;
  #ackTimer: ReturnType<typeof setTimeout> | null = null;
  /** When the last ACK left (ctx.now()). */
  #ackedAt = -Infinity;
  /** The sender runs in synchronous mode (its HELLO said so): it waits for each ACK before answering a client. */
  #peerSyncs = false;
  #syncStart = -1n;
  #copyId = 0n;
  #copySource: 'complete' | 'partial' = 'partial';
  syncItems = 0;
  syncTotal = 0;
  bytesReceived = 0;
  bytesSent = 0;
  #lastProgressLog = 0;
  /** Called once when an accepted link is gone. */
  onClosed: (() => void) | null = null;
  /** Called once the peer authenticated (or the link ended before). */
  onSettled: (() => void) | null = null;

  constructor(ctx: SessionContext, end: ReceiverEnd) {
    this.#ctx = ctx;
    this.dials = !('socket' in end);
    this.#dialTo = 'socket' in end ? null : { host: end.host, port: end.port };
    this.remote = 'socket' in end ? `${plainAddress(end.socket.remoteAddress ?? '')}:${end.socket.remotePort}` : `${end.host}:${end.port}`;
    this.#hs = new Handshake('receiver', ctx.me);
    this.machine = new LinkMachine({
      dials: this.dials,
      now: () => ctx.now(),
      timing: ctx.timing,
      effects: {
        connect: () => this.#connect(),
        close: (reason) => this.#close(reason),
        heartbeat: () => this.#write(encode({ type: 'heartbeat', seq: this.#syncStart >= 0n ? 0n : this.applied })),
        stateChanged: (from, to, reason) => ctx.stateChanged(this.name, from, to, reason, this.#stranger),
      },
    });
    if ('socket' in end) this.#accepted = end;
  }

  /** Dialing side: connect. Accepting side: answer the HELLO the peer sent (callbacks are set by then). */
  start(): void {
    const end = this.#accepted;
    this.#accepted = null;
    if (!end) {
      this.machine.start();
      return;
    }
    // A plain TCP link reads into one reused buffer straight to the decoder: no Buffer allocation and no stream
    // machinery per read, which is most of what a message of a few writes costs (the decoder copies what it keeps).
    const adopted = adoptReadingWithUserBuffer(end.socket, Buffer.allocUnsafe(READ_BUFFER), (n, buf) => this.#onData(buf.subarray(0, n)));
    const socket: LinkSocket = adopted ?? end.socket;
    this.#socket = socket;
    socket.setNoDelay(true);
    if (!adopted) socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('error', (err) => this.machine.failed(err.message));
    socket.on('close', () => this.machine.failed('connection closed by peer'));
    this.machine.connected();
    this.#write(encode(this.#hs.hello(this.#ctx.status())));
    this.#onData(encode(end.hello));
  }

  get name(): string {
    return `${this.dials ? 'from' : 'inbound'} ${this.remote}${this.peerNodeId >= 0 ? ` (node ${this.peerNodeId})` : ''}`;
  }

  /** An inbound link whose peer has not proved membership yet: whoever it is, it gets no data. */
  get #stranger(): boolean {
    return !this.dials && !this.#hs.authed;
  }

  /** Dialing side: a new connection, with a fresh handshake. */
  #connect(): void {
    const { host, port } = this.#dialTo!;
    const { socket: s, ready } = this.#ctx.dial(host, port);
    this.#socket = s;
    this.#decoder = new FrameDecoder(HANDSHAKE_MAX_FRAME);
    this.#hs = new Handshake('receiver', this.#ctx.me);
    this.#syncStart = -1n;
    this.#chunkSeq = 0;
    s.on(ready, () => {
      if (this.#socket !== s) return;
      this.machine.connected();
      this.#write(encode(this.#hs.hello(this.#ctx.status())));
    });
    s.on('data', (chunk: Buffer) => {
      if (this.#socket === s) this.#onData(chunk);
    });
    s.on('error', (err) => {
      if (this.#socket === s) this.machine.failed(err.message);
    });
    s.on('close', () => {
      if (this.#socket === s) this.machine.failed('connection closed by peer');
    });
  }

  #write(buf: Buffer): void {
    const s = this.#socket;
    if (!s || s.destroyed) return;
    this.bytesSent += buf.length;
    this.machine.sent();
    s.write(buf);
  }

  #close(reason: string): void {
    const s = this.#socket;
    this.#socket = null;
    if (this.#ackTimer) clearTimeout(this.#ackTimer);
    this.#ackTimer = null;
    this.#ackScheduled = false;
    // What was applied but not acknowledged yet still counts where the next run of this link resumes.
    if (this.#syncStart < 0n && this.applied > this.#ackedSent && this.#hs.authed) this.#ctx.applied(this.peerNodeId, this.peerRunId, this.applied);
    this.#syncStart = -1n;
    this.#caughtUp = false;
    if (this.#stranger) {
      const ending = strangerEnding(reason);
      if (ending) this.#ctx.refused(ending.kind, this.remote, ending.detail);
    }
    if (s) closeLinkSocket(s, reason);
    this.#settled();
    if (this.dials) return;
    const cb = this.onClosed;
    this.onClosed = null;
    cb?.();
  }

  #settled(): void {
    const cb = this.onSettled;
    this.onSettled = null;
    cb?.();
  }

  #onData(chunk: Buffer): void {
    this.bytesReceived += chunk.length;
    this.machine.received();
    const ok = decodeOrRefuse(this.#ctx, this.machine, this.remote, this.#decoder, chunk, this.#onMessageBound, this.#onItemBound, this.#stranger);
    if (this.#chunkSeq > 0) {
      this.#seq(BigInt(this.#chunkSeq));
      this.#chunkSeq = 0;
    }
    if (!ok) return;
    if (this.applied > this.#ackedSent && this.#syncStart < 0n && !this.#ackScheduled) {
      // One cumulative ACK for every chunk read in this I/O phase, or per LAZY_ACK_MS (STREAM_ACK_MS under a stream)
      // for a sender that does not wait for it.
      this.#ackScheduled = true;
      if (this.#peerSyncs) setImmediate(this.#ackBound);
      else this.#ackTimer = setTimeout(this.#ackBound, Math.max(LAZY_ACK_MS, this.#ackedAt + STREAM_ACK_MS - this.#ctx.now()));
    }
  }

  readonly #ackBound = (): void => this.#ack();

  #ack(): void {
    this.#ackScheduled = false;
    this.#ackTimer = null;
    if (this.applied <= this.#ackedSent || this.#syncStart >= 0n) return;
    this.#ackedSent = this.applied;
    this.#ackedAt = this.#ctx.now();
    this.#ctx.applied(this.peerNodeId, this.peerRunId, this.applied);
    this.#write(encode({ type: 'ack', seq: this.applied }));
  }

  #seq(seq: bigint): void {
    if (seq > this.applied) this.applied = seq;
  }

  #needStream(what: string): void {
    if (!this.#hs.authed) throw new HandshakeError(`${what} before authentication`);
  }

  /** SET and SYNC_ITEM frames (the decoder hands them only here), without a Message object each. */
  #onItem(f: ItemFrame): void {
    const ctx = this.#ctx;
    if (f.type === FrameType.SET) {
      this.#needStream('SET');
      ctx.applyItem(f);
      if (f.seq > this.#chunkSeq) this.#chunkSeq = f.seq;
      return;
    }
    if (this.#syncStart < 0n) throw new ProtocolError('SYNC_ITEM outside a full copy');
    ctx.applyItem(f);
    if (++this.syncItems % 10000 === 0 && ctx.now() - this.#lastProgressLog >= 2000) {
      this.#lastProgressLog = ctx.now();
      ctx.logger.info({ peer: this.name, received: this.syncItems, total: this.syncTotal }, 'replication: full copy in progress');
    }
  }

  #onMessage(m: Message): void {
    const ctx = this.#ctx;
    switch (m.type) {
      case 'hello': {
        const auth = this.#hs.onHello(m);
        this.peerNodeId = m.nodeId;
        this.peerRunId = m.runId;
        this.#peerSyncs = m.syncMode;
        // The dialer proves itself first; the accepting side answers only a proven peer.
        if (this.dials) this.#write(encode(auth));
        else this.#pendingAuth = auth;
        return;
      }
      case 'auth': {
        this.#hs.onAuth(m);
        if (this.#pendingAuth) this.#write(encode(this.#pendingAuth));
        this.#pendingAuth = null;
        this.#hs.checkNodeId();
        this.#settled();
        for (const w of this.#hs.mismatches()) ctx.logger.warn({ peer: this.name }, `replication: ${w}`);
        this.#decoder.maxFrame = MAX_FRAME;
        const peer = this.#hs.peer!;
        ctx.peerStatus(peer.nodeId, peer.runId, peer);
        this.#ask();
        if (!this.dials) ctx.peerHello(peer.nodeId, this.#socket?.remoteAddress ?? '', peer.listenPort);
        return;
      }
      case 'not_ready':
        this.#needStream('NOT_READY');
        if (this.machine.state !== 'handshaking' && this.machine.state !== 'waiting') throw new ProtocolError('NOT_READY without a copy request');
        this.machine.waiting('the peer is still joining; waiting until it is ready');
        return;
      case 'state':
        this.#needStream('STATE');
        ctx.peerStatus(this.peerNodeId, this.peerRunId, m);
        if (this.machine.state === 'waiting' && m.completeness !== 'joining') this.#ask();
        else if (this.#mayAskCopy() && ctx.wantsCopyFrom(this.peerNodeId, this.peerRunId)) {
          ctx.logger.info({ peer: this.name }, 'replication: the peer is complete now; asking it for a full copy');
          this.#write(encode({ type: 'resume', fromSeq: 0n }));
        }
        return;
      case 'sync_begin': {
        this.#needStream('SYNC_BEGIN');
        const st = this.machine.state;
        if (st === 'handshaking' || st === 'waiting') this.machine.handshakeDone(true);
        else this.machine.resync('peer restarted the full copy');
        this.#syncStart = m.startSeq;
        this.#caughtUp = false;
        this.#copyId = m.copyId;
        this.#copySource = m.source;
        this.syncItems = 0;
        this.syncTotal = m.items;
        this.#lastProgressLog = ctx.now();
        if (m.source === 'complete') ctx.peerStatus(this.peerNodeId, this.peerRunId, { completeness: 'complete', holdsData: m.items > 0, items: m.items });
        if (m.flushEpoch > 0n) ctx.applyFlush(m.flushEpoch, 0);
        const copy = m.copyId.toString(16).padStart(16, '0');
        ctx.logger.info({ peer: this.name, items: m.items, copy, source: m.source }, `replication: receiving a full copy (${m.source})`);
        return;
      }
      case 'sync_end': {
        if (this.#syncStart < 0n) throw new ProtocolError('SYNC_END outside a full copy');
        if (m.copyId !== this.#copyId) throw new ProtocolError(`SYNC_END of copy ${m.copyId.toString(16)} inside copy ${this.#copyId.toString(16)}`);
        const start = this.#syncStart;
        this.#syncStart = -1n;
        this.applied = start - 1n;
        ctx.applied(this.peerNodeId, this.peerRunId, this.applied);
        this.#ackedSent = -1n; // force an ACK
        ctx.logger.info({ peer: this.name, items: m.items, copy: m.copyId.toString(16).padStart(16, '0'), source: this.#copySource }, `replication: full copy received (${this.#copySource})`);
        this.machine.syncDone();
        ctx.copyComplete(this.peerNodeId, m.items, this.#copySource === 'complete');
        return;
      }
      case 'delete':
        this.#needStream('DELETE');
        ctx.applyDelete(m.key, m.version);
        if (m.seq > 0n) this.#seq(m.seq);
        return;
      case 'touch':
        this.#needStream('TOUCH');
        ctx.applyTouch(m.key, m.ttl, m.version);
        this.#seq(m.seq);
        return;
      case 'counter':
        this.#needStream('COUNTER');
        ctx.applyCounter(m.key, m.base, m.version, m.sum);
        if (m.seq > 0n) this.#seq(m.seq);
        return;
      case 'flush':
        this.#needStream('FLUSH');
        ctx.applyFlush(m.version, m.delay);
        this.#seq(m.seq);
        return;
      case 'heartbeat':
        if (this.#syncStart < 0n && this.machine.state === 'streaming') {
          if (m.seq > 0n) this.#seq(m.seq);
          this.#caughtUp = true;
        }
        return;
      case 'error':
        if (!this.#stranger) ctx.logger.warn({ peer: this.name, reason: m.reason }, 'replication: peer closed the link');
        this.machine.failed(`peer error: ${m.reason}`);
        return;
      default:
        throw new ProtocolError(`unexpected ${m.type} frame from a sending peer`);
    }
  }

  /** The peer proved it is a member (the handshake's AUTH checked out). */
  get authenticated(): boolean {
    return this.#hs.authed;
  }

  /** Sends RESUME: where to start, or 0 for a full copy. A resume is under way at once; a copy starts with SYNC_BEGIN. */
  #ask(): void {
    const from = this.#ctx.resumePoint(this.peerNodeId, this.peerRunId);
    this.applied = from > 0n ? from - 1n : 0n;
    this.#ackedSent = this.applied;
    this.#caughtUp = false;
    this.#write(encode({ type: 'resume', fromSeq: from }));
    if (from > 0n) this.machine.handshakeDone(false);
  }

  /** On a live link, unless a complete copy is already coming over it. */
  #mayAskCopy(): boolean {
    const st = this.machine.state;
    return st === 'streaming' || (st === 'syncing' && this.#copySource !== 'complete');
  }

  get syncing(): boolean {
    return this.#syncStart >= 0n;
  }

  /**
   * The peer's changes are flowing and this node has all it had sent when it last said so: streaming, no copy
   * under way, and a HEARTBEAT received since the stream began (a sender sends one when it reaches its log's
   * head after a resume or a copy, and whenever it is idle). Recency is up to the caller (lastReceivedAt).
   */
  get current(): boolean {
    return this.#caughtUp && this.#syncStart < 0n && this.machine.state === 'streaming';
  }

  stop(reason = 'shutdown'): void {
    this.machine.stop(reason);
  }
}
