/** A cache server in a pool: the host as written (it is part of the ketama point names), port and weight. */
export interface ServerSpec {
  host: string;
  port: number;
  weight: number;
}

export class ServerSpecError extends Error {
  override name = 'ServerSpecError';
}

/** memcached's port, which libmemcached leaves out of ketama point names. */
export const DEFAULT_PORT = 11211;

/**
 * Parses `host[:port][,weight]` (magent's `-s`) or `host:port:weight` (twemproxy's and libmemcached's form).
 * IPv6 hosts go in brackets: `[2001:db8::1]:11211`.
 */
export function parseServerSpec(text: string): ServerSpec {
  let rest = text.trim();
  let weight = 1;
  const comma = rest.lastIndexOf(',');
  if (comma >= 0) {
    weight = parseWeight(rest.slice(comma + 1), text);
    rest = rest.slice(0, comma);
  }
  let host: string;
  let tail: string[];
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']');
    if (close < 0) throw new ServerSpecError(`bad server "${text}": missing ']'`);
    host = rest.slice(1, close);
    tail = rest.slice(close + 1).split(':').slice(1);
    if (rest.length > close + 1 && rest[close + 1] !== ':') throw new ServerSpecError(`bad server "${text}": expected ':' after ']'`);
  } else {
    [host, ...tail] = rest.split(':') as [string, ...string[]];
  }
  if (!host) throw new ServerSpecError(`bad server "${text}": no host`);
  if (tail.length > 2 || (tail.length === 2 && comma >= 0)) throw new ServerSpecError(`bad server "${text}": expected host[:port][,weight]`);
  const port = tail.length > 0 ? parsePort(tail[0]!, text) : DEFAULT_PORT;
  if (tail.length === 2) weight = parseWeight(tail[1]!, text);
  return { host, port, weight };
}

function parsePort(s: string, text: string): number {
  const n = /^\d{1,5}$/.test(s) ? Number(s) : NaN;
  if (!(n >= 1 && n <= 65535)) throw new ServerSpecError(`bad server "${text}": port must be 1..65535, got "${s}"`);
  return n;
}

function parseWeight(s: string, text: string): number {
  const n = /^\d{1,6}$/.test(s) ? Number(s) : NaN;
  if (!(n >= 1)) throw new ServerSpecError(`bad server "${text}": weight must be a positive integer, got "${s}"`);
  return n;
}

/** `host:port` (brackets around an IPv6 host), as the proxy names a server in logs and stats. */
export function serverName(s: ServerSpec): string {
  return s.host.includes(':') ? `[${s.host}]:${s.port}` : `${s.host}:${s.port}`;
}
