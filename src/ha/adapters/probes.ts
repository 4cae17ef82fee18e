import { connect, type Socket } from 'node:net';

export interface ProbeTarget {
  host: string;
  port: number;
  timeoutMs: number;
  /** Local source address (TCP_CHECK bindto). */
  bindTo?: string | null;
}

/** Resolves null on success, or a short failure reason. Never rejects. */
export type Probe = (t: ProbeTarget) => Promise<string | null>;

/** TCP_CHECK: success means the TCP connect completed; nothing is sent. */
export const tcpProbe: Probe = (t) =>
  withSocket(t, (sock, done) => {
    sock.once('connect', () => done(null));
  });

const VERSION_CMD = Buffer.from('version\r\n');
const UNAUTHENTICATED = 'CLIENT_ERROR unauthenticated';

/**
 * MEMCACHE_CHECK: sends `version` and expects a `VERSION ` line, so a hung or wrong server fails. A cache that
 * requires authentication (-Y) answers `CLIENT_ERROR unauthenticated`: it is up and parsing, and that is all the
 * check asks, so that answer passes too (the check needs no password).
 */
export const memcacheProbe: Probe = (t) =>
  withSocket(t, (sock, done) => {
    let buf = '';
    sock.once('connect', () => sock.write(VERSION_CMD));
    sock.on('data', (d) => {
      buf += d.toString('latin1');
      const eol = buf.indexOf('\r\n');
      if (eol < 0) {
        if (buf.length > 1024) done('reply too long');
        return;
      }
      const line = buf.slice(0, eol);
      done(line.startsWith('VERSION ') || line === UNAUTHENTICATED ? null : `unexpected reply ${JSON.stringify(line.slice(0, 60))}`);
    });
    sock.once('end', () => done('connection closed before reply'));
  });

function withSocket(t: ProbeTarget, attach: (sock: Socket, done: (r: string | null) => void) => void): Promise<string | null> {
  return new Promise((resolve) => {
    const sock = connect({ host: t.host, port: t.port, ...(t.bindTo ? { localAddress: t.bindTo } : {}) });
    let finished = false;
    const done = (r: string | null) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      sock.destroy();
      resolve(r);
    };
    const timer = setTimeout(() => done(`timed out after ${t.timeoutMs} ms`), t.timeoutMs);
    sock.once('error', (e: NodeJS.ErrnoException) => done(e.code ?? e.message));
    attach(sock, done);
  });
}
