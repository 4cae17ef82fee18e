/**
 * Starts cache servers for the repcache integration suites: bin/repcache, or Debian's memcached as the
 * reference. REPCACHE_TEST_TARGET=memcached runs the repcache-only suites against memcached instead,
 * which checks the suites themselves; REPCACHE_TEST_THREADS=N starts both with -t N (threadArgs).
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll } from 'vitest';
import { bin, startProcess, stopAll, waitForPort, type Daemon } from '../support/daemon.ts';
import { freePort } from '../support/ports.ts';

export type CacheKind = 'repcache' | 'memcached';

export interface CacheInstance {
  kind: CacheKind;
  port: number;
  daemon: Daemon;
  pid: number;
}

/** Both memcached and repcache refuse to run as root without -u. */
export const userArgs = (): string[] => (process.getuid?.() === 0 ? ['-u', 'root'] : []);

export const targetKind = (): CacheKind => (process.env.REPCACHE_TEST_TARGET === 'memcached' ? 'memcached' : 'repcache');

/**
 * REPCACHE_TEST_THREADS=N runs the suites that start servers here with `-t N` on both sides (repcache's worker
 * threads over one shared store; memcached's threads), unless a suite passes its own -t. Unset, repcache gets
 * `-t 1` (its default follows the CPUs, and these suites are the single-thread run) and memcached its default.
 */
export const threadArgs = (args: readonly string[], kind: CacheKind = 'repcache'): string[] => {
  if (args.some((a) => a === '-t' || a.startsWith('--threads'))) return [];
  const n = process.env.REPCACHE_TEST_THREADS;
  if (n) return ['-t', n];
  return kind === 'repcache' ? ['-t', '1'] : [];
};

export function cacheCommand(kind: CacheKind, port: number, args: string[]): [string, string[]] {
  const common = ['-l', '127.0.0.1', '-p', String(port), ...userArgs(), ...threadArgs(args, kind), ...args];
  return kind === 'memcached' ? ['memcached', ['-U', '0', ...common]] : [bin('repcache'), common];
}

export async function startCache(kind: CacheKind, args: string[] = [], env?: NodeJS.ProcessEnv): Promise<CacheInstance> {
  const port = await freePort();
  const [cmd, argv] = cacheCommand(kind, port, args);
  const daemon = startProcess(cmd, argv, { env });
  await waitForPort(port, '127.0.0.1', 15_000, daemon);
  return { kind, port, daemon, pid: daemon.proc.pid! };
}

/** Resident set size of a process in bytes (VmRSS in /proc/PID/status). */
export function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) * 1024;
}

/** Parses `STAT name value` lines of a stats reply. */
export function parseStats(reply: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of reply.split('\r\n')) {
    const m = /^STAT (\S+) (.*)$/.exec(line);
    if (m) out.set(m[1], m[2]);
  }
  return out;
}

/**
 * For a describe block that compares memcached with the target (targetKind()): starts both before its
 * tests and stops them after. `wrap` makes each side's client, which `close` ends. The fields are filled
 * in once beforeAll has run.
 */
export function useReferencePair<C>(wrap: (server: CacheInstance) => C, close: (client: C) => void = () => {}): { memcached: C; target: C } {
  const pair = {} as { memcached: C; target: C };
  beforeAll(async () => {
    const [m, t] = await Promise.all([startCache('memcached'), startCache(targetKind())]);
    pair.memcached = wrap(m);
    pair.target = wrap(t);
  });
  afterAll(async () => {
    if (pair.memcached) close(pair.memcached);
    if (pair.target) close(pair.target);
    await stopAll();
  });
  return pair;
}
