import type { Socket } from 'node:net';
import { encode, FrameDecoder, FrameType, HANDSHAKE_MAX_FRAME, MAX_FRAME, ProtocolError, type ItemFrame, type Message } from './codec.ts';
import { Handshake, HandshakeError } from './handshake.ts';
import { closeLinkSocket, decodeOrRefuse } from './session-io.ts';
import { LinkMachine } from './link.ts';
import type { SessionContext } from './context.ts';

/**
 * The accepting end of a link: applies one peer's changes to the local store and acknowledges them.
 * It tells the peer where to resume (the last sequence applied from that peer's current run) or asks for a
 * full copy.
 */
export class Receiver {
  readonly machine: LinkMachine;
  readonly remote: string;
  readonly #ctx: SessionContext;
  readonly #socket: Socket;
  readonly #hs: Handshake;
  readonly #decoder = new FrameDecoder(HANDSHAKE_MAX_FRAME);
  readonly #onMessageBound = (m: Message): void => this.#onMessage(m);
  readonly #onItemBound = (f: ItemFrame): void => this.#onItem(f);
  /** Highest SET sequence in the chunk being decoded: `applied` (a BigInt) is updated once per chunk. */
  #chunkSeq = 0;
  peerNodeId = -1;
  peerRunId = 0n;
  applied = 0n;
  #ackedSent = 0n;
  #ackScheduled = false;
  #syncStart = -1n;
  syncItems = 0;
  syncTotal = 0;
  bytesReceived = 0;
  bytesSent = 0;
  #lastProgressLog = 0;
  /** Called once when the link is gone. */
  onClosed: (() => void) | null = null;

  constructor(ctx: SessionContext, socket: Socket) {
    this.#ctx = ctx;
    this.#socket = socket;
    this.remote = `${socket.remoteAddress}:${socket.remotePort}`;
    this.#hs = new Handshake('receiver', ctx.me);
    this.machine = new LinkMachine({
      dials: false,
      now: () => ctx.now(),
      timing: ctx.timing,
      effects: {
        connect: () => {},
        close: (reason) => this.#close(reason),
        heartbeat: () => this.#write(encode({ type: 'heartbeat', seq: this.#syncStart >= 0n ? 0n : this.applied })),
        stateChanged: (from, to, reason) => ctx.stateChanged(this.name, from, to, reason),
      },
    });
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('error', (err) => this.machine.failed(err.message));
    socket.on('close', () => this.machine.failed('connection closed by peer'));
    this.machine.connected();
    this.#write(encode(this.#hs.hello()));
  }

  get name(): string {
    return `inbound ${this.remote}${this.peerNodeId >= 0 ? ` (node ${this.peerNodeId})` : ''}`;
  }

  #write(buf: Buffer): void {
    if (this.#socket.destroyed) return;
    this.bytesSent += buf.length;
    this.machine.sent();
    this.#socket.write(buf);
  }

  #close(reason: string): void {
    closeLinkSocket(this.#socket, reason);
    const cb = this.onClosed;
    this.onClosed = null;
    cb?.();
  }

  #onData(chunk: Buffer): void {
    this.bytesReceived += chunk.length;
    this.machine.received();
    const ok = decodeOrRefuse(this.#ctx, this.machine, this.remote, this.#decoder, chunk, this.#onMessageBound, this.#onItemBound);
    if (this.#chunkSeq > 0) {
      this.#seq(BigInt(this.#chunkSeq));
      this.#chunkSeq = 0;
    }
    if (!ok) return;
    if (this.applied > this.#ackedSent && this.#syncStart < 0n && !this.#ackScheduled) {
      // One ACK for every chunk read in this I/O phase.
      this.#ackScheduled = true;
      setImmediate(() => this.#ack());
    }
  }

  #ack(): void {
    this.#ackScheduled = false;
    if (this.applied <= this.#ackedSent || this.#syncStart >= 0n) return;
    this.#ackedSent = this.applied;
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
        this.#write(encode(auth));
        for (const w of this.#hs.mismatches()) ctx.logger.warn({ peer: this.name }, `replication: ${w}`);
        return;
      }
      case 'auth': {
        this.#hs.onAuth(m);
        this.#decoder.maxFrame = MAX_FRAME;
        const from = ctx.resumePoint(this.peerNodeId, this.peerRunId);
        this.applied = from > 0n ? from - 1n : 0n;
        this.#ackedSent = this.applied;
        this.#write(encode({ type: 'resume', fromSeq: from }));
        const peer = this.#hs.peer!;
        ctx.peerHello(peer.nodeId, this.#socket.remoteAddress ?? '', peer.listenPort);
        // A resume is complete at once; a full copy starts with SYNC_BEGIN.
        if (from > 0n) this.machine.handshakeDone(false);
        return;
      }
      case 'sync_begin':
        this.#needStream('SYNC_BEGIN');
        if (this.machine.state === 'handshaking') this.machine.handshakeDone(true);
        else this.machine.resync('peer restarted the full copy');
        this.#syncStart = m.startSeq;
        this.syncItems = 0;
        this.syncTotal = m.items;
        this.#lastProgressLog = ctx.now();
        if (m.flushEpoch > 0n) ctx.applyFlush(m.flushEpoch, 0);
        ctx.logger.info({ peer: this.name, items: m.items }, 'replication: receiving a full copy');
        return;
      case 'sync_end': {
        if (this.#syncStart < 0n) throw new ProtocolError('SYNC_END outside a full copy');
        const start = this.#syncStart;
        this.#syncStart = -1n;
        this.applied = start - 1n;
        ctx.applied(this.peerNodeId, this.peerRunId, this.applied);
        this.#ackedSent = -1n; // force an ACK
        ctx.logger.info({ peer: this.name, items: m.items }, 'replication: full copy received');
        this.machine.syncDone();
        ctx.copyComplete(this.peerNodeId, m.items);
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
      case 'flush':
        this.#needStream('FLUSH');
        ctx.applyFlush(m.version, m.delay);
        this.#seq(m.seq);
        return;
      case 'heartbeat':
        if (this.#syncStart < 0n && this.machine.state === 'streaming' && m.seq > 0n) this.#seq(m.seq);
        return;
      case 'error':
        ctx.logger.warn({ peer: this.name, reason: m.reason }, 'replication: peer closed the link');
        this.machine.failed(`peer error: ${m.reason}`);
        return;
      default:
        throw new ProtocolError(`unexpected ${m.type} frame from a sending peer`);
    }
  }

  get syncing(): boolean {
    return this.#syncStart >= 0n;
  }

  stop(reason = 'shutdown'): void {
    this.machine.stop(reason);
  }
}
