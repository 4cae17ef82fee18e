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
 * One UDP socket (bound to an ephemeral port by the first send). Only datagrams from the witness's address and
 * port are passed on; a send that fails (no route yet, unreachable) is reported, never thrown, and the lease
 * logic treats it as a request without reply: the next one is tried on its schedule.
 */
export const udpWitnessLink: WitnessLinkFactory = (address, onMessage, onError) => {
  const sock = createSocket('udp4');
  let closed = false;
  sock.on('message', (m, rinfo) => {
    if (rinfo.address === address.host && rinfo.port === address.port) onMessage(m);
  });
  sock.on('error', (e) => onError(e));
  return {
    send(buf) {
      if (closed) return;
      sock.send(buf, address.port, address.host, (e) => {
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
