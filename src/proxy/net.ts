/** The proxy's sockets: listeners for clients, and TCP connections to the backends. */
import { chmodSync, lstatSync, unlinkSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import type { Logger } from '../log.ts';
import type { BackendTransport, Connector, TransportEvents } from './backend.ts';
import type { ProxyCore } from './core.ts';
import type { ClientTransport } from './session.ts';

const TOO_MANY = Buffer.from('ERROR Too many open connections\r\n', 'latin1');

/** Backend connections: TCP, Nagle off (requests leave once per event-loop turn already), keep-alive on. */
export function tcpConnector(): Connector {
  return (server, events: TransportEvents): BackendTransport => {
    const socket = connect({ host: server.host, port: server.port, noDelay: true, keepAlive: true, keepAliveInitialDelay: 30_000 });
    let live = true;
    const closed = (reason: string) => {
      if (!live) return;
      live = false;
      socket.destroy();
      events.closed(reason);
    };
    socket.on('connect', () => live && events.connected());
    socket.on('data', (d: Buffer) => live && events.data(d, d.length));
    socket.on('error', (e: NodeJS.ErrnoException) => closed(e.code && e.syscall ? `${e.syscall} ${e.code}` : e.message));
    socket.on('close', () => closed('connection closed by the server'));
    return {
      write: (data) => void socket.write(data),
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

  constructor(core: ProxyCore, config: ListenConfig, log: Logger) {
    this.#core = core;
    this.#config = config;
    this.#log = log;
  }

  async listen(): Promise<void> {
    const c = this.#config;
    if (c.port !== 0) for (const host of c.hosts) await this.#listenOn({ host, port: c.port, backlog: 1024 });
    if (c.unixSocket !== null) {
      removeStaleSocket(c.unixSocket);
      await this.#listenOn({ path: c.unixSocket, backlog: 1024 });
      chmodSync(c.unixSocket, 0o700);
    }
  }

  /** Where it listens ("host:port" or the socket path), as bound (port 0 picks one). */
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
    const server = createServer({ noDelay: true }, (socket) => this.#accept(socket));
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

  #accept(socket: Socket): void {
    const core = this.#core;
    if (core.counters.connections >= this.#config.maxConns) {
      core.counters.rejectedConnections++;
      socket.end(TOO_MANY);
      socket.on('error', () => {});
      return;
    }
    this.#sockets.add(socket);
    let pausedByCore = false;
    let pausedByWrites = false;
    const transport: ClientTransport = {
      write(data) {
        if (!socket.write(data)) {
          pausedByWrites = true;
          socket.pause();
        }
        return socket.writableLength === 0;
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
        if (!pausedByWrites) socket.resume();
      },
    };
    const handle = core.open(transport);
    socket.on('data', (d: Buffer) => handle.data(d, d.length));
    socket.on('drain', () => {
      pausedByWrites = false;
      handle.drained();
      if (!pausedByCore) socket.resume();
    });
    socket.on('error', (e) => this.#log.debug({ err: e.message }, 'client connection error'));
    socket.on('close', () => {
      this.#sockets.delete(socket);
      handle.closed();
    });
  }
}

/** A unix socket file left by a previous run (nothing listens on it) is removed; anything else is left alone. */
function removeStaleSocket(path: string): void {
  try {
    if (lstatSync(path).isSocket()) unlinkSync(path);
  } catch {
    /* not there */
  }
}
