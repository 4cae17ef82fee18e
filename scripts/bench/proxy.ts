/**
 * repcache-proxy vs twemproxy (Debian's nutcracker) in front of the same three Debian memcacheds, both with
 * ketama: memcaslap throughput (-T 1 -c 16, alternating rounds), the latency a proxy adds to a get (p50/p99,
 * one connection, vs a direct connection to the key's server), and 100-key multi-gets spread over the three
 * servers (keys/s). Loopback only.
 *
 * With pinning (lib.ts) the proxy under test runs alone on CPU 0; memcaslap and the memcacheds share CPU 1. Next
 * to ops/s it reports each proxy's CPU time per op, the steadier figure when other work shares the machine.
 */
import { execFile } from 'node:child_process';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { Placement } from '../../src/proxy/placement.ts';
import { parseServerSpec } from '../../src/routing/servers.ts';
import { parseMemcaslapTps } from './cache.ts';
import { cpuSeconds, freePort, median, pin, pinning, repoRoot, spread, startMemcached, startServer, type BenchRow, type BenchSection, type Proc } from './lib.ts';

const run = promisify(execFile);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const PROXY_CPU = '0';
const OTHER_CPU = '1';
const LATENCY_SAMPLES = 5000;
const MULTIGET_KEYS = 100;
const MULTIGET_CONNS = 4;

async function startTwemproxy(dir: string, backends: Proc[]): Promise<Proc> {
  const port = await freePort();
  const conf = join(dir, 'nutcracker.yml');
  writeFileSync(conf, [
    'pool:',
    `  listen: 127.0.0.1:${port}`,
    '  hash: md5',
    '  distribution: ketama',
    '  timeout: 1000',
    '  auto_eject_hosts: false',
    '  servers:',
    ...backends.map((b) => `   - 127.0.0.1:${b.port}:1`),
    '',
  ].join('\n'));
  return startServer('nutcracker', ['-c', conf, '-s', String(await freePort()), '-a', '127.0.0.1', '-o', join(dir, 'nutcracker.log')], port);
}

async function startOurProxy(backends: Proc[]): Promise<Proc> {
  const port = await freePort();
  return startServer(resolve(repoRoot, 'bin/repcache-proxy'), ['-p', String(port), '-l', '127.0.0.1', ...backends.flatMap((b) => ['-s', `127.0.0.1:${b.port}`])], port);
}

interface Round { tps: number; usPerOp: number }

async function memcaslap(p: Proc, seconds = SECONDS): Promise<Round> {
  const pinned = pinning ? `taskset -c ${OTHER_CPU} ` : '';
  const c0 = cpuSeconds(p.child.pid);
  const { stdout } = await run('sh', ['-c', `${pinned}memcaslap -s 127.0.0.1:${p.port} -T 1 -c 16 -t ${seconds}s 2>&1`], { timeout: (seconds + 30) * 1000 });
  const c1 = cpuSeconds(p.child.pid);
  const ops = Number(/Ops:\s*(\d+)/.exec(stdout)?.[1] ?? NaN);
  return { tps: parseMemcaslapTps(stdout), usPerOp: ((c1 - c0) / ops) * 1e6 };
}

/** A connection that sends one request at a time and waits for its reply (ending with `end`). */
class Lane {
  readonly #s: Socket;
  #buf = '';
  #want: { end: string; resolve: () => void } | null = null;
  private constructor(s: Socket) {
    this.#s = s;
    s.setNoDelay(true);
    s.on('data', (d: Buffer) => {
      this.#buf += d.toString('latin1');
      const w = this.#want;
      if (w && this.#buf.endsWith(w.end)) {
        this.#want = null;
        this.#buf = '';
        w.resolve();
      }
    });
  }
  static open(port: number): Promise<Lane> {
    return new Promise((res, rej) => {
      const s = connect({ port, host: '127.0.0.1' });
      s.once('connect', () => res(new Lane(s)));
      s.once('error', rej);
    });
  }
  request(data: string, end: string): Promise<void> {
    return new Promise((resolve) => {
      this.#want = { end, resolve };
      this.#s.write(data);
    });
  }
  close(): void {
    this.#s.destroy();
  }
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};

