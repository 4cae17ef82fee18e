import type { LinkSocket } from './transport.ts';
import { randomBytes } from 'node:crypto';
import { dataViewOf, encode, encodeItemFrame, FrameDecoder, FrameType, HANDSHAKE_MAX_FRAME, MAX_FRAME, ProtocolError, itemFrameSize, writeItemHeader, type Auth, type Hello, type Message, type NodeStatus } from '../proto/replication/codec.ts';
import { Handshake, HandshakeError } from './handshake.ts';
import { closeLinkSocket, decodeOrRefuse, strangerEnding } from './session-io.ts';
import { LinkMachine } from './link.ts';
import { ChangeKind } from '../cache/changes.ts';
import { versionNode } from './hlc.ts';
import type { SessionContext } from './context.ts';

const HIGH_WATER = 4 * 1024 * 1024;
const SYNC_BATCH = 1000;
const PUMP_BATCH = 2000;
/** Frames are assembled into chunks of this size: one socket write per chunk, not per frame. */
const CHUNK = 256 * 1024;
const MIN_ROOM = 16 * 1024;

/**
 * The sending end of a link: pushes this node's changes to one peer. Handshakes, then either resumes from the
 * sequence the peer asks for or streams a full copy first (tagged with this node's completeness); while this
 * node is still joining it answers a copy request with NOT_READY and waits. Usually this node dials the peer and
 * reconnects with backoff; a peer that cannot listen itself (two nodes sharing one -X on one host, as repcached
 * pairs them) dials us for this direction too, and then the link is accepted (`inbound`) and ends when the
 * socket does.
 */
export class Sender {
  readonly host: string;
  readonly port: number;
  readonly machine: LinkMachine;
  /** Accepted: the peer dialed this link (host and port are where it came from). */
  readonly inbound: boolean;
  readonly #ctx: SessionContext;
  #socket: LinkSocket | null = null;
  #hs: Handshake | null = null;
  /** Accepting side: our AUTH, sent once the dialer proved itself. */
  #pendingAuth: Auth | null = null;
  /** Accepting side, until start(): the socket and the HELLO the gate read from it. */
  #accepted: { socket: LinkSocket; hello: Hello } | null = null;
  /** Called once when an accepted link is gone. */
  onClosed: (() => void) | null = null;
  /** Called once the peer authenticated (or the link ended before). */
  onSettled: (() => void) | null = null;
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
  /** After a resume or a copy: one HEARTBEAT once everything logged so far is sent, so the peer knows it caught up. */
  #tellCaughtUp = false;
  /** The join status this link last told the peer (HELLO or STATE), as completeness/holdsData. */
  #told = '';
  #lastProgressLog = 0;
  /** Allocated on first use: a link that never gets past the handshake (a stranger's) costs no chunk. */
  #chunk = Buffer.alloc(0);
  #chunkView = dataViewOf(this.#chunk);
  #chunkStart = 0;
  #chunkOff = 0;
  /** -t N: what was written under the store lock, for the socket once the lock is released (SessionContext.afterUnlock). */
  #outbox: Buffer[] | null = null;
  #outboxSocket: LinkSocket | null = null;
  #outboxBytes = 0;

  constructor(ctx: SessionContext, host: string, port: number, accepted?: { socket: LinkSocket; hello: Hello }) {
    this.#ctx = ctx;
    this.host = host;
    this.port = port;
    this.inbound = accepted !== undefined;
    this.#accepted = accepted ?? null;
    this.machine = new LinkMachine({
      dials: !this.inbound,
      now: () => ctx.now(),
      timing: ctx.timing,
      effects: {
        connect: () => this.#connect(),
        close: (reason) => this.#close(reason),
        heartbeat: () => this.#write(encode({ type: 'heartbeat', seq: this.#copying || this.cursor === 0 ? 0n : BigInt(this.cursor - 1) })),
        stateChanged: (from, to, reason) => ctx.stateChanged(this.name, from, to, reason, this.#stranger),
      },
    });
  }

  get name(): string {
    return `${this.inbound ? 'peer (dialed in) ' : 'peer '}${this.host}:${this.port}${this.peerNodeId >= 0 ? ` (node ${this.peerNodeId})` : ''}`;
  }

  /** An accepted link whose peer has not proved membership yet: whoever it is, it gets no data. */
  get #stranger(): boolean {
    return this.inbound && !this.#hs?.authed;
  }

  /** Changes logged but not yet acknowledged by the peer. */
  get queueDepth(): number {
    const head = this.#ctx.changes.nextSeq - 1;
    return head > this.ackedSeq ? head - this.ackedSeq : 0;
  }

