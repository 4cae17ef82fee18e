import { Socket } from 'node:net';
import { readIntoShared } from '../net/user-buffer.ts';
import type { ChangeStream } from '../cache/changes.ts';
import type { TextCommand } from '../proto/text/commands.ts';
import { TextParser } from '../proto/text/parser.ts';
import { BadMagicError, BinaryParser, MAGIC_REQUEST, type BinaryRequest } from '../proto/binary/codec.ts';
import { AUTHENTICATED, type BinaryDispatcher } from './binary-dispatch.ts';
import { AsciiAuthReader, AuthReplies } from '../proto/text/auth.ts';
import type { Credentials } from './auth-file.ts';
import type { ServerConfig } from './config.ts';
import { DirectWriter, WRITE_DONE, WRITE_PENDING } from '../net/direct-write.ts';
import type { Dispatcher, UnfinishedGet } from './dispatch.ts';
import { CLOSE, KEEP, MORE } from './host.ts';
import type { OutBuffer } from '../net/out-buffer.ts';
import type { ServerCounters } from './stats.ts';
import type { Logger } from '../log.ts';
import type { RateLimitedLog } from '../log-limit.ts';
import { quoteBytes } from '../log-limit.ts';

export interface ConnectionEnv {
  dispatcher: Dispatcher;
  binaryDispatcher: BinaryDispatcher;
  /** -B: 'auto' picks binary when a connection's first byte is a binary request's magic */
  protocol: ServerConfig['protocol'];
  /** One reply buffer shared by every connection: a 'data' chunk is handled start to end synchronously. */
  out: OutBuffer;
  /**
   * One read buffer shared by every connection, for the same reason: a read is parsed before the next one, and
   * the parser copies what it keeps (makeReadBuffer()).
   */
  readBuffer: Buffer;
  counters: ServerCounters;
  maxItemSize: number;
  /** Pending reply bytes above which a connection's requests wait for the client to read (-o output_limit). */
  outputLimit: number;
  /** -R: requests a connection handles before it lets the others go (memcached's reqs_per_event). */
  reqsPerEvent: number;
  now(): number;
  logger: Logger;
  /** Warnings caused by what clients send, one line per reason per interval. */
  clientLog: RateLimitedLog;
  traceCommands: boolean;
  /**
   * The store's change stream: in replication's synchronous mode the replies to commands that changed the store
   * wait until the stream says their changes are safe on a peer (ChangeStream.settled).
   */
  changes: ChangeStream;
  /** -Y: a connection must authenticate before anything else; null: authentication is off */
  credentials: Credentials | null;
}

/** The longest binary value buffered before a connection has authenticated (SASL data is small). */
const PREAUTH_VALUE_LIMIT = 4096;
/**
 * Replies to one read of a text connection that has not authenticated, beyond which it is closed: a client
 * authenticates in one or two commands, and this bounds what a stranger's read makes us write.
 */
const PREAUTH_REPLIES_PER_READ = 64;

const TEXT = 0;
const BINARY = 1;
const UNDECIDED = 2;

/** Bytes read per read() syscall. */
const READ_BUFFER_SIZE = 16 * 1024;

/** The read buffer for ConnectionEnv. */
export function makeReadBuffer(): Buffer {
  return Buffer.allocUnsafe(READ_BUFFER_SIZE);
}

/** What timeoutReason() may find. */
export type TimeoutReason = 'idle' | 'read' | 'drain';

export interface ConnectionTimeouts {
  /** -o idle_timeout: seconds without a completed command */
  idle: number;
  /** -o read_timeout: seconds an unfinished command may take to arrive */
  read: number;
  /** -o drain_timeout: seconds replies may stay pending */
  drain: number;
}

/**
 * One client stream (TCP or unix): parse the commands of each read, reply with one write per read. Like memcached,
 * a connection whose replies the client does not take stops being read: once the pending replies reach the output
 * limit, the parser holds the rest of the read and the socket is paused until the kernel has taken them, so that
 * the requests wait in the client's socket, not in this process (pending output stays within the limit plus one
 * value). A long multiget streams its replies under the same limit.
 */
