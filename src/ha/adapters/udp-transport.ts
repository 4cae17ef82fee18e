import { createSocket, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { networkInterfaces } from 'node:os';
import { TransportError, type AdvertTransport, type AdvertTransportOptions } from './advert-transport.ts';

const SOURCE_RETRY_MS = 10_000;

/** First IPv4 address of an interface that is not one of `exclude` (the VIPs), or null. */
export function interfaceIPv4(name: string, exclude: ReadonlySet<string> = new Set()): string | null {
  const addrs = networkInterfaces()[name] ?? [];
  const v4 = addrs.filter((a) => a.family === 'IPv4' && !exclude.has(a.address));
  return v4[0]?.address ?? null;
}

/** An interface's IPv6 link-local address with its zone ("fe80::1%eth0"), the source of IPv6 multicast adverts. */
export function interfaceIPv6LinkLocal(name: string): string | null {
  const a = (networkInterfaces()[name] ?? []).find((x) => x.family === 'IPv6' && /^fe80:/i.test(x.address));
  return a ? `${a.address.replace(/%.*$/, '')}%${name}` : null;
}

/** The IPv6 multicast group of adverts (keepalived's vrrp_mcast_group6 default). */
export const MCAST_GROUP6 = 'ff02::12';

/**
 * One UDP socket per advert port and family (IPv6 beside IPv4), shared by every instance using that port: bound to the wildcard (a socket
 * bound to a unicast address would not see multicast), multicast joined per interface address, TTL 255.
 * Own adverts are filtered by the caller (node id in the payload); loopback is off anyway. Unicast adverts
 * with a unicast_src_ip leave from a send-only socket bound to that address, so that peers filtering on
 * the source address (unicast_peer) see the configured one whatever the routing would pick.
 */
export class UdpTransport implements AdvertTransport {
  readonly port: number;
  readonly #sock: Socket;
  readonly #sock6: Socket;
  /** Why the IPv6 socket is not usable (not enabled, or bind failed: no IPv6 on this host), or null. */
  #sock6Error: string | null = 'IPv6 adverts are not enabled (no IPv6 instance at start)';
  #bound6: Promise<void> | null = null;
  readonly #joined = new Set<string>();
  readonly #onError: (e: Error) => void;
  readonly #bySource = new Map<string, Socket>();
  /** unicast_src_ip addresses that could not be bound: retried after this time (ms, performance.now). */
  readonly #retryAt = new Map<string, number>();

  constructor(opts: AdvertTransportOptions) {
    this.port = opts.port;
    this.#onError = opts.onError ?? (() => {});
    this.#sock = createSocket({ type: 'udp4', reuseAddr: true });
    this.#sock.on('message', (msg, rinfo) => opts.onMessage(msg, rinfo.address));
    this.#sock.on('error', (e) => this.#onError(e));
    this.#sock6 = createSocket({ type: 'udp6', reuseAddr: true, ipv6Only: true });
    this.#sock6.on('message', (msg, rinfo) => opts.onMessage(msg, rinfo.address));
  }

  enableIPv6(): Promise<void> {
    this.#bound6 ??= this.#bind6();
    return this.#bound6;
  }

  #bind6(): Promise<void> {
    this.#sock6Error = null;
    return new Promise<void>((resolve) => {
      const fail = (e: Error) => {
        this.#sock6Error = `cannot bind UDP port ${this.port} for IPv6: ${e.message}`;
        resolve();
      };
      this.#sock6.once('error', fail);
      this.#sock6.bind(this.port, () => {
        this.#sock6.off('error', fail);
        this.#sock6.on('error', (e) => this.#onError(e));
        this.#sock6.setTTL(255); // unicast hop limit
        this.#sock6.setMulticastTTL(255);
        this.#sock6.setMulticastLoopback(false);
        resolve();
      });
    });
  }

  /** The socket for `address`'s family; throws TransportError when IPv6 could not be bound. */
  #for(address: string): Socket {
    if (!isIPv6(address.replace(/%.*$/, ''))) return this.#sock;
    if (this.#sock6Error) throw new TransportError(this.#sock6Error);
    return this.#sock6;
  }

  start(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const fail = (e: Error) => reject(new TransportError(`cannot bind UDP port ${this.port}: ${e.message}`));
      this.#sock.once('error', fail);
      this.#sock.bind(this.port, () => {
        this.#sock.off('error', fail);
        this.#sock.setTTL(255);
        this.#sock.setMulticastTTL(255);
        this.#sock.setMulticastLoopback(false);
        resolve();
      });
    });
  }

  /** Joins `group` on the interface with address `ifaceAddr` (idempotent). */
  join(group: string, ifaceAddr: string): void {
    const key = `${group}@${ifaceAddr}`;
    if (this.#joined.has(key)) return;
    try {
      this.#for(group).addMembership(group, ifaceAddr);
    } catch (e) {
      throw new TransportError(`cannot join ${group} on ${ifaceAddr}: ${(e as Error).message}`);
    }
    this.#joined.add(key);
  }

  sendMulticast(buf: Uint8Array, group: string, ifaceAddr: string): void {
    let sock: Socket;
    try {
      sock = this.#for(group);
    } catch (e) {
      this.#onError(e as Error);
      return;
    }
    sock.setMulticastInterface(ifaceAddr);
    sock.send(buf, this.port, group, (e) => e && this.#onError(e));
  }

  /** To each peer; from `source` (unicast_src_ip) when given and bindable, else from the shared socket. */
  sendUnicast(buf: Uint8Array, peers: readonly string[], source: string | null = null): void {
    for (const p of peers) {
      let sock: Socket;
      try {
        sock = source === null ? this.#for(p) : this.#sourceSocket(source);
      } catch (e) {
        this.#onError(e as Error);
        continue;
      }
      sock.send(buf, this.port, p, (e) => e && this.#onError(e));
    }
  }

  #sourceSocket(address: string): Socket {
    const bound = this.#bySource.get(address);
    if (bound) return bound;
    if ((this.#retryAt.get(address) ?? 0) > performance.now()) return this.#for(address);
    const s = createSocket({ type: isIPv6(address) ? 'udp6' : 'udp4' });
    s.once('error', (e) => {
      this.#bySource.delete(address);
      this.#retryAt.set(address, performance.now() + SOURCE_RETRY_MS);
      this.#onError(new TransportError(`cannot send from unicast_src_ip ${address} (${e.message}): sending from the routing's source address, retrying in ${SOURCE_RETRY_MS / 1000} s`));
      s.close();
    });
    // sends queued while binding go out once bound
    s.bind({ address, port: 0 }, () => s.setTTL(255));
    this.#bySource.set(address, s);
    return s;
  }

  close(): Promise<void> {
    const all = [this.#sock, ...(this.#bound6 ? [this.#sock6] : []), ...this.#bySource.values()];
    this.#bySource.clear();
    return Promise.all(
      all.map(
        (sock) =>
          new Promise<void>((resolve) => {
            try {
              sock.close(() => resolve());
            } catch {
              resolve();
            }
          }),
      ),
    ).then(() => {});
  }
}
