/**
 * Run inside a namespace of the lab: sends forged adverts (wrong HMAC key), replays captured ones, or forges
 * PASS adverts with the (cleartext) password a stranger read off the wire.
 *
 *   node haved-inject.ts forge|replay PORT GROUP IFACE_ADDR VIP
 *   node haved-inject.ts forge-pass PORT GROUP IFACE_ADDR VIP PASSWORD COUNT [UNICAST_TARGET...]
 *
 * forge-pass: a captured advert (multicast: the first one heard; unicast, which a switch does not show to a
 * stranger: built from the same fields) with the stranger's own address and priority 255, sent COUNT times
 * 20 ms apart to the group or to each target.
 */
import { createSocket } from 'node:dgram';
import { decodeAdvert, encodeAdvert, type AdvertMessage } from '../../src/proto/advert/index.ts';

const [mode, portText, group, iface, vip, password, countText, ...targets] = process.argv.slice(2);
const port = Number(portText);
const sock = createSocket({ type: 'udp4', reuseAddr: true });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

sock.bind(port, async () => {
  sock.addMembership(group!, iface!);
  sock.setMulticastInterface(iface!);
  sock.setMulticastTTL(255);
  const send = (b: Uint8Array, to = group!) => new Promise<void>((r) => sock.send(b, port, to, () => r()));
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
  } else if (mode === 'forge-pass') {
    const auth = { type: 'PASS' as const, password: password! };
    let captured: AdvertMessage | null = null;
    if (targets.length === 0) {
      sock.on('message', (m) => {
        const r = decodeAdvert(m, auth);
        if (r.ok && r.message.kind === 'ADVERT' && r.message.priority > 0) captured ??= r.message;
      });
      for (let i = 0; i < 100 && !captured; i++) await sleep(20);
    }
    const base: AdvertMessage = captured ?? {
      kind: 'ADVERT', vrid: 51, priority: 100, advertIntMs: 1000, nodeId: '198.18.0.1', primaryAddress: '198.18.0.1',
      vips: [{ address: vip!, prefix: 32 }], successor: null, sequence: 1n,
    };
    const forged = encodeAdvert({ ...base, nodeId: iface!, primaryAddress: iface!, priority: 255, successor: null }, auth);
    for (let i = 0; i < Number(countText); i++) {
      for (const to of targets.length ? targets : [group!]) await send(forged, to);
      sent++;
      await sleep(20);
    }
    console.log(JSON.stringify({ mode, sent, captured: captured !== null }));
    sock.close();
    return;
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
