/**
 * Runs inside the advert fuzz's namespace: reads lines `SOURCE_ADDRESS HEX` from stdin and sends each datagram
 * from that address to 127.0.0.1:PORT; on a line `GO` it waits for the sends and prints `sent`.
 */
import { createSocket, type Socket } from 'node:dgram';
import { createInterface } from 'node:readline';

const port = Number(process.argv[2]);
const sockets = new Map<string, Promise<Socket>>();
const socketFrom = (address: string) => {
  let s = sockets.get(address);
  if (!s) {
    s = new Promise((resolve) => {
      const sock = createSocket('udp4');
      sock.bind(0, address, () => resolve(sock));
    });
    sockets.set(address, s);
  }
  return s;
};
let pending: Promise<void>[] = [];
createInterface({ input: process.stdin }).on('line', async (line) => {
  if (line === 'GO') {
    const waiting = pending;
    pending = [];
    await Promise.all(waiting);
    process.stdout.write('sent\n');
    return;
  }
  const [from, hex] = line.split(' ');
  if (!from || hex === undefined) return;
  pending.push(socketFrom(from).then((s) => new Promise<void>((r) => s.send(Buffer.from(hex, 'hex'), port, '127.0.0.1', () => r()))));
});
