/**
 * Where adverts come from and go: one per advert port, shared by every instance using that port. On a host it is
 * UDP (udp-transport.ts); tests run elections over an in-memory network with the same interface.
 */
export interface AdvertTransport {
  /** Binds; rejects with a TransportError when the port cannot be bound. */
  start(): Promise<void>;
  /** Joins `group` on the interface with address `ifaceAddr` (idempotent); throws TransportError. */
  join(group: string, ifaceAddr: string): void;
  sendMulticast(buf: Uint8Array, group: string, ifaceAddr: string): void;
  /** To each peer; from `source` (unicast_src_ip) when given. */
  sendUnicast(buf: Uint8Array, peers: readonly string[], source?: string | null): void;
  /**
   * Binds the IPv6 socket (once; haved binds it only when an instance is IPv6, so that an IPv4-only config
   * listens on nothing more). If it cannot be bound, IPv6 joins and sends fail with the reason.
   */
  enableIPv6?(): Promise<void>;
  close(): Promise<void>;
}

export interface AdvertTransportOptions {
  port: number;
  /** A datagram arrived from `from` (its source address). Own adverts are filtered by the caller. */
  onMessage: (msg: Buffer, from: string) => void;
  onError?: (e: Error) => void;
}

export type AdvertTransportFactory = (opts: AdvertTransportOptions) => AdvertTransport;

export class TransportError extends Error {
  override name = 'TransportError';
}
