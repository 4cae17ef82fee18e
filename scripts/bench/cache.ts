/**
 * repcache vs Debian's memcached on one box: memcaslap throughput (90% get / 10% set, -T 1 -c 16),
 * alternating A/B/A/B, and how many 100-byte items each holds at -m 64; plus repcache's RSS.
 * A third server takes turns with them: io-floor.ts, repcache's connection I/O with no cache behind it, to
 * show how much of repcache's CPU per op the Node runtime takes before any cache work.
 *
 * With pinning (lib.ts) each server runs on CPU 0 and memcaslap on CPU 1. Next to ops/s it reports the
 * server's CPU time per op (utime+stime deltas from /proc) and memcaslap's CPU use: CPU per op is the
 * steadier figure when other work shares the machine.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Conn, cpuSeconds, median, pin, pinning, ratio, rssMB, spread, startBareNode, startIoFloor, startMemcached, startRepcache, statusMB, type BenchRow, type BenchSection, type Proc } from './lib.ts';

const run = promisify(execFile);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const MEMORY_MB = 64;
const WARMUP_SECONDS = 3;
const SERVER_CPU = '0';
const CLIENT_CPU = '1';

/** memcaslap's closing line: "Run time: 5.0s Ops: 123 TPS: 24 Net_rate: 1.2M/s". */
export function parseMemcaslapTps(output: string): number {
  const m = /TPS:\s*(\d+)/.exec(output);
  if (!m) throw new Error(`no TPS in memcaslap output:\n${output}`);
  return Number(m[1]);
}

function parseMemcaslapOps(output: string): number {
  const m = /Ops:\s*(\d+)/.exec(output);
  return m ? Number(m[1]) : NaN;
}

interface Round { tps: number; serverUsPerOp: number; clientCpu: number }

/**
 * One memcaslap run. The shell around it prints its own /proc stat afterwards: cutime+cstime there is
 * memcaslap's CPU time.
 */
