/**
 * `npm run chaos` in CI: two short runs with fixed seeds (sync and async replication, about a minute each) must
 * find no invariant violation, and a run interrupted with SIGINT must leave no namespace, mount, process or
 * temporary directory.
 * Longer runs are for the operator: `npm run chaos -- --minutes 30`.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../support/daemon.ts';
import { rootSkipReason } from '../support/root.ts';

const skip = rootSkipReason();

function chaos(args: string[], onLine?: (line: string, kill: (s: NodeJS.Signals) => void) => void): Promise<{ code: number | null; out: string; pid: number }> {
  return new Promise((resolve) => {
    const p = spawn(join(repoRoot, 'bin/run-node'), ['scripts/chaos/chaos.ts', ...args], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const take = (d: Buffer) => {
      const text = d.toString();
      out += text;
      for (const l of text.split('\n')) onLine?.(l, (s) => p.kill(s));
    };
    p.stdout.on('data', take);
    p.stderr.on('data', take);
    const timer = setTimeout(() => p.kill('SIGKILL'), 280_000);
    p.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, out, pid: p.pid! });
    });
  });
}

/** What a run of pid `pid` may have left: its namespaces, its tmpfs mounts, processes in them. */
/** What the run (process `pid`, which printed `out`) left: its namespaces and the mounts under its directory. */
function leftovers(pid: number, out: string): string[] {
  const ns = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout.split('\n').map((l) => l.split(' ')[0]!).filter((n) => n.startsWith(`ch${pid}-`));
  // another chaos run on this machine may have mounts of its own: only this run's directory counts
  const dir = /logs in (\S+)\/(?:sync|async)\b/.exec(out)?.[1] ?? 'haved-chaos-';
  const mounts = readFileSync('/proc/mounts', 'utf8').split('\n').filter((l) => l.includes(dir));
  return [...ns, ...mounts];
}

describe.skipIf(skip)('npm run chaos', () => {
  it('sync and async replication under a seeded minute of faults each: no invariant violated', async () => {
    const r = await chaos(['--minutes', '2', '--mode', 'both', '--seed', '20240521']);
    console.log(r.out);
    expect(r.out).toMatch(/== sync replication: \d+ faults/);
    expect(r.out).toMatch(/== async replication: \d+ faults/);
    expect(r.out).toMatch(/seed 20240521: 0 invariant violation\(s\)/);
    expect(r.code).toBe(0);
    expect(leftovers(r.pid, r.out)).toEqual([]);
  }, 300_000);

  it('SIGINT in the middle of a run removes the lab', async () => {
    let sent = false;
    const r = await chaos(['--minutes', '1', '--mode', 'async', '--seed', '7', '--faults', 'partition-node,pause-cache'], (line, kill) => {
      if (!sent && /^\s+[\d.]+ s {2}(partition-node|pause-cache)/.test(line)) {
        sent = true;
        kill('SIGINT');
      }
    });
    expect(sent, r.out).toBe(true);
    expect(r.code).toBe(130);
    expect(r.out).toMatch(/SIGINT: removing the lab/);
    expect(leftovers(r.pid, r.out)).toEqual([]);
    const dir = /logs in (\S+)\/async/.exec(r.out)?.[1];
    expect(dir, r.out).toBeDefined();
    expect(existsSync(dir!), `${dir} is left`).toBe(false);
  }, 120_000);
});
