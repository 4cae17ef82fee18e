/**
 * repcache vs Debian's memcached on one box: memcaslap throughput (90% get / 10% set, -T 1 -c 16),
 * alternating A/B/A/B, and how many 100-byte items each holds at -m 64; plus repcache's RSS.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Conn, ratio, rssMB, startMemcached, startRepcache, type BenchRow, type BenchSection, type Proc } from './lib.ts';

const run = promisify(execFile);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const MEMORY_MB = 64;

/** memcaslap's closing line: "Run time: 5.0s Ops: 123 TPS: 24 Net_rate: 1.2M/s". */
export function parseMemcaslapTps(output: string): number {
  const m = /TPS:\s*(\d+)/.exec(output);
  if (!m) throw new Error(`no TPS in memcaslap output:\n${output}`);
  return Number(m[1]);
}

async function memcaslap(port: number): Promise<number> {
  const { stdout, stderr } = await run('memcaslap', ['-s', `127.0.0.1:${port}`, '-T', '1', '-c', '16', '-t', `${SECONDS}s`], { timeout: (SECONDS + 30) * 1000 });
  return parseMemcaslapTps(stdout + stderr);
}

const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };

/**
 * Pipelined loader: `set key:<n> 0 0 100 noreply` in batches, each closed by `version` to wait for it;
 * stops when evictions have started and the item count no longer grows.
 */
async function fillUntilFull(p: Proc, log: (l: string) => void): Promise<{ items: number; evictions: number; keys: number }> {
  const c = await Conn.open(p.port);
  try {
    const value = 'x'.repeat(100);
    const batch = 20_000;
    const perWrite = 2_000;
    let n = 0;
    let last = 0;
    for (let round = 0; round < 200; round++) {
      for (let w = 0; w < batch; w += perWrite) {
        let req = '';
        for (let i = 0; i < perWrite; i++, n++) req += `set key:${n} 0 0 100 noreply\r\n${value}\r\n`;
        if (!c.socket.write(req, 'latin1')) await new Promise((r) => c.socket.once('drain', r));
      }
      await c.request('version\r\n', '\r\n');
      const s = await c.stats();
      const items = Number(s.get('curr_items'));
      const evictions = Number(s.get('evictions'));
      if (evictions > 0 && items <= last * 1.001) {
        log(`  ${n.toLocaleString('en-US')} keys written, ${items.toLocaleString('en-US')} held, ${evictions.toLocaleString('en-US')} evicted`);
        return { items, evictions, keys: n };
      }
      last = Math.max(last, items);
    }
    throw new Error(`items still growing after ${n} keys`);
  } finally {
    c.close();
  }
}

export const cacheBench: BenchSection = {
  name: 'cache',
  description: `memcaslap -T 1 -c 16 -t ${SECONDS}s (90% get), ${ROUNDS} alternating rounds each; 100-byte items held at -m ${MEMORY_MB}`,
  async run(log) {
    const rows: BenchRow[] = [];
    const memcached = await startMemcached(['-t', '1', '-m', String(MEMORY_MB)]);
    const repcache = await startRepcache(['-m', String(MEMORY_MB)]);
    const tps = { memcached: [] as number[], repcache: [] as number[] };
    try {
      for (let round = 1; round <= ROUNDS; round++) {
        for (const [name, p] of [['memcached', memcached], ['repcache', repcache]] as const) {
          const t = await memcaslap(p.port);
          tps[name].push(t);
          log(`  round ${round} ${name.padEnd(9)} ${t.toLocaleString('en-US')} ops/s`);
        }
      }
    } finally {
      await Promise.all([memcached.stop(), repcache.stop()]);
    }
    const m = median(tps.memcached);
    const r = median(tps.repcache);
    const tr = ratio(r, m);
    rows.push({ section: 'cache', metric: 'memcaslap ops/s (median)', memcached: m, repcache: r, ratio: tr, target: '>= 0.9x', ok: tr >= 0.9 });

    const freshM = await startMemcached(['-t', '1', '-m', String(MEMORY_MB)]);
    const freshR = await startRepcache(['-m', String(MEMORY_MB)]);
    try {
      log('  filling memcached');
      const fm = await fillUntilFull(freshM, log);
      log('  filling repcache');
      const fr = await fillUntilFull(freshR, log);
      const ir = ratio(fr.items, fm.items);
      rows.push({ section: 'cache', metric: `100-byte items held at -m ${MEMORY_MB}`, memcached: fm.items, repcache: fr.items, ratio: ir, target: '>= 1.0x', ok: ir >= 1 });
      const rss = rssMB(freshR.child.pid!);
      const mrss = rssMB(freshM.child.pid!);
      rows.push({ section: 'cache', metric: 'VmRSS MB when full', memcached: mrss, repcache: rss, target: `<= ${MEMORY_MB + 50}`, ok: rss <= MEMORY_MB + 50 });
    } finally {
      await Promise.all([freshM.stop(), freshR.stop()]);
    }
    return rows;
  },
};
