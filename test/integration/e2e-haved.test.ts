import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { bin, repoRoot, type Daemon } from '../support/daemon.ts';
import { freePort } from '../support/ports.ts';
import { rootSkipReason } from '../support/root.ts';
import { createLab, type Lab, type LabNode } from '../support/netns.ts';
import { waitFor } from '../support/wait.ts';
import { Scratch, VIP, havedConf, type NodeConf } from './haved-lab.ts';

/**
 * haved supervising its cache in network namespaces. The cache is mostly a stand-in (e2e-fake-cache.ts) whose
 * `replication_state` stays `syncing` for SYNC_MS after each start, so the tests control how long a
 * restarted cache is cold; the real repcache runs in e2e-lab.test.ts and in the partial-cache test here.
 */
const skip = rootSkipReason();
const FAKE = join(repoRoot, 'test/integration/e2e-fake-cache.ts');
const SKEW_90_MS = ((256 - 90) / 256) * 1000; // the RFC wait of a priority-90 backup at advert_int 1

describe.skipIf(skip)('haved supervises the cache (namespaces, a stand-in cache)', () => {
  let lab: Lab;
  let scratch: Scratch;
  let a: LabNode, b: LabNode;
  let udpPort: number;
  const running: Daemon[] = [];

  interface Opts extends Partial<NodeConf> {
    syncMs?: number;
    backoff?: string;
    preemptSchedule?: string;
    /** The cache_daemon command (default: the stand-in). */
    cacheCommand?: string;
  }
  const start = (n: LabNode, o: Opts) => {
    const command = o.cacheCommand ?? `${process.execPath} --disable-warning=ExperimentalWarning ${FAKE}`;
    const conf = havedConf({ node: n, priority: 100, advertInt: '0.1', udpPort, check: null, ...o })
      .replace(/(advert_int .*\n)/, o.preemptSchedule ? `$1    preempt_schedule "${o.preemptSchedule}"\n` : '$1')
      + `cache_daemon {\n    command "${command}"\n    restart_backoff ${o.backoff ?? '0.1 2'}\n    check_port 11211\n}\n`;
    const file = scratch.write(`${n.name}.conf`, conf);
    const d = lab.spawn(n.ns, [bin('haved'), '-f', file, '--state-file', state(n)], { HAVED_LOG_JSON: '1', SYNC_MS: String(o.syncMs ?? 0) });
    running.push(d);
    return d;
  };
  const state = (n: LabNode) => scratch.path(`state-${n.name}.json`);
  const status = (n: LabNode) => {
    try {
      return JSON.parse(readFileSync(state(n), 'utf8'));
    } catch {
      return null;
    }
  };
  const instanceState = (n: LabNode) => status(n)?.instances?.[0]?.state ?? null;
  const cachePid = (n: LabNode): number | null => status(n)?.cache?.pid ?? null;
  const vipOn = (n: LabNode) => lab.addresses(n.name).includes(VIP);
  const killCache = (n: LabNode) => {
    const pid = cachePid(n);
    if (!pid) throw new Error(`no cache pid in ${n.name}'s state: ${JSON.stringify(status(n)?.cache)}`);
    process.kill(pid, 'SIGKILL');
    return pid;
  };
  const logOf = (d: Daemon) => d.output().split('\n').filter(Boolean).map((l) => { try { return JSON.parse(l).msg as string; } catch { return l; } });

  beforeAll(async () => {
    udpPort = await freePort();
    scratch = new Scratch();
    lab = createLab('e5', ['a', 'b', 'c']);
    ({ a, b } = lab.nodes as Record<string, LabNode>);
  });

  afterEach(async () => {
    await Promise.all(running.splice(0).map((d) => d.stop('SIGTERM', 5000)));
  });

  afterAll(async () => {
    await Promise.all(running.map((d) => d.stop('SIGKILL')));
    lab?.destroy();
    scratch?.remove();
  });

  /** a (priority 150 unless told) MASTER with the VIP, b (90) BACKUP and known to a by its hellos. */
  async function pair(ao: Opts, bo: Opts) {
    const ha = start(a, { priority: 150, ...ao });
    await waitFor(`VIP on a\n${ha.output()}`, () => vipOn(a), 15_000);
    const hb = start(b, { priority: 90, ...bo });
    await waitFor(`b BACKUP\n${hb.output()}`, () => instanceState(b) === 'BACKUP' && status(b)?.cache?.warmth === 'warm', 15_000);
    await new Promise((r) => setTimeout(r, 1500)); // a hears b's hellos (one per advert interval)
    return { ha, hb };
  }

  it('the cache exit puts the MASTER in FAULT at once: the peer holds the VIP well before the skew time', async () => {
    const { ha } = await pair({ advertInt: '1' }, { advertInt: '1' });
    const t0 = performance.now();
    killCache(a);
    await waitFor('VIP on b', () => vipOn(b), 5000, 5);
    const ms = performance.now() - t0;
    expect(ms).toBeLessThan(SKEW_90_MS * 0.75); // the successor hand-over, not the RFC wait (measured in the bench)
    await waitFor(`the FAULT log line\n${ha.output()}`, () => logOf(ha).some((m) => /-> FAULT: cache: cache daemon backoff: process killed by SIGKILL/.test(m)), 3000);
    // restarted and warm at once (SYNC_MS 0): a (150, preempting) takes the VIP back
    await waitFor('VIP back on a', () => vipOn(a) && !vipOn(b), 10_000);
    expect(status(a).cache).toMatchObject({ state: 'running', restarts: 1, warmth: 'warm' });
  });

  it('restarts the cache with a growing backoff and shows it in haved status', async () => {
    start(a, { priority: 150, backoff: '0.3 5' });
    await waitFor('a MASTER', () => instanceState(a) === 'MASTER', 15_000);
    const gaps: number[] = [];
    for (let i = 0; i < 3; i++) {
      await waitFor('the cache running', () => status(a)?.cache?.state === 'running' && cachePid(a) !== null, 10_000);
      const old = killCache(a);
      const t0 = performance.now();
      await waitFor('a new cache pid', () => { const p = cachePid(a); return p !== null && p !== old; }, 10_000, 10);
      gaps.push(performance.now() - t0);
    }
    expect(gaps[0]).toBeGreaterThanOrEqual(250);
    expect(gaps[1]).toBeGreaterThanOrEqual(550);
    expect(gaps[2]).toBeGreaterThanOrEqual(1150);
    const r = spawnSync(bin('haved'), ['status', '--state-file', state(a)], { encoding: 'utf8', timeout: 10_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/cache running pid \d+ {2}restarts 3 {2}/);
    expect(r.stdout).toContain('last exit: killed by SIGKILL');
  });

  it('alone, a cold cache still serves (logged); a returning node does not preempt while its cache syncs', async () => {
    const ha = start(a, { priority: 150, syncMs: 3000 });
    await waitFor(`VIP on a while its cache syncs\n${ha.output()}`, () => vipOn(a), 10_000);
    expect(status(a).cache.warmth).not.toBe('warm');
    await waitFor('the cold-serve log line', () => logOf(ha).some((m) => m.startsWith('MASTER with a cache that is not warm')), 5000);
    const hb = start(b, { priority: 100, syncMs: 0 });
    await waitFor(`b BACKUP\n${hb.output()}`, () => instanceState(b) === 'BACKUP', 15_000);
    await waitFor('a warm', () => status(a)?.cache?.warmth === 'warm', 10_000);
    await new Promise((r) => setTimeout(r, 300));
    killCache(a);
    await waitFor('VIP on b', () => vipOn(b) && !vipOn(a), 5000, 10);
    await waitFor('a BACKUP with its cache restarted', () => instanceState(a) === 'BACKUP', 5000, 10);
    const restarted = performance.now();
    // 3 s of syncing: a (150) stays BACKUP at priority 1 behind b (100)
    while (performance.now() - restarted < 2500) {
      expect(vipOn(b) && !vipOn(a)).toBe(true);
      expect(status(a).instances[0]).toMatchObject({ state: 'BACKUP', priority: 1 });
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(logOf(ha).some((m) => m.startsWith('cache is cold (replication_state syncing)'))).toBe(true);
    await waitFor('VIP back on a once warm', () => vipOn(a) && !vipOn(b), 5000);
    expect(status(a).cache.lastWarmUpMs).toBeGreaterThan(2500);
  });

  it('a repcache whose source died mid-copy serves partial: its node never preempts with it, until a complete copy', async () => {
    const c = lab.nodes.c!;
    const KEYS = 200_000;
    /** `stats` of the repcache on 127.0.0.1:11211 in a node's namespace. */
    const statsIn = (n: LabNode): Record<string, string> => {
      const script = "exec 3<>/dev/tcp/127.0.0.1/11211 && printf 'stats\\r\\nquit\\r\\n' >&3 && timeout 2 cat <&3";
      const out = lab.exec(n.ns, ['bash', '-c', script], { allowFail: true, timeoutMs: 4000 });
      return Object.fromEntries([...out.matchAll(/^STAT (\S+) (.*?)\r$/gm)].map((m) => [m[1]!, m[2]!]));
    };
    const source = (extra: string[] = []) => {
      const d = lab.spawn(c.ns, [bin('repcache'), '-u', 'root', '-t', '1', '-l', '0.0.0.0', '-p', '11211', '-m', '128', '-X', '11212', '-x', b.address, '-o', 'repl_secret=e2e-lab', ...extra], { HAVED_LOG_JSON: '1' });
      running.push(d);
      return d;
    };
    const ha = start(a, { priority: 100, syncMs: 0 });
    await waitFor(`VIP on a\n${ha.output()}`, () => vipOn(a), 15_000);

    // The source S on c: alone at first (b not up), so the first node of a cold cluster; then 200,000 keys.
    const s1 = source();
    await waitFor(`S serving\n${s1.output()}`, () => statsIn(c).replication_state === 'disconnected', 10_000);
    const load = `const s = require('net').connect(11211, '127.0.0.1'); let t = '';
      for (let i = 0; i < ${KEYS}; i++) t += 'set key:' + i + ' 0 0 100 noreply\\r\\n' + String(i).padEnd(100, '.') + '\\r\\n';
      s.write(t + 'mn\\r\\n'); let got = ''; s.on('data', (d) => { got += d; if (got.includes('MN')) s.end(); });`;
    lab.exec(c.ns, [process.execPath, '-e', load], { timeoutMs: 30_000 });
    expect(statsIn(c).curr_items).toBe(String(KEYS));
    // c's link slowed to 10 MB/s: the copy to b takes some 3 s, long enough to kill S in the middle of it.
    lab.exec(c.ns, ['tc', 'qdisc', 'add', 'dev', c.ifname, 'root', 'tbf', 'rate', '80mbit', 'burst', '64kb', 'latency', '400ms']);

    // b (150, preempting) joins: its repcache copies from S, and b holds meanwhile.
    const cmd = `${bin('repcache')} -u root -t 1 -l 0.0.0.0 -p 11211 -m 128 -X 11212 -x ${c.address} -o repl_secret=e2e-lab -o repl_join_timeout=2000`;
    const hb = start(b, { priority: 150, cacheCommand: cmd });
    await waitFor('the copy to b half sent', () => {
      const p = /^(\d+)\/(\d+)$/.exec(statsIn(c).repl_peer_0_sync_progress ?? '');
      return p !== null && Number(p[1]) >= KEYS / 2;
    }, 20_000, 10);
    s1.proc.kill('SIGKILL');
    await s1.exited;
    lab.exec(c.ns, ['tc', 'qdisc', 'del', 'dev', c.ifname, 'root']);

    // b's cache gives up after its join timeout and serves what it has, saying so; b stays BACKUP at priority 1.
    // (the state file is rewritten when the hold changes, and on SIGUSR1, as `haved status` asks for it)
    const fresh = () => {
      hb.proc.kill('SIGUSR1');
      return status(b);
    };
    await waitFor(`b's cache partial\n${hb.output()}`, () => fresh()?.cache?.replicationState === 'partial', 10_000);
    const held = Number(statsIn(b).curr_items);
    expect(held).toBeGreaterThan(0);
    expect(held).toBeLessThan(KEYS);
    expect(statsIn(b).repl_expected_items).toBe(String(KEYS));
    const t0 = performance.now();
    while (performance.now() - t0 < 2000) {
      expect(vipOn(a) && !vipOn(b)).toBe(true);
      expect(fresh().instances[0]).toMatchObject({ state: 'BACKUP', priority: 1 });
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(logOf(hb).some((m) => m.startsWith('cache is cold (replication_state partial): staying BACKUP, no preemption while it serves without a complete copy'))).toBe(true);

    // The operator accepts what survived: S restarted with -o repl_complete. b's cache gets S's complete copy
    // (S got b's keys first, as a partial copy): both hold what survived, b is warm and takes the VIP back.
    source(['-o', 'repl_complete']);
    await waitFor(`b warm\n${hb.output()}`, () => status(b)?.cache?.warmth === 'warm', 15_000);
    await waitFor('VIP on b', () => vipOn(b) && !vipOn(a), 5000);
    await waitFor('S holding what survived', () => statsIn(c).curr_items === String(held), 10_000);
    expect(statsIn(b)).toMatchObject({ curr_items: String(held), replication_state: 'streaming' });
  });

  it('SIGHUP: an unchanged cache_daemon keeps the cache running, a changed one restarts it', async () => {
    const ha = start(a, { priority: 150, backoff: '0.1 2' });
    await waitFor('a MASTER with its cache', () => instanceState(a) === 'MASTER' && cachePid(a) !== null, 15_000);
    const first = cachePid(a);
    ha.proc.kill('SIGHUP');
    await waitFor('the reload', () => logOf(ha).some((m) => m.startsWith('configuration reloaded')), 5000);
    expect(cachePid(a)).toBe(first);
    const file = scratch.path(`${a.name}.conf`);
    writeFileSync(file, readFileSync(file, 'utf8').replace('restart_backoff 0.1 2', 'restart_backoff 0.2 2'));
    ha.proc.kill('SIGHUP');
    await waitFor('a new cache', () => { const p = cachePid(a); return p !== null && p !== first; }, 10_000);
    expect(logOf(ha)).toContain('cache_daemon changed by reload: restarting the cache');
    await waitFor('a MASTER again', () => instanceState(a) === 'MASTER', 10_000);
  });

  it('preempt_schedule: the warm node takes the VIP back only when the window opens', async () => {
    // the window opens at one second of the minute, ~9 s from now (after the fault and the restart)
    const opensAt = Date.now() + 9000;
    const sec = new Date(opensAt).getUTCSeconds();
    const { ha } = await pair({ preemptSchedule: `${sec} * * * * *` }, {});
    expect(Date.now()).toBeLessThan(opensAt - 3000);
    killCache(a);
    await waitFor('VIP on b', () => vipOn(b) && !vipOn(a), 5000, 10);
    await waitFor('a warm again', () => status(a)?.cache?.warmth === 'warm' && instanceState(a) === 'BACKUP', 5000);
    while (Date.now() < opensAt - 1000) {
      expect(vipOn(b) && !vipOn(a)).toBe(true);
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(logOf(ha).some((m) => /failback waits: outside the preempt_schedule window/.test(m))).toBe(true);
    await waitFor('VIP back on a in the window', () => vipOn(a) && !vipOn(b), 5000);
    expect(Date.now()).toBeGreaterThanOrEqual(opensAt - 1000);
    await waitFor('the window log line', () => logOf(ha).some((m) => /window open for 1 s, failback allowed/.test(m)), 3000);
  });
});
