import { createSocket, type Socket } from 'node:dgram';
import { networkInterfaces } from 'node:os';
import { TransportError, type AdvertTransport, type AdvertTransportOptions } from './advert-transport.ts';

const SOURCE_RETRY_MS = 10_000;

/** First IPv4 address of an interface that is not one of `exclude` (the VIPs), or null. */
export function interfaceIPv4(name: string, exclude: ReadonlySet<string> = new Set()): string | null {
  const addrs = networkInterfaces()[name] ?? [];
  const v4 = addrs.filter((a) => a.family === 'IPv4' && !exclude.has(a.address));
  return v4[0]?.address ?? null;
}

/**
 * One UDP socket per advert port, shared by every instance using that port: bound to the wildcard (a socket
 * bound to a unicast address would not see multicast), multicast joined per interface address, TTL 255.
 * Own adverts are filtered by the caller (node id in the payload); loopback is off anyway. Unicast adverts
 * with a unicast_src_ip leave from a send-only socket bound to that address, so that peers filtering on
 * the source address (unicast_peer) see the configured one whatever the routing would pick.
 */
export class UdpTransport implements AdvertTransport {
  readonly port: number;
  readonly #sock: Socket;
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
  }

  start(): Promise<void> {
    return new Promise((resolve, reject) => {
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
      this.#sock.addMembership(group, ifaceAddr);
    } catch (e) {
      throw new TransportError(`cannot join ${group} on ${ifaceAddr}: ${(e as Error).message}`);
    }
    this.#joined.add(key);
  }

  sendMulticast(buf: Uint8Array, group: string, ifaceAddr: string): void {
    this.#sock.setMulticastInterface(ifaceAddr);
    this.#sock.send(buf, this.port, group, (e) => e && this.#onError(e));
  }

  /** To each peer; from `source` (unicast_src_ip) when given and bindable, else from the shared socket. */
  sendUnicast(buf: Uint8Array, peers: readonly string[], source: string | null = null): void {
    const sock = source === null ? this.#sock : this.#sourceSocket(source);
    for (const p of peers) sock.send(buf, this.port, p, (e) => e && this.#onError(e));
  }

  #sourceSocket(address: string): Socket {
    const bound = this.#bySource.get(address);
    if (bound) return bound;
    if ((this.#retryAt.get(address) ?? 0) > performance.now()) return this.#sock;
    const s = createSocket({ type: 'udp4' });
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
    const all = [this.#sock, ...this.#bySource.values()];
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
