/**
 * repcache vs Debian's memcached on one box: memcaslap throughput (90% get / 10% set, -T 1 -c 16),
 * alternating A/B/A/B, and how many 100-byte items each holds at -m 64; plus repcache's RSS.
 * Then, with load-client.ts in a process of its own: latency at a fixed request rate (an open-loop client, so a
 * slow reply does not slow the offered load down), pipelined 100-key multigets, and the longest GC pause of a
 * repcache at -m 1024, full, under that fixed rate for a minute (scripts/bench/probe.mjs, loaded into that
 * repcache only).
 * A third server takes turns with them: io-floor.ts, repcache's connection I/O with no cache behind it, to
 * show how much of repcache's CPU per op the Node runtime takes before any cache work.
 *
 * An idle Node process (the canary, lib.ts) sits on the servers' CPU during the latency and GC runs: the stalls it
 * sees are the machine's, and a latency tail no longer than them says nothing about either server.
 * Each part is exported, so a script can run one alone.
 *
 * With pinning (lib.ts) each server runs on CPU 0 and memcaslap on CPU 1. Next to ops/s it reports the
 * server's CPU time per op (utime+stime deltas from /proc) and memcaslap's CPU use: CPU per op is the
 * steadier figure when other work shares the machine.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import {
  Conn, cpuSeconds, fillWithPreload, freePort, loadClient, median, pin, pinning, ratio, rssMB, spread, startBareNode, startIoFloor, startMemcached,
  startCanary, startProbedRepcache, startRepcache, statusMB, threadCpu, type BenchRow, type BenchSection, type Proc,
} from './lib.ts';

const run = promisify(execFile);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const MEMORY_MB = 64;
const WARMUP_SECONDS = 3;
const SERVER_CPU = '0';
const CLIENT_CPU = '1';
/** The fixed rate of the latency runs: about a quarter of what repcache serves at saturation on this bench. */
const RATE = Number(process.env.BENCH_RATE ?? 10_000);
const LATENCY_SECONDS = Number(process.env.BENCH_LATENCY_SECONDS ?? 6);
const MULTIGET_SECONDS = 3;
/** Keys of the latency and multiget runs: 100-byte values, all held (no eviction at -m 64). */
const KEYS = 100_000;
const GC_MEMORY_MB = 1024;
const GC_SECONDS = Number(process.env.BENCH_GC_SECONDS ?? 60);

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
async function memcaslap(p: Proc, seconds = SECONDS, load: { threads: number; conns: number; pinned: boolean } = { threads: 1, conns: 16, pinned: true }): Promise<Round> {
  const pinned = pinning && load.pinned ? `taskset -c ${CLIENT_CPU} ` : '';
  const script = `${pinned}memcaslap -s 127.0.0.1:${p.port} -T ${load.threads} -c ${load.conns} -t ${seconds}s 2>&1; echo; cat /proc/$$/stat`;
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
    `${pinning ? `, server on CPU ${SERVER_CPU}, clients on CPU ${CLIENT_CPU}` : ', unpinned'}; 100-byte items held at -m ${MEMORY_MB};` +
    ` latency at ${RATE.toLocaleString('en-US')} requests/s; 100-key multigets; GC pauses at -m ${GC_MEMORY_MB} full for ${GC_SECONDS} s`,
  async run(log) {
    return [
      ...(await throughput(log)),
      ...(await threadScaling(log)),
      ...(await latencyAndMultiget(log)),
      ...(await itemsAndMemory(log)),
      ...(await gcPauses(log)),
    ];
  },
};

export async function throughput(log: (l: string) => void): Promise<BenchRow[]> {
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
  return rows;
}

/**
 * -t N: memcaslap -T 2 -c 32 against memcached -t 1, 2 and 4 and repcache -t 1, 2 and 4, alternating, unpinned (the
 * servers' threads need both CPUs, which memcaslap shares). On a 2-CPU box ops/s says little about scaling;
 * server CPU per op does: at -t 2 and -t 4 it should stay within 1.1x of -t 1 (no lock overhead). memcached's own
 * -t 4 vs -t 1 is printed beside it: with more threads than CPUs each event loop sleeps and wakes for fewer
 * requests, in any server. Then the private memory (RssAnon) of each idle, before any load, and of repcache -t 4
 * and memcached -t 4 full at -m 64, and the items each holds.
 * And repcache -t 2 replicating to a live -t 2 peer (on the same two CPUs) against the standalone -t 2: the goal
 * is >= 0.8x.
 */
