/**
 * The asynchronous loss window, measured on loopback: node A and its peer B; clients pipeline acknowledged sets
 * on A (batches of 50, every key distinct); A is killed with SIGKILL at a random moment under that load; then B
 * is asked for every key A acknowledged. Prints, per run, the writes acknowledged, those B lacks, and how long
 * before the kill the oldest of those was acknowledged. `--sync` runs both nodes with --replication-sync.
 *
 *   node scripts/measure-repl-loss.ts [--runs N] [--sync]
 */
import { connect } from 'node:net';
import { parseArgs } from 'node:util';
import { stopAll } from '../test/support/daemon.ts';
import { freePort } from '../test/support/ports.ts';
import { eventually, mc, startNode, stats } from '../test/integration/replication-cluster.ts';

const CONNS = 4;
const BATCH = 50;
const REPLY = 'STORED\r\n';

interface Writer {
  /** acked[n]: when key lw:<conn>:<n> was acknowledged (performance.now()). */
  acked: number[];
  done: Promise<void>;
}

/** One connection setting lw:<id>:0, 1, 2 ... in pipelined batches until the socket dies. */
function writer(port: number, id: number): Writer {
  const acked: number[] = [];
  const done = new Promise<void>((resolve) => {
    const s = connect({ port, host: '127.0.0.1' });
    s.setNoDelay(true);
    let next = 0;
    let pending = '';
    const send = () => {
      let text = '';
      for (let i = 0; i < BATCH; i++, next++) text += `set lw:${id}:${next} 0 0 8\r\n${String(next).padStart(8, '0')}\r\n`;
      s.write(text);
    };
    s.on('connect', send);
    s.on('data', (d) => {
      pending += d.toString('latin1');
      const now = performance.now();
      while (pending.startsWith(REPLY)) {
        pending = pending.slice(REPLY.length);
        acked.push(now);
      }
      if (pending.length >= REPLY.length) throw new Error(`unexpected reply ${JSON.stringify(pending.slice(0, 40))}`);
      if (acked.length === next) send();
    });
    s.on('error', () => resolve());
    s.on('close', () => resolve());
  });
  return { acked, done };
}

/** Which of lw:<id>:0 .. count-1 the node lacks. */
async function missing(port: number, id: number, count: number): Promise<number[]> {
  const out: number[] = [];
  for (let at = 0; at < count; at += 200) {
    const ns = Array.from({ length: Math.min(200, count - at) }, (_, i) => at + i);
    const reply = await mc(port, `get ${ns.map((n) => `lw:${id}:${n}`).join(' ')}\r\n`, /END\r\n$/, 10_000);
    const have = new Set([...reply.matchAll(/^VALUE lw:\d+:(\d+) /gm)].map((m) => Number(m[1])));
    for (const n of ns) if (!have.has(n)) out.push(n);
  }
  return out;
}

async function run(sync: boolean): Promise<{ acked: number; lost: number; oldestLostMs: number }> {
  const [ra, rb] = [await freePort(), await freePort()];
  const extra = ['-m', '256', ...(sync ? ['--replication-sync'] : [])];
  const a = await startNode({ rport: ra, peers: [rb], extra });
  const b = await startNode({ rport: rb, peers: [ra], extra });
  await eventually(async () => (await stats(a.port)).repl_peer_0_state === 'streaming' && (await stats(b.port)).repl_peer_0_state === 'streaming', 'linked');
  const writers = Array.from({ length: CONNS }, (_, id) => writer(a.port, id));
  await new Promise((r) => setTimeout(r, 1000 + Math.random() * 1000));
  const killedAt = performance.now();
  a.daemon.proc.kill('SIGKILL');
  await Promise.all(writers.map((w) => w.done));
  let acked = 0;
  let lost = 0;
  let oldestLostMs = 0;
  for (const [id, w] of writers.entries()) {
    acked += w.acked.length;
    for (const n of await missing(b.port, id, w.acked.length)) {
      lost++;
      oldestLostMs = Math.max(oldestLostMs, killedAt - w.acked[n]!);
    }
  }
  await stopAll();
  return { acked, lost, oldestLostMs };
}

const { values } = parseArgs({ options: { runs: { type: 'string', default: '5' }, sync: { type: 'boolean', default: false } } });
try {
  for (let i = 0; i < Number(values.runs); i++) {
    const r = await run(values.sync!);
    console.log(
      `${values.sync ? 'sync ' : 'async'} run ${i + 1}: ${r.acked} writes acknowledged, ${r.lost} of them missing on the peer`
        + (r.lost ? `; the oldest acknowledged ${r.oldestLostMs.toFixed(1)} ms before the kill` : ''),
    );
  }
} finally {
  await stopAll();
}
