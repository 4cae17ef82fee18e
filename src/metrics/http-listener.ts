import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Logger } from '../log.ts';
import { RateLimitedLog, quoteBytes } from '../log-limit.ts';
import { formatMetricsAddress, type MetricsAddress } from '../net/metrics-address.ts';

/** The metrics port could not be bound (in use, no such address, no permission). */
export class MetricsListenError extends Error {
  override name = 'MetricsListenError';
}

/** Bounds on what one scraper (or a flood of strangers) may hold; the defaults suit Prometheus. */
export interface MetricsLimits {
  /** Open connections at once; more are closed on accept. */
  maxConnections: number;
  /** Bytes of request line + headers; more is answered 431 and closed. */
  maxHeaderBytes: number;
  /** The whole request (line and headers) must arrive within this. */
  headersTimeoutMs: number;
  /** An idle kept-alive connection closes after this. */
  keepAliveTimeoutMs: number;
  /** A connection with no byte moving either way for this long (a client that stopped reading) is closed. */
  idleTimeoutMs: number;
}

export const DEFAULT_METRICS_LIMITS: MetricsLimits = {
  maxConnections: 16,
  maxHeaderBytes: 8192,
  headersTimeoutMs: 5000,
  keepAliveTimeoutMs: 5000,
  idleTimeoutMs: 10_000,
};

/** What the endpoint serves: a collector (RepcacheMetrics, HavedMetrics). */
export interface MetricsSource {
  readonly contentType: string;
  scrape(): Promise<string>;
}

export interface MetricsListenerOptions {
  address: MetricsAddress;
  source: MetricsSource;
  log: Logger;
  limits?: Partial<MetricsLimits>;
}

/**
 * The Prometheus endpoint: `GET /metrics` (and HEAD) answers the collector's text exposition; any other path is
 * 404, any other method 405. Requests are bounded in number, header size and time (node:http's own limits),
 * and a client that stops reading its answer is closed, so a flood costs a bounded amount of memory and
 * sockets and never delays the daemon's real work for long.
 */
export class MetricsListener {
  readonly #opts: MetricsListenerOptions;
  readonly #limits: MetricsLimits;
  readonly #server: Server;
  readonly #strangers: RateLimitedLog;
  readonly #sockets = new Set<Socket>();

  constructor(opts: MetricsListenerOptions) {
    this.#opts = opts;
    this.#limits = { ...DEFAULT_METRICS_LIMITS, ...opts.limits };
    this.#strangers = new RateLimitedLog(opts.log);
    const l = this.#limits;
    this.#server = createServer(
      {
        maxHeaderSize: l.maxHeaderBytes,
        headersTimeout: l.headersTimeoutMs,
        requestTimeout: l.headersTimeoutMs * 2,
        keepAliveTimeout: l.keepAliveTimeoutMs,
        // node checks the two timeouts above on this interval (default 30 s)
        connectionsCheckingInterval: Math.max(100, Math.min(1000, l.headersTimeoutMs / 2)),
      },
      (req, res) => void this.#handle(req, res),
    );
    this.#server.maxConnections = l.maxConnections;
    this.#server.setTimeout(l.idleTimeoutMs, (socket: Socket) => socket.destroy());
    this.#server.maxRequestsPerSocket = 100;
    this.#server.on('connection', (s: Socket) => {
      this.#sockets.add(s);
      s.once('close', () => this.#sockets.delete(s));
    });
    this.#server.on('drop', () => this.#strangers.warn('too many connections', `metrics: connection refused, ${l.maxConnections} already open`));
    this.#server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
      const code = err.code ?? 'ERR';
      if (code !== 'ECONNRESET') this.#strangers.warn(code, `metrics: bad request from ${socket.remoteAddress ?? '?'} (${code})`);
      if (socket.writable && code === 'HPE_HEADER_OVERFLOW') socket.end('HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\n\r\n');
      else if (socket.writable && code !== 'ERR_HTTP_REQUEST_TIMEOUT') socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
      else socket.destroy();
    });
  }

  get limits(): Readonly<MetricsLimits> {
    return this.#limits;
  }

  /** Binds the address; throws MetricsListenError. */
  async listen(): Promise<void> {
    const { host, port } = this.#opts.address;
    await new Promise<void>((resolve, reject) => {
      const fail = (e: NodeJS.ErrnoException) =>
        reject(new MetricsListenError(`cannot listen for metrics on ${formatMetricsAddress(this.#opts.address)}: ${e.code ?? e.message}`));
      this.#server.once('error', fail);
      this.#server.listen({ host, port }, () => {
        this.#server.off('error', fail);
        resolve();
      });
    });
    this.#server.on('error', (e) => this.#opts.log.warn({ err: e.message }, 'metrics listener error'));
  }

  /** The bound address (port 0 in tests picks a free one). */
  address(): MetricsAddress {
    const a = this.#server.address() as AddressInfo;
    return { host: a.address, port: a.port };
  }

  async close(): Promise<void> {
    if (!this.#server.listening) return;
    const closed = new Promise<void>((r) => this.#server.close(() => r()));
    for (const s of this.#sockets) s.destroy();
    this.#strangers.flush();
    await closed;
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/metrics') {
      this.#strangers.warn('not found', `metrics: ${quoteBytes(req.method ?? '')} ${quoteBytes(path ?? '')}: not found (only /metrics)`);
      return this.#reply(res, 404, 'only /metrics is served here\n');
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      return this.#reply(res, 405, 'only GET /metrics\n');
    }
    let body: string;
    try {
      body = await this.#opts.source.scrape();
    } catch (e) {
      this.#opts.log.warn({ err: (e as Error).message }, 'metrics: collecting failed');
      return this.#reply(res, 500, 'collecting the metrics failed\n');
    }
    res.setHeader('Content-Type', this.#opts.source.contentType);
    this.#reply(res, 200, body); // node sends no body for HEAD
  }

  #reply(res: ServerResponse, status: number, body: string): void {
    res.statusCode = status;
    if (!res.hasHeader('Content-Type')) res.setHeader('Content-Type', 'text/plain; charset=utf-8');
    res.setHeader('Content-Length', Buffer.byteLength(body));
    // A request with a body is not ours to read: close rather than parse what follows.
    if (req(res).headers['content-length'] || req(res).headers['transfer-encoding']) res.setHeader('Connection', 'close');
    res.end(body);
  }
}

const req = (res: ServerResponse): IncomingMessage => res.req;