export async function threadScaling(log: (l: string) => void): Promise<BenchRow[]> {
  const load = { threads: 2, conns: 32, pinned: false };
  // repcache -t 2 replicating to a live -t 2 peer (the peer takes no client load; it applies the sets)
  const [ra, rb] = [await freePort(), await freePort()];
  const repl = (me: number, peer: number) => ['-t', '2', '-m', String(MEMORY_MB), '-X', String(me), '-o', 'repl_listen=127.0.0.1', '-x', `127.0.0.1:${peer}`];
  const paired = await startRepcache(repl(ra, rb));
  const peer = await startRepcache(repl(rb, ra));
  const servers = {
    'memcached -t 1': await startMemcached(['-t', '1', '-m', String(MEMORY_MB)]),
    'memcached -t 2': await startMemcached(['-t', '2', '-m', String(MEMORY_MB)]),
    'memcached -t 4': await startMemcached(['-t', '4', '-m', String(MEMORY_MB)]),
    'repcache -t 1': await startRepcache(['-t', '1', '-m', String(MEMORY_MB)]),
    'repcache -t 2': await startRepcache(['-t', '2', '-m', String(MEMORY_MB)]),
    'repcache -t 4': await startRepcache(['-t', '4', '-m', String(MEMORY_MB)]),
    'repcache -t 2 + peer': paired,
  };
  const names = Object.keys(servers) as (keyof typeof servers)[];
  const rounds = Object.fromEntries(names.map((n) => [n, [] as Round[]])) as Record<keyof typeof servers, Round[]>;
  await new Promise((r) => setTimeout(r, 1000)); // the workers' start-up garbage settles
  const idleAnon = Object.fromEntries(names.map((n) => [n, statusMB(servers[n].child.pid!, 'RssAnon')])) as Record<keyof typeof servers, number>;
  try {
    for (const p of Object.values(servers)) await memcaslap(p, WARMUP_SECONDS, load);
    for (let round = 1; round <= ROUNDS; round++) {
      const order = names.map((_, i) => names[(i + round - 1) % names.length]);
      for (const name of order) {
        const r = await memcaslap(servers[name], SECONDS, load);
        rounds[name].push(r);
        log(`  round ${round} ${name.padEnd(15)} ${r.tps.toLocaleString('en-US').padStart(7)} ops/s  server ${r.serverUsPerOp.toFixed(2)} us CPU/op`);
      }
    }
  } finally {
    await Promise.all([...Object.values(servers), peer].map((p) => p.stop()));
  }
  const tps = (n: keyof typeof servers) => median(rounds[n].map((r) => r.tps));
  const us = (n: keyof typeof servers) => median(rounds[n].map((r) => r.serverUsPerOp));
  const r2 = tps('repcache -t 2') / tps('memcached -t 2');
  const rows: BenchRow[] = [
    { section: 'cache', metric: 'memcaslap -T2 -c32 ops/s, -t 2 (median)', memcached: tps('memcached -t 2'), repcache: tps('repcache -t 2'), ratio: r2, target: '>= 0.85x', ok: r2 >= 0.85 },
    { section: 'cache', metric: 'server CPU us/op, -t 2 (median)', memcached: us('memcached -t 2'), repcache: us('repcache -t 2'), ratio: ratio(us('repcache -t 2'), us('memcached -t 2')) },
  ];
  const rp = median(rounds['repcache -t 2 + peer'].map((r, i) => r.tps / rounds['repcache -t 2'][i].tps));
  rows.push(
    { section: 'cache', metric: 'repcache -t 2 with a live -t 2 peer / standalone -t 2, ops/s (median of rounds)', repcache: tps('repcache -t 2 + peer'), ratio: rp, target: '>= 0.8x', ok: rp >= 0.8 },
    { section: 'cache', metric: `repcache -t 2 with a live peer: server CPU us/op vs standalone (${us('repcache -t 2').toFixed(2)})`, repcache: us('repcache -t 2 + peer'), ratio: us('repcache -t 2 + peer') / us('repcache -t 2') },
  );
  for (const n of ['repcache -t 2', 'repcache -t 4'] as const) {
    const r = us(n) / us('repcache -t 1');
    rows.push({ section: 'cache', metric: `${n}: CPU us/op vs -t 1 (${us('repcache -t 1').toFixed(2)}), ops/s ${tps(n)} vs ${tps('repcache -t 1')}`, repcache: us(n), ratio: r, target: '<= 1.1x', ok: r <= 1.1 });
  }
  const m4 = us('memcached -t 4') / us('memcached -t 1');
  rows.push({ section: 'cache', metric: `memcached -t 4: CPU us/op vs its -t 1 (${us('memcached -t 1').toFixed(2)}), ops/s ${tps('memcached -t 4')} vs ${tps('memcached -t 1')}`, memcached: us('memcached -t 4'), ratio: m4 });
  for (const t of [1, 2, 4] as const) {
    const m = `memcached -t ${t}` as const;
    const r = `repcache -t ${t}` as const;
    rows.push({ section: 'cache', metric: `-t ${t} idle at -m ${MEMORY_MB}: RssAnon MB`, memcached: +idleAnon[m].toFixed(1), repcache: +idleAnon[r].toFixed(1) });
  }
  const mc = await startMemcached(['-t', '4', '-m', String(MEMORY_MB)]);
  const rc = await startRepcache(['-t', '4', '-m', String(MEMORY_MB)]);
  try {
    log('  memcached -t 4, filling -m 64:');
    const fm = await fillUntilFull(mc, log);
    log('  repcache -t 4, filling -m 64:');
    const fr = await fillUntilFull(rc, log);
    const am = statusMB(mc.child.pid!, 'RssAnon');
    const ar = statusMB(rc.child.pid!, 'RssAnon');
    rows.push(
      { section: 'cache', metric: '-t 4 full at -m 64: RssAnon MB', memcached: am, repcache: ar, target: '<= memcached + 40 MB', ok: ar <= am + 40 },
      { section: 'cache', metric: '-t 4 full at -m 64: items held', memcached: fm.items, repcache: fr.items, ratio: fr.items / fm.items, target: '>= 1.2x', ok: fr.items >= 1.2 * fm.items },
    );
  } finally {
    await Promise.all([mc.stop(), rc.stop()]);
  }
  return rows;
}

