/**
 * A client that works through the VIP the way an application does (runs inside the client namespace):
 * `node proxy-vip-client.ts HOST PORT`. It writes key c:N and reads back an earlier key, one request at a
 * time, reconnecting when the connection fails. SIGUSR1 prints, and resets, what it saw since the last report
 * as one JSON line: requests answered, failures (errors, timeouts, lost connections), the longest time
 * without an answer, and reads of an acknowledged key that came back missing.
 */
import { connect, type Socket } from 'node:net';

const [host = '', port = '0'] = process.argv.slice(2);
const TIMEOUT_MS = 1500;

let ok = 0;
let failures = 0;
let lost = 0;
let maxGap = 0;
let lastOk = performance.now();
const failureKinds = new Map<string, number>();
const acked: number[] = [];

function fail(kind: string): void {
  failures++;
  failureKinds.set(kind, (failureKinds.get(kind) ?? 0) + 1);
}

function open(): Promise<Socket | null> {
  return new Promise((res) => {
    const s = connect({ host, port: Number(port), noDelay: true });
    const t = setTimeout(() => { s.destroy(); res(null); }, TIMEOUT_MS);
    s.once('connect', () => { clearTimeout(t); res(s); });
    s.once('error', () => { clearTimeout(t); res(null); });
  });
}

/** Sends `req`, resolves with the reply once `done(reply)`, or null on error/close/timeout. */
function ask(s: Socket, req: string, done: (r: string) => boolean): Promise<string | null> {
  return new Promise((res) => {
    let buf = '';
    const finish = (r: string | null) => {
      clearTimeout(t);
      s.off('data', onData);
      s.off('close', onClose);
      res(r);
    };
    const onData = (d: Buffer) => {
      buf += d.toString('latin1');
      if (done(buf)) finish(buf);
    };
    const onClose = () => finish(null);
    const t = setTimeout(() => finish(null), TIMEOUT_MS);
    s.on('data', onData);
    s.once('close', onClose);
    s.write(req);
  });
}

async function loop(): Promise<void> {
  let n = 0;
  for (;;) {
    const s = await open();
    if (!s) {
      fail('connect');
      await new Promise((r) => setTimeout(r, 10));
      continue;
    }
    s.on('error', () => {});
    for (;;) {
      const key = n;
      const back = acked.length > 0 ? acked[Math.floor(Math.random() * acked.length)]! : key;
      const reply = await ask(s, `set c:${key} 0 0 ${`v${key}`.length}\r\nv${key}\r\nget c:${back}\r\n`, (r) => r.endsWith('END\r\n') || /ERROR[^\r]*\r\n$/.test(r) && r.split('\r\n').length > 2);
      if (reply === null) {
        fail('no reply');
        s.destroy();
        break;
      }
      const stored = reply.startsWith('STORED\r\n');
      if (stored) acked.push(key);
      else fail(reply.split('\r\n')[0]!);
      const rest = reply.slice(reply.indexOf('\r\n') + 2);
      if (rest === 'END\r\n') {
        if (back !== key || stored) lost++;
      } else if (rest !== `VALUE c:${back} 0 ${`v${back}`.length}\r\nv${back}\r\nEND\r\n`) fail(rest.split('\r\n')[0]!);
      n++;
      ok++;
      const now = performance.now();
      maxGap = Math.max(maxGap, now - lastOk);
      lastOk = now;
      await new Promise((r) => setTimeout(r, 5));
    }
  }
}

process.on('SIGUSR1', () => {
  const now = performance.now();
  process.stdout.write(`${JSON.stringify({ ok, failures, lost, maxGapMs: Math.round(Math.max(maxGap, now - lastOk)), kinds: Object.fromEntries(failureKinds) })}\n`);
  ok = failures = lost = maxGap = 0;
  failureKinds.clear();
});
void loop();
