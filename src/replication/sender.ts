import { connect, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { dataViewOf, encode, FrameDecoder, FrameType, HANDSHAKE_MAX_FRAME, MAX_FRAME, ProtocolError, itemFrameSize, writeItemHeader, type Message, type NodeStatus } from './codec.ts';
import { Handshake, HandshakeError } from './handshake.ts';
import { closeLinkSocket, decodeOrRefuse } from './session-io.ts';
import { LinkMachine } from './link.ts';
import { EntryKind } from './outlog.ts';
import type { SessionContext } from './context.ts';

const HIGH_WATER = 4 * 1024 * 1024;
const SYNC_BATCH = 1000;
const PUMP_BATCH = 2000;
/** Frames are assembled into chunks of this size: one socket write per chunk, not per frame. */
const CHUNK = 256 * 1024;
const MIN_ROOM = 16 * 1024;

/**
 * The dialing end of a link: pushes this node's changes to one peer. Connects, handshakes, then either resumes
 * from the sequence the peer asks for or streams a full copy first (tagged with this node's completeness); while
 * this node is still joining it answers a copy request with NOT_READY and waits. Reconnects with backoff.
 */
export class Sender {
  readonly host: string;
  readonly port: number;
  readonly machine: LinkMachine;
  readonly #ctx: SessionContext;
  #socket: Socket | null = null;
  #hs: Handshake | null = null;
  #decoder = new FrameDecoder(HANDSHAKE_MAX_FRAME);
  readonly #onMessageBound = (m: Message): void => this.#onMessage(m);
  /** Next sequence to send, and the highest the peer acknowledged. */
  cursor = 0;
  ackedSeq = 0;
  peerNodeId = -1;
  peerRunId = 0n;
  /** The peer's node id and run from its last authenticated HELLO (kept across reconnects). */
  heard: { nodeId: number; runId: bigint } | null = null;
  bytesSent = 0;
  bytesReceived = 0;
  syncTotal = 0;
  syncSent = 0;
  #copying = false;
  /** The copy being sent: what it claims to be, and a generation that stops an abandoned one. */
  #copySource: 'complete' | 'partial' | null = null;
  #copyGen = 0;
  /** The join status this link last told the peer (HELLO or STATE), as completeness/holdsData. */
  #told = '';
  #lastProgressLog = 0;
  #chunk = Buffer.allocUnsafe(CHUNK);
  #chunkView = dataViewOf(this.#chunk);
  #chunkStart = 0;
  #chunkOff = 0;

  constructor(ctx: SessionContext, host: string, port: number) {
    this.#ctx = ctx;
    this.host = host;
    this.port = port;
    this.machine = new LinkMachine({
      dials: true,
      now: () => ctx.now(),
      timing: ctx.timing,
      effects: {
        connect: () => this.#connect(),
        close: (reason) => this.#close(reason),
        heartbeat: () => this.#write(encode({ type: 'heartbeat', seq: this.#copying || this.cursor === 0 ? 0n : BigInt(this.cursor - 1) })),
        stateChanged: (from, to, reason) => ctx.stateChanged(this.name, from, to, reason),
      },
    });
  }

  get name(): string {
    return `peer ${this.host}:${this.port}${this.peerNodeId >= 0 ? ` (node ${this.peerNodeId})` : ''}`;
  }

  /** Changes logged but not yet acknowledged by the peer. */
  get queueDepth(): number {
    const head = this.#ctx.log.nextSeq - 1;
    return head > this.ackedSeq ? head - this.ackedSeq : 0;
  }

  get lagMs(): number {
    if (this.queueDepth === 0) return 0;
    const t = this.#ctx.log.timeOf(this.ackedSeq + 1);
    return Number.isNaN(t) ? -1 : Math.max(0, this.#ctx.now() - t);
  }

  #connect(): void {
    const s = connect({ host: this.host, port: this.port, noDelay: true });
    this.#socket = s;
    this.#decoder = new FrameDecoder(HANDSHAKE_MAX_FRAME);
    this.#hs = new Handshake('sender', this.#ctx.me);
    s.on('connect', () => {
      this.machine.connected();
      const status = this.#ctx.status();
      this.#told = statusKey(status);
      this.#write(encode(this.#hs!.hello(status)));
    });
    s.on('data', (chunk: Buffer) => {
      if (this.#socket === s) this.#onData(chunk);
    });
    s.on('drain', () => this.pump());
    s.on('error', (err) => {
      if (this.#socket === s) this.machine.failed(err.message);
    });
    s.on('close', () => {
      if (this.#socket === s) this.machine.failed('connection closed by peer');
    });
  }

  #close(reason: string): void {
    const s = this.#socket;
    this.#socket = null;
    this.#copying = false;
    this.#copySource = null;
    this.#newChunk(CHUNK);
    if (s) closeLinkSocket(s, reason);
  }

  #write(buf: Buffer): void {
    this.#flushChunk();
    this.#writeRaw(buf);
  }

  #writeRaw(buf: Buffer): void {
    const s = this.#socket;
    if (!s || s.destroyed) return;
    this.bytesSent += buf.length;
    this.machine.sent();
    s.write(buf);
  }

  /**
   * The current chunk with room for n more bytes at #chunkOff. Flushed bytes are handed to the socket as views
   * and never written again; the chunk is only replaced when too little is left (like the server's OutBuffer).
   */
  #reserve(n: number): Buffer {
    if (this.#chunkOff + n > this.#chunk.length) {
      this.#flushChunk();
      if (this.#chunkOff + n > this.#chunk.length) this.#newChunk(Math.max(CHUNK, n));
    }
    return this.#chunk;
  }

  #newChunk(size: number): void {
    this.#chunk = Buffer.allocUnsafe(size);
    this.#chunkView = dataViewOf(this.#chunk);
    this.#chunkStart = this.#chunkOff = 0;
  }

  #flushChunk(): void {
    if (this.#chunkOff === this.#chunkStart) return;
    const out = this.#chunk.subarray(this.#chunkStart, this.#chunkOff);
    this.#chunkStart = this.#chunkOff;
    if (this.#chunk.length - this.#chunkOff < MIN_ROOM) this.#newChunk(CHUNK);
    this.#writeRaw(out);
  }

  /** Appends a SET/SYNC_ITEM for store item h to the current chunk: its key and value come straight from the item. */
  #item(type: typeof FrameType.SET | typeof FrameType.SYNC_ITEM, seq: number, h: number): void {
    const store = this.#ctx.store;
    const klen = store.itemKeyLength(h);
    const vlen = store.itemValueLength(h);
    const b = this.#reserve(itemFrameSize(type === FrameType.SET, klen, vlen));
    const at = writeItemHeader(
      b, this.#chunkView, this.#chunkOff, type, seq, store.itemVersionHigh(h), store.itemVersionLow(h), store.itemFlags(h), store.itemTtl(h), klen, vlen,
    );
    this.#chunkOff = store.copyKeyAndValue(h, b, at);
  }

  /** Appends a small encoded frame to the current chunk. */
  #frame(buf: Buffer): void {
    const b = this.#reserve(buf.length);
    this.#chunkOff += buf.copy(b, this.#chunkOff);
  }

  #onData(chunk: Buffer): void {
    this.bytesReceived += chunk.length;
    this.machine.received();
    decodeOrRefuse(this.#ctx, this.machine, `${this.host}:${this.port}`, this.#decoder, chunk, this.#onMessageBound);
  }

  #onMessage(m: Message): void {
    const hs = this.#hs!;
    switch (m.type) {
      case 'hello':
        this.#write(encode(hs.onHello(m)));
        this.peerNodeId = m.nodeId;
        this.peerRunId = m.runId;
        for (const w of hs.mismatches()) this.#ctx.logger.warn({ peer: this.name }, `replication: ${w}`);
        return;
      case 'auth': {
        hs.onAuth(m);
        this.#decoder.maxFrame = MAX_FRAME;
        const p = hs.peer!;
        this.heard = { nodeId: p.nodeId, runId: p.runId };
        this.#ctx.peerStatus(p.nodeId, p.runId, p);
        this.announce(this.#ctx.status()); // changed since our HELLO?
        return;
      }
      case 'resume':
        if (!hs.authed) throw new HandshakeError('RESUME before authentication');
        this.#onResume(m.fromSeq);
        return;
      case 'ack':
      case 'heartbeat':
        if (m.seq > BigInt(this.ackedSeq) && this.machine.up) {
          this.ackedSeq = Number(m.seq);
          this.#ctx.acked(this.ackedSeq);
        }
        return;
      case 'error':
        this.#ctx.logger.warn({ peer: this.name, reason: m.reason }, 'replication: peer refused the link');
        this.machine.failed(`peer refused: ${m.reason}`);
        return;
      default:
        throw new ProtocolError(`unexpected ${m.type} frame from a receiving peer`);
    }
  }

  #onResume(wanted: bigint): void {
    const state = this.machine.state;
    if (state === 'streaming' || state === 'syncing') {
      this.#copyRequest(wanted);
      return;
    }
    const log = this.#ctx.log;
    const fromSeq = Number(wanted);
    if (fromSeq > 0 && log.holds(fromSeq)) {
      this.cursor = fromSeq;
      this.ackedSeq = fromSeq - 1;
      this.machine.handshakeDone(false);
      this.#ctx.logger.info({ peer: this.name, fromSeq, pending: log.nextSeq - fromSeq }, 'replication: resuming without a full copy');
      this.pump();
    } else if (this.#ctx.completeness() === 'joining') {
      // A joining node's store is an unfinished copy of someone else's: it is no source. The peer waits, and asks
      // again when our STATE says we are ready.
      this.#write(encode({ type: 'not_ready' }));
      this.machine.waiting('the peer asked for a copy; this node is still joining');
    } else {
      this.machine.handshakeDone(true);
      this.#startCopy(fromSeq > 0 ? 'the changes the peer missed are no longer in the log' : 'the peer asked for a full copy');
    }
  }

  /** RESUME 0 on a live link: the peer (not complete) wants a copy now that we are complete. */
  #copyRequest(wanted: bigint): void {
    if (wanted !== 0n) throw new ProtocolError(`RESUME ${wanted} on a live link (only 0, a copy request, is allowed)`);
    const c = this.#ctx.completeness();
    // Joining: nothing to give yet (our STATE will tell). A copy of the same kind already under way answers it.
    if (c === 'joining' || (this.#copying && this.#copySource === c)) return;
    if (this.machine.state === 'streaming') this.machine.resync('the peer asked for a copy');
    this.#startCopy('the peer asked for a copy');
  }

  /** Tells the peer our join status if it changed since we last told it (STATE), once the link is authenticated. */
  announce(status: NodeStatus): void {
    if (!this.#hs?.authed || !this.#socket) return;
    const key = statusKey(status);
    if (key === this.#told) return;
    this.#told = key;
    this.#write(encode({ type: 'state', ...status }));
  }

  #startCopy(reason: string): void {
    const ctx = this.#ctx;
    const source = ctx.completeness();
    if (source === 'joining') throw new Error('a joining node has no copy to send');
    const gen = ++this.#copyGen;
    const copyId = randomBytes(8).readBigUInt64BE(0);
    this.#copySource = source;
    ctx.copyStarted(this.peerNodeId, this.peerRunId);
    const startSeq = ctx.log.nextSeq;
    this.cursor = startSeq;
    this.ackedSeq = startSeq - 1;
    this.syncTotal = ctx.store.itemCount;
    this.syncSent = 0;
    this.#copying = true;
    this.#lastProgressLog = ctx.now();
    const copy = copyId.toString(16).padStart(16, '0');
    ctx.logger.info({ peer: this.name, items: this.syncTotal, reason, copy, source }, `replication: full copy started (${source})`);
    this.#write(encode({ type: 'sync_begin', startSeq: BigInt(startSeq), items: this.syncTotal, flushEpoch: ctx.flushEpoch(), copyId, source }));
    const socket = this.#socket;
    let scanCursor = 0;
    const step = () => {
      if (this.#socket !== socket || !this.#copying || gen !== this.#copyGen) return;
      const store = ctx.store;
      scanCursor = store.scan(scanCursor, SYNC_BATCH, (h) => {
        this.#item(FrameType.SYNC_ITEM, 0, h);
        this.syncSent++;
      });
      this.#flushChunk();
      const now = ctx.now();
      if (now - this.#lastProgressLog >= 2000) {
        this.#lastProgressLog = now;
        ctx.logger.info({ peer: this.name, sent: this.syncSent, total: this.syncTotal }, 'replication: full copy in progress');
      }
      if (scanCursor !== 0) {
        if (socket!.writableLength > HIGH_WATER) socket!.once('drain', step);
        else setImmediate(step);
        return;
      }
      for (const [key, version] of ctx.tombstones.entries()) this.#frame(encode({ type: 'delete', seq: 0n, version, key }));
      this.#write(encode({ type: 'sync_end', items: this.syncSent, copyId }));
      this.#copying = false;
      this.#copySource = null;
      ctx.logger.info({ peer: this.name, items: this.syncSent, bytes: this.bytesSent, copy, source }, 'replication: full copy sent');
      this.machine.syncDone();
      this.pump();
    };
    step();
  }

  /** Sends logged changes from the cursor while the socket has room. */
  pump(): void {
    const s = this.#socket;
    if (!s || this.machine.state !== 'streaming' || this.#copying) return;
    const ctx = this.#ctx;
    const log = ctx.log;
    if (this.cursor < log.firstSeq) {
      this.machine.resync(`the peer fell ${log.nextSeq - this.cursor} changes behind, beyond the log`);
      this.#startCopy('log overflow');
      return;
    }
    if (this.cursor >= log.nextSeq || s.writableLength > HIGH_WATER) return;
    let n = 0;
    while (this.cursor < log.nextSeq && n++ < PUMP_BATCH) {
      const seq = this.cursor++;
      this.#entry(seq, log.kindAt(seq));
      if (this.#chunkOff - this.#chunkStart >= CHUNK / 2) {
        this.#flushChunk();
        if (s.writableLength > HIGH_WATER) break;
      }
    }
    this.#flushChunk();
    if (this.cursor < log.nextSeq && s.writableLength <= HIGH_WATER) setImmediate(() => this.pump());
  }

  #entry(seq: number, kind: number): void {
    const { store, tombstones, log } = this.#ctx;
    if (kind === EntryKind.FLUSH) {
      const f = log.flushAt(seq);
      this.#frame(encode({ type: 'flush', seq: BigInt(seq), version: f.version, delay: f.delay }));
      return;
    }
    if (kind === EntryKind.KEY) {
      // The usual case: the item written with the change is still there, unchanged. The check reads the key
      // straight from the log, without a view of it.
      const hint = log.hintAt(seq, store.layoutVersion);
      if (hint !== 0 && store.itemStillAtFrom(hint, log.keyBytes, log.keyOffsetAt(seq), log.keyLengthAt(seq), log.hintHighAt(seq), log.hintLowAt(seq)) >= 0) {
        this.#item(FrameType.SET, seq, hint);
        return;
      }
    }
    const key = log.keyAt(seq);
    const h = store.peek(key!);
    if (h >= 0) {
      if (kind === EntryKind.TOUCH) this.#frame(encode({ type: 'touch', seq: BigInt(seq), version: store.itemVersion(h), ttl: store.itemTtl(h), key: key! }));
      else this.#item(FrameType.SET, seq, h);
      return;
    }
    // Gone: deleted (tombstone) or expired/evicted here. Expiry happens on the peer by itself and eviction is a
    // local memory decision, so only a delete is sent; otherwise a heartbeat keeps the sequence moving.
    const tv = tombstones.versionOf(key!);
    this.#frame(encode(tv > 0n ? { type: 'delete', seq: BigInt(seq), version: tv, key: key! } : { type: 'heartbeat', seq: BigInt(seq) }));
  }

  start(): void {
    this.machine.start();
  }

  stop(): void {
    this.machine.stop();
  }

  get copying(): boolean {
    return this.#copying;
  }
}

const statusKey = (s: NodeStatus): string => `${s.completeness}/${s.holdsData}`;
