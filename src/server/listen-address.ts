import { isIPv6 } from 'node:net';

export interface ListenAddress { host: string; port: number }

/**
 * One -l entry as memcached 1.6 reads it: `host`, `host:port`, `[v6]:port` or a bare IPv6
 * address, optionally prefixed `notls:`; without a port the -p / -U port applies.
 */
export function parseListenAddress(entry: string, defaultPort: number): ListenAddress {
  let s = entry.startsWith('notls:') ? entry.slice(6) : entry;
  const bracket = /^\[([^\]]+)\](?::(\d+))?$/.exec(s);
  if (bracket) return { host: bracket[1], port: bracket[2] ? Number(bracket[2]) : defaultPort };
  if (isIPv6(s)) return { host: s, port: defaultPort };
  const colon = s.lastIndexOf(':');
  if (colon > 0 && /^\d+$/.test(s.slice(colon + 1))) {
    const port = Number(s.slice(colon + 1));
    s = s.slice(0, colon);
    return { host: s, port };
  }
  return { host: s, port: defaultPort };
}