/** Rounds of `npm run bench -- cache-peer`: more than the other parts', as it is run alone to judge changes. */
const PEER_ROUNDS = Number(process.env.BENCH_PEER_ROUNDS ?? 6);

/**
 * `npm run bench -- cache-peer`: the part of threadScaling that compares repcache -t 2 replicating to a live -t 2
 * peer with a standalone -t 2, alone and with more rounds (paired: each round runs both, in alternating order), and
 * where the paired node's CPU goes: its client threads (the main thread and the worker thread), its replication
 * thread, and V8's helper threads; the peer's CPU per replicated write (it serves no clients); and the voluntary
 * context switches (sleeps and wake-ups) of each side's replication thread per replicated write.
 * BENCH_PEER_BASELINE=DIR (another checkout with its node_modules) adds DIR's pair to every round: an A/B of two
 * versions in one run, as other work on the machine changes from one round to the next.
 */
export const peerCostBench: BenchSection = {
  name: 'cache-peer',
  onlyWhenNamed: true,
  description: `repcache -t 2 with a live -t 2 peer vs standalone -t 2: memcaslap -T2 -c32 -t ${SECONDS}s, ${PEER_ROUNDS} paired rounds, unpinned`,
  run: (log) => peerCost(log),
};

interface PeerRound { lockSleeps: number; tps: number; usPerOp: number; clientUs: number; replUs: number; helperUs: number; peerUsPerSet: number; replSwitches: number; peerSwitches: number; sets: number }