  get lagMs(): number {
    if (this.queueDepth === 0) return 0;
    const t = this.#ctx.changes.timeOf(this.ackedSeq + 1);
    return Number.isNaN(t) ? -1 : Math.max(0, this.#ctx.now() - t);
  }

  #connect(): void {
    const { socket: s, ready } = this.#ctx.dial(this.host, this.port);
    this.#socket = s;
    this.#decoder = new FrameDecoder(HANDSHAKE_MAX_FRAME);
    this.#hs = new Handshake('sender', this.#ctx.me);
    s.on(ready, () => {
      if (this.#socket !== s) return;
      this.#sayHello();
    });
    this.#listen(s);
  }

  #close(reason: string): void {
    const s = this.#socket;
    this.#socket = null;
    this.#copying = false;
    this.#copySource = null;
    this.#tellCaughtUp = false;
    this.#dropOutbox(); // the frames for the closed socket
    this.#newChunk(0);
    if (this.#stranger) {
      const ending = strangerEnding(reason);
      if (ending) this.#ctx.refused(ending.kind, `${this.host}:${this.port}`, ending.detail);
    }
    if (s) closeLinkSocket(s, reason);
    this.#settled();
    if (!this.inbound) return;
    const cb = this.onClosed;
    this.onClosed = null;
    cb?.();
  }

