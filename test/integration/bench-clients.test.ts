/**
 * The cache benchmark's load generator (scripts/bench/load-client.ts) and measurement probe (scripts/bench/probe.mjs)
 * against real servers: the figures they print stand for the servers only if every request got its reply.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { startReferenceMemcached } from '../support/mc-client.ts';
import { bin, repoRoot, startProcess, stopAll, waitForPort } from '../support/daemon.ts';
import { freePort } from '../support/ports.ts';

const run = promisify(execFile);
const scratch = mkdtempSync(join(tmpdir(), 'bench-clients-'));
afterAll(async () => {
  await stopAll();
  rmSync(scratch, { recursive: true, force: true });
});

const asRoot = process.getuid?.() === 0 ? ['-u', 'root'] : [];

async function client(mode: string, flags: Record<string, number>): Promise<Record<string, number>> {
  const args = [resolve(repoRoot, 'scripts/bench/load-client.ts'), mode, ...Object.entries(flags).flatMap(([k, v]) => [`--${k}`, String(v)])];
  const { stdout } = await run(process.execPath, args, { timeout: 30_000 });
  return JSON.parse(stdout) as Record<string, number>;
}

async function startRepcache(env: NodeJS.ProcessEnv = {}): Promise<{ port: number; pid: number }> {
  const port = await freePort();
  const d = startProcess(bin('repcache'), ['-l', '127.0.0.1', '-p', String(port), '-U', '0', '-m', '64', '-t', '1', ...asRoot], { env });
  await waitForPort(port, '127.0.0.1', 20_000, d);
  return { port, pid: d.proc.pid! };
}

describe('bench load client', () => {
  it.each(['memcached', 'repcache'])('gets a reply to every request from %s: preload, open loop, multiget', async (server) => {
    const port = server === 'memcached' ? (await startReferenceMemcached(['-m', '64'])).port : (await startRepcache()).port;
    expect(await client('preload', { port, keys: 5000 })).toMatchObject({ keys: 5000 });
    const open = await client('open-loop', { port, rate: 2000, seconds: 1, keys: 5000, conns: 4, warmup: 0 });
    expect(open).toMatchObject({ requests: 2000, measured: 2000, lost: 0, errors: 0 });
    expect(open.p50).toBeGreaterThan(0);
    expect(open.p99).toBeGreaterThanOrEqual(open.p50);
    expect(open.p999).toBeGreaterThanOrEqual(open.p99);
    expect(open.seconds).toBeGreaterThanOrEqual(0.99); // the schedule, not the replies, sets the pace
    const mg = await client('multiget', { port, seconds: 0.5, keys: 5000, batch: 100, depth: 2, conns: 2 });
    expect(mg.bad).toBe(0);
    expect(mg.keys).toBeGreaterThan(0);
    expect(mg.keys % 100).toBe(0);
  });

  it('counts misses as errors: the figures of a run that missed are not reported as latency of hits', async () => {
    const { port } = await startReferenceMemcached(['-m', '64']);
    const open = await client('open-loop', { port, rate: 500, seconds: 0.5, keys: 10, first: 1_000_000, conns: 1, warmup: 0, 'get-ratio': 1 });
    expect(open.errors).toBe(250);
  });
});

describe('bench probe', () => {
  /** Starts a probed repcache with `env`, stores 20,000 items, and returns what the probe writes on SIGUSR2. */
  const probeReport = async (file: string, env: Record<string, string>) => {
    const out = join(scratch, file);
    const { port, pid } = await startRepcache({
      BENCH_PROBE_OUT: out,
      BENCH_PROBE_GC: '1',
      NODE_OPTIONS: `--import=${resolve(repoRoot, 'scripts/bench/probe.mjs')}`,
      ...env,
    });
    await client('preload', { port, keys: 20_000 });
    process.kill(pid, 'SIGUSR2');
    const deadline = Date.now() + 5000;
    let text = '';
    while (!text.endsWith('\n') && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      try {
        text = readFileSync(out, 'utf8');
      } catch {
        /* not written yet */
      }
    }
    return JSON.parse(text);
  };

  it('reports GC pauses, V8 heap and RssAnon of a repcache on SIGUSR2, and what a full GC frees when asked', async () => {
    const r = await probeReport('probe.jsonl', {});
    expect(r.gc.count).toBeGreaterThan(0); // storing 20,000 items makes some garbage
    expect(r.gc.maxMs).toBeGreaterThan(0);
    expect(r.heapMB.physical).toBeGreaterThan(1);
    expect(r.rssAnonMB).toBeGreaterThan(r.heapMB.physical);
    expect(r.afterGc.heapPhysicalMB).toBeGreaterThan(0);
    expect(r.loopDelayMs.max).toBeGreaterThanOrEqual(0);
  });

  it('observes no GC pauses with BENCH_PROBE_PAUSES=0 (memory figures), and still reports the heap', async () => {
    const r = await probeReport('probe-no-pauses.jsonl', { BENCH_PROBE_PAUSES: '0' });
    expect(r.gc.count).toBe(0);
    expect(r.heapMB.physical).toBeGreaterThan(1);
    expect(r.afterGc.heapPhysicalMB).toBeGreaterThan(0);
  });
});