export class Connection {
  readonly id: number;
  readonly socket: Socket;
  /** "tcp:ip:port" of the peer and of the listener, for `stats conns` */
  readonly addr: string;
  readonly listenAddr: string;
  /** Clock second of the latest completed command (for idle_timeout and `stats conns`). */
  lastCommandAt: number;
  readonly #env: ConnectionEnv;
  readonly #parser: TextParser;
  #binary: BinaryParser | null = null;
  /** TEXT, BINARY, or UNDECIDED until the first byte arrives (-B auto) */
  #protocol: number;
  #closing = false;
  /** Replies held back for replication's synchronous mode. */
  #waiting: Promise<void> | null = null;
  /** The change stream's next sequence when this connection's replies were last written: later ones are its own. */
  #seenSeq = 0;
  /** Writes replies through the stream handle; null: socket.write() (also used while it holds bytes). */
  readonly #direct: DirectWriter | null;
  /** Direct writes the kernel has not fully taken yet. */
  #pendingWrites = 0;
  /** socket.write() asked to wait for 'drain'. */
  #streamFull = false;
  /** Commands handled so far: what idle_timeout and read_timeout watch, not bytes. */
  #progress = 0;
  /** Clock second the unfinished command's first bytes arrived; -1: none. */
  #readSince = -1;
  /** Clock second since which the kernel has not taken all replies; -1: it has. */
  #stalledSince = -1;
  /** A multiget stopped at the output limit, finished once the client reads. */
  #unfinished: UnfinishedGet | null = null;
  /** Holding its input for a turn of the event loop, so that one connection's long output does not stall others. */
  #yielding = false;
  /** False until the connection authenticates (only when -Y is on). */
  #authenticated: boolean;
  /** Reads memcached's `set` authentication of a text connection that has not authenticated yet. */
  #textAuth: AsciiAuthReader | null = null;
  /** A `watch` connection: it only gets log lines; what it sends is read and dropped, as memcached does. */
  #watching = false;
  /** Requests left before this connection yields (-R, counted in conn_yields as memcached counts it). */
  #budget = 0;
  /** Why the server closes it (`watch connevents`); null: the client did (normal, or error if the socket failed). */
  closeReason: 'error' | 'normal' | 'idle_timeout' | 'shutdown' | null = null;

