import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { repoRoot } from '../support/daemon.ts';
import { rootSkipReason } from '../support/root.ts';

/** The seeds' scenario end to end: scripts/lab.sh demo with haved supervising repcache on both nodes. */
const PREFIX = 'e5-';
const LAB = join(repoRoot, 'scripts/lab.sh');

describe.skipIf(rootSkipReason())('the lab scenario, supervised (scripts/lab.sh demo)', () => {
  const dirs: string[] = [];
  const lab = (cmd: string, extra: NodeJS.ProcessEnv, args: string[] = []) => {
    const dir = mkdtempSync(join(tmpdir(), 'e5-lab-'));
    dirs.push(dir);
    const r = spawnSync(LAB, [cmd, ...args], {
      cwd: repoRoot,
      encoding: 'utf8',
      env: { ...process.env, LAB_PREFIX: PREFIX, LAB_DIR: dir, LAB_SUPERVISE: '1', LAB_KEYS: '400', ...extra },
      timeout: 120_000,
    });
    return { code: r.status, out: r.stdout ?? '', all: `${r.stdout}${r.stderr}${r.error ? String(r.error) : ''}` };
  };
  const down = () => spawnSync(LAB, ['down'], { env: { ...process.env, LAB_PREFIX: PREFIX, LAB_DIR: join(tmpdir(), 'e5-lab-none') }, timeout: 30_000 });
  const outage = (out: string) => Number(/the VIP answers again after (\d+) ms/.exec(out)?.[1] ?? NaN);

  afterEach(() => {
    down();
  });

  afterAll(() => {
    down();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('kill the MASTER cache: the VIP moves within the hand-over bound, no key is lost, haved restarts it, warm failback', () => {
    const r = lab('demo', {});
    expect(r.code, r.all).toBe(0);
    expect(r.out).toContain('(haved supervises repcache)');
    expect(r.out).toContain('400 of 400 STORED');
    // the client's own measure, polling every ~10 ms: far below the 0.65 s skew of an RFC VRRP backup
    expect(outage(r.out), r.out).toBeLessThan(500);
    expect(r.out).toMatch(/the VIP answers again after \d+ ms \(client outage\)\nthe VIP moved to nodeb \d+ ms after the kill\nthe VIP is (now on nodeb|already back on nodea)/);
    expect(r.out).toContain('read back through the VIP: 400 of 400 (100.0 %)');
    expect(r.out).toMatch(/haved restarts it: running after \d+ ms/);
    expect(r.out).toMatch(/nodea: warm \(replication_state streaming\) \d+ ms after the restart, holding 400 of 400 keys/);
    expect(r.out).toMatch(/its log says:\n {2}cache is warm \(replication_state (streaming|disconnected|standalone)\) after \d+ ms: preemption allowed/);
    expect(r.out).toMatch(/the VIP is back on nodea \d+ ms after the restart \(warm/);
    expect(r.out).toContain('keys through the VIP after failback: 400 of 400');
  });

  it('seed 003 (demo proxy): keys spread over both caches, one killed is read from its backup, the VIP moves with the proxy', () => {
    const r = lab('demo', { LAB_KEYS: '300' }, ['proxy']);
    expect(r.code, r.all).toBe(0);
    expect(r.out).toContain("(haved's proxy_daemon); clients use 198.18.0.100:12000");
    expect(r.out).toContain('300 of 300 STORED through 198.18.0.100:12000');
    const [, onA, onB] = /the proxy sent (\d+) requests to nodea's repcache and (\d+) to nodeb's/.exec(r.out) ?? [];
    expect(Number(onA) + Number(onB), r.out).toBeGreaterThanOrEqual(300);
    expect(Math.min(Number(onA), Number(onB)), r.out).toBeGreaterThan(60);
    expect(r.out).toContain('reads through the VIP right after the kill: 300 of 300');
    expect(r.out).toContain('writes keep landing: 300 of 300 STORED');
    expect(r.out).toContain('the VIP stayed on nodea (no failover needed)');
    expect(r.out).toMatch(/the proxy uses it again \(after \d+ ms\): 198\.18\.0\.1:11211 up, 198\.18\.0\.2:11211 up/);
    expect(r.out).toContain("nodeb's cache holds 300 of 300 keys");
    expect(outage(r.out), r.out).toBeLessThan(1500);
    expect(r.out).toContain('the VIP is now on nodeb, whose proxy was running already');
    expect(r.out).toContain('keys read back through the VIP: 300 of 300');
    expect(r.out).toMatch(/haved restarted the proxy on nodea after \d+ ms/);
    expect(r.out).toContain('keys through the VIP after failback: 300 of 300');
  });

  it('synchronous replication and nopreempt: every key survives and the VIP stays on the peer', () => {
    const r = lab('demo', { LAB_SYNC: '1', LAB_NOPREEMPT: '1' });
    expect(r.code, r.all).toBe(0);
    expect(outage(r.out), r.out).toBeLessThan(500);
    expect(r.out).toContain('read back through the VIP: 400 of 400 (100.0 %)');
    // With nopreempt on both nodes the first election can go either way (nodea is held at priority 1 while
    // its cache is not warm yet); the VIP must then stay on the peer of the node whose cache was killed.
    const killed = /kill -9 the cache on the MASTER \((node[ab])\)/.exec(r.out)?.[1];
    expect(killed, r.out).toBeDefined();
    expect(r.out).toContain(`nopreempt: the VIP stays on ${killed === 'nodea' ? 'nodeb' : 'nodea'}`);
  });
});