async function memcaslap(p: Proc, seconds = SECONDS): Promise<Round> {
  const pinned = pinning ? `taskset -c ${CLIENT_CPU} ` : '';
  const script = `${pinned}memcaslap -s 127.0.0.1:${p.port} -T 1 -c 16 -t ${seconds}s 2>&1; echo; cat /proc/$$/stat`;
  const c0 = cpuSeconds(p.child.pid);
  const { stdout } = await run('sh', ['-c', script], { timeout: (seconds + 30) * 1000 });
  const c1 = cpuSeconds(p.child.pid);
  const stat = stdout.trimEnd().split('\n').at(-1)!.split(') ')[1].split(' ');
  const clientCpu = (Number(stat[13]) + Number(stat[14])) / 100;
  const ops = parseMemcaslapOps(stdout);
  return { tps: parseMemcaslapTps(stdout), serverUsPerOp: ((c1 - c0) / ops) * 1e6, clientCpu: clientCpu / seconds };
}

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
  description: `memcaslap -T 1 -c 16 -t ${SECONDS}s (90% get), ${ROUNDS} alternating rounds each` +
    `${pinning ? `, server on CPU ${SERVER_CPU}, memcaslap on CPU ${CLIENT_CPU}` : ', unpinned'}; 100-byte items held at -m ${MEMORY_MB}`,
  async run(log) {
    const rows: BenchRow[] = [];
    const memcached = await startMemcached(['-t', '1', '-m', String(MEMORY_MB)]);
    const repcache = await startRepcache(['-m', String(MEMORY_MB)]);
    const floor = await startIoFloor();
    const servers = { memcached, repcache, 'node floor': floor };
    for (const p of Object.values(servers)) pin(p.child.pid, SERVER_CPU);
    const rounds: Record<keyof typeof servers, Round[]> = { memcached: [], repcache: [], 'node floor': [] };
    const names = Object.keys(servers) as (keyof typeof servers)[];
    try {
      // Warm-up, not counted: memcaslap's first seconds fill the key space, and the JIT settles.
      for (const p of Object.values(servers)) await memcaslap(p, WARMUP_SECONDS);
      for (let round = 1; round <= ROUNDS; round++) {
        // The order rotates each round: no server always runs right after the same other one.
        const order = names.map((_, i) => names[(i + round - 1) % names.length]);
        for (const name of order) {
          const r = await memcaslap(servers[name]);
          rounds[name].push(r);
          log(`  round ${round} ${name.padEnd(10)} ${r.tps.toLocaleString('en-US').padStart(7)} ops/s  server ${r.serverUsPerOp.toFixed(2)} us CPU/op  memcaslap ${(r.clientCpu * 100).toFixed(0)}% CPU`);
        }
      }
    } finally {
      await Promise.all(Object.values(servers).map((p) => p.stop()));
    }
    const tm = rounds.memcached.map((r) => r.tps);
    const tr = rounds.repcache.map((r) => r.tps);
    const um = rounds.memcached.map((r) => r.serverUsPerOp);
    const ur = rounds.repcache.map((r) => r.serverUsPerOp);
    const ratios = tr.map((t, i) => t / tm[i]);
    const rt = median(ratios);
    rows.push(
      { section: 'cache', metric: 'memcaslap ops/s (median)', memcached: median(tm), repcache: median(tr), ratio: rt, target: '>= 0.9x', ok: rt >= 0.9 },
      { section: 'cache', metric: 'memcaslap ops/s (spread)', memcached: spread(tm), repcache: spread(tr) },
      { section: 'cache', metric: 'server CPU us/op (median)', memcached: median(um), repcache: median(ur), ratio: ratio(median(ur), median(um)) },
      { section: 'cache', metric: 'server CPU us/op (spread)', memcached: spread(um, 2), repcache: spread(ur, 2) },
    );
    // The floor's figures go in the repcache column: it is repcache's I/O path, minus the cache.
    const tf = rounds['node floor'].map((r) => r.tps);
    const uf = rounds['node floor'].map((r) => r.serverUsPerOp);
    rows.push(
      { section: 'cache', metric: 'node floor ops/s (same I/O, no cache)', memcached: median(tm), repcache: median(tf), ratio: median(tf.map((t, i) => t / tm[i])) },
      { section: 'cache', metric: 'node floor server CPU us/op (median)', memcached: median(um), repcache: median(uf), ratio: ratio(median(uf), median(um)) },
    );

    const freshM = await startMemcached(['-t', '1', '-m', String(MEMORY_MB)]);
    const freshR = await startRepcache(['-m', String(MEMORY_MB)]);
    try {
      log('  filling memcached');
      const fm = await fillUntilFull(freshM, log);
      log('  filling repcache');
      const fr = await fillUntilFull(freshR, log);
      const ir = ratio(fr.items, fm.items);
      rows.push({ section: 'cache', metric: `100-byte items held at -m ${MEMORY_MB}`, memcached: fm.items, repcache: fr.items, ratio: ir, target: '>= 1.0x', ok: ir >= 1 });
      // The bound (-m + 50 MB) is on private memory: what grows with -m, with load and with connections. VmRSS
      // also counts the pages of the node binary that the process has touched, about 45 MB that a Node process
      // holds before it runs any code (the bare listener below), shared with every other Node process on the host.
      const anon = statusMB(freshR.child.pid!, 'RssAnon');
      const bare = await startBareNode();
      try {
        rows.push(
          { section: 'cache', metric: 'RssAnon MB (private) when full', memcached: statusMB(freshM.child.pid!, 'RssAnon'), repcache: anon, target: `<= ${MEMORY_MB + 50}`, ok: anon <= MEMORY_MB + 50 },
          { section: 'cache', metric: 'RssFile MB (binary pages) when full', memcached: statusMB(freshM.child.pid!, 'RssFile'), repcache: statusMB(freshR.child.pid!, 'RssFile') },
          { section: 'cache', metric: 'VmRSS MB when full', memcached: rssMB(freshM.child.pid!), repcache: rssMB(freshR.child.pid!) },
          { section: 'cache', metric: 'VmRSS MB of a bare Node listener', repcache: rssMB(bare.child.pid!) },
        );
      } finally {
        await bare.stop();
      }
    } finally {
      await Promise.all([freshM.stop(), freshR.stop()]);
    }
    return rows;
  },
};
