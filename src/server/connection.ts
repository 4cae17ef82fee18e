import { Socket } from 'node:net';
import type { TextCommand } from '../proto/text/commands.ts';
import { TextParser } from '../proto/text/parser.ts';
import { BadMagicError, BinaryParser, MAGIC_REQUEST, type BinaryRequest } from '../proto/binary/codec.ts';
import type { BinaryDispatcher } from './binary-dispatch.ts';
import type { ServerConfig } from './config.ts';
import { DirectWriter, readDirect, WRITE_DONE, WRITE_PENDING } from './direct-write.ts';
import { CLOSE, type Dispatcher } from './dispatch.ts';
import type { OutBuffer } from './out-buffer.ts';
import type { ServerCounters } from './stats.ts';
import type { Logger } from '../log.ts';

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
  now(): number;
  logger: Logger;
  traceCommands: boolean;
  /** When it returns a promise, this chunk's replies wait for it (replication's synchronous mode). */
  replyBarrier?: () => Promise<void> | null;
}

const TEXT = 0;
const BINARY = 1;
const UNDECIDED = 2;

/** Bytes read per read() syscall. */
const READ_BUFFER_SIZE = 16 * 1024;

/** The read buffer for ConnectionEnv. */
export function makeReadBuffer(): Buffer {
  return Buffer.allocUnsafe(READ_BUFFER_SIZE);
}

interface StreamHandle { useUserBuffer?: unknown }

/**
 * Re-wraps an accepted socket (from a server with pauseOnConnect) so reads land in a buffer we
 * supply and reach `onRead` directly, skipping a Buffer allocation and the stream machinery per
 * read. Node only honours `onread` in the Socket constructor, hence the handle transfer. Returns
 * null where the handle cannot be moved, and the caller falls back to 'data' events.
 */
export function adoptWithUserBuffer(raw: Socket, buffer: Buffer, onRead: (n: number, buf: Buffer) => void): Socket | null {
  const r = raw as unknown as { _handle: StreamHandle | null };
  const handle = r._handle;
  if (!handle || typeof handle.useUserBuffer !== 'function') return null;
  r._handle = null;
  raw.destroy();
  // `handle` is how Node's own child_process passes sockets; @types/node does not declare it.
  const opts = { handle, onread: { buffer, callback: onRead } };
  return new Socket(opts as unknown as ConstructorParameters<typeof Socket>[0]);
}

/** One client stream (TCP or unix): parse every command in a chunk, reply with one write. */
export class Connection {
  readonly id: number;
  readonly socket: Socket;
  /** "tcp:ip:port" of the peer and of the listener, for `stats conns` */
  readonly addr: string;
  readonly listenAddr: string;
  lastCommandAt: number;
  readonly #env: ConnectionEnv;
  readonly #parser: TextParser;
  #binary: BinaryParser | null = null;
  /** TEXT, BINARY, or UNDECIDED until the first byte arrives (-B auto) */
  #protocol: number;
  #closing = false;
  /** Replies held back for replication's synchronous mode. */
  #waiting: Promise<void> | null = null;
  /** Writes replies through the stream handle; null: socket.write() (also used while it holds bytes). */
  readonly #direct: DirectWriter | null;
  /** Direct writes the kernel has not fully taken yet; reading pauses until they complete. */
  #pendingWrites = 0;

