import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { repoRoot, startProcess, stopAll } from '../support/daemon.ts';
import { rootSkipReason } from '../support/root.ts';
import { waitFor } from '../support/wait.ts';

// `npm start` binds 127.0.0.1:11211, so it runs in a namespace of its own, never on the host's loopback.
const skip = rootSkipReason();
const ns = `st${process.pid}`;
const tmp = mkdtempSync(join(tmpdir(), 'haved-start-'));

function inNs(script: string): { status: number | null; out: string } {
  const r = spawnSync('ip', ['netns', 'exec', ns, 'bash', '-c', script], { encoding: 'utf8', timeout: 5000 });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

const cacheVersion = () =>
  inNs('exec 3<>/dev/tcp/127.0.0.1/11211 && printf "version\\r\\n" >&3 && timeout 1 head -c 15 <&3').out;
const vipOnLo = () => inNs('ip -4 addr show dev lo').out.includes('198.18.0.100/32');

describe.skipIf(skip)('npm start (the working default)', () => {
  afterAll(async () => {
    await stopAll();
    spawnSync('bash', ['-c', `ip netns pids ${ns} 2>/dev/null | xargs -r kill -9; ip netns del ${ns} 2>/dev/null`]);
    rmSync(tmp, { recursive: true, force: true });
  });

  it('runs haved with a supervised repcache on 127.0.0.1:11211 and the VIP on lo, and stops cleanly', async () => {
    expect(spawnSync('ip', ['netns', 'add', ns]).status).toBe(0);
    inNs('ip link set lo up');
    const npm = startProcess('ip', ['netns', 'exec', ns, 'npm', 'start'], { env: { TMPDIR: tmp, HAVED_LOG_JSON: '1' } });

    await waitFor('repcache to answer on 127.0.0.1:11211', () => cacheVersion().startsWith('VERSION 1.6.'), 20_000, 100);
    await waitFor('the VIP on lo', vipOnLo, 10_000, 100);

    // `haved status` without flags finds the daemon `npm start` runs (its socket follows TMPDIR too)
    const status = spawnSync(join(repoRoot, 'bin/haved'), ['status'], { encoding: 'utf8', timeout: 10_000, env: { ...process.env, TMPDIR: tmp } });
    expect(status.status, status.stderr).toBe(0);
    expect(status.stdout).toContain('config etc/haved-local.conf');
    expect(status.stdout).toMatch(/instance local_cache: MASTER/);
    const stateFile = join(tmp, 'haved-local', 'state.json');
    expect(existsSync(stateFile)).toBe(true);

    npm.proc.kill('SIGTERM');
    const code = await Promise.race([npm.exited, new Promise((r) => setTimeout(() => r('timeout'), 15_000))]);
    // npm re-raises the signal its script got, so npm itself ends by SIGTERM; haved must have exited 0.
    expect(code === 0 || npm.proc.signalCode === 'SIGTERM', npm.output()).toBe(true);
    await waitFor('every process in the namespace to exit', () => spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).stdout.trim() === '', 10_000, 100);
    expect(npm.output()).toMatch(/"msg":"stopped"/);
    expect(vipOnLo()).toBe(false);
    // a clean stop leaves no state file and no socket behind
    expect([existsSync(stateFile), existsSync(join(tmp, 'haved-local', 'state.sock'))]).toEqual([false, false]);
  });
});
