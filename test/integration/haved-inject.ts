/**
 * Run inside the client namespace: sends forged adverts (wrong HMAC key) or replays captured ones to the
 * advert group. Usage: node haved-inject.ts forge|replay PORT GROUP IFACE_ADDR VIP
 */
import { createSocket } from 'node:dgram';
import { encodeAdvert } from '../../src/proto/advert/index.ts';

const [mode, portText, group, iface, vip] = process.argv.slice(2);
const port = Number(portText);
const sock = createSocket({ type: 'udp4', reuseAddr: true });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

sock.bind(port, async () => {
  sock.addMembership(group!, iface!);
  sock.setMulticastInterface(iface!);
  sock.setMulticastTTL(255);
  const send = (b: Uint8Array) => new Promise<void>((r) => sock.send(b, port, group!, () => r()));
  let sent = 0;
  if (mode === 'forge') {
    const base = BigInt(Date.now()) << 20n;
    for (let i = 0; i < 10; i++) {
      // a high-priority claim and a resignation naming the backup: either would move the VIP if accepted
      for (const [priority, successor] of [[254, null], [0, '198.18.0.1']] as const) {
        const msg = { kind: 'ADVERT' as const, vrid: 51, priority, advertIntMs: 100, nodeId: iface!, primaryAddress: iface!, vips: [{ address: vip!, prefix: 32 }], successor, sequence: base + BigInt(sent) };
        await send(encodeAdvert(msg, { type: 'HMAC', key: 'not-the-shared-key-0123456789' }));
        sent++;
      }
      await sleep(20);
    }
  } else {
    const captured: Buffer[] = [];
    sock.on('message', (m) => { if (m[3] === 1 && captured.length < 3) captured.push(Buffer.from(m)); });
    for (let i = 0; i < 100 && captured.length < 3; i++) await sleep(20);
    await sleep(200);
    for (let round = 0; round < 3; round++) for (const m of captured) { await send(m); sent++; }
  }
  console.log(JSON.stringify({ mode, sent }));
  sock.close();
});