  #settled(): void {
    const cb = this.onSettled;
    this.onSettled = null;
    cb?.();
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
    if (this.#outbox !== null) {
      this.#outbox.push(buf);
      this.#outboxBytes += buf.length;
    } else if (this.#ctx.afterUnlock?.(this.#sendOutbox) === true) {
      this.#outbox = [buf];
      this.#outboxSocket = s;
      this.#outboxBytes = buf.length;
    } else s.write(buf);
  }

  /** Bytes written and not yet taken by the connection, the outbox's included (the back-pressure's measure). */
  #queued(s: LinkSocket): number {
    return s.writableLength + (this.#outbox !== null ? this.#outboxBytes : 0);
  }

  /** The frames written under the store lock, in order, to the socket they were meant for if it is still this link's. */
  readonly #sendOutbox = (): void => {
    const bufs = this.#outbox;
    const s = this.#outboxSocket;
    this.#dropOutbox();
    if (bufs === null || s === null || s !== this.#socket || s.destroyed) return;
    for (const b of bufs) s.write(b);
    this.#rewindChunk();
  };

  #dropOutbox(): void {
    this.#outbox = null;
    this.#outboxSocket = null;
    this.#outboxBytes = 0;
  }

  /**
   * When everything in the chunk was flushed and the socket holds none of it (the writes went to the kernel at once),
   * the chunk is written again from its start. A new chunk is fresh memory (above malloc's mmap threshold): each of
   * its pages faulted in and, once collected, unmapped with a TLB flush of every thread of the process.
   */
  #rewindChunk(): void {
    if (this.#outbox !== null || this.#chunkStart !== this.#chunkOff) return;
    const s = this.#socket;
    if (s === null || s.writableLength === 0) this.#chunkStart = this.#chunkOff = 0;
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
    this.#writeRaw(out);
    this.#rewindChunk();
    if (this.#chunk.length - this.#chunkOff < MIN_ROOM) this.#newChunk(CHUNK);
  }

  /** Appends a SET/SYNC_ITEM for store item h to the current chunk: its key and value come straight from the item. */
  #item(type: typeof FrameType.SET | typeof FrameType.SYNC_ITEM, seq: number, h: number): void {
    const store = this.#ctx.store;
    if (this.#ctx.counters.size > 0 && this.#counterItem(type, seq, h)) return;
    const klen = store.itemKeyLength(h);
    const vlen = store.itemValueLength(h);
    const b = this.#reserve(itemFrameSize(type === FrameType.SET, klen, vlen));
    const at = writeItemHeader(
      b, this.#chunkView, this.#chunkOff, type, seq, store.itemVersionHigh(h), store.itemVersionLow(h), store.itemFlags(h), store.itemTtl(h), klen, vlen,
    );
    this.#chunkOff = store.copyKeyAndValue(h, b, at);
  }

  /**
   * Item h as a counter, if it is one: its base (the value and version the last set gave it) and every node's part,
   * so the peer holds the same base and parts, not one node's sum of them. Returns false for a plain item.
   */
  #counterItem(type: typeof FrameType.SET | typeof FrameType.SYNC_ITEM, seq: number, h: number): boolean {
    const store = this.#ctx.store;
    const c = this.#ctx.counters.of(h);
    if (c === undefined) return false;
    const key = store.itemKey(h);
    this.#frame(encodeItemFrame(type, seq, c.base, store.itemFlags(h), store.itemTtl(h), key, Buffer.from(c.baseValue.toString(), 'latin1')));
    for (const p of c.parts.values()) this.#frame(encode({ type: 'counter', seq: BigInt(seq), base: c.base, version: p.version, sum: p.sum, key }));
    return true;
  }

  /**
   * An incr/decr record: this node's part of the counter as it is now (a running sum, so sending the newest is
   * right even when later increments of the key follow in the log). A counter overwritten since is sent by the
   * record of the write that overwrote it; false when the key is gone (the caller sends its delete).
   */
  #arith(seq: number, key: Buffer): boolean {
    const { store, counters, changes } = this.#ctx;
    const h = store.peek(key);
    if (h < 0) return false;
    const c = counters.of(h);
    const p = c?.parts.get(versionNode(changes.versionAt(seq)));
    if (c === undefined || p === undefined) this.#frame(encode({ type: 'heartbeat', seq: BigInt(seq) }));
    else this.#frame(encode({ type: 'counter', seq: BigInt(seq), base: c.base, version: p.version, sum: p.sum, key }));
    return true;
  }

  /** Appends a small encoded frame to the current chunk. */
  #frame(buf: Buffer): void {
    const b = this.#reserve(buf.length);
    this.#chunkOff += buf.copy(b, this.#chunkOff);
  }

  #onData(chunk: Buffer): void {
    this.bytesReceived += chunk.length;
    this.machine.received();
    decodeOrRefuse(this.#ctx, this.machine, `${this.host}:${this.port}`, this.#decoder, chunk, this.#onMessageBound, undefined, this.#stranger);
  }

  #onMessage(m: Message): void {
    const hs = this.#hs!;
    switch (m.type) {
      case 'hello': {
        const auth = hs.onHello(m);
        this.peerNodeId = m.nodeId;
        this.peerRunId = m.runId;
        // The dialer proves itself first; the accepting side answers only a proven peer.
        if (this.inbound) this.#pendingAuth = auth;
        else this.#write(encode(auth));
        return;
      }
      case 'auth': {
        hs.onAuth(m);
        if (this.#pendingAuth) this.#write(encode(this.#pendingAuth));
        this.#pendingAuth = null;
        hs.checkNodeId();
        this.#settled();
        for (const w of hs.mismatches()) this.#ctx.logger.warn({ peer: this.name }, `replication: ${w}`);
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
        if (!this.#stranger) this.#ctx.logger.warn({ peer: this.name, reason: m.reason }, 'replication: peer refused the link');
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
    const changes = this.#ctx.changes;
    const fromSeq = Number(wanted);
    if (fromSeq > 0 && changes.holds(fromSeq)) {
      this.cursor = fromSeq;
      this.ackedSeq = fromSeq - 1;
      this.machine.handshakeDone(false);
      this.#tellCaughtUp = true;
      this.#ctx.logger.info({ peer: this.name, fromSeq, pending: changes.nextSeq - fromSeq }, 'replication: resuming without a full copy');
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
    const startSeq = ctx.changes.nextSeq;
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
        // judged on the next turn, once the frames written under the store lock (-t N) are with the socket
        setImmediate(() => {
          if (socket!.writableLength > HIGH_WATER) socket!.once('drain', step);
          else step();
        });
        return;
      }
      for (const [key, version] of ctx.tombstones.entries()) this.#frame(encode({ type: 'delete', seq: 0n, version, key }));
      this.#write(encode({ type: 'sync_end', items: this.syncSent, copyId }));
      this.#copying = false;
      this.#copySource = null;
      ctx.logger.info({ peer: this.name, items: this.syncSent, bytes: this.bytesSent, copy, source }, 'replication: full copy sent');
      this.machine.syncDone();
      this.#tellCaughtUp = true;
      this.pump();
    };
    step();
  }

  /** Sends logged changes from the cursor while the socket has room. */
  pump(): void {
    const s = this.#socket;
    if (!s || this.machine.state !== 'streaming' || this.#copying) return;
    const ctx = this.#ctx;
    const changes = ctx.changes;
    if (this.cursor < changes.firstSeq) {
      this.machine.resync(`the peer fell ${changes.nextSeq - this.cursor} changes behind, beyond the log`);
      this.#startCopy('log overflow');
      return;
    }
    if (this.cursor >= changes.nextSeq) {
      this.#caughtUp();
      return;
    }
    if (s.writableLength > HIGH_WATER) return;
    let n = 0;
    while (this.cursor < changes.nextSeq && n++ < PUMP_BATCH) {
      const seq = this.cursor++;
      this.#entry(seq, changes.kindAt(seq));
      if (this.#chunkOff - this.#chunkStart >= CHUNK / 2) {
        this.#flushChunk();
        if (this.#queued(s) > HIGH_WATER) break;
      }
    }
    this.#flushChunk();
    // more to send: on the next turn, once the frames written under the store lock (-t N) are with the socket, which
    // then holds more than HIGH_WATER only after a write that returned false ('drain' calls pump again)
    if (this.cursor >= changes.nextSeq) this.#caughtUp();
    else setImmediate(() => this.pump());
  }

  /**
   * The stream reached the log's head after a resume or a copy: a HEARTBEAT ("everything up to seq was sent")
   * tells the peer at once that it holds all this node's changes, rather than after the next idle interval.
   */
  #caughtUp(): void {
    if (!this.#tellCaughtUp) return;
    this.#tellCaughtUp = false;
    this.#write(encode({ type: 'heartbeat', seq: BigInt(this.cursor - 1) }));
  }

  #entry(seq: number, kind: number): void {
    const { store, tombstones, changes } = this.#ctx;
    if (kind === ChangeKind.FLUSH) {
      this.#frame(encode({ type: 'flush', seq: BigInt(seq), version: changes.versionAt(seq), delay: changes.delayAt(seq) }));
      return;
    }
    if (kind === ChangeKind.SET) {
      // The usual case: the item written with the change is still there, unchanged. The check reads the key
      // straight from the record, without a view of it.
      const h = changes.itemAt(seq, store.layoutVersion);
      if (h !== 0 && store.itemStillAtFrom(h, changes.keyBytes, changes.keyOffsetAt(seq), changes.keyLengthAt(seq), changes.versionHighAt(seq), changes.versionLowAt(seq)) >= 0) {
        this.#item(FrameType.SET, seq, h);
        return;
      }
    }
    const key = changes.keyAt(seq);
    if (kind === ChangeKind.ARITH && this.#arith(seq, key!)) return;
    const h = store.peek(key!);
    if (h >= 0) {
      if (kind === ChangeKind.TOUCH) this.#frame(encode({ type: 'touch', seq: BigInt(seq), version: this.#touchedVersion(h), ttl: store.itemTtl(h), key: key! }));
      else this.#item(FrameType.SET, seq, h);
      return;
    }
    // Gone: deleted (tombstone) or expired/evicted here. Expiry happens on the peer by itself and eviction is a
    // local memory decision, so only a delete is sent; otherwise a heartbeat keeps the sequence moving.
    const tv = tombstones.versionOf(key!);
    this.#frame(encode(tv > 0n ? { type: 'delete', seq: BigInt(seq), version: tv, key: key! } : { type: 'heartbeat', seq: BigInt(seq) }));
  }

  /** The version a TOUCH names: the item's, or a counter's base (its item's version differs on every node). */
  #touchedVersion(h: number): bigint {
    const c = this.#ctx.counters.size > 0 ? this.#ctx.counters.of(h) : undefined;
    return c === undefined ? this.#ctx.store.itemVersion(h) : c.base;
  }

  /** Dialing side: connect. Accepting side: answer the HELLO the peer sent (callbacks are set by then). */
  start(): void {
    const end = this.#accepted;
    this.#accepted = null;
    if (!end) {
      this.machine.start();
      return;
    }
    const s = end.socket;
    this.#socket = s;
    this.#hs = new Handshake('sender', this.#ctx.me);
    s.setNoDelay(true);
    this.#listen(s);
    this.#sayHello();
    this.#onData(encode(end.hello));
  }

  /** The socket's events reach this sender while it is still this sender's socket. */
  #listen(s: LinkSocket): void {
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

  #sayHello(): void {
    this.machine.connected();
    const status = this.#ctx.status();
    this.#told = statusKey(status);
    this.#write(encode(this.#hs!.hello(status)));
  }

  stop(reason = 'shutdown'): void {
    this.machine.stop(reason);
  }

  /** The peer proved it is a member (the handshake's AUTH checked out). */
  get authenticated(): boolean {
    return this.#hs?.authed === true;
  }

  get copying(): boolean {
    return this.#copying;
  }
}

const statusKey = (s: NodeStatus): string => `${s.completeness}/${s.holdsData}`;
