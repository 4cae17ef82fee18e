import { chmodSync, lstatSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import type { Logger } from '../../log.ts';
import { RateLimitedLog, quoteBytes } from '../../log-limit.ts';
import { ControlProtocolError, LineBuffer, MAX_REQUEST_BYTES, decodeRequest, encodeReply, type ControlReply, type ControlRequest } from '../../proto/control/codec.ts';
import { ControlClientError, request } from './control-client.ts';
import { makeDirs } from './state-file.ts';

export class ControlSocketError extends Error {
  override name = 'ControlSocketError';
}

/** Another daemon answers on the socket path: starting a second one on it would take its socket. */
export class SocketInUseError extends ControlSocketError {
  override name = 'SocketInUseError';
}

export interface ControlServerOptions {
  path: string;
  handle(req: ControlRequest): Promise<ControlReply>;
  log: Logger;
  /** A connection must send its whole request within this time. Default 5 s. */
  timeoutMs?: number;
  /** Connections served at once; more are answered "busy". Default 16. */
  maxConnections?: number;
}

/**
 * The control socket: a unix socket only its owner (haved's user) may use (mode 0600, in a directory
 * nobody else can write), one JSON request per connection (control-protocol.ts). Bad, huge or slow
 * requests get an error reply and are dropped; none of them reaches the daemon.
 */
export class ControlServer {
  readonly path: string;
  readonly #opts: ControlServerOptions;
  readonly #strangers: RateLimitedLog;
  readonly #open = new Set<Socket>();
  #server: Server | null = null;

  constructor(opts: ControlServerOptions) {
    this.path = opts.path;
    this.#opts = opts;
    this.#strangers = new RateLimitedLog(opts.log);
  }

  /** Throws SocketInUseError when a daemon answers there already, ControlSocketError when it cannot listen. */
  async listen(): Promise<void> {
    const bytes = Buffer.byteLength(this.path);
    if (bytes > MAX_PATH_BYTES) throw new ControlSocketError(`${this.path} is too long for a unix socket (${bytes} bytes, at most ${MAX_PATH_BYTES})`);
    const dir = dirname(this.path);
    try {
      makeDirs(dir);
    } catch (e) {
      throw new ControlSocketError(`cannot create ${dir}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    checkPrivateDir(dir);
    await this.#removeStale();
    const server = createServer((sock) => this.#serve(sock));
    const umask = process.umask(0o177); // the socket is created 0600: no window with wider permissions
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(this.path, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } catch (e) {
      throw new ControlSocketError(`cannot listen on ${this.path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    } finally {
      process.umask(umask);
    }
    chmodSync(this.path, 0o600);
    server.on('error', (e) => this.#opts.log.warn({ err: e.message, path: this.path }, 'control socket error'));
    this.#server = server;
  }

  async close(): Promise<void> {
    const server = this.#server;
    this.#server = null;
    if (!server) return;
    for (const s of this.#open) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    rmSync(this.path, { force: true });
    this.#strangers.flush();
  }

  /** A socket file nobody answers on (left by a crash) is removed; a live one is another daemon's. */
  async #removeStale(): Promise<void> {
    let isSocket: boolean;
    try {
      isSocket = lstatSync(this.path).isSocket();
    } catch {
      return; // nothing there
    }
    if (!isSocket) throw new ControlSocketError(`${this.path} exists and is not a socket: not removing it`);
    try {
      const reply = await request(this.path, { verb: 'status' }, { timeoutMs: 2000 });
      const pid = reply.ok ? (reply.result as { pid?: number }).pid : undefined;
      throw new SocketInUseError(`another haved answers on ${this.path}${pid ? ` (pid ${pid})` : ''}: stop it, or give this one its own --state-file or --socket`);
    } catch (e) {
      if (e instanceof SocketInUseError) throw e;
      if (!(e instanceof ControlClientError) || e.code !== 'ECONNREFUSED') {
        throw new ControlSocketError(`${this.path} is in use and does not answer (${(e as Error).message})`);
      }
    }
    rmSync(this.path, { force: true });
  }

  #serve(sock: Socket): void {
    const max = this.#opts.maxConnections ?? 16;
    sock.on('error', () => {}); // a client gone before its reply: nothing to do
    const busy = this.#open.size >= max;
    this.#open.add(sock);
    sock.once('close', () => this.#open.delete(sock));
    if (busy) {
      sock.resume(); // read and drop what it sends, so its close is seen
      setTimeout(() => sock.destroy(), LINGER_MS).unref();
      sock.end(encodeReply({ ok: false, error: `busy: ${max} control connections are open` }));
      return;
    }
    const lines = new LineBuffer(MAX_REQUEST_BYTES);
    let done = false;
    const reply = (r: ControlReply) => {
      done = true;
      clearTimeout(timer);
      // Whatever else the client sends is read and dropped; a client that never closes is cut off.
      const linger = setTimeout(() => sock.destroy(), LINGER_MS).unref();
      sock.once('close', () => clearTimeout(linger));
      sock.end(encodeReply(r));
    };
    const refuse = (reason: string, error: string, bytes?: Buffer) => {
      this.#strangers.warn(reason, `control socket: ${error}`, bytes ? { request: quoteBytes(bytes) } : {});
      reply({ ok: false, error });
    };
    const timer = setTimeout(() => refuse('timeout', `no complete request within ${this.#opts.timeoutMs ?? 5000} ms`), this.#opts.timeoutMs ?? 5000);
    sock.on('data', (chunk: Buffer) => {
      if (done) return;
      const got = lines.push(chunk);
      if (got === null) return;
      if ('error' in got) return refuse('too-long', got.error);
      let req: ControlRequest;
      try {
        req = decodeRequest(got.line);
      } catch (e) {
        if (!(e instanceof ControlProtocolError)) throw e;
        return refuse('bad-request', e.message, Buffer.from(got.line));
      }
      done = true;
      clearTimeout(timer);
      this.#opts.handle(req).then(reply, (e: Error) => reply({ ok: false, error: `internal error: ${e.message}` }));
    });
    sock.once('end', () => {
      if (!done) refuse('incomplete', 'the request ended without a newline');
    });
  }
}

const LINGER_MS = 2000;
/** sockaddr_un.sun_path is 108 bytes with the terminating NUL. */
const MAX_PATH_BYTES = 107;

/** The socket's directory must not let anyone else replace the socket: ours (or root's), not group/other-writable. */
function checkPrivateDir(dir: string): void {
  const st = statSync(dir);
  const uid = process.geteuid?.() ?? 0;
  if (st.uid !== uid && st.uid !== 0) throw new ControlSocketError(`${dir} belongs to uid ${st.uid}, not to haved's user (uid ${uid})`);
  if (st.mode & 0o022) throw new ControlSocketError(`${dir} is writable by others (mode ${(st.mode & 0o777).toString(8)})`);
}