export async function peerCost(log: (l: string) => void): Promise<BenchRow[]> {
  const load = { threads: 2, conns: 32, pinned: false };
  const startPair = async (root?: string) => {
    const [ra, rb] = [await freePort(), await freePort()];
    const repl = (me: number, peer: number) => ['-t', '2', '-m', String(MEMORY_MB), '-X', String(me), '-o', 'repl_listen=127.0.0.1', '-x', `127.0.0.1:${peer}`];
    const node = await startRepcache(repl(ra, rb), undefined, { root });
    const peer = await startRepcache(repl(rb, ra), undefined, { root });
    return { node, peer, stats: await Conn.open(node.port) };
  };
  // BENCH_PEER_BASELINE: another checkout (npm ci'd) whose pair takes turns with this one's, for an A/B in one run
  const baselineRoot = process.env.BENCH_PEER_BASELINE;
  const pairs = { 'with a peer': await startPair(), ...(baselineRoot ? { 'baseline pair': await startPair(baselineRoot) } : {}) } as Record<string, Awaited<ReturnType<typeof startPair>>>;
  const alone = await startRepcache(['-t', '2', '-m', String(MEMORY_MB)]);
  const standalone: Round[] = [];
  const withPeer: Record<string, PeerRound[]> = Object.fromEntries(Object.keys(pairs).map((k) => [k, []]));
  const sum = (m: Map<number, { name: string; cpu: number; voluntary: number }>, pick: (name: string) => boolean, f: 'cpu' | 'voluntary') =>
    [...m.values()].filter((t) => pick(t.name)).reduce((a, t) => a + t[f], 0);
  const isRepl = (n: string) => n.startsWith('repcache replic');
  const isClient = (n: string) => n === 'repcache' || n.startsWith('repcache worker');
  const runPaired = async ({ node, peer, stats }: Awaited<ReturnType<typeof startPair>>): Promise<PeerRound> => {
    const counts = async () => {
      const m = await stats.stats();
      return { sets: Number(m.get('cmd_set')), lockWaits: Number(m.get('lock_waits')) };
    };
    const [a0, b0, c0] = [threadCpu(node.child.pid!), threadCpu(peer.child.pid!), await counts()];
    const r = await memcaslap(node, SECONDS, load);
    const [a1, b1, c1] = [threadCpu(node.child.pid!), threadCpu(peer.child.pid!), await counts()];
    const d = (a: typeof a0, b: typeof a0, pick: (n: string) => boolean, f: 'cpu' | 'voluntary' = 'cpu') => sum(b, pick, f) - sum(a, pick, f);
    const ops = r.tps * SECONDS;
    const n = c1.sets - c0.sets;
    return {
      lockSleeps: ((c1.lockWaits - c0.lockWaits) / ops) * 1000,
      tps: r.tps, usPerOp: r.serverUsPerOp, sets: n,
      clientUs: (d(a0, a1, isClient) / ops) * 1e6, replUs: (d(a0, a1, isRepl) / ops) * 1e6, helperUs: (d(a0, a1, (x) => !isClient(x) && !isRepl(x)) / ops) * 1e6,
      peerUsPerSet: (d(b0, b1, () => true) / n) * 1e6, replSwitches: d(a0, a1, isRepl, 'voluntary') / n, peerSwitches: d(b0, b1, isRepl, 'voluntary') / n,
    };
  };
  const names = ['standalone', ...Object.keys(pairs)];
  try {
    for (const p of Object.values(pairs)) await memcaslap(p.node, WARMUP_SECONDS, load);
    await memcaslap(alone, WARMUP_SECONDS, load);
    for (let round = 1; round <= PEER_ROUNDS; round++) {
      const order = names.map((_, i) => names[(i + round - 1) % names.length]);
      for (const which of order) {
        if (which === 'standalone') {
          const r = await memcaslap(alone, SECONDS, load);
          standalone.push(r);
          log(`  round ${round} standalone    ${r.tps.toLocaleString('en-US').padStart(7)} ops/s  server ${r.serverUsPerOp.toFixed(2)} us CPU/op`);
        } else {
          const r = await runPaired(pairs[which]);
          withPeer[which].push(r);
          log(`  round ${round} ${which.padEnd(13)} ${r.tps.toLocaleString('en-US').padStart(7)} ops/s  server ${r.usPerOp.toFixed(2)} us CPU/op` +
            ` (client threads ${r.clientUs.toFixed(2)}, replication thread ${r.replUs.toFixed(2)}, V8 helpers ${r.helperUs.toFixed(2)});` +
            ` peer ${r.peerUsPerSet.toFixed(1)} us CPU per replicated write (${r.sets} writes);` +
            ` sleeps per write: replication thread ${r.replSwitches.toFixed(2)}, peer's ${r.peerSwitches.toFixed(2)};` +
            ` client threads' sleeps on the store lock per 1000 requests ${r.lockSleeps.toFixed(1)}`);
        }
      }
    }
  } finally {
    for (const p of Object.values(pairs)) p.stats.close();
    await Promise.all([...Object.values(pairs).flatMap((p) => [p.node.stop(), p.peer.stop()]), alone.stop()]);
  }
  const us = median(standalone.map((r) => r.serverUsPerOp));
  const rows: BenchRow[] = [
    { section: 'cache-peer', metric: `standalone -t 2: ops/s, server CPU us/op ${us.toFixed(2)} (${spread(standalone.map((r) => r.serverUsPerOp), 2)})`, memcached: spread(standalone.map((r) => r.tps)), repcache: tps(standalone) },
  ];
  for (const [name, rs] of Object.entries(withPeer)) {
    const ratios = rs.map((r, i) => r.tps / standalone[i].tps);
    const col = (f: (r: PeerRound) => number, digits = 2) => ({ repcache: median(rs.map(f)).toFixed(digits), memcached: spread(rs.map(f), digits) });
    const rp = median(ratios);
    rows.push(
      { section: 'cache-peer', metric: `${name}: ops/s / standalone -t 2's in the same round (median; spread in the memcached column)`, memcached: spread(ratios, 2), repcache: tps(rs), ratio: rp, target: '>= 0.8x', ok: rp >= 0.8 },
      { section: 'cache-peer', metric: `${name}: server CPU us/op (median; spread), ratio to standalone's`, ...col((r) => r.usPerOp), ratio: median(rs.map((r) => r.usPerOp)) / us },
      { section: 'cache-peer', metric: `${name}: client threads CPU us/op`, ...col((r) => r.clientUs) },
      { section: 'cache-peer', metric: `${name}: replication thread CPU us/op`, ...col((r) => r.replUs) },
      { section: 'cache-peer', metric: `${name}: V8 helper threads CPU us/op`, ...col((r) => r.helperUs) },
      { section: 'cache-peer', metric: `${name}: the peer's CPU us per replicated write`, ...col((r) => r.peerUsPerSet, 1) },
      { section: 'cache-peer', metric: `${name}: replication thread sleeps per replicated write`, ...col((r) => r.replSwitches) },
      { section: 'cache-peer', metric: `${name}: the peer's replication thread sleeps per replicated write`, ...col((r) => r.peerSwitches) },
      { section: 'cache-peer', metric: `${name}: client threads' sleeps on the store lock per 1000 requests`, ...col((r) => r.lockSleeps, 1) },
    );
  }
  return rows;
}