  /** `raw` comes from a server created with pauseOnConnect: nothing has been read from it yet. */
  constructor(id: number, raw: Socket, listenAddr: string, env: ConnectionEnv) {
    this.id = id;
    this.listenAddr = listenAddr;
    this.addr = raw.remoteAddress ? `tcp:${raw.remoteAddress}:${raw.remotePort}` : listenAddr;
    this.#env = env;
    this.lastCommandAt = env.now();
    this.#parser = new TextParser({ maxItemSize: env.maxItemSize }, (cmd) => this.#onCommand(cmd));
    this.#protocol = env.protocol === 'ascii' ? TEXT : UNDECIDED;
    if (env.protocol === 'binary') this.#startBinary();
    const adopted = adoptWithUserBuffer(raw, env.readBuffer, (n, buf) => this.#onData(buf, n));
    const socket = adopted ?? raw;
    this.socket = socket;
    if (!adopted) socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    // the bytes are in the shared read buffer, which stays the handle's buffer
    else readDirect(socket, (n) => this.#onData(env.readBuffer, n));
    const handle = DirectWriter.handleOf(socket);
    this.#direct = handle ? new DirectWriter(handle, (status) => this.#onWriteComplete(status)) : null;
    socket.on('drain', () => socket.resume());
    socket.resume();
    socket.on('error', (err) => env.logger.debug({ conn: id, err: err.message }, 'connection error'));
  }

  /** chunk[0, n) arrived (all of chunk by default). */
  #onData(chunk: Buffer, n = chunk.length): void {
    if (this.#closing) return;
    const env = this.#env;
    env.counters.bytesRead += n;
    this.lastCommandAt = env.now();
    if (this.#protocol !== TEXT) {
      if (this.#protocol === UNDECIDED) {
        if (n === 0) return;
        this.#decide(chunk[0]);
      }
      if (this.#binary !== null) return this.#onBinaryData(n === chunk.length ? chunk : chunk.subarray(0, n));
    }
    try {
      this.#parser.push(chunk, n);
    } catch (err) {
      env.logger.error({ conn: this.id, err }, 'command failed');
      env.out.latin1('SERVER_ERROR internal error\r\n');
      this.#closing = true;
    }
    this.#flush();
  }

  #decide(firstByte: number): void {
    if (firstByte === MAGIC_REQUEST) this.#startBinary();
    else this.#protocol = TEXT;
  }

  #startBinary(): void {
    this.#protocol = BINARY;
    this.#binary = new BinaryParser({ maxValueLength: this.#env.maxItemSize }, (req) => this.#onRequest(req));
  }

  #onBinaryData(chunk: Buffer): void {
    const env = this.#env;
    try {
      this.#binary!.push(chunk);
    } catch (err) {
      // memcached closes a connection whose request has a bad magic byte without a reply
      if (!(err instanceof BadMagicError)) env.logger.error({ conn: this.id, err }, 'binary command failed');
      this.#closing = true;
    }
    this.#flush();
  }

  #onRequest(req: BinaryRequest): void {
    if (this.#closing) return;
    const parser = this.#binary!;
    if (this.#env.binaryDispatcher.handle(req, this.#env.out, parser) === CLOSE) {
      this.#closing = true;
      parser.stop();
    }
  }

  #onCommand(cmd: TextCommand): void {
    if (this.#closing) return;
    if (this.#env.traceCommands) this.#trace(cmd);
    if (this.#env.dispatcher.handle(cmd, this.#env.out, this) === CLOSE) this.#closing = true;
  }

  #flush(): void {
    const out = this.#env.out;
    const socket = this.socket;
    const barrier = this.#env.replyBarrier?.() ?? null;
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
      if (!socket.write(bytes) && !this.#closing) socket.pause();
      return false;
    }
    const r = direct.write(bytes);
    if (r === WRITE_DONE) return true;
    if (r === WRITE_PENDING) {
      this.#pendingWrites++;
      socket.pause();
      return false;
    }
    this.#env.logger.debug({ conn: this.id, errno: r }, 'write failed');
    this.#closing = true;
    socket.destroy();
    return false;
  }

  #onWriteComplete(status: number): void {
    this.#pendingWrites--;
    const socket = this.socket;
    if (status < 0) {
      this.#env.logger.debug({ conn: this.id, errno: status }, 'write failed');
      this.#closing = true;
      socket.destroy();
      return;
    }
    if (this.#pendingWrites > 0 || this.#waiting) return;
    if (this.#closing) socket.destroySoon();
    else socket.resume();
  }

  /** Replies leave in order once `barrier` (a peer's acknowledgement) and earlier deferred replies are done. */
  #deferReplies(bytes: Buffer, barrier: Promise<void> | null): void {
    const socket = this.socket;
    socket.pause();
    const mine: Promise<void> = Promise.all([this.#waiting, barrier]).then(() => {
      this.#env.counters.bytesWritten += bytes.length;
      this.#write(bytes);
      if (this.#waiting !== mine) return;
      this.#waiting = null;
      if (this.#pendingWrites > 0) return;
      if (this.#closing) socket.destroySoon();
      else socket.resume();
    });
    this.#waiting = mine;
  }

  #trace(cmd: TextCommand): void {
    const what = 'op' in cmd ? cmd.op : cmd.kind === 'other' ? cmd.name : cmd.kind;
    const key = 'key' in cmd ? cmd.key.toString('latin1') : 'keys' in cmd ? cmd.keys.map((k) => k.toString('latin1')).join(' ') : undefined;
    this.#env.logger.trace({ conn: this.id, cmd: what, key }, 'command');
  }

  get closing(): boolean {
    return this.#closing;
  }

  close(): void {
    this.#closing = true;
    this.socket.destroy();
  }
}