/** Round-trip times (µs) of `get key` on one connection. */
async function latencies(port: number, key: string): Promise<number[]> {
  const lane = await Lane.open(port);
  try {
    const out: number[] = [];
    for (let i = 0; i < LATENCY_SAMPLES + 200; i++) {
      const t0 = process.hrtime.bigint();
      await lane.request(`get ${key}\r\n`, 'END\r\n');
      if (i >= 200) out.push(Number(process.hrtime.bigint() - t0) / 1000);
    }
    return out;
  } finally {
    lane.close();
  }
}

/** Keys/s of 100-key multi-gets on a few connections, each one request at a time. */
async function multiget(p: Proc, keys: string[], seconds: number): Promise<{ keysPerSec: number; usPerKey: number }> {
  const lanes = await Promise.all(Array.from({ length: MULTIGET_CONNS }, () => Lane.open(p.port)));
  const req = `get ${keys.join(' ')}\r\n`;
  const c0 = cpuSeconds(p.child.pid);
  const t0 = Date.now();
  const end = t0 + seconds * 1000;
  let n = 0;
  await Promise.all(lanes.map(async (l) => {
    while (Date.now() < end) {
      await l.request(req, 'END\r\n');
      n++;
    }
  }));
  const c1 = cpuSeconds(p.child.pid);
  for (const l of lanes) l.close();
  const k = n * keys.length;
  return { keysPerSec: (k * 1000) / (Date.now() - t0), usPerKey: ((c1 - c0) / k) * 1e6 };
}