const tps = (rs: Array<{ tps: number }>) => median(rs.map((r) => r.tps));

interface OpenLoop { p50: number; p99: number; p999: number; max: number; lost: number; errors: number; measured: number; sendLagP99Ms: number; sendLagMaxMs: number }

const openLoop = (port: number, seconds: number, keys = KEYS, first = 0) =>
  loadClient<OpenLoop>('open-loop', { port, rate: RATE, seconds, keys, first, conns: 16, warmup: 1 }, CLIENT_CPU);

/**
 * Latency at RATE requests/s (90% get, 10% set, 16 connections) and pipelined 100-key multigets (4 connections,
 * 4 requests in flight each), on fresh servers holding KEYS keys, alternating, the client on the client CPU.
 */
export async function latencyAndMultiget(log: (l: string) => void): Promise<BenchRow[]> {
  const memcached = await startMemcached(['-t', '1', '-m', String(MEMORY_MB)]);
  const repcache = await startRepcache(['-m', String(MEMORY_MB)]);
  const canary = await startCanary();
  pin(canary.child.pid, SERVER_CPU);
  const servers = { memcached, repcache };
  const names = Object.keys(servers) as (keyof typeof servers)[];
  const lat: Record<keyof typeof servers, OpenLoop[]> = { memcached: [], repcache: [] };
  const stalls: number[] = [];
  /** Server CPU per request (us) in the latency runs, per key in the multiget runs: steadier than rates on a shared box. */
  const latCpu: Record<keyof typeof servers, number[]> = { memcached: [], repcache: [] };
  const mg: Record<keyof typeof servers, number[]> = { memcached: [], repcache: [] };
  const mgCpu: Record<keyof typeof servers, number[]> = { memcached: [], repcache: [] };
  try {
    for (const p of Object.values(servers)) {
      pin(p.child.pid, SERVER_CPU);
      await loadClient('preload', { port: p.port, keys: KEYS });
      await openLoop(p.port, 2); // warm-up, not counted
    }
    for (let round = 1; round <= ROUNDS; round++) {
      for (const name of round % 2 ? names : [...names].reverse()) {
        const c0 = cpuSeconds(servers[name].child.pid);
        await canary.probe();
        const r = await openLoop(servers[name].port, LATENCY_SECONDS);
        const stall = (await canary.probe()).loopDelayMs.max;
        const us = ((cpuSeconds(servers[name].child.pid) - c0) / (RATE * LATENCY_SECONDS)) * 1e6;
        if (r.lost || r.errors) throw new Error(`${name}: ${r.lost} requests without a reply, ${r.errors} errors or misses`);
        lat[name].push(r);
        latCpu[name].push(us);
        stalls.push(stall);
        log(`  latency round ${round} ${name.padEnd(9)} p50 ${r.p50.toFixed(3)} p99 ${r.p99.toFixed(3)} p99.9 ${r.p999.toFixed(3)} max ${r.max.toFixed(1)} ms,` +
          ` server ${us.toFixed(1)} us CPU/request (client late by p99 ${r.sendLagP99Ms.toFixed(2)} / max ${r.sendLagMaxMs.toFixed(1)} ms; idle process on CPU ${SERVER_CPU} stalled up to ${stall.toFixed(1)} ms)`);
      }
    }
    for (let round = 1; round <= ROUNDS; round++) {
      for (const name of round % 2 ? names : [...names].reverse()) {
        const c0 = cpuSeconds(servers[name].child.pid);
        const r = await loadClient<{ keys: number; keysPerSecond: number; bad: number }>('multiget', { port: servers[name].port, seconds: MULTIGET_SECONDS, keys: KEYS, batch: 100, depth: 4, conns: 4 }, CLIENT_CPU);
        const us = ((cpuSeconds(servers[name].child.pid) - c0) / r.keys) * 1e6;
        if (r.bad) throw new Error(`${name}: ${r.bad} multiget replies did not end where expected`);
        mg[name].push(r.keysPerSecond);
        mgCpu[name].push(us);
        log(`  multiget round ${round} ${name.padEnd(9)} ${r.keysPerSecond.toLocaleString('en-US')} keys/s, server ${us.toFixed(2)} us CPU/key`);
      }
    }
  } finally {
    await Promise.all([...Object.values(servers), canary].map((p) => p.stop()));
  }
  const pct = (name: keyof typeof servers, f: keyof OpenLoop) => median(lat[name].map((r) => r[f]));
  const rows: BenchRow[] = [];
  for (const [label, f] of [['p50', 'p50'], ['p99', 'p99'], ['p99.9', 'p999']] as const) {
    const m = pct('memcached', f);
    const r = pct('repcache', f);
    const row: BenchRow = { section: 'cache', metric: `latency ${label} ms at ${RATE.toLocaleString('en-US')}/s (median)`, memcached: m.toFixed(3), repcache: r.toFixed(3), ratio: ratio(r, m) };
    if (f === 'p99') Object.assign(row, { target: '<= 2.0x', ok: r <= 2 * m });
    rows.push(row);
  }
  rows.push(
    { section: 'cache', metric: 'latency p99 ms (spread)', memcached: spread(lat.memcached.map((r) => r.p99), 3), repcache: spread(lat.repcache.map((r) => r.p99), 3) },
    // Another process's stall shows in both servers' tails: a tail under this is the machine's, not the server's.
    { section: 'cache', metric: 'same runs: longest stall of an idle process on the server CPU ms (median)', repcache: median(stalls).toFixed(1) },
    { section: 'cache', metric: 'same runs: server CPU us/request (median)', memcached: median(latCpu.memcached), repcache: median(latCpu.repcache), ratio: ratio(median(latCpu.repcache), median(latCpu.memcached)) },
  );
  // Rates swing with whatever else the machine runs: the ratio is the median of adjacent runs' ratios.
  const kr = median(mg.repcache.map((k, i) => k / mg.memcached[i]));
  rows.push(
    { section: 'cache', metric: 'multiget 100 keys: keys/s (median)', memcached: median(mg.memcached), repcache: median(mg.repcache), ratio: kr, target: '>= 0.6x', ok: kr >= 0.6 },
    { section: 'cache', metric: 'multiget keys/s (spread)', memcached: spread(mg.memcached), repcache: spread(mg.repcache) },
    { section: 'cache', metric: 'multiget server CPU us/key (median)', memcached: median(mgCpu.memcached).toFixed(3), repcache: median(mgCpu.repcache).toFixed(3), ratio: ratio(median(mgCpu.repcache), median(mgCpu.memcached)) },
  );
  return rows;
}

