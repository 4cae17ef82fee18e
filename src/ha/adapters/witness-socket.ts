import { createSocket } from 'node:dgram';

/** A node's datagram path to its witness: requests out, replies in (only from the witness's address). */
export interface WitnessLink {
  send(buf: Buffer): void;
  close(): void;
}

export type WitnessLinkFactory = (
  address: { host: string; port: number },
  onMessage: (buf: Buffer) => void,
  onError: (e: Error) => void,
) => WitnessLink;

/**
 * A connected UDP socket: the kernel delivers only datagrams from the witness's address and port, and an
 * unreachable witness shows as a failed send (reported, never thrown), which the lease logic treats as no reply.
 */
export const udpWitnessLink: WitnessLinkFactory = (address, onMessage, onError) => {
  const sock = createSocket('udp4');
  let connected = false;
  let closed = false;
  sock.on('message', (m) => onMessage(m));
  sock.on('error', (e) => onError(e));
  sock.connect(address.port, address.host, () => {
    connected = true;
  });
  return {
    send(buf) {
      if (!connected || closed) return;
      sock.send(buf, (e) => {
        if (e) onError(e);
      });
    },
    close() {
      if (closed) return;
      closed = true;
      sock.close();
    },
  };
};
