import { spawn, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { resolve } from 'node:path';

export const repoRoot = resolve(import.meta.dirname, '../..');
export const bin = (name: 'repcache' | 'haved') => resolve(repoRoot, 'bin', name);

export interface Daemon {
  proc: ChildProcess;
  /** Everything the process wrote to stdout and stderr so far. */
  output(): string;
  /** SIGTERM, then SIGKILL after graceMs; resolves when the process has exited. */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<void>;
  exited: Promise<number | null>;
}

const running = new Set<Daemon>();

/** Starts a process; every one started is killed by stopAll() (call it in afterAll/afterEach). */
export function startProcess(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Daemon {
  const proc = spawn(cmd, args, { env: { ...process.env, ...opts.env }, cwd: opts.cwd ?? repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((res) => proc.once('exit', (code) => res(code)));
  const d: Daemon = {
    proc,
    output: () => out,
    exited,
    async stop(signal = 'SIGTERM', graceMs = 3000) {
      running.delete(d);
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill(signal);
      const t = setTimeout(() => proc.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(t);
    },
  };
  running.add(d);
  return d;
}

export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((d) => d.stop('SIGKILL')));
}

/** Resolves once host:port accepts a TCP connection; rejects after timeoutMs. */
export async function waitForPort(port: number, host = '127.0.0.1', timeoutMs = 10_000, daemon?: Daemon): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((res) => {
      const s = connect({ port, host });
      s.once('connect', () => { s.destroy(); res(true); });
      s.once('error', () => res(false));
    });
    // something else may answer on the port while the daemon failed to bind it
    if (ok && !(daemon && daemon.proc.exitCode !== null)) return;
    if (daemon && daemon.proc.exitCode !== null) throw new Error(`process exited (${daemon.proc.exitCode}) before listening on ${port}:\n${daemon.output()}`);
    if (Date.now() > deadline) throw new Error(`nothing listening on ${host}:${port} after ${timeoutMs} ms${daemon ? `:\n${daemon.output()}` : ''}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
