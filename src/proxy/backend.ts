import { TimerSlot, type Clock } from '../clock.ts';
import type { Logger } from '../log.ts';
import { Reply, ReplyParser, ReplyProtocolError, replyName, type ReplyElement } from '../proto/text/reply-parser.ts';
import type { ServerSpec } from '../routing/servers.ts';
import { OutBuffer } from '../net/out-buffer.ts';
import { Shape, type Call } from './call.ts';
import { BinaryResponseError, BinaryResponseParser, type BinaryResponse } from '../proto/binary/response-parser.ts';
import { Op } from '../proto/binary/codec.ts';
import { ServerHealth, type HealthPolicy } from './health.ts';

/** A connection to a backend as the core drives it (a TCP socket in the daemon, a fake in tests). */
export interface BackendTransport {
  /** Bytes to send; true when they are all taken already (the buffer may be reused), false when it holds them. */
  write(data: Buffer): boolean;
  /** Closes the connection; no event follows. */
  destroy(): void;
}

/** What the transport reports, until it is destroyed. */
export interface TransportEvents {
  connected(): void;
  /** buf[0, length) arrived; the bytes are valid only during the call. */
  data(buf: Buffer, length: number): void;
  /** The connection failed or ended (refused, reset, closed by the server). */
  closed(reason: string): void;
}

/** Opens a connection to a server. */
export type Connector = (server: ServerSpec, events: TransportEvents) => BackendTransport;

export interface BackendEnv {
  clock: Clock;
  connect: Connector;
  /** Every call gets its complete reply within this long (also the connect timeout). */
  timeoutMs: number;
  health: HealthPolicy;
  /** Persistent connections per server; calls are spread over them in turn. */
  connections: number;
  /** The connection has bytes to send: flush() it at the end of this event-loop turn. */
  dirty(conn: BackendConn): void;
  log: Logger;
}

const CLOSED = 0;
const CONNECTING = 1;
const OPEN = 2;
/** A queue whose consumed head grows past this is compacted. */
const COMPACT_AT = 1024;
const VERSION_REQUEST = Buffer.from('version\r\n', 'latin1');

export interface BackendCounters {
  /** Calls queued on this server. */
  calls: number;
  /** Calls that got no reply (connection failed or lost, timeout, down). */
  failed: number;
  timeouts: number;
  /** Connections opened. */
  connects: number;
}

/** One backend server: its health and its persistent, pipelined connections. */
export class Backend {
  readonly index: number;
  readonly name: string;
  readonly spec: ServerSpec;
  readonly health: ServerHealth;
  readonly conns: BackendConn[];
  /** Connections for clients that speak the binary protocol (a memcached connection speaks one), opened on first use. */
  #binConns: BackendConn[] | null = null;
  #nextBin = 0;
  readonly counters: BackendCounters = { calls: 0, failed: 0, timeouts: 0, connects: 0 };
  readonly env: BackendEnv;
  #next = 0;

  constructor(index: number, name: string, spec: ServerSpec, env: BackendEnv) {
    this.index = index;
    this.name = name;
    this.spec = spec;
    this.env = env;
    this.health = new ServerHealth(env.health, env.clock, {
      changed: (state, reason) => this.#healthChanged(state, reason),
      retry: () => this.#probe(),
    });
    this.conns = Array.from({ length: Math.max(1, env.connections) }, () => new BackendConn(this, false));
  }

