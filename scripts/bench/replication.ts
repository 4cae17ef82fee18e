/**
 * Replication benchmark, repcache against repcached 2.2.1 (memcached 1.2.8 + replication, see repcached.ts) when
 * it can be built, under the same loads: client throughput on a node with one live peer vs a standalone node, the
 * CPU each node spends, replication lag (write on A acknowledged -> visible on B) under load, and the speed of the
 * full copy a joining node receives. Without repcached it says why and measures repcache alone.
 * Loopback only; every process it starts is stopped at the end.
 *
 * Two loads, each run on the standalone node and then on A of the pair, in alternating rounds:
 *  - sets: 4 connections x 64 pipelined sets of 100-byte values (this process), every request a replicated write;
 *  - memcaslap: -T 1 -c 16, 90% get / 10% set of ~1 KB values, what memcached users benchmark with.
 * CPU split (with pinning, see lib.ts): the node under load (standalone, or A with its peer) runs alone on
 * CPU 0; the load generator and the peer B share CPU 1, as a client machine and a second server would in
 * production. CPU times come from /proc: A's CPU per request shows the replication cost on the writer, B's CPU
 * per replicated write the cost of applying it.
 *
 *   npm run bench -- replication [--repcached-tarball PATH]     (or REPCACHED_TARBALL=PATH)
 */
import { execFile } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { availableParallelism, setPriority } from 'node:os';
import { promisify } from 'node:util';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { stopAll } from '../../test/support/daemon.ts';
import { freePort } from '../../test/support/ports.ts';
import { mc, startNode, stats } from '../../test/integration/replication-cluster.ts';
import { cpuSeconds, median, pin, pinning, spread, type BenchRow, type BenchSection } from './lib.ts';
import { buildRepcached, repcachedTarball, startRepcached } from './repcached.ts';

const CONNS = 4;
const DEPTH = 64;
const VALUE = 'v'.repeat(100);
/** Distinct keys per connection (a whole number of batches): the warm-up stores them all, so the measured rounds see a steady table. */
const KEYS_PER_CONN = 160 * DEPTH;
const REPLY = 'STORED\r\n';
/** DEPTH replies plus one, so any chunk of a batch's replies, starting at any phase, is a range of it. */
const REPLIES = Buffer.from(REPLY.repeat(DEPTH + 1), 'latin1');

/**
 * Each connection's requests, built once: batch i sets keys load:<conn>:<i*DEPTH ...>. The generator stands in
 * for client machines, so it should take as little as possible of the CPU it shares with the peer: it writes
 * prebuilt buffers and checks replies by comparing bytes, not by building strings.
 */
const batchesOf = (id: number): Buffer[] =>
  Array.from({ length: KEYS_PER_CONN / DEPTH }, (_, b) => {
    let text = '';
    for (let i = 0; i < DEPTH; i++) text += `set load:${id}:${b * DEPTH + i} 0 0 100\r\n${VALUE}\r\n`;
    return Buffer.from(text, 'latin1');
  });
const BATCHES = Array.from({ length: CONNS }, (_, id) => batchesOf(id));

/** CONNS connections each keep DEPTH sets in flight for durationMs; returns sets/s. */
async function setLoad(port: number, durationMs: number): Promise<number> {
  const r = await setRun(port, durationMs);
  return r.ops / r.seconds;
}

async function setRun(port: number, durationMs: number): Promise<LoadResult> {
  const end = Date.now() + durationMs;
  let done = 0;
  const one = (id: number) =>
    new Promise<void>((resolve, reject) => {
      const s: Socket = connect({ port, host: '127.0.0.1' });
      s.setNoDelay(true);
      const batches = BATCHES[id];
      let next = 0;
      /** Reply bytes still expected for the batch in flight. */
      let pending = 0;
      const send = () => {
        pending = DEPTH * REPLY.length;
        s.write(batches[next]);
        next = (next + 1) % batches.length;
      };
      s.on('connect', send);
      s.on('data', (d: Buffer) => {
        const phase = (DEPTH * REPLY.length - pending) % REPLY.length;
        if (d.length > pending || REPLIES.compare(d, 0, d.length, phase, phase + d.length) !== 0) {
          s.destroy();
          reject(new Error(`unexpected reply: ${JSON.stringify(d.toString('latin1', 0, 80))}`));
          return;
        }
        pending -= d.length;
        if (pending === 0) {
          done += DEPTH;
          if (Date.now() < end) send();
          else {
            s.destroy();
            resolve();
          }
        }
      });
      s.on('error', reject);
    });
  const t0 = Date.now();
  await Promise.all(Array.from({ length: CONNS }, (_, i) => one(i)));
  return { ops: done, writes: done, seconds: (Date.now() - t0) / 1000 };
}

