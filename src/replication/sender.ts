import { connect, type Socket } from 'node:net';
import { encode, FrameDecoder, FrameType, ProtocolError, encodeItemFrame, type Message } from './codec.ts';
import { Handshake, HandshakeError } from './handshake.ts';
import { LinkMachine } from './link.ts';
import { EntryKind } from './outlog.ts';
import type { SessionContext } from './context.ts';

const HIGH_WATER = 4 * 1024 * 1024;
const SYNC_BATCH = 1000;
const PUMP_BATCH = 2000;

/**
 * The dialing end of a link: pushes this node's changes to one peer. Connects, handshakes, then either resumes
 * from the sequence the peer asks for or streams a full copy first; reconnects with backoff.
 */
export class Sender {
  readonly host: string;
  readonly port: number;
  readonly machine: LinkMachine;
  readonly #ctx: SessionContext;
  #socket: Socket | null = null;
  #hs: Handshake | null = null;
  #decoder = new FrameDecoder();
  /** Next sequence to send, and the highest the peer acknowledged. */
  cursor = 0n;
  ackedSeq = 0n;
  peerNodeId = -1;
  bytesSent = 0;
  bytesReceived = 0;
  syncTotal = 0;
  syncSent = 0;
  #copying = false;
  #lastProgressLog = 0;

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
        heartbeat: () => this.#write(encode({ type: 'heartbeat', seq: this.#copying || this.cursor === 0n ? 0n : this.cursor - 1n })),
        stateChanged: (from, to, reason) => ctx.stateChanged(this.name, from, to, reason),
      },
    });
  }

  get name(): string {
    return `peer ${this.host}:${this.port}${this.peerNodeId >= 0 ? ` (node ${this.peerNodeId})` : ''}`;
  }

  /** Changes logged but not yet acknowledged by the peer. */
  get queueDepth(): number {
    const head = this.#ctx.log.nextSeq - 1n;
    return Number(head > this.ackedSeq ? head - this.ackedSeq : 0n);
  }

  get lagMs(): number {
    if (this.queueDepth === 0) return 0;
    const t = this.#ctx.log.timeOf(this.ackedSeq + 1n);
    return Number.isNaN(t) ? -1 : Math.max(0, this.#ctx.now() - t);
  }

  #connect(): void {
    const s = connect({ host: this.host, port: this.port, noDelay: true });
    this.#socket = s;
    this.#decoder = new FrameDecoder();
    this.#hs = new Handshake('sender', this.#ctx.me);
    s.on('connect', () => {
      this.machine.connected();
      this.#write(encode(this.#hs!.hello()));
    });
    s.on('data', (chunk: Buffer) => this.#onData(chunk));
    s.on('drain', () => this.pump());
    s.on('error', (err) => this.machine.failed(err.message));
    s.on('close', () => {
      if (this.#socket === s) this.machine.failed('connection closed by peer');
    });
  }

  #close(reason: string): void {
    const s = this.#socket;
    this.#socket = null;
    this.#copying = false;
    if (!s) return;
    if (s.writable && reason.startsWith('refused')) {
      s.end(encode({ type: 'error', reason }));
      setTimeout(() => s.destroy(), 200).unref();
    } else s.destroy();
  }

  #write(buf: Buffer): boolean {
    const s = this.#socket;
    if (!s || s.destroyed) return false;
    this.bytesSent += buf.length;
    this.machine.sent();
    return s.write(buf);
  }

  #onData(chunk: Buffer): void {
    this.bytesReceived += chunk.length;
    this.machine.received();
    try {
      this.#decoder.push(chunk, (m) => this.#onMessage(m));
    } catch (err) {
      const e = err as Error;
      if (e instanceof ProtocolError || e instanceof HandshakeError) {
        this.#ctx.logger.warn({ peer: `${this.host}:${this.port}`, reason: e.message }, 'replication: refused peer');
        this.machine.failed(`refused: ${e.message}`);
        return;
      }
      throw err;
    }
  }

  #onMessage(m: Message): void {
    const hs = this.#hs!;
    switch (m.type) {
      case 'hello':
        this.#write(encode(hs.onHello(m)));
        this.peerNodeId = m.nodeId;
        for (const w of hs.mismatches()) this.#ctx.logger.warn({ peer: this.name }, `replication: ${w}`);
        return;
      case 'auth':
        hs.onAuth(m);
        return;
      case 'resume':
        if (!hs.authed) throw new HandshakeError('RESUME before authentication');
        this.#onResume(m.fromSeq);
        return;
      case 'ack':
      case 'heartbeat':
        if (m.seq > this.ackedSeq && this.machine.up) {
          this.ackedSeq = m.seq;
          this.#ctx.acked(m.seq);
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

  #onResume(fromSeq: bigint): void {
    const log = this.#ctx.log;
    if (fromSeq > 0n && log.holds(fromSeq)) {
      this.cursor = fromSeq;
      this.ackedSeq = fromSeq - 1n;
      this.machine.handshakeDone(false);
      this.#ctx.logger.info({ peer: this.name, fromSeq: String(fromSeq), pending: Number(log.nextSeq - fromSeq) }, 'replication: resuming without a full copy');
      this.pump();
    } else {
      this.machine.handshakeDone(true);
      this.#startCopy(fromSeq > 0n ? 'the changes the peer missed are no longer in the log' : 'the peer asked for a full copy');
    }
  }

  #startCopy(reason: string): void {
    const ctx = this.#ctx;
    const startSeq = ctx.log.nextSeq;
    this.cursor = startSeq;
    this.ackedSeq = startSeq - 1n;
    this.syncTotal = ctx.store.itemCount;
    this.syncSent = 0;
    this.#copying = true;
    this.#lastProgressLog = ctx.now();
    ctx.logger.info({ peer: this.name, items: this.syncTotal, reason }, 'replication: full copy started');
    this.#write(encode({ type: 'sync_begin', startSeq, items: this.syncTotal, flushEpoch: ctx.flushEpoch() }));
    const socket = this.#socket;
    let scanCursor = 0;
    const step = () => {
      if (this.#socket !== socket || !this.#copying) return;
      const store = ctx.store;
      socket!.cork();
      scanCursor = store.scan(scanCursor, SYNC_BATCH, (h) => {
        const key = store.itemKey(h);
        this.#write(encodeItemFrame(FrameType.SYNC_ITEM, 0n, store.itemCas(h), store.itemFlags(h), store.itemTtl(h), key, store.itemValueLength(h), (b, o) => store.copyValue(h, b, o)));
        this.syncSent++;
      });
      socket!.uncork();
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
      for (const [key, version] of ctx.tombstones.entries()) this.#write(encode({ type: 'delete', seq: 0n, version, key }));
      this.#write(encode({ type: 'sync_end', items: this.syncSent }));
      this.#copying = false;
      ctx.logger.info({ peer: this.name, items: this.syncSent, bytes: this.bytesSent }, 'replication: full copy sent');
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
      this.machine.resync(`the peer fell ${Number(log.nextSeq - this.cursor)} changes behind, beyond the log`);
      this.#startCopy('log overflow');
      return;
    }
    if (this.cursor >= log.nextSeq || s.writableLength > HIGH_WATER) return;
    s.cork();
    let n = 0;
    while (this.cursor < log.nextSeq && n++ < PUMP_BATCH && s.writableLength <= HIGH_WATER) {
      const e = log.get(this.cursor)!;
      const seq = this.cursor++;
      this.#write(this.#frameFor(seq, e.kind, e.key, e.version, e.delay));
    }
    s.uncork();
    if (this.cursor < log.nextSeq && s.writableLength <= HIGH_WATER) setImmediate(() => this.pump());
  }

  #frameFor(seq: bigint, kind: number, key: Buffer | null, version: bigint, delay: number): Buffer {
    const { store, tombstones } = this.#ctx;
    if (kind === EntryKind.FLUSH) return encode({ type: 'flush', seq, version, delay });
    const h = store.peek(key!);
    if (h >= 0) {
      if (kind === EntryKind.TOUCH) return encode({ type: 'touch', seq, version: store.itemCas(h), ttl: store.itemTtl(h), key: key! });
      return encodeItemFrame(FrameType.SET, seq, store.itemCas(h), store.itemFlags(h), store.itemTtl(h), key!, store.itemValueLength(h), (b, o) => store.copyValue(h, b, o));
    }
    // Gone: deleted (tombstone) or expired/evicted here. Expiry happens on the peer by itself and eviction is a
    // local memory decision, so only a delete is sent; otherwise a heartbeat keeps the sequence moving.
    const tv = tombstones.versionOf(key!);
    if (tv > 0n) return encode({ type: 'delete', seq, version: tv, key: key! });
    return encode({ type: 'heartbeat', seq });
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
