import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bin, repoRoot, type Daemon } from '../support/daemon.ts';
import { freePort } from '../support/ports.ts';
import { rootSkipReason } from '../support/root.ts';
import { createLab, type Lab, type LabNode } from '../support/netns.ts';
import { waitFor } from '../support/wait.ts';
import {
  Scratch, VIP, clientNeighbour, clientReachesCache, havedConf, macOf, startHaved, startMemcached, type NodeConf,
} from './haved-lab.ts';

const skip = rootSkipReason();
const FAST_CHECK = { delayLoop: '0.1', connectTimeout: '0.2', retry: 1, delayBeforeRetry: '0.1' };

describe.skipIf(skip)('haved in network namespaces (two nodes, a client, Debian memcached)', () => {
  let lab: Lab;
  let scratch: Scratch;
  let a: LabNode, b: LabNode, c: LabNode;
  let udpPort: number;
  const haved: Record<string, Daemon> = {};
  const memcached: Record<string, Daemon> = {};
  const notify: Record<string, ReturnType<Scratch['notifyScript']>> = {};
  const state = (n: LabNode) => scratch.path(`state-${n.name}.json`);

  const conf = (n: LabNode, o: Partial<NodeConf>) =>
    scratch.write(`${n.name}.conf`, havedConf({ node: n, priority: 100, advertInt: '0.1', udpPort, check: FAST_CHECK, notifyScript: notify[n.name]!.script, ...o }));
  const start = (n: LabNode, o: Partial<NodeConf>) => (haved[n.name] = startHaved(lab, n, conf(n, o), state(n)));
  const vipOn = (n: LabNode) => lab.addresses(n.name).includes(VIP);
  const onlyOn = (n: LabNode, other: LabNode) => () => vipOn(n) && !vipOn(other);
  const status = (n: LabNode) => JSON.parse(readFileSync(state(n), 'utf8'));
  const out = (n: LabNode) => haved[n.name]?.output() ?? '';
  const masterNotifies = () => notify.a!.lines().filter((l) => l === 'INSTANCE VI_1 MASTER 150').length;

  beforeAll(async () => {
    udpPort = await freePort();
    scratch = new Scratch();
    lab = createLab('hv', ['a', 'b', 'c']);
    ({ a, b, c } = lab.nodes as Record<string, LabNode>);
    for (const n of [a, b]) {
      notify[n.name] = scratch.notifyScript(`notify-${n.name}`);
      memcached[n.name] = startMemcached(lab, n);
    }
  });

  afterAll(async () => {
    await Promise.all(Object.values(haved).map((d) => d.stop('SIGKILL')));
    lab?.destroy();
    scratch?.remove();
  });

  it('puts the VIP on the higher priority node and the client reaches memcached through it', async () => {
    // both nopreempt: whoever wins first keeps the VIP, so a starts first
    start(a, { priority: 150, nopreempt: true });
    await waitFor(`VIP on ${a.ns}\n${out(a)}`, () => vipOn(a), 10_000);
    start(b, { priority: 100, nopreempt: true });
    await waitFor(`b in BACKUP\n${out(b)}`, () => { try { return status(b).instances[0].state === 'BACKUP'; } catch { return false; } }, 10_000);
    expect(onlyOn(a, b)()).toBe(true);
    await waitFor('state files', () => { try { return status(a).instances[0].state === 'MASTER' && status(b).instances[0].state === 'BACKUP'; } catch { return false; } }, 5000);
    expect(clientReachesCache(lab, c)).toBe(true);
    expect(clientNeighbour(lab, c)).toBe(macOf(lab, a));
  });

  it('haved status prints the instance, its priority, VIPs and checks', () => {
    const r = spawnSync('ip', ['netns', 'exec', a.ns, bin('haved'), 'status', '--state-file', state(a)], { encoding: 'utf8', timeout: 10_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/instance VI_1: MASTER\s+priority 150/);
    expect(r.stdout).toContain(`${VIP}/32 dev hv0`);
    expect(r.stdout).toMatch(/check MEMCACHE_CHECK 198\.18\.0\.1:11211: UP \(local cache/);
  });

  it('ignores forged (bad HMAC) and replayed adverts', async () => {
    const inject = (mode: string) =>
      spawnSync('ip', ['netns', 'exec', c.ns, process.execPath, '--disable-warning=ExperimentalWarning', join(repoRoot, 'test/integration/haved-inject.ts'), mode, String(udpPort), '224.0.0.18', c.address, VIP], { encoding: 'utf8', timeout: 10_000 });
    const forged = inject('forge');
    expect(forged.status, forged.stderr).toBe(0);
    const replayed = inject('replay');
    expect(replayed.status, replayed.stderr).toBe(0);
    await new Promise((r) => setTimeout(r, 300));
    expect(vipOn(a) && !vipOn(b)).toBe(true);
    process.kill(haved.b!.proc.pid!, 'SIGUSR1');
    await waitFor('REPLAYED drops counted on the backup', () => (status(b).instances[0].dropped.REPLAYED ?? 0) > 0, 3000);
    const drops = status(b).instances[0].dropped;
    expect(drops.BAD_AUTH).toBeGreaterThanOrEqual(20);
    expect(status(a).instances[0].state).toBe('MASTER');
  });

  it('goes to FAULT instead of claiming MASTER when ip cannot add the VIP', async () => {
    const file = scratch.write('c.conf', havedConf({ node: c, priority: 200, advertInt: '0.1', udpPort, vrid: 52, vipDev: 'nosuch0' }));
    const d = (haved.c = startHaved(lab, c, file, state(c)));
    await waitFor(`FAULT on c\n${out(c)}`, () => {
      try {
        const i = status(c).instances[0];
        return i.state === 'FAULT' && i.faults.some((f: string) => f.includes('Cannot find device "nosuch0"'));
      } catch {
        return false;
      }
    }, 5000);
    expect(out(c)).toContain('cannot add the VIPs: going to FAULT');
    await d.stop();
    expect(onlyOn(a, b)()).toBe(true);
  });

  it('memcached killed on the MASTER: notify_down, FAULT, VIP on the peer, client served and ARP updated', async () => {
    const macBefore = clientNeighbour(lab, c);
    await memcached.a!.stop('SIGKILL');
    const ms = await waitFor('VIP to move to b', onlyOn(b, a), 5000);
    expect(ms).toBeLessThan(3000);
    await waitFor('client served through b', () => clientReachesCache(lab, c), 5000);
    await waitFor('client ARP entry updated', () => clientNeighbour(lab, c) === macOf(lab, b), 3000);
    expect(macBefore).not.toBe(macOf(lab, b));
    await waitFor('notify_down on a', () => notify.a!.lines().includes('notify_down'), 3000);
    expect(status(a).instances[0].state).toBe('FAULT');
  });

  it('memcached back: notify_up, and with nopreempt the VIP stays on the peer', async () => {
    memcached.a = startMemcached(lab, a);
    await waitFor('notify_up on a', () => notify.a!.lines().includes('notify_up'), 5000);
    await waitFor('a back to BACKUP', () => status(a).instances[0].state === 'BACKUP', 3000);
    await new Promise((r) => setTimeout(r, 800)); // several master-down intervals
    expect(onlyOn(b, a)()).toBe(true);
  });

  it('SIGHUP with nopreempt removed: a reloads and takes the VIP back (preempt)', async () => {
    conf(a, { priority: 150 });
    process.kill(haved.a!.proc.pid!, 'SIGHUP');
    await waitFor(`VIP back on a\n${out(a)}`, onlyOn(a, b), 5000);
    await waitFor('notify MASTER after the reload', () => masterNotifies() === 2, 3000);
  });

  it('SIGHUP with an unchanged config keeps MASTER and the VIP', async () => {
    process.kill(haved.a!.proc.pid!, 'SIGHUP');
    await waitFor('reload logged', () => /"kept":\["VI_1"\].*configuration reloaded/.test(out(a)), 3000);
    await new Promise((r) => setTimeout(r, 300));
    expect(onlyOn(a, b)()).toBe(true);
    expect(masterNotifies()).toBe(2);
    expect(status(a).instances[0].state).toBe('MASTER');
  });

  it('notify scripts ran with keepalived arguments, in transition order', () => {
    const lines = notify.a!.lines().filter((l) => l.startsWith('INSTANCE'));
    expect(lines.slice(0, 4)).toEqual(['INSTANCE VI_1 BACKUP 150', 'INSTANCE VI_1 MASTER 150', 'INSTANCE VI_1 FAULT 150', 'INSTANCE VI_1 BACKUP 150']);
    const all = notify.a!.lines();
    expect(all.indexOf('notify_master')).toBeGreaterThan(all.indexOf('INSTANCE VI_1 BACKUP 150'));
    expect(all.indexOf('notify_down')).toBeLessThan(all.indexOf('INSTANCE VI_1 FAULT 150'));
  });

  it('SIGTERM of the MASTER: priority 0, the peer takes over within about one skew time, notify_stop runs', async () => {
    const t0 = performance.now();
    haved.a!.proc.kill('SIGTERM');
    const ms = await waitFor('VIP on b after SIGTERM', onlyOn(b, a), 3000, 5);
    expect(ms).toBeLessThan(1000); // skew at priority 100, advert 0.1 s: 61 ms; plus `ip` and polling
    expect(await haved.a!.exited).toBe(0);
    expect(performance.now() - t0).toBeLessThan(5000);
    expect(notify.a!.lines()).toContain('notify_stop');
    expect(notify.a!.lines()).toContain('INSTANCE VI_1 STOP 150');
  });

  it('restart and kill -9: takeover after the master-down interval; a restart removes the stale VIP', async () => {
    start(a, { priority: 150 });
    await waitFor('VIP back on a after restart', onlyOn(a, b), 5000);
    haved.a!.proc.kill('SIGKILL');
    const ms = await waitFor('VIP on b after kill -9', () => vipOn(b), 3000, 5);
    expect(ms).toBeLessThan(1500); // master-down interval 3 x 100 + 60 ms
    expect(vipOn(a)).toBe(true); // stale: nobody removed it
    start(a, { priority: 50 }); // lower priority: stays BACKUP, so only the start-up cleanup can remove the VIP
    await waitFor('stale VIP removed from a', () => !vipOn(a), 5000);
    // (on a loaded machine b's adverts can arrive late enough for a to stand as MASTER for a moment: bounded wait)
    await waitFor('VIP only on b', onlyOn(b, a), 3000);
    expect(clientReachesCache(lab, c)).toBe(true);
  });
});

describe('haved -t', () => {
  const check = (file: string) => spawnSync(bin('haved'), ['-t', '-f', file], { encoding: 'utf8', timeout: 15_000 });

  it('accepts the seed configs and prints warnings with file:line', () => {
    for (const f of ['000-memcached1-master.conf', '001-mamcache1-master.conf', '001-memcache2-backup.conf', '003-mem-master.conf']) {
      const r = check(join(repoRoot, 'test/fixtures/seeds', f));
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toContain('configuration OK');
    }
    const r = check(join(repoRoot, 'test/fixtures/seeds/000-memcached1-master.conf'));
    expect(r.stderr).toMatch(/WARNING: .*000-memcached1-master\.conf:\d+: .*nopreempt/);
  });

  it('rejects a broken config with file:line and exit 1', () => {
    const scratch = new Scratch();
    try {
      const bad = scratch.write('bad.conf', 'vrrp_instance VI_1 {\n    state MASTER\n    interface eth0\n    virtual_router_id 300\n    priority 100\n}\n');
      const r = check(bad);
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(/bad\.conf:4: .*virtual_router_id/);
      const missing = check(scratch.path('missing.conf'));
      expect(missing.status).toBe(1);
      expect(missing.stderr).toContain('missing.conf');
    } finally {
      scratch.remove();
    }
  });

  it('rejects bad flags with a usage message', () => {
    const r = spawnSync(bin('haved'), ['--bogus'], { encoding: 'utf8', timeout: 15_000 });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('Usage: haved');
  });
});