export const proxyBench: BenchSection = {
  name: 'proxy',
  description: `repcache-proxy vs twemproxy over 3 memcacheds (ketama): memcaslap -T 1 -c 16 -t ${SECONDS}s, ${ROUNDS} alternating rounds` +
    `${pinning ? `, proxy on CPU ${PROXY_CPU}, memcaslap and memcacheds on CPU ${OTHER_CPU}` : ', unpinned'}; get latency; ${MULTIGET_KEYS}-key multi-gets`,
  async run(log) {
    const dir = mkdtempSync(join(tmpdir(), 'bench-proxy-'));
    const backends: Proc[] = [];
    const rows: BenchRow[] = [];
    try {
      for (let i = 0; i < 3; i++) backends.push(await startMemcached(['-t', '1', '-m', '64']));
      for (const b of backends) pin(b.child.pid, OTHER_CPU);
      const proxies = { twemproxy: await startTwemproxy(dir, backends), 'repcache-proxy': await startOurProxy(backends) };
      for (const p of Object.values(proxies)) pin(p.child.pid, PROXY_CPU);
      const names = Object.keys(proxies) as (keyof typeof proxies)[];

      // throughput
      const rounds: Record<string, Round[]> = { twemproxy: [], 'repcache-proxy': [] };
      for (const p of Object.values(proxies)) await memcaslap(p, 3); // warm-up: fills the keys, settles the JIT
      for (let r = 1; r <= ROUNDS; r++) {
        for (const name of r % 2 ? names : [...names].reverse()) {
          const x = await memcaslap(proxies[name]);
          rounds[name]!.push(x);
          log(`  round ${r} ${name.padEnd(14)} ${x.tps.toLocaleString('en-US').padStart(7)} ops/s  ${x.usPerOp.toFixed(2)} us CPU/op`);
        }
      }
      const tt = rounds.twemproxy!.map((x) => x.tps);
      const to = rounds['repcache-proxy']!.map((x) => x.tps);
      const ratios = to.map((t, i) => t / tt[i]!);
      const ratio = median(ratios);
      const ut = median(rounds.twemproxy!.map((x) => x.usPerOp));
      const uo = median(rounds['repcache-proxy']!.map((x) => x.usPerOp));
      rows.push(
        { section: 'proxy', metric: 'memcaslap ops/s, twemproxy | repcache-proxy (median)', memcached: median(tt), repcache: median(to), ratio, target: '>= 0.8x', ok: ratio >= 0.8 },
        { section: 'proxy', metric: 'memcaslap ops/s (spread)', memcached: spread(tt), repcache: spread(to) },
        { section: 'proxy', metric: 'proxy CPU us/op, twemproxy | repcache-proxy', memcached: ut, repcache: uo, ratio: uo / ut },
      );

      // latency added to a get
      const specs = backends.map((b) => parseServerSpec(`127.0.0.1:${b.port}`));
      const placement = new Placement({ main: specs, backup: [], distribution: 'ketama', hash: 'md5', backupMode: 'copy' });
      const key = 'latency:probe';
      const home = backends[placement.mainOf(placement.hash(Buffer.from(key)))]!;
      {
        const l = await Lane.open(home.port);
        await l.request(`set ${key} 0 0 100\r\n${'x'.repeat(100)}\r\n`, 'STORED\r\n');
        l.close();
      }
      const lat: Record<string, number[]> = { direct: [], twemproxy: [], 'repcache-proxy': [] };
      for (let r = 0; r < 2; r++) {
        lat.direct!.push(...(await latencies(home.port, key)));
        for (const name of names) lat[name]!.push(...(await latencies(proxies[name].port, key)));
      }
      const p50 = (n: string) => pct(lat[n]!, 50);
      const p99 = (n: string) => pct(lat[n]!, 99);
      log(`  get round trip p50/p99 us: direct ${p50('direct').toFixed(0)}/${p99('direct').toFixed(0)}, twemproxy ${p50('twemproxy').toFixed(0)}/${p99('twemproxy').toFixed(0)}, repcache-proxy ${p50('repcache-proxy').toFixed(0)}/${p99('repcache-proxy').toFixed(0)}`);
      rows.push(
        { section: 'proxy', metric: 'get latency added p50 us, twemproxy | repcache-proxy', memcached: +(p50('twemproxy') - p50('direct')).toFixed(1), repcache: +(p50('repcache-proxy') - p50('direct')).toFixed(1) },
        { section: 'proxy', metric: 'get latency added p99 us, twemproxy | repcache-proxy', memcached: +(p99('twemproxy') - p99('direct')).toFixed(1), repcache: +(p99('repcache-proxy') - p99('direct')).toFixed(1) },
        { section: 'proxy', metric: 'get latency direct p50 / p99 us', repcache: `${p50('direct').toFixed(0)} / ${p99('direct').toFixed(0)}` },
      );

      // multi-gets of 100 keys spread over the three servers
      const keys = Array.from({ length: MULTIGET_KEYS }, (_, i) => `mget:${i}`);
      {
        const l = await Lane.open(proxies['repcache-proxy'].port);
        await l.request(keys.map((k) => `set ${k} 0 0 32\r\n${'v'.repeat(32)}\r\n`).join(''), 'STORED\r\n'.repeat(keys.length));
        l.close();
      }
      const spreadOver = new Set(keys.map((k) => placement.mainOf(placement.hash(Buffer.from(k))))).size;
      const mg: Record<string, { keysPerSec: number; usPerKey: number }[]> = { twemproxy: [], 'repcache-proxy': [] };
      for (let r = 1; r <= ROUNDS; r++) {
        for (const name of r % 2 ? names : [...names].reverse()) {
          const x = await multiget(proxies[name], keys, Math.min(SECONDS, 3));
          mg[name]!.push(x);
          log(`  multi-get round ${r} ${name.padEnd(14)} ${Math.round(x.keysPerSec).toLocaleString('en-US').padStart(9)} keys/s  ${x.usPerKey.toFixed(3)} us CPU/key`);
        }
      }
      const kt = mg.twemproxy!.map((x) => x.keysPerSec);
      const ko = mg['repcache-proxy']!.map((x) => x.keysPerSec);
      rows.push(
        { section: 'proxy', metric: `${MULTIGET_KEYS}-key multi-get over ${spreadOver} servers keys/s, twemproxy | repcache-proxy`, memcached: median(kt), repcache: median(ko), ratio: median(ko.map((k, i) => k / kt[i]!)) },
        { section: 'proxy', metric: 'multi-get proxy CPU us/key, twemproxy | repcache-proxy', memcached: +median(mg.twemproxy!.map((x) => x.usPerKey)).toFixed(3), repcache: +median(mg['repcache-proxy']!.map((x) => x.usPerKey)).toFixed(3) },
      );
      await Promise.all(Object.values(proxies).map((p) => p.stop()));
    } finally {
      await Promise.all(backends.map((b) => b.stop()));
      rmSync(dir, { recursive: true, force: true });
    }
    return rows;
  },
};