/**
 * The lag sampler, run in a worker thread so the load generator's own event loop (busy parsing replies in this
 * thread) does not add to the figure: write a fresh key on A, then poll B back to back until it is visible.
 * Plain JavaScript: an eval'd worker is CommonJS and not type-stripped.
 */
const LAG_SAMPLER = `
const { parentPort, workerData } = require('node:worker_threads');
const { connect } = require('node:net');
function persistent(port) {
  const s = connect({ port, host: '127.0.0.1' });
  s.setNoDelay(true);
  let buf = '';
  let waiter = null;
  s.on('data', (d) => {
    buf += d.toString('latin1');
    if (waiter && buf.endsWith(waiter.end)) { const w = waiter; waiter = null; const r = buf; buf = ''; w.resolve(r); }
  });
  const ready = new Promise((r) => s.once('connect', r));
  return {
    async request(data, end) { await ready; return new Promise((resolve) => { waiter = { end, resolve }; s.write(data); }); },
    close: () => s.destroy(),
  };
}
parentPort.on('message', async ({ until }) => {
  const { a, b } = workerData;
  const out = [];
  const ca = persistent(a);
  const cb = persistent(b);
  // A key no earlier call wrote: one B already holds would look replicated at once.
  const prefix = 'lag:' + Date.now() + ':';
  for (let i = 0; Date.now() < until; i++) {
    await ca.request('set ' + prefix + i + ' 0 0 1\\r\\nx\\r\\n', 'STORED\\r\\n');
    const t0 = process.hrtime.bigint();
    while (!(await cb.request('get ' + prefix + i + '\\r\\n', 'END\\r\\n')).startsWith('VALUE')) {
      if (Number(process.hrtime.bigint() - t0) > 5e9) break;
    }
    out.push(Number(process.hrtime.bigint() - t0) / 1e6);
    await new Promise((r) => setTimeout(r, 5));
  }
  ca.close();
  cb.close();
  parentPort.postMessage(out);
});
`;

/** A sampler thread for nodes a and b; sample(until) resolves with lag samples (ms) taken until then. */
function lagSampler(a: BenchNode, b: BenchNode) {
  const w = new Worker(LAG_SAMPLER, { eval: true, workerData: { a: a.port, b: b.port } });
  return {
    sample: (until: number) =>
      new Promise<number[]>((resolve, reject) => {
        w.once('message', resolve);
        w.once('error', reject);
        w.postMessage({ until });
      }),
    close: () => w.terminate(),
  };
}

/**
 * The lag phase's load runs in a worker thread at a lower priority (Linux nice values are per thread): it yields
 * CPU 1 to the peer and the sampler, as if it ran on a client machine of its own. Without that the lag tail
 * measures the scheduler sharing one CPU between three busy threads (p99 10-14 ms instead of about 3 ms).
 */
function lowPriorityLoad(port: number, durationMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const w = new Worker(new URL(import.meta.url), { workerData: { role: 'load', port, durationMs } });
    w.once('message', (rate: number) => { resolve(rate); void w.terminate(); });
    w.once('error', reject);
  });
}

