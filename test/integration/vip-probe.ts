/**
 * A client probing the VIP as users see it; run inside the client namespace. Every 10 ms a new TCP
 * connection to VIP:11211 sends `version`; a probe succeeds when `VERSION ` comes back within 1 s (a SYN sent
 * to a MAC that no longer holds the VIP is lost, and its retransmission comes after 1 s). Prints one JSON line
 * when done: how many probes were sent and the wall-clock send times (ms) of those that succeeded.
 *
 *   node vip-probe.ts VIP DURATION_MS
 */
import { connect } from 'node:net';

const [vip, durationText] = process.argv.slice(2);
const durationMs = Number(durationText);
const wallNow = () => performance.timeOrigin + performance.now();
const ok: number[] = [];
let sent = 0;

function probe(): Promise<void> {
  const at = wallNow();
  sent++;
  return new Promise((resolve) => {
    const s = connect({ host: vip!, port: 11211 });
    let reply = '';
    let finished = false;
    const done = (good: boolean) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      s.destroy();
      if (good) ok.push(at);
      resolve();
    };
    const timer = setTimeout(() => done(false), 1000);
    s.once('connect', () => s.write('version\r\n'));
    s.on('data', (d) => {
      reply += d.toString('latin1');
      if (reply.includes('\r\n')) done(reply.startsWith('VERSION '));
    });
    s.once('error', () => done(false));
    s.once('close', () => done(false));
  });
}

const start = performance.now();
const pending: Promise<void>[] = [];
while (performance.now() - start < durationMs) {
  pending.push(probe());
  await new Promise((r) => setTimeout(r, 10));
}
await Promise.all(pending);
ok.sort((a, b) => a - b);
console.log(JSON.stringify({ sent, ok: ok.map((t) => Math.round(t)) }));
