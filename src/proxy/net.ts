/**
 * The proxy's sockets: listeners for clients, and TCP connections to the backends. Reads land in one shared
 * buffer and writes go straight to the stream handle where Node allows it (as repcache's own connections do):
 * every request crosses four sockets, so the stream machinery per read and write is most of a proxy's cost.
 */
import { connect, createServer, Socket, type Server } from 'node:net';
import type { Logger } from '../log.ts';
import { listenUnixSocket, removeStaleSocket } from '../net/unix-socket.ts';
import { readIntoShared } from '../net/user-buffer.ts';
import { DirectWriter, readDirect, WRITE_DONE, WRITE_PENDING } from '../net/direct-write.ts';
import type { BackendTransport, Connector, TransportEvents } from './backend.ts';
import type { ClientHandle, ProxyCore } from './core.ts';
import type { ClientTransport } from './session.ts';

const TOO_MANY = Buffer.from('ERROR Too many open connections\r\n', 'latin1');
const READ_BUFFER_SIZE = 64 * 1024;

/**
 * Writes to a socket: straight to its handle while nothing is queued in the stream, else socket.write().
 * write() returns true when the kernel took every byte (the caller may reuse the buffer).
 */
class SocketWriter {
  readonly #socket: Socket;
  readonly #direct: DirectWriter | null;
  readonly #drained: () => void;
  #pending = 0;

  constructor(socket: Socket, drained: () => void) {
    this.#socket = socket;
    this.#drained = drained;
    const h = DirectWriter.handleOf(socket);
    this.#direct = h ? new DirectWriter(h, (status) => this.#complete(status)) : null;
    socket.on('drain', () => { if (this.#pending === 0) drained(); });
  }

  /** Bytes handed over and not yet taken by the kernel. */
  get backlogged(): boolean {
    return this.#pending > 0 || this.#socket.writableLength > 0;
  }

  write(data: Buffer): boolean {
    const s = this.#socket;
    if (s.destroyed) return true;
    if (this.#direct === null || s.writableLength > 0) {
      s.write(data);
      return false;
    }
    const r = this.#direct.write(data);
    if (r === WRITE_DONE) return true;
    if (r === WRITE_PENDING) {
      this.#pending++;
      return false;
    }
    s.destroy();
    return true;
  }

  #complete(status: number): void {
    this.#pending--;
    if (status < 0) this.#socket.destroy();
    else if (this.#pending === 0 && this.#socket.writableLength === 0) this.#drained();
  }
}

/** Backend connections: TCP, Nagle off (requests leave once per event-loop turn already), keep-alive on. */
export function tcpConnector(readBuffer: Buffer = Buffer.allocUnsafe(READ_BUFFER_SIZE)): Connector {
  return (server, events: TransportEvents): BackendTransport => {
    let live = true;
    const socket = connect({
      host: server.host,
      port: server.port,
      noDelay: true,
      keepAlive: true,
      keepAliveInitialDelay: 30_000,
      onread: {
        buffer: readBuffer,
        callback: (n: number, buf: Uint8Array) => {
          if (live) events.data(buf as Buffer, n);
          return true;
        },
      },
    });
    const closed = (reason: string) => {
      if (!live) return;
      live = false;
      socket.destroy();
      events.closed(reason);
    };
    const writer = new SocketWriter(socket, () => {});
    socket.on('connect', () => {
      if (!live) return;
      readDirect(socket, (n) => void (live && events.data(readBuffer, n)));
      events.connected();
    });
    socket.on('error', (e: NodeJS.ErrnoException) => closed(e.code && e.syscall ? `${e.syscall} ${e.code}` : e.message));
    socket.on('close', () => closed('connection closed by the server'));
    return {
      write: (data) => writer.write(data),
      destroy: () => {
        live = false;
        socket.destroy();
      },
    };
  };
}

export interface ListenConfig {
  port: number;
  hosts: string[];
  unixSocket: string | null;
  maxConns: number;
}

/** Accepts clients on every configured address and hands them to the core. */
export class ProxyListener {
  readonly #core: ProxyCore;
  readonly #config: ListenConfig;
  readonly #log: Logger;
  readonly #servers: Server[] = [];
  readonly #sockets = new Set<Socket>();
  /** One read buffer for every client: a read is handled to the end before the next one (the parser copies what it keeps). */
  readonly #readBuffer = Buffer.allocUnsafe(READ_BUFFER_SIZE);

  constructor(core: ProxyCore, config: ListenConfig, log: Logger) {
    this.#core = core;
    this.#config = config;
    this.#log = log;
  }

  async listen(): Promise<void> {
    const c = this.#config;
    if (c.port !== 0) for (const host of c.hosts) await this.#listenOn({ host, port: c.port, backlog: 1024 });
    const path = c.unixSocket;
    if (path !== null) await listenUnixSocket(path, 0o700, () => this.#listenOn({ path, backlog: 1024 }));
  }

  /** Where it listens ("host:port" or the socket path), as bound. */
  addresses(): string[] {
    return this.#servers.map((s) => {
      const a = s.address();
      return typeof a === 'string' ? a : a ? `${a.address}:${a.port}` : '?';
    });
  }

  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    await Promise.all(this.#servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
    if (this.#config.unixSocket !== null) removeStaleSocket(this.#config.unixSocket);
  }

  #listenOn(opts: { host?: string; port?: number; path?: string; backlog: number }): Promise<void> {
    const server = createServer({ noDelay: true, pauseOnConnect: true }, (socket) => this.#accept(socket));
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts, () => {
        server.off('error', reject);
        server.on('error', (e) => this.#log.error({ err: e.message }, 'listener error'));
        this.#servers.push(server);
        resolve();
      });
    });
  }

  #accept(raw: Socket): void {
    const core = this.#core;
    if (core.counters.connections >= this.#config.maxConns) {
      core.counters.rejectedConnections++;
      raw.on('error', () => {});
      raw.end(TOO_MANY);
      return;
    }
    const buf = this.#readBuffer;
    let handle: ClientHandle | null = null;
    // accepted paused (pauseOnConnect): nothing is read before the handle below is set
    const socket = readIntoShared(raw, buf, (b, n) => handle?.data(b, n));
    this.#sockets.add(socket);
    let pausedByCore = false;
    const writer = new SocketWriter(socket, () => {
      handle?.drained();
      if (!pausedByCore) socket.resume();
    });
    const transport: ClientTransport = {
      write(data) {
        const done = writer.write(data);
        if (!done && writer.backlogged) socket.pause(); // the client is not reading: stop reading it
        return done;
      },
      end() {
        socket.end();
      },
      pause() {
        pausedByCore = true;
        socket.pause();
      },
      resume() {
        pausedByCore = false;
        if (!writer.backlogged) socket.resume();
      },
    };
    handle = core.open(transport);
    socket.on('error', (e) => this.#log.debug({ err: e.message }, 'client connection error'));
    socket.on('close', () => {
      this.#sockets.delete(socket);
      handle!.closed();
    });
    socket.resume();
  }
}