if (!isMainThread && (workerData as { role?: string } | null)?.role === 'load') {
  const { port, durationMs } = workerData as { port: number; durationMs: number };
  try {
    setPriority(0, 10);
  } catch {
    // not allowed here: the lag figures then include more contention
  }
  parentPort!.postMessage(await setLoad(port, durationMs));
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

const exec = promisify(execFile);

/** A node of either implementation: its client port, its pid (for /proc CPU times), and how to stop it. */
interface BenchNode { port: number; pid: number; stop(): Promise<void> }
interface LoadResult { ops: number; writes: number; seconds: number }
interface Load { name: string; run(port: number, seconds: number): Promise<LoadResult> }
interface Impl {
  name: 'repcache' | 'repcached';
  /** A node without a peer, and the pair (A takes the load, B is its peer). */
  start(): Promise<{ alone: BenchNode; a: BenchNode; b: BenchNode }>;
  /** A node holding `fill`'s data, then a node joining it: ms from the joiner's start to its client port opening. */
  join(fill: (port: number) => Promise<void>): Promise<{ joinMs: number; bareStartMs: number; note?: string }>;
}

const repcacheNode = (n: Awaited<ReturnType<typeof startNode>>): BenchNode => ({ port: n.port, pid: n.daemon.proc.pid!, stop: () => n.daemon.stop() });
const procNode = (p: { port: number; child: { pid?: number }; stop(): Promise<void> }): BenchNode => ({ port: p.port, pid: p.child.pid!, stop: () => p.stop() });
const MEMORY = ['-m', '256'];

const repcache: Impl = {
  name: 'repcache',
  async start() {
    const alone = await startNode({ extra: MEMORY });
    const [ra, rb] = [await freePort(), await freePort()];
    const a = await startNode({ rport: ra, peers: [rb], extra: MEMORY });
    const b = await startNode({ rport: rb, peers: [ra], extra: MEMORY });
    return { alone: repcacheNode(alone), a: repcacheNode(a), b: repcacheNode(b) };
  },
  async join(fill) {
    let t = Date.now();
    const bare = await startNode({ extra: ['-m', '512'] });
    const bareStartMs = Date.now() - t;
    await bare.daemon.stop();
    const rs = await freePort();
    const src = await startNode({ rport: rs, extra: ['-m', '512'] });
    await fill(src.port);
    t = Date.now();
    const joiner = await startNode({ peers: [rs], extra: ['-m', '512'], waitMs: 120_000 });
    const joinMs = Date.now() - t;
    // repcache logs the copy's start and end: the copy alone, without the process start.
    const lines = joiner.daemon.output().split('\n').filter((l) => l.includes('full copy'));
    const at = (re: RegExp) => JSON.parse(lines.find((l) => re.test(l)) ?? '{"time":0}').time as number;
    const ms = at(/full copy received/) - at(/receiving a full copy/);
    const bytes = Number((await stats(joiner.port)).repl_in_0_bytes_received ?? 0);
    await Promise.all([src.daemon.stop(), joiner.daemon.stop()]);
    return { joinMs, bareStartMs, note: ms > 0 ? `copy ${ms} ms by its log, ${(bytes / 1e6 / (ms / 1000)).toFixed(1)} MB/s of wire bytes` : undefined };
  },
};

function repcachedImpl(binary: string): Impl {
  const start = (rport: number, peer: boolean, memoryMB = 256, timeoutMs?: number) => startRepcached(binary, { rport, peer, memoryMB, timeoutMs });
  return {
    name: 'repcached',
    async start() {
      const alone = await start(await freePort(), false);
      const rport = await freePort();
      const a = await start(rport, true); // finds no peer: listens on rport
      const b = await start(rport, true); // dials A
      await waitReplicated(a.port, b.port);
      return { alone: procNode(alone), a: procNode(a), b: procNode(b) };
    },
    async join(fill) {
      let t = Date.now();
      const bare = await start(await freePort(), false, 512);
      const bareStartMs = Date.now() - t;
      await bare.stop();
      const rport = await freePort();
      const src = await start(rport, true, 512);
      await fill(src.port);
      t = Date.now();
      const joiner = await start(rport, true, 512, 120_000);
      const joinMs = Date.now() - t;
      await Promise.all([src.stop(), joiner.stop()]);
      return { joinMs, bareStartMs };
    },
  };
}

/** A write on a shows on b within 5 s (repcached's pair is up), else the bench stops: comparing against an unpaired node would mislead. */
async function waitReplicated(a: number, b: number): Promise<void> {
  const key = `paired:${Date.now()}`;
  await mc(a, `set ${key} 0 0 1\r\nx\r\n`, /STORED\r\n$/);
  const end = Date.now() + 5000;
  while (!(await mc(b, `get ${key}\r\n`, /END\r\n$/)).startsWith('VALUE')) {
    if (Date.now() > end) throw new Error('repcached pair: a write on one node never reached the other');
    await new Promise((r) => setTimeout(r, 50));
  }
}

const sets: Load = { name: 'sets', run: (port, seconds) => setRun(port, seconds * 1000) };

/** memcaslap -T 1 -c 16 (90% get, 10% set), on CPU 1 with the peer; its cmd_set count is the replicated writes. */
const memcaslapLoad: Load = {
  name: 'memcaslap',
  async run(port, seconds) {
    const pinned = pinning ? ['taskset', '-c', '1'] : [];
    const { stdout } = await exec('sh', ['-c', `${pinned.join(' ')} memcaslap -s 127.0.0.1:${port} -T 1 -c 16 -t ${seconds}s 2>&1`], { timeout: (seconds + 30) * 1000 });
    const num = (re: RegExp) => Number(re.exec(stdout)?.[1] ?? NaN);
    const ops = num(/Ops:\s*(\d+)/);
    if (!Number.isFinite(ops)) throw new Error(`no Ops in memcaslap output:\n${stdout}`);
    return { ops, writes: num(/cmd_set:\s*(\d+)/), seconds: num(/Run time:\s*([\d.]+)s/) || seconds };
  },
};

async function hasMemcaslap(): Promise<boolean> {
  try {
    await exec('sh', ['-c', 'command -v memcaslap']);
    return true;
  } catch {
    return false;
  }
}

interface Sample { rate: number; ops: number; writes: number; cpu: number; peerCpu: number }

async function sample(node: BenchNode, peer: BenchNode | null, load: Load, seconds: number): Promise<Sample> {
  const c0 = cpuSeconds(node.pid);
  const p0 = peer ? cpuSeconds(peer.pid) : 0;
  const r = await load.run(node.port, seconds);
  return { rate: r.ops / r.seconds, ops: r.ops, writes: r.writes, cpu: cpuSeconds(node.pid) - c0, peerCpu: peer ? cpuSeconds(peer.pid) - p0 : 0 };
}

/** The figures of one implementation under one load, summed or taken the median of over the rounds. */
interface Summary {
  alone: number[];
  paired: number[];
  ratios: number[];
  /** Client requests per CPU-second of the standalone node, of A, of B. */
  perCpuAlone: number;
  perCpuA: number;
  perCpuB: number;
  /** CPU ms B spends per 1,000 replicated writes. */
  peerMsPer1000: number;
}

function summarize(alone: Sample[], paired: Sample[]): Summary {
  const sum = (xs: Sample[], f: (s: Sample) => number) => xs.reduce((n, x) => n + f(x), 0);
  return {
    alone: alone.map((x) => x.rate),
    paired: paired.map((x) => x.rate),
    ratios: paired.map((x, i) => x.rate / alone[i].rate),
    perCpuAlone: sum(alone, (x) => x.ops) / sum(alone, (x) => x.cpu),
    perCpuA: sum(paired, (x) => x.ops) / sum(paired, (x) => x.cpu),
    perCpuB: sum(paired, (x) => x.ops) / sum(paired, (x) => x.peerCpu),
    peerMsPer1000: (sum(paired, (x) => x.peerCpu) * 1e6) / sum(paired, (x) => x.writes),
  };
}

async function run(log: (line: string) => void = console.log, argv: readonly string[] = process.argv.slice(2)): Promise<BenchRow[]> {
  const seconds = Number(process.env.BENCH_SECONDS ?? 2);
  // Per-round ratios on a shared 2-CPU machine range over +-0.15, so the median needs more than a few rounds.
  const rounds = Number(process.env.BENCH_ROUNDS ?? 5);
  const lagMs = Number(process.env.BENCH_LAG_SECONDS ?? 5) * 1000;
  const built = await buildRepcached(repcachedTarball(argv, process.env), log);
  if ('unavailable' in built) log(`  repcached: ${built.unavailable}; measuring repcache only`);
  const impls: Impl[] = 'binary' in built ? [repcache, repcachedImpl(built.binary)] : [repcache];
  const loads: Load[] = [sets];
  if (await hasMemcaslap()) loads.push(memcaslapLoad);
  else log('  memcaslap not found (Debian: libmemcached-tools): the 90/10 load is left out');

  const results = new Map<string, { alone: Sample[]; paired: Sample[] }>();
  const lags = new Map<string, { load: number[]; idle: number[]; rate: number }>();
  const syncs = new Map<string, { joinMs: number; bareStartMs: number; note?: string }>();
  try {
    const nodes = new Map<string, { alone: BenchNode; a: BenchNode; b: BenchNode }>();
    for (const impl of impls) {
      const n = await impl.start();
      nodes.set(impl.name, n);
      pin(n.alone.pid, '0');
      pin(n.a.pid, '0');
      pin(n.b.pid, '1');
    }
    pin(process.pid, '1');
    for (const impl of impls) {
      const n = nodes.get(impl.name)!;
      for (const load of loads) {
        await load.run(n.alone.port, 1); // warm-up: the sets load stores every key once
        await load.run(n.a.port, 1);
        results.set(`${impl.name}/${load.name}`, { alone: [], paired: [] });
      }
    }
    const k = (x: number) => `${Math.round(x / 1000)}k`;
    for (let r = 0; r < rounds; r++) {
      for (const impl of r % 2 ? [...impls].reverse() : impls) {
        const n = nodes.get(impl.name)!;
        for (const load of loads) {
          const alone = await sample(n.alone, null, load, seconds);
          const paired = await sample(n.a, n.b, load, seconds);
          const res = results.get(`${impl.name}/${load.name}`)!;
          res.alone.push(alone);
          res.paired.push(paired);
          log(`  round ${r + 1} ${impl.name.padEnd(9)} ${load.name.padEnd(9)} standalone ${k(alone.rate)}/s, ${((alone.cpu / seconds) * 100).toFixed(0)}% CPU` +
            ` | with a peer ${k(paired.rate)}/s, A ${((paired.cpu / seconds) * 100).toFixed(0)}% CPU, B ${((paired.peerCpu / seconds) * 100).toFixed(0)}% CPU` +
            ` (${((paired.peerCpu * 1e6) / paired.writes).toFixed(2)} ms per 1,000 replicated writes)`);
        }
      }
    }
    for (const impl of impls) {
      const n = nodes.get(impl.name)!;
      const sampler = lagSampler(n.a, n.b);
      const [lagRate, l] = await Promise.all([lowPriorityLoad(n.a.port, lagMs), sampler.sample(Date.now() + lagMs - 200)]);
      const idle = await sampler.sample(Date.now() + 1000);
      await sampler.close();
      lags.set(impl.name, { load: l, idle, rate: lagRate });
      log(`  ${impl.name} lag: ${l.length} samples under ${Math.round(lagRate / 1000)}k sets/s from a low-priority generator thread, ${idle.length} idle`);
      await Promise.all([n.alone.stop(), n.a.stop(), n.b.stop()]);
    }

    // Full sync: 100k items of 1 KB to a joining node.
    const big = 'b'.repeat(1024);
    const fill = async (port: number) => {
      for (let part = 0; part < 4; part++) {
        let script = '';
        for (let i = part * 25_000; i < (part + 1) * 25_000; i++) script += `set sync:${i} 0 0 1024 noreply\r\n${big}\r\n`;
        await mc(port, `${script}version\r\n`, /VERSION [^\r\n]*\r\n$/, 60_000);
      }
    };
    for (const impl of impls) {
      const s = await impl.join(fill);
      syncs.set(impl.name, s);
      log(`  ${impl.name} full sync: joiner serving ${s.joinMs} ms after its start (a start without a peer: ${s.bareStartMs} ms)${s.note ? `; ${s.note}` : ''}`);
    }
  } finally {
    pin(process.pid, `0-${availableParallelism() - 1}`);
    await stopAll();
  }
  return rows(impls.map((i) => i.name), loads, results, lags, syncs);
}

const SYNC_MB = (100_000 * 1024) / 1e6;

/** The section's table: repcached's figures in the reference column (when it was built), repcache's next to them. */
function rows(
  names: string[], loads: Load[], results: Map<string, { alone: Sample[]; paired: Sample[] }>,
  lags: Map<string, { load: number[]; idle: number[] }>, syncs: Map<string, { joinMs: number; bareStartMs: number }>,
): BenchRow[] {
  const withRef = names.includes('repcached');
  const label = (m: string) => `${m}${withRef ? ', repcached | repcache' : ''}`;
  const out: BenchRow[] = [];
  const row = (metric: string, mine: number, theirs: number | undefined, extra: Partial<BenchRow> = {}) =>
    out.push({ section: 'replication', metric: label(metric), repcache: mine, memcached: theirs, ratio: theirs === undefined ? undefined : mine / theirs, ...extra });
  const str = (metric: string, mine: string, theirs: string | undefined) => out.push({ section: 'replication', metric: label(metric), repcache: mine, memcached: theirs });
  for (const load of loads) {
    const s = Object.fromEntries(names.map((n) => [n, summarize(results.get(`${n}/${load.name}`)!.alone, results.get(`${n}/${load.name}`)!.paired)]));
    const mine = s.repcache;
    const theirs = s.repcached as Summary | undefined;
    const what = load.name === 'sets' ? 'sets/s' : 'memcaslap ops/s';
    row(`${what} standalone (median)`, median(mine.alone), theirs && median(theirs.alone));
    row(`${what} with a live peer (median)`, median(mine.paired), theirs && median(theirs.paired));
    str(`${what} with a live peer (spread)`, spread(mine.paired), theirs && spread(theirs.paired));
    const ratio = median(mine.ratios);
    out.push({
      section: 'replication', metric: label(`${load.name}: throughput with a peer / standalone (median)`),
      repcache: `${ratio.toFixed(2)}x (${spread(mine.ratios, 2)})`, memcached: theirs && `${median(theirs.ratios).toFixed(2)}x (${spread(theirs.ratios, 2)})`,
      target: '>= 0.9x', ok: ratio >= 0.9,
    });
    row(`${load.name}: requests per CPU-second, standalone node`, mine.perCpuAlone, theirs?.perCpuAlone);
    row(`${load.name}: requests per CPU-second, writer A with a peer`, mine.perCpuA, theirs?.perCpuA);
    row(`${load.name}: requests per CPU-second, peer B applying`, mine.perCpuB, theirs?.perCpuB);
    row(`${load.name}: peer's CPU ms per 1,000 replicated writes`, +mine.peerMsPer1000.toFixed(2), theirs && +theirs.peerMsPer1000.toFixed(2),
      theirs ? { target: '<= 1.5x', ok: mine.peerMsPer1000 <= 1.5 * theirs.peerMsPer1000 } : {});
  }
  const lag = (n: string, f: 'load' | 'idle', p: number) => (lags.has(n) ? +pct(lags.get(n)![f], p).toFixed(2) : undefined);
  row('replication lag p50 ms under load', lag('repcache', 'load', 50)!, lag('repcached', 'load', 50));
  row('replication lag p99 ms under load', lag('repcache', 'load', 99)!, lag('repcached', 'load', 99), { target: '<= 5 ms', ok: lag('repcache', 'load', 99)! <= 5 });
  row('replication lag p50 ms idle', lag('repcache', 'idle', 50)!, lag('repcached', 'idle', 50));
  row('replication lag p99 ms idle', lag('repcache', 'idle', 99)!, lag('repcached', 'idle', 99));
  const sync = (n: string) => syncs.get(n);
  const mbps = (n: string) => {
    const s = sync(n);
    return s ? +(SYNC_MB / Math.max(0.001, (s.joinMs - s.bareStartMs) / 1000)).toFixed(1) : undefined;
  };
  row('full sync 100k x 1 KB: join -> serving ms', sync('repcache')!.joinMs, sync('repcached')?.joinMs);
  row('full sync MB/s of values (start-up time taken off)', mbps('repcache')!, mbps('repcached'));
  return out;
}

export const replicationBench: BenchSection = {
  name: 'replication',
  description: 'repcache vs repcached 2.2.1 (built from --repcached-tarball / REPCACHED_TARBALL when possible): throughput and CPU with a live peer vs standalone, lag, full-sync speed',
  run: (log) => run(log),
};

if (import.meta.main) {
  const { formatTable } = await import('./lib.ts');
  console.log(formatTable(await run()));
}