  /** `raw` comes from a server created with pauseOnConnect: nothing has been read from it yet. */
  constructor(id: number, raw: Socket, listenAddr: string, env: ConnectionEnv) {
    this.id = id;
    this.listenAddr = listenAddr;
    this.addr = raw.remoteAddress ? `tcp:${raw.remoteAddress}:${raw.remotePort}` : listenAddr;
    this.#env = env;
    this.#authenticated = env.credentials === null;
    this.lastCommandAt = env.now();
    this.#parser = new TextParser({ maxItemSize: env.maxItemSize }, (cmd) => this.#onCommand(cmd));
    this.#protocol = env.protocol === 'ascii' ? TEXT : UNDECIDED;
    if (env.protocol === 'binary') this.#startBinary();
    // a TLS socket's reads and writes go through its TLS layer: no handle tricks
    const tls = (raw as Socket & { encrypted?: boolean }).encrypted === true;
    // reads land in the shared read buffer; a TLS socket's come as 'data' events (an allocation per read)
    const socket = tls ? raw : readIntoShared(raw, env.readBuffer, (buf, n) => this.#onData(buf, n));
    this.socket = socket;
    if (tls) socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    const handle = tls ? null : DirectWriter.handleOf(socket);
    this.#direct = handle ? new DirectWriter(handle, (status) => this.#onWriteComplete(status)) : null;
    socket.on('drain', () => {
      this.#streamFull = false;
      this.#unblocked();
    });
    socket.resume();
    socket.on('error', (err) => env.logger.debug({ conn: id, err: err.message }, 'connection error'));
    socket.once('close', () => {
      this.#unfinished?.release();
      this.#unfinished = null;
    });
  }

  /** chunk[0, n) arrived (all of chunk by default). */
  #onData(chunk: Buffer, n = chunk.length): void {
    if (this.#closing || this.#watching) return;
    const env = this.#env;
    env.counters.bytesRead += n;
    if (this.#protocol === UNDECIDED) {
      if (n === 0) return;
      this.#decide(chunk[0]);
    }
    const before = this.#progress;
    this.#seenSeq = env.changes.lastOwnSeq;
    // memcached handles the first request of a read, then -R more, before it yields
    this.#budget = env.reqsPerEvent + 1;
    if (this.#authenticated || this.#binary !== null) this.#feed(chunk, n);
    else this.#authenticateText(chunk.subarray(0, n));
    this.#afterParse(before);
    this.#flush();
  }

  /** Before a text connection has authenticated: only memcached's `set` authentication is read. */
  #authenticateText(bytes: Buffer): void {
    const env = this.#env;
    const out = env.out;
    const reader = (this.#textAuth ??= new AsciiAuthReader());
    reader.push(bytes);
    let replies = 0;
    for (let step = reader.take(); step !== null; step = reader.take()) {
      this.#progress++;
      if (++replies > PREAUTH_REPLIES_PER_READ) {
        this.#closing = true;
        env.clientLog.warn('unauthenticated', 'closed a text connection that sent many commands before authenticating', { conn: this.id });
        return;
      }
      switch (step.kind) {
        case 'reply':
          out.bytes(step.reply);
          break;
        case 'close':
          this.#closing = true;
          env.clientLog.warn('unauthenticated', 'closed a text connection that sent a long line before authenticating', { conn: this.id });
          return;
        case 'too_long':
          env.counters.authCmds++;
          env.counters.authErrors++;
          out.bytes(AuthReplies.FAILURE);
          this.#closing = true;
          env.clientLog.warn('auth failure', 'a client failed to authenticate', { conn: this.id, protocol: 'text', dataLength: step.length });
          return;
        case 'credentials':
          env.counters.authCmds++;
          if (env.credentials!.check(step.user, step.pass)) {
            out.bytes(AuthReplies.STORED);
            this.#authenticated = true;
            this.#textAuth = null;
            const rest = reader.rest();
            if (rest.length > 0) this.#feed(rest, rest.length);
            return;
          }
          env.counters.authErrors++;
          out.bytes(AuthReplies.FAILURE);
          env.clientLog.warn('auth failure', 'a client failed to authenticate', { conn: this.id, protocol: 'text' });
          break;
      }
    }
  }

  /** Parses chunk[0, n), or with a null chunk resumes a paused parser; an exception closes the connection. */
  #feed(chunk: Buffer | null, n: number): void {
    const binary = this.#binary;
    try {
      if (binary !== null) {
        if (chunk === null) binary.resume();
        else binary.push(n === chunk.length ? chunk : chunk.subarray(0, n));
      } else if (chunk === null) {
        this.#parser.resume();
      } else {
        this.#parser.push(chunk, n);
      }
    } catch (err) {
      this.#closing = true;
      // memcached closes a connection whose request has a bad magic byte without a reply
      if (err instanceof BadMagicError) return;
      this.#env.clientLog.warn('internal error', 'a client command failed', { conn: this.id, err: (err as Error)?.stack ?? String(err) });
      if (binary === null) this.#env.out.latin1('SERVER_ERROR internal error\r\n');
    }
  }

  /** Updates the idle and read clocks after parsing: they run from the latest completed command. */
  #afterParse(before: number): void {
    const progressed = this.#progress !== before;
    if (!progressed && this.#readSince >= 0) return;
    const now = this.#env.now();
    if (progressed) this.lastCommandAt = now;
    const held = this.#binary !== null ? this.#binary.pending : this.#textAuth !== null ? this.#textAuth.pending : this.#parser.pending;
    this.#readSince = held > 0 ? now : -1;
  }

  #decide(firstByte: number): void {
    if (firstByte === MAGIC_REQUEST) this.#startBinary();
    else this.#protocol = TEXT;
  }