export async function itemsAndMemory(log: (l: string) => void): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
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
}

/**
 * Fills a repcache at -m GC_MEMORY_MB with 100-byte items until it evicts, then offers RATE requests/s over the
 * keys it holds for GC_SECONDS and reports the GC pauses and event-loop delays the probe saw meanwhile.
 */
export async function gcPauses(log: (l: string) => void): Promise<BenchRow[]> {
  const p = await startProbedRepcache(['-m', String(GC_MEMORY_MB)]);
  const canary = await startCanary();
  try {
    pin(p.child.pid, SERVER_CPU);
    pin(canary.child.pid, SERVER_CPU);
    const held = await fillWithPreload(p, GC_MEMORY_MB, log, CLIENT_CPU);
    await p.probe(); // forget the fill's collections
    await canary.probe();
    const r = await openLoop(p.port, GC_SECONDS, held.items, held.keys - held.items);
    const g = await p.probe();
    const stall = (await canary.probe()).loopDelayMs.max;
    log(`  ${GC_SECONDS} s at ${RATE.toLocaleString('en-US')}/s: ${g.gc.count} GCs (${Object.entries(g.gc.byKind).map(([k, v]) => `${v.count} ${k}, longest ${v.maxMs.toFixed(2)} ms`).join('; ')}),` +
      ` ${g.gc.totalMs.toFixed(0)} ms in all; V8 heap ${g.heapMB.total} MB; event loop delay max ${g.loopDelayMs.max.toFixed(1)} ms` +
      ` (an idle process on CPU ${SERVER_CPU}: ${stall.toFixed(1)} ms);` +
      ` latency p99 ${r.p99.toFixed(3)} p99.9 ${r.p999.toFixed(3)} max ${r.max.toFixed(1)} ms; ${r.lost + r.errors} lost or missed`);
    return [
      { section: 'cache', metric: `longest GC pause ms, ${GC_SECONDS} s at -m ${GC_MEMORY_MB} full`, repcache: g.gc.maxMs.toFixed(2), target: '<= 5', ok: g.gc.maxMs <= 5 },
      { section: 'cache', metric: 'GC pauses: count, > 1 ms, > 5 ms, p50 / p99 ms (same run)', repcache: `${g.gc.count}, ${g.gc.over1ms}, ${g.gc.over5ms}, ${g.gc.p50Ms.toFixed(2)} / ${g.gc.p99Ms.toFixed(2)}` },
      { section: 'cache', metric: 'GC time ms (same run)', repcache: g.gc.totalMs.toFixed(0) },
      { section: 'cache', metric: 'V8 heap MB (same run)', repcache: g.heapMB.total },
      { section: 'cache', metric: 'latency p99 / p99.9 ms (same run)', repcache: `${r.p99.toFixed(3)} / ${r.p999.toFixed(3)}` },
      { section: 'cache', metric: 'longest event-loop stall ms: repcache | an idle process (same run)', repcache: `${g.loopDelayMs.max.toFixed(1)} | ${stall.toFixed(1)}` },
    ];
  } finally {
    await Promise.all([p.stop(), canary.stop()]);
  }
}
