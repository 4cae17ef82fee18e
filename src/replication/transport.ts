import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, createSecureContext, type SecureContext } from 'node:tls';

/** PEM certificate, key and CA of the replication link's mutual TLS. */
export interface LinkTlsFiles {
  cert: string | Buffer;
  key: string | Buffer;
  ca: string | Buffer;
}

/** One context for both ends: it presents our certificate and trusts only certificates signed by the CA. */
export function linkTlsContext(files: LinkTlsFiles): SecureContext {
  return createSecureContext({ cert: files.cert, key: files.key, ca: files.ca });
}

/**
 * Dials a peer's replication port; with TLS the peer must present a certificate signed by our CA (the name in
 * it is not checked: membership is the CA's signature, so the CA should sign the cluster's nodes only).
 * `ready` is the event after which the link may send.
 */
export function dialPeer(host: string, port: number, tls: SecureContext | null): { socket: Socket; ready: 'connect' | 'secureConnect' } {
  if (!tls) return { socket: netConnect({ host, port, noDelay: true }), ready: 'connect' };
  const socket = tlsConnect({ host, port, secureContext: tls, rejectUnauthorized: true, checkServerIdentity: () => undefined });
  socket.setNoDelay(true);
  return { socket, ready: 'secureConnect' };
}
