import { connect } from 'node:net';

export class StatsProbeError extends Error {
  override name = 'StatsProbeError';
}

const MAX_REPLY = 1 << 20;

/**
 * Reads a `stats` reply (`STAT name value\r\n`… `END\r\n`) from chunks split anywhere. Pure.
 * push() returns the stats once END arrives, null while incomplete; throws StatsProbeError on an error reply.
 */
export class StatsReplyReader {
  #buf = '';
  #stats = new Map<string, string>();
  /** the reply starts with the answer to memcached's `set` authentication */
  #authenticating: boolean;

  constructor(opts: { authenticated?: boolean } = {}) {
    this.#authenticating = opts.authenticated ?? false;
  }

  push(chunk: Buffer | string): Map<string, string> | null {
    this.#buf += typeof chunk === 'string' ? chunk : chunk.toString('latin1');
    for (let eol = this.#buf.indexOf('\r\n'); eol >= 0; eol = this.#buf.indexOf('\r\n')) {
      const line = this.#buf.slice(0, eol);
      this.#buf = this.#buf.slice(eol + 2);
      if (this.#authenticating) {
        this.#authenticating = false;
        if (line === 'STORED') continue;
        throw new StatsProbeError(`authentication refused: ${JSON.stringify(line.slice(0, 200))}`);
      }
      if (line === 'END') return this.#stats;
      if (line.startsWith('STAT ')) {
        const sp = line.indexOf(' ', 5);
        if (sp > 5) this.#stats.set(line.slice(5, sp), line.slice(sp + 1));
        else this.#stats.set(line.slice(5), '');
      } else {
        throw new StatsProbeError(`unexpected reply line to stats: ${JSON.stringify(line.slice(0, 200))}`);
      }
    }
    if (this.#buf.length > MAX_REPLY) throw new StatsProbeError('stats reply line too long');
    return null;
  }
}

export interface CacheStats {
  /** repcache's replication_state; 'standalone' when the cache has none (a plain memcached). */
  replicationState: string;
  /**
   * repcache's `repl_peers_heard_ms`: how long ago the stalest peer's changes arrived on a caught-up stream;
   * null when some peer's stream is down or behind (`-`, or a value that is not a number); undefined when the
   * cache does not report it (a plain memcached, an older repcache).
   */
  peersHeardMs?: number | null;
  /** Every STAT of the reply, as text. */
  stats: Map<string, string>;
}

/** A user and password of the cache's -Y file, for a cache that requires authentication. */
export interface CacheLogin {
  user: string;
  pass: string;
}

/** What the warm gate reads from a `stats` reply. Pure. */
export function cacheStatsOf(stats: Map<string, string>): CacheStats {
  const heard = stats.get('repl_peers_heard_ms');
  return {
    replicationState: stats.get('replication_state') ?? 'standalone',
    ...(heard === undefined ? {} : { peersHeardMs: /^\d{1,15}$/.test(heard) ? Number(heard) : null }),
    stats,
  };
}

/**
 * Sends `stats` to host:port on a fresh connection and returns the reply; with `login`, authenticates first the
 * way memcached's -Y asks (`set` with "user password" as data). Rejects with StatsProbeError.
 */
export function fetchStats(host: string, port: number, timeoutMs = 1000, login?: CacheLogin | null): Promise<CacheStats> {
  return new Promise((resolve, reject) => {
    const reader = new StatsReplyReader({ authenticated: !!login });
    const sock = connect({ host, port });
    let done = false;
    const finish = (err: Error | null, stats?: Map<string, string>) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err instanceof StatsProbeError ? err : new StatsProbeError(`${host}:${port}: ${err.message}`));
      else resolve(cacheStatsOf(stats!));
    };
    const timer = setTimeout(() => finish(new StatsProbeError(`${host}:${port}: no stats reply within ${timeoutMs} ms`)), timeoutMs);
    sock.setNoDelay(true);
    sock.once('connect', () => sock.write(login ? `${authCommand(login)}stats\r\n` : 'stats\r\n'));
    sock.on('data', (chunk: Buffer) => {
      try {
        const stats = reader.push(chunk);
        if (stats) finish(null, stats);
      } catch (e) {
        finish(e as Error);
      }
    });
    sock.once('error', (e) => finish(e));
    sock.once('close', () => finish(new StatsProbeError(`${host}:${port}: connection closed before the end of the stats reply`)));
  });
}

/** memcached's text authentication: any key, the data is "user password". */
export function authCommand(login: CacheLogin): string {
  const data = `${login.user} ${login.pass}`;
  return `set auth 0 0 ${Buffer.byteLength(data, 'latin1')}\r\n${data}\r\n`;
}
