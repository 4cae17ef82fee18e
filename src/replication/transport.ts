import { connect as netConnect, createServer, type Server } from 'node:net';
import type { SecureContext } from 'node:tls';

/** PEM certificate, key and CA of the replication link's mutual TLS. */
export interface LinkTlsFiles {
  cert: string | Buffer;
  key: string | Buffer;
  ca: string | Buffer;
}

/** One context for both ends: it presents our certificate and trusts only certificates signed by the CA. */
export function linkTlsContext(files: LinkTlsFiles): SecureContext {
  // node:tls is loaded only by a node whose links use TLS
  return process.getBuiltinModule('node:tls').createSecureContext({ cert: files.cert, key: files.key, ca: files.ca });
}

/**
 * What a replication link uses of its connection: the part of net.Socket the sessions and the gate touch, so a
 * TCP or TLS socket fits as it is and an in-memory one can stand in for it in tests. Events: `data` (Buffer),
 * `drain`, `error` (Error), `close`, and the dial's ready event.
 */
export interface LinkSocket {
  readonly remoteAddress?: string | undefined;
  readonly remotePort?: number | undefined;
  readonly writable: boolean;
  readonly destroyed: boolean;
  /** Bytes written and not yet taken by the connection (the sender's back-pressure). */
  readonly writableLength: number;
  write(data: Uint8Array): boolean;
  end(data: Uint8Array): unknown;
  destroy(): unknown;
  /** Destroys with a reset where the transport has one (a refused stranger gets no orderly close). */
  resetAndDestroy(): unknown;
  setNoDelay(noDelay?: boolean): unknown;
  on(event: string, listener: (...args: any[]) => void): unknown;
  once(event: string, listener: (...args: any[]) => void): unknown;
  off(event: string, listener: (...args: any[]) => void): unknown;
}

/** A dialed connection and the event after which the link may send (`connect`, or `secureConnect` with TLS). */
export interface DialedLink {
  socket: LinkSocket;
  ready: string;
}

export interface LinkListener {
  close(): Promise<void>;
}

/**
 * How replication links reach each other: dial a peer's replication port, listen on ours. The real one is TCP
 * (with mutual TLS on the dialing side when configured; the accepting side's TLS is the gate's, see gate.ts);
 * tests use an in-memory network with cuts and delays.
 */
export interface ReplicationTransport {
  dial(host: string, port: number): DialedLink;
  /** Listens on host (undefined: every interface); rejects with the listen error (EADDRINUSE: see port.ts). */
  listen(port: number, host: string | undefined, accept: (socket: LinkSocket) => void): Promise<LinkListener>;
}

/**
 * TCP, with TLS when `tls` is given: a dialed peer must present a certificate signed by our CA (the name in it is
 * not checked: membership is the CA's signature, so the CA should sign the cluster's nodes only).
 */
export class TcpTransport implements ReplicationTransport {
  readonly #tls: SecureContext | null;

  constructor(tls: SecureContext | null) {
    this.#tls = tls;
  }

  dial(host: string, port: number): DialedLink {
    if (!this.#tls) return { socket: netConnect({ host, port, noDelay: true }), ready: 'connect' };
    const socket = process.getBuiltinModule('node:tls').connect({ host, port, secureContext: this.#tls, rejectUnauthorized: true, checkServerIdentity: () => undefined });
    socket.setNoDelay(true);
    return { socket, ready: 'secureConnect' };
  }

  listen(port: number, host: string | undefined, accept: (socket: LinkSocket) => void): Promise<LinkListener> {
    const server: Server = createServer((socket) => accept(socket));
    return new Promise((res, rej) => {
      server.once('error', rej);
      server.listen(port, host, () => {
        server.off('error', rej);
        res({ close: () => new Promise<void>((done) => server.close(() => done())) });
      });
    });
  }
}