  #startBinary(): void {
    this.#protocol = BINARY;
    const maxValueLength = this.#authenticated ? this.#env.maxItemSize : PREAUTH_VALUE_LIMIT;
    this.#binary = new BinaryParser({ maxValueLength }, (req) => this.#onRequest(req));
  }

  #onRequest(req: BinaryRequest): void {
    if (this.#closing) return;
    const parser = this.#binary!;
    const env = this.#env;
    this.#progress++;
    const r = env.binaryDispatcher.handle(req, env.out, parser, this.#authenticated);
    if (r === CLOSE) {
      this.#closing = true;
      parser.stop();
    } else if (r === AUTHENTICATED) {
      this.#authenticated = true;
      parser.setMaxValueLength(env.maxItemSize);
    } else if (env.out.length >= env.outputLimit) {
      this.#flushEarly();
    }
    this.#spend();
  }

  /** One request handled: at the end of the -R budget the connection yields, as memcached's does. */
  #spend(): void {
    if (--this.#budget > 0 || this.#closing) return;
    this.#env.counters.connYields++;
    this.#hold();
  }

  #onCommand(cmd: TextCommand): void {
    if (this.#closing || this.#watching) return;
    const env = this.#env;
    if (env.traceCommands) this.#trace(cmd);
    this.#progress++;
    const r = env.dispatcher.handle(cmd, env.out, this);
    if (r === KEEP) {
      if (env.out.length >= env.outputLimit) this.#flushEarly();
    } else if (r === CLOSE) {
      this.closeReason = cmd.kind === 'quit' ? 'normal' : cmd.kind === 'shutdown' ? 'shutdown' : 'error';
      this.#closing = true;
    } else {
      this.#streamGet(env.dispatcher.takeUnfinished());
    }
    this.#spend();
  }

  /**
   * Replies reached the output limit mid-read: write them now and hold the rest of the read, until the kernel has
   * taken them or, when it took them at once, until other connections have had their turn.
   */
  #flushEarly(): void {
    this.#flush();
    this.#hold();
  }

  /** A multiget stopped at the output limit: write what it produced, and go on later (see #flushEarly). */
  #streamGet(u: UnfinishedGet): void {
    this.#flush();
    if (this.#closing) return;
    // a waiting multiget may keep the parser's buffer that holds its line rather than copy it
    u.detach((src) => this.#parser.lend(src));
    this.#unfinished = u;
    this.#hold();
  }

  /** Stops reading and parsing; carries on when the pending replies are written, or after a turn of the event loop. */
  #hold(): void {
    if (this.#closing) return;
    if (this.#binary !== null) this.#binary.pause();
    else this.#parser.pause();
    this.socket.pause();
    if (this.#blocked || this.#yielding) return;
    this.#yielding = true;
    setImmediate(Connection.#afterYield, this);
  }

  /** (static, with the connection as argument: no closure per connection) */
  static #afterYield(c: Connection): void {
    c.#yielding = false;
    // later turns: memcached's connection handles -R requests per event
    c.#budget = c.#env.reqsPerEvent;
    c.#unblocked();
  }

  /** The parser holds input: it was paused and has not been resumed. */
  get #inputHeld(): boolean {
    return this.#binary !== null ? this.#binary.paused : this.#parser.paused;
  }

  /** Replies wait: for the kernel to take them, or for replication's acknowledgement. */
  get #blocked(): boolean {
    return this.#pendingWrites > 0 || this.#streamFull || this.#waiting !== null;
  }

  /** True once a command was handled (`stats conns`: memcached's conn_read, before it conn_new_cmd). */
  get hadCommand(): boolean {
    return this.#progress > 0;
  }

  /** True while the client has not taken its replies (`stats conns` shows conn_mwrite). */
  get writeBlocked(): boolean {
    return this.#blocked;
  }

  #flush(): void {
    const out = this.#env.out;
    const socket = this.socket;
    const changes = this.#env.changes;
    // This thread's last record (with -t N other threads write to the same stream; their changes do not hold us)
    const head = changes.lastOwnSeq;
    // The commands since the last write changed the store: their replies may have to wait for a peer's ack.
    const barrier = head !== this.#seenSeq ? changes.settled(head) : null;
    this.#seenSeq = head;
    if ((barrier || this.#waiting) && out.length > 0) {
      this.#deferReplies(out.take(), barrier);
      return;
    }
    if (out.length > 0) {
      const bytes = out.take();
      this.#env.counters.bytesWritten += bytes.length;
      if (this.#write(bytes)) out.recycle();
    }
    if (this.#closing && !this.#waiting && this.#pendingWrites === 0) socket.destroySoon();
  }

  /** Returns true when the kernel has taken all of `bytes` already: nothing refers to them any more. */
  #write(bytes: Buffer): boolean {
    const socket = this.socket;
    const direct = this.#direct;
    // socket.write() bytes still queued in the stream must leave first.
    if (direct === null || socket.writableLength > 0 || socket.destroyed) {
      if (!socket.write(bytes) && !this.#closing) {
        this.#streamFull = true;
        this.#stalled();
        socket.pause();
      }
      return false;
    }
    const r = direct.write(bytes);
    if (r === WRITE_DONE) return true;
    if (r === WRITE_PENDING) {
      this.#pendingWrites++;
      this.#stalled();
      socket.pause();
      return false;
    }
    this.#env.logger.debug({ conn: this.id, errno: r }, 'write failed');
    this.#closing = true;
    socket.destroy();
    return false;
  }

  #stalled(): void {
    if (this.#stalledSince < 0) this.#stalledSince = this.#env.now();
  }

  #onWriteComplete(status: number): void {
    this.#pendingWrites--;
    if (status < 0) {
      this.#env.logger.debug({ conn: this.id, errno: status }, 'write failed');
      this.#closing = true;
      this.socket.destroy();
      return;
    }
    this.#unblocked();
  }

  /** A wait ended: once nothing is pending, carry on where the connection stopped. */
  #unblocked(): void {
    if (this.#blocked) return;
    this.#stalledSince = -1;
    if (this.#yielding || this.socket.destroyed) return;
    if (this.#closing) {
      this.socket.destroySoon();
      return;
    }
    const env = this.#env;
    const before = this.#progress;
    this.#seenSeq = env.changes.lastOwnSeq;
    const u = this.#unfinished;
    if (u !== null) {
      this.#unfinished = null;
      const r = env.dispatcher.resumeGet(u, env.out);
      if (r === MORE) this.#streamGet(u);
      else if (env.out.length >= env.outputLimit) this.#flushEarly();
      if (r === MORE || this.#blocked || this.#yielding) return;
    }
    if (this.#inputHeld) this.#feed(null, 0);
    this.#afterParse(before);
    this.#flush();
    if (!this.#blocked && !this.#closing && !this.#inputHeld) this.socket.resume();
  }

  /**
   * A reply that is known later (-t N's `stats conns`, which asks the other workers): the replies before it leave
   * first, and those after it wait for it.
   */
  deferReply(reply: Promise<string>): void {
    const out = this.#env.out;
    if (out.length > 0) this.#deferReplies(out.take(), null);
    this.#deferReplies(reply.then((text) => Buffer.from(text, 'latin1')), null);
  }

  /** Replies leave in order once `barrier` (a peer's acknowledgement) and earlier deferred replies are done. */
  #deferReplies(reply: Buffer | Promise<Buffer>, barrier: Promise<void> | null): void {
    this.socket.pause();
    const mine: Promise<void> = Promise.all([this.#waiting, barrier, reply]).then(([, , bytes]) => {
      // a client that left meanwhile gets nothing, and bytes_written does not count it
      if (!this.socket.destroyed) {
        this.#env.counters.bytesWritten += bytes.length;
        this.#write(bytes);
      }
      if (this.#waiting !== mine) return;
      this.#waiting = null;
      this.#unblocked();
    });
    this.#waiting = mine;
  }

  /**
   * Called once a clock second: why this connection should be closed now, if it should. A connection whose replies
   * wait is only subject to drain_timeout (memcached's idle_timeout, too, only watches connections waiting to read).
   */
  timeoutReason(now: number, t: ConnectionTimeouts): TimeoutReason | null {
    if (this.#closing || this.#watching) return null;
    if (this.#blocked) return t.drain > 0 && this.#stalledSince >= 0 && now - this.#stalledSince > t.drain ? 'drain' : null;
    if (t.read > 0 && this.#readSince >= 0 && now - this.#readSince > t.read) return 'read';
    if (t.idle > 0 && now - this.lastCommandAt > t.idle) return 'idle';
    return null;
  }

  #trace(cmd: TextCommand): void {
    const what = 'op' in cmd ? cmd.op : cmd.kind === 'other' ? cmd.name : cmd.kind;
    const key = 'key' in cmd ? quoteBytes(cmd.key) : 'keys' in cmd ? cmd.keys.map((k) => quoteBytes(k)).join(' ') : undefined;
    this.#env.logger.trace({ conn: this.id, cmd: what, key }, 'command');
  }

  get closing(): boolean {
    return this.#closing;
  }

  close(): void {
    this.#closing = true;
    this.socket.destroy();
  }

  /** From now on the connection only gets `watch` lines (the rest of the current read is dropped). */
  becomeWatcher(): void {
    this.#watching = true;
  }

  get watching(): boolean {
    return this.#watching;
  }
}
