import { createSocket } from 'node:dgram';
import { connect, type Socket } from 'node:net';
import { startProcess, waitForPort, type Daemon } from './daemon.ts';
import { freePort } from './ports.ts';
import { pino } from 'pino';
import type { CacheClock } from '../../src/clock.ts';
import { CacheServer } from '../../src/server/cache-server.ts';
import { defaultServerConfig, type ServerConfig } from '../../src/server/config.ts';

/** What ends a read: an exact suffix of everything read so far, a pattern, or a predicate. */
export type Terminator = string | RegExp | ((received: string) => boolean);

/**
 * A raw-socket memcached client for tests: send exact bytes, read exact bytes.
 * Replies are returned as latin1 strings so every byte maps to one character.
 */
export class McClient {
  readonly socket: Socket;
  #buf = '';
  #closed = false;
  #waiters: (() => void)[] = [];
  readonly closed: Promise<void>;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on('data', (d: Buffer) => { this.#buf += d.toString('latin1'); this.#wake(); });
    socket.on('error', () => { /* surfaced as close */ });
    this.closed = new Promise((res) => socket.once('close', () => { this.#closed = true; this.#wake(); res(); }));
  }

  static connect(port: number, host = '127.0.0.1', timeoutMs = 5000): Promise<McClient> {
    return new Promise((resolve, reject) => {
      const s = connect({ port, host });
      const t = setTimeout(() => { s.destroy(); reject(new Error(`connect ${host}:${port} timed out`)); }, timeoutMs);
      s.once('connect', () => { clearTimeout(t); s.removeAllListeners('error'); resolve(new McClient(s)); });
      s.once('error', (e) => { clearTimeout(t); reject(e); });
    });
  }

  get isClosed(): boolean { return this.#closed; }

  /** Bytes received and not yet consumed by a read. */
  get buffered(): string { return this.#buf; }

  send(data: string | Buffer): void {
    this.socket.write(typeof data === 'string' ? Buffer.from(data, 'latin1') : data);
  }

  /** Sends data, then reads until `until` (default: the reply ends in \r\n). */
  async request(data: string | Buffer, until: Terminator = '\r\n', timeoutMs = 3000): Promise<string> {
    this.send(data);
    return this.readUntil(until, timeoutMs);
  }

  /** Reads until the terminator matches everything received so far; consumes and returns it all. */
  async readUntil(until: Terminator, timeoutMs = 3000): Promise<string> {
    const done = typeof until === 'string' ? (s: string) => s.endsWith(until)
      : until instanceof RegExp ? (s: string) => until.test(s) : until;
    const deadline = Date.now() + timeoutMs;
    while (!done(this.#buf)) {
      if (this.#closed) throw new Error(`connection closed while waiting; got ${JSON.stringify(this.#buf)}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${timeoutMs} ms; got ${JSON.stringify(this.#buf)}`);
      await this.#wait(left);
    }
    return this.take();
  }

  /** Reads until nothing new arrives for idleMs (or the peer closes); returns everything received. */
  async readIdle(idleMs = 100, maxMs = 3000): Promise<string> {
    const deadline = Date.now() + maxMs;
    for (;;) {
      const before = this.#buf.length;
      await this.#wait(Math.min(idleMs, Math.max(0, deadline - Date.now())));
      if (this.#buf.length === before || this.#closed || Date.now() >= deadline) return this.take();
    }
  }

  /** Returns and clears what has been received. */
  take(): string {
    const s = this.#buf;
    this.#buf = '';
    return s;
  }

  /** Resolves when the server closes the connection; rejects after timeoutMs. */
  async waitClosed(timeoutMs = 3000): Promise<void> {
    let t: NodeJS.Timeout | undefined;
    await Promise.race([
      this.closed,
      new Promise((_, rej) => { t = setTimeout(() => rej(new Error('connection still open')), timeoutMs); }),
    ]).finally(() => clearTimeout(t));
  }

  close(): void {
    this.socket.destroy();
  }

  #wake(): void {
    const w = this.#waiters;
    this.#waiters = [];
    for (const f of w) f();
  }

  #wait(ms: number): Promise<void> {
    return new Promise((res) => {
      const t = setTimeout(() => { this.#waiters = this.#waiters.filter((f) => f !== done); res(); }, ms);
      const done = () => { clearTimeout(t); res(); };
      this.#waiters.push(done);
    });
  }
}

/** Connects, sends one request, reads until the terminator, closes. */
export async function mcRequest(port: number, data: string | Buffer, until: Terminator = '\r\n', host = '127.0.0.1'): Promise<string> {
  const c = await McClient.connect(port, host);
  try {
    return await c.request(data, until);
  } finally {
    c.close();
  }
}

/** memcached's UDP frame: request id, sequence number, datagram count, reserved; then the ASCII request. */
export function udpFrame(requestId: number, payload: string | Buffer, seq = 0, total = 1): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt16BE(requestId, 0);
  head.writeUInt16BE(seq, 2);
  head.writeUInt16BE(total, 4);
  return Buffer.concat([head, typeof payload === 'string' ? Buffer.from(payload, 'latin1') : payload]);
}

export interface UdpReply { requestId: number; seq: number; total: number; body: string }

/**
 * Sends one UDP request and collects reply datagrams in arrival order: until the first group's
 * `total` datagrams have arrived (then sorted by sequence number), or with untilIdle until no
 * datagram came for idleMs (several groups, as a multiget gets).
 */
export function udpRequest(port: number, payload: string | Buffer, requestId = 1, idleMs = 300, host = '127.0.0.1', untilIdle = false): Promise<UdpReply[]> {
  return new Promise((resolve, reject) => {
    const sock = createSocket('udp4');
    const got: UdpReply[] = [];
    let timer: NodeJS.Timeout;
    const finish = (sort: boolean) => {
      clearTimeout(timer);
      sock.close();
      resolve(sort ? got.sort((a, b) => a.seq - b.seq) : got);
    };
    const arm = () => { clearTimeout(timer); timer = setTimeout(() => finish(!untilIdle), idleMs); };
    sock.on('message', (msg) => {
      got.push({ requestId: msg.readUInt16BE(0), seq: msg.readUInt16BE(2), total: msg.readUInt16BE(4), body: msg.subarray(8).toString('latin1') });
      if (!untilIdle && got.length >= got[0].total) finish(true); else arm();
    });
    sock.on('error', (e) => { clearTimeout(timer); sock.close(); reject(e); });
    sock.send(udpFrame(requestId, payload), port, host, (err) => { if (err) { sock.close(); reject(err); } else arm(); });
  });
}

/** Starts Debian's memcached (the reference) on a free loopback port; stop it with stopAll() from daemon.ts. */
export async function startReferenceMemcached(args: string[] = [], opts: { udp?: boolean } = {}): Promise<{ port: number; daemon: Daemon }> {
  const port = await freePort();
  const udp = opts.udp ? String(port) : '0';
  const daemon = startProcess('memcached', ['-p', String(port), '-l', '127.0.0.1', '-U', udp, '-t', '1', '-u', 'nobody', ...args]);
  await waitForPort(port, '127.0.0.1', 10_000, daemon);
  return { port, daemon };
}

/**
 * Sends the same bytes to two servers on fresh connections and returns both replies. An `mn`
 * is appended as an end marker (its MN is stripped), so no reply is cut short by a slow
 * server; a script that closes the connection returns what came before the close. An `mn`
 * line of the script itself counts as one more MN to wait for: memcached sends each MN at
 * once, so the end marker may not be the first MN to arrive.
 */
export async function bothReplies(portA: number, portB: number, script: string | Buffer, timeoutMs = 5000): Promise<[string, string]> {
  const marker = 'MN\r\n';
  const bytes = typeof script === 'string' ? Buffer.from(script, 'latin1') : script;
  const markers = 1 + bytes.toString('latin1').split('\r\n').filter((line) => line === 'mn').length;
  const done = (s: string) => s.endsWith(marker) && `\r\n${s}`.split(`\r\n${marker}`).length - 1 >= markers;
  const one = async (port: number) => {
    const c = await McClient.connect(port);
    try {
      c.send(Buffer.concat([bytes, Buffer.from('mn\r\n')]));
      try {
        return (await c.readUntil(done, timeoutMs)).slice(0, -marker.length);
      } catch (err) {
        if (c.isClosed) return c.take();
        throw err;
      }
    } finally {
      c.close();
    }
  };
  return Promise.all([one(portA), one(portB)]);
}

/** Starts a CacheServer in this process on a free loopback port (TCP, and UDP on the same port if udp). */
export async function startCacheServer(
  overrides: Partial<ServerConfig> = {},
  opts: { clock?: CacheClock; udp?: boolean } = {},
): Promise<{ server: CacheServer; port: number }> {
  const port = overrides.port ?? (await freePort());
  const config: ServerConfig = {
    ...defaultServerConfig, listen: ['127.0.0.1'], threads: 1, extended: {},
    port, udpPort: opts.udp ? port : 0, ...overrides,
  };
  const server = new CacheServer(config, { logger: pino({ level: 'silent' }), clock: opts.clock });
  await server.listen();
  return { server, port };
}

/** `stats conns` entries: id -> field -> value. */
export function connEntries(reply: string): Map<number, Map<string, string>> {
  const out = new Map<number, Map<string, string>>();
  for (const [, id, k, v] of reply.matchAll(/^STAT (\d+):(\S+) (.*)\r$/gm)) {
    if (!out.has(Number(id))) out.set(Number(id), new Map());
    out.get(Number(id))!.set(k, v);
  }
  return out;
}
