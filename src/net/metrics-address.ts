import { isIP } from 'node:net';

/** A metrics_listen value that is not ADDRESS:PORT. */
export class MetricsAddressError extends Error {
  override name = 'MetricsAddressError';
}

export interface MetricsAddress {
  host: string;
  port: number;
}

/**
 * `127.0.0.1:9650`, `[::1]:9650` or `localhost:9650`: an IP literal (or localhost) and a port 1..65535. No
 * default address: the user names where the endpoint listens.
 */
export function parseMetricsAddress(text: string): MetricsAddress {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text.trim());
  if (!m) throw new MetricsAddressError(`metrics_listen needs ADDRESS:PORT (e.g. 127.0.0.1:9650 or [::1]:9650), got '${text}'`);
  const host = m[1] ?? m[2]!;
  const port = Number(m[3]);
  if (m[1] !== undefined ? isIP(host) !== 6 : isIP(host) !== 4 && host !== 'localhost') {
    throw new MetricsAddressError(`metrics_listen: '${host}' is not an IP address (IPv6 in brackets: [::1]:9650)`);
  }
  if (port < 1 || port > 65535) throw new MetricsAddressError(`metrics_listen: port ${port} is out of range (1..65535)`);
  return { host, port };
}

export const formatMetricsAddress = (a: MetricsAddress) => (a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`);