  /** The binary-protocol connection the next binary call goes on. */
  binConn(): BackendConn {
    const conns = (this.#binConns ??= Array.from({ length: this.conns.length }, () => new BackendConn(this, true)));
    const c = conns[this.#nextBin]!;
    this.#nextBin = (this.#nextBin + 1) % conns.length;
    return c;
  }

  #all(): BackendConn[] {
    return this.#binConns === null ? this.conns : [...this.conns, ...this.#binConns];
  }

  get up(): boolean {
    return this.health.up;
  }

  /** The connection the next call goes on. */
  conn(): BackendConn {
    const conns = this.conns;
    if (conns.length === 1) return conns[0]!;
    const c = conns[this.#next]!;
    this.#next = (this.#next + 1) % conns.length;
    return c;
  }

  get inflight(): number {
    let n = 0;
    for (const c of this.#all()) n += c.inflight;
    return n;
  }

  /** Opens the connections now rather than at the first request. */
  warm(): void {
    for (const c of this.conns) c.open();
  }

  close(): void {
    this.health.stop();
    for (const c of this.#all()) c.abort('the proxy is closing', false);
  }

  #healthChanged(state: 'up' | 'down', reason: string): void {
    if (state === 'down') {
      this.env.log.warn({ backend: this.name, reason }, `backend ${this.name} marked down: ${reason}`);
      for (const c of this.#all()) c.abort(`backend ${this.name} is down`, false);
    } else {
      this.env.log.info({ backend: this.name }, `backend ${this.name} is up again`);
    }
  }

  /** A down server's retry: `version` on a fresh connection; its reply marks the server up. */
  #probe(): void {
    const conn = this.conns[0]!;
    conn.out.bytes(VERSION_REQUEST);
    conn.enqueue(new ProbeCall());
  }
}

class ProbeCall implements Call {
  readonly shape = Shape.ONE;
  queuedAt = 0;
  element(): void {}
  done(): void {}
  fail(): void {}
}

/**
 * One persistent connection to a backend: requests are written into `out` and leave together at the end of the
 * event-loop turn; replies come back in order and complete the oldest queued call. A call without its complete
 * reply after timeoutMs, an unexpected reply, or a lost connection fails every call queued on it.
 */
export class BackendConn {
  readonly backend: Backend;
  /** Speaks memcached's binary protocol (else the text protocol). */
  readonly binary: boolean;
  /** Requests not sent yet; a caller writes a request here, then enqueue()s its call. */
  readonly out = new OutBuffer();
  readonly #env: BackendEnv;
  readonly #timer: TimerSlot;
  #transport: BackendTransport | null = null;
  #state = CLOSED;
  #connectStartedAt = 0;
  #queue: (Call | undefined)[] = [];
  #head = 0;
  /** The last #unsent calls of the queue have their bytes in `out` still. */
  #unsent = 0;
  #parser: { push(buf: Buffer, length: number): void };
  readonly #onElement = (e: ReplyElement): void => this.#element(e);
  readonly #onResponse = (r: BinaryResponse): void => this.#response(r);

  constructor(backend: Backend, binary: boolean) {
    this.backend = backend;
    this.binary = binary;
    this.#env = backend.env;
    this.#timer = new TimerSlot(this.#env.clock);
    this.#parser = this.#newParser();
  }

  #newParser(): { push(buf: Buffer, length: number): void } {
    return this.binary ? new BinaryResponseParser(this.#onResponse) : new ReplyParser(this.#onElement);
  }

  get inflight(): number {
    return this.#queue.length - this.#head;
  }

  get connected(): boolean {
    return this.#state === OPEN;
  }

  /** Queues a call whose request was just written to `out`. */
  enqueue(call: Call): void {
    call.queuedAt = this.#env.clock.now();
    this.backend.counters.calls++;
    this.#queue.push(call);
    this.#unsent++;
    if (this.#state === CLOSED) this.open();
    else if (this.#state === OPEN && this.#unsent === 1) this.#env.dirty(this);
    if (!this.#timer.armed) this.#armTimer();
  }

  /** Sends what `out` holds (the end of an event-loop turn). */
  flush(): void {
    if (this.#state !== OPEN || this.out.length === 0) return;
    this.#unsent = 0;
    if (this.#transport!.write(this.out.take())) this.out.recycle();
  }

  open(): void {
    if (this.#state !== CLOSED) return;
    this.#state = CONNECTING;
    this.#connectStartedAt = this.#env.clock.now();
    this.backend.counters.connects++;
    let transport: BackendTransport | null = null;
    const alive = () => this.#transport === transport && transport !== null;
    transport = this.#env.connect(this.backend.spec, {
      connected: () => {
        if (!alive()) return;
        this.#state = OPEN;
        this.#armTimer();
        if (this.out.length > 0) this.#env.dirty(this);
      },
      data: (buf, n) => {
        if (alive()) this.#data(buf, n);
      },
      closed: (reason) => {
        if (!alive()) return;
        // a server closing an idle connection is not a failure; with requests on it, it is
        if (this.inflight === 0 && this.#state === OPEN) this.#reset();
        else this.abort(reason, true);
      },
    });
    this.#transport = transport;
    this.#armTimer();
  }

  /** Closes the connection and fails its calls; `report`: count it as a failure of the server. */
  abort(reason: string, report: boolean): void {
    const calls = this.#queue.slice(this.#head) as Call[];
    const sent = calls.length - this.#unsent;
    this.#reset();
    if (report) this.backend.health.failure(reason);
    if (calls.length > 0) this.backend.counters.failed += calls.length;
    for (let i = 0; i < calls.length; i++) calls[i]!.fail(reason, i < sent);
  }

  #reset(): void {
    const t = this.#transport;
    this.#transport = null;
    this.#state = CLOSED;
    this.#queue = [];
    this.#head = 0;
    this.#unsent = 0;
    this.out.clear();
    this.#timer.cancel();
    this.#parser = this.#newParser();
    t?.destroy();
  }

  #data(buf: Buffer, n: number): void {
    try {
      this.#parser.push(buf, n);
    } catch (err) {
      if (!(err instanceof ReplyProtocolError || err instanceof BinaryResponseError)) this.#env.log.error({ backend: this.backend.name, err }, 'reply handling failed');
      this.abort(`protocol error from ${this.backend.name}: ${(err as Error).message}`, true);
    }
  }

  #element(e: ReplyElement): void {
    const call = this.#queue[this.#head];
    if (call === undefined) throw new ReplyProtocolError(`a reply without a request (${replyName(e.kind)})`);
    const k = e.kind;
    let complete = true;
    switch (call.shape) {
      case Shape.ONE:
        if (k === Reply.VALUE || k === Reply.STAT || k === Reply.END) throw unexpected(k, 'a one-line reply');
        break;
      case Shape.GET:
        if (k === Reply.VALUE) complete = false;
        else if (k !== Reply.END && !isError(k)) throw unexpected(k, 'a get reply');
        break;
      case Shape.STATS:
        if (k === Reply.STAT) complete = false;
        else if (k !== Reply.END && !isError(k)) throw unexpected(k, 'a stats reply');
        break;
      case Shape.QUIET:
        if (k === Reply.VALUE || k === Reply.STAT || k === Reply.END) throw unexpected(k, 'a meta reply');
        if (k !== Reply.MN) {
          call.element(e);
          return;
        }
        break;
      default:
        throw new ReplyProtocolError('a text reply to a binary request');
    }
    if (call.shape !== Shape.QUIET) call.element(e);
    if (complete) this.#complete(call);
  }

  #response(r: BinaryResponse): void {
    const call = this.#queue[this.#head];
    if (call === undefined) throw new BinaryResponseError(`a response without a request (opcode 0x${r.opcode.toString(16)})`);
    if (call.shape === Shape.BIN_QUIET) {
      if (r.opcode !== Op.NOOP) return call.element(r);
    } else if (call.shape === Shape.BIN_ONE) {
      call.element(r);
    } else {
      throw new BinaryResponseError('a binary response to a text request');
    }
    this.#complete(call);
  }

  /** The oldest call's reply is complete. */
  #complete(call: Call): void {
    this.#queue[this.#head++] = undefined;
    if (this.#head === this.#queue.length) {
      this.#queue.length = 0;
      this.#head = 0;
    } else if (this.#head >= COMPACT_AT && this.#head * 2 >= this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
    this.backend.health.success();
    call.done();
  }

  /** One timer: the connect deadline, else the oldest call's deadline. */
  #armTimer(): void {
    const timeout = this.#env.timeoutMs;
    let deadline: number;
    if (this.#state === CONNECTING) deadline = this.#connectStartedAt + timeout;
    else {
      const head = this.#queue[this.#head];
      if (head === undefined) return this.#timer.cancel();
      deadline = head.queuedAt + timeout;
    }
    this.#timer.arm(Math.max(0, deadline - this.#env.clock.now()), () => this.#check());
  }

  #check(): void {
    const now = this.#env.clock.now();
    const timeout = this.#env.timeoutMs;
    if (this.#state === CONNECTING && now - this.#connectStartedAt >= timeout) {
      this.backend.counters.timeouts++;
      this.abort(`no connection to ${this.backend.name} within ${timeout} ms`, true);
      return;
    }
    const head = this.#queue[this.#head];
    if (this.#state === OPEN && head !== undefined && now - head.queuedAt >= timeout) {
      this.backend.counters.timeouts++;
      this.abort(`no reply from ${this.backend.name} within ${timeout} ms`, true);
      return;
    }
    this.#armTimer();
  }
}

function isError(k: number): boolean {
  return k === Reply.ERROR || k === Reply.CLIENT_ERROR || k === Reply.SERVER_ERROR;
}

function unexpected(k: number, what: string): ReplyProtocolError {
  return new ReplyProtocolError(`${replyName(k)} where ${what} was due`);
}
