import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { bin, repoRoot, type Daemon } from '../support/daemon.ts';
import { freePort } from '../support/ports.ts';
import { rootSkipReason } from '../support/root.ts';
import { createLab, type Lab, type LabNode } from '../support/netns.ts';
import { waitFor } from '../support/wait.ts';
import { Scratch, VIP, clientNeighbour, havedConf, macOf, startHaved, startMemcached, longestOutage, probeVip, wallNow, watchWhile, type NodeConf } from './haved-lab.ts';

/**
 * Split brain as clients see it (issue: after a partition or a SIGSTOP the client stayed on the loser's MAC
 * for 30 s; one forged PASS advert left the VIP unowned). Nodes a (priority 100) and b (90) on one bridge, a
 * client c probing VIP:11211 every 10 ms, and a stranger x. The outage bounds are the feature.
 */
const skip = rootSkipReason();
const PASS = { type: 'PASS' as const, pass: 'hvpass1' };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(skip)('haved split brain: clients reach the winner, strangers cannot take the VIP', () => {
  let lab: Lab;
  let scratch: Scratch;
  let a: LabNode, b: LabNode, c: LabNode, x: LabNode;
  let udpPort: number;
  const haved: Record<string, Daemon> = {};
  const state = (n: LabNode) => scratch.path(`state-${n.name}.json`);
  const vipOn = (n: LabNode) => lab.addresses(n.name).includes(VIP);
  const holders = () => [a, b].filter(vipOn).map((n) => n.name);
  const status = (n: LabNode) => JSON.parse(readFileSync(state(n), 'utf8')).instances[0];
  const stateOf = (n: LabNode) => { try { return status(n).state as string; } catch { return 'none'; } };
  const out = (n: LabNode) => haved[n.name]?.output() ?? '';
  /** pino JSON lines of a node's haved. */
  const logLines = (n: LabNode): { time: number; msg: string; [k: string]: unknown }[] =>
    out(n).split('\n').flatMap((l) => { try { return [JSON.parse(l)]; } catch { return []; } });
  const logTime = (n: LabNode, re: RegExp, after = 0) => logLines(n).find((l) => l.time >= after && re.test(l.msg))?.time ?? null;

  const start = (n: LabNode, o: Partial<NodeConf>) => {
    const file = scratch.write(`${n.name}.conf`, havedConf({ node: n, priority: n === a ? 100 : 90, advertInt: '1', udpPort, ...o }));
    rmSync(state(n), { force: true });
    return (haved[n.name] = startHaved(lab, n, file, state(n)));
  };
  /** a MASTER with the VIP, b BACKUP. */
  const startPair = async (o: Partial<NodeConf> = {}, bo: Partial<NodeConf> = {}) => {
    start(a, o);
    await waitFor(`VIP on a\n${out(a)}`, () => vipOn(a), 15_000);
    start(b, { ...o, ...bo });
    await waitFor(`b BACKUP\n${out(b)}`, () => stateOf(b) === 'BACKUP', 10_000);
    expect(holders()).toEqual(['a']);
  };
  /** The client probe for `ms`; resolves the send times of the successful probes. */
  const probe = async (ms: number): Promise<number[]> => (await probeVip(c, ms)).ok;
  /** The stranger x runs haved-inject.ts (asynchronously: the VIP watchers keep running meanwhile). */
  const inject = (args: string[]): Promise<{ sent: number; captured?: boolean }> =>
    new Promise((resolve, reject) => {
      const p = spawn('ip', ['netns', 'exec', x.ns, process.execPath, '--disable-warning=ExperimentalWarning', join(repoRoot, 'test/integration/haved-inject.ts'), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      let text = '';
      let err = '';
      p.stdout.on('data', (d) => (text += d));
      p.stderr.on('data', (d) => (err += d));
      const timer = setTimeout(() => p.kill('SIGKILL'), 20_000);
      p.once('exit', (code) => {
        clearTimeout(timer);
        if (code !== 0) reject(new Error(`inject exited ${code}: ${err}`));
        else resolve(JSON.parse(text.trim().split('\n').pop()!));
      });
    });
  /** Polls (every 10 ms, while `during` runs and 1 s after) whether the VIP ever left a or appeared on b. */
  const vipMovedDuring = <T>(during: () => Promise<T>) => watchWhile(() => !vipOn(a) || vipOn(b), during, 1000);
  const freshStatus = async (n: LabNode) => {
    const before = readFileSync(state(n), 'utf8');
    process.kill(haved[n.name]!.proc.pid!, 'SIGUSR1');
    await waitFor('state file rewritten', () => readFileSync(state(n), 'utf8') !== before, 3000);
    return status(n);
  };

  beforeAll(async () => {
    udpPort = await freePort();
    scratch = new Scratch();
    lab = createLab('hs', ['a', 'b', 'c', 'x']);
    ({ a, b, c, x } = lab.nodes as Record<string, LabNode>);
    for (const n of [a, b]) startMemcached(lab, n);
  });

  afterEach(async () => {
    lab?.isolate(['a', 'b'], false);
    await Promise.all(Object.values(haved).map((d) => d.stop('SIGKILL')));
    for (const n of [a, b]) lab?.exec(n.ns, ['ip', 'addr', 'del', `${VIP}/32`, 'dev', n.ifname], { allowFail: true });
    for (const k of Object.keys(haved)) delete haved[k];
    udpPort = await freePort();
  });

  afterAll(() => {
    lab?.destroy();
    scratch?.remove();
  });

  it('partition 6 s, then heal: the client is cut off at most 1 s, one VIP holder at the end', async () => {
    await startPair();
    const probing = probe(16_000);
    await sleep(1000);
    const cutAt = wallNow();
    lab.isolate(['a', 'b'], true);
    await waitFor('b takes the VIP in its half', () => vipOn(b), 6000, 10);
    const bTookMs = Math.round(wallNow() - cutAt);
    await sleep(cutAt + 6000 - wallNow());
    expect(holders()).toEqual(['a', 'b']);
    const healAt = wallNow();
    lab.isolate(['a', 'b'], false);
    await waitFor(`one VIP holder after the heal\n${out(b)}`, () => holders().length === 1, 5000, 10);
    const oneHolderMs = Math.round(wallNow() - healAt);
    const ok = await probing;
    const outage = longestOutage(ok, healAt, healAt + 6000);
    const announcedMs = Math.round(logTime(a, /re-announcing the VIPs: /, healAt)! - healAt);
    console.log(`partition 6 s then heal (advert_int 1): b took the VIP ${bTookMs} ms into the partition; after the heal a re-announced at +${announcedMs} ms, one VIP holder at +${oneHolderMs} ms, longest client outage ${outage} ms`);
    expect(outage).toBeLessThanOrEqual(1000);
    expect(holders()).toEqual(['a']);
    expect(stateOf(b)).toBe('BACKUP');
    expect(clientNeighbour(lab, c)).toBe(macOf(lab, a));
    expect(out(a)).toMatch(/re-announcing the VIPs: (lower priority \(90\) advert from master 198\.18\.0\.2|master 198\.18\.0\.2 resigned)/);
  });

  it('SIGSTOP the MASTER 10 s, SIGCONT: the client is cut off at most 1 s after SIGCONT', async () => {
    await startPair();
    const probing = probe(17_000);
    await sleep(1000);
    const pid = haved.a!.proc.pid!;
    const stopAt = wallNow();
    process.kill(pid, 'SIGSTOP');
    try {
      await waitFor('b takes over while a is stopped', () => vipOn(b), 8000, 10);
    } finally {
      await sleep(stopAt + 10_000 - wallNow());
      process.kill(pid, 'SIGCONT');
    }
    const contAt = wallNow();
    await waitFor(`one VIP holder after SIGCONT\n${out(a)}`, () => holders().length === 1, 5000, 10);
    const ok = await probing;
    const whileStopped = longestOutage(ok, stopAt, contAt);
    const outage = longestOutage(ok, contAt, contAt + 5500);
    // while haved is stopped a's kernel and cache still answer; b takes the VIP after its master-down interval
    console.log(`SIGSTOP of the MASTER 10 s (advert_int 1): longest client outage while stopped ${whileStopped} ms, after SIGCONT ${outage} ms`);
    expect(outage).toBeLessThanOrEqual(1000);
    expect(holders()).toEqual(['a']);
    expect(clientNeighbour(lab, c)).toBe(macOf(lab, a));
    expect(out(a)).toMatch(/"event":"paused".*no advert sent for \d+ ms/);
    expect(out(a)).toMatch(/re-announcing the VIPs: /);
    const st = spawnSync('ip', ['netns', 'exec', a.ns, bin('haved'), 'status', '--state-file', state(a)], { encoding: 'utf8', timeout: 10_000 });
    expect(st.stdout).toMatch(/adverts sent \d+, received \d+, re-announced [1-9]\d*, pauses 1/);
  });

  /** 50 forged PASS adverts from x (priority 255, x's address), 20 ms apart, with the client probing. */
  const forgedAttack = async (targets: string[]) => {
    const probing = probe(3000);
    const { moved, result } = await vipMovedDuring(() => inject(['forge-pass', String(udpPort), '224.0.0.18', x.address, VIP, PASS.pass, '50', ...targets]));
    const ok = await probing;
    return { moved, sent: result, ok };
  };

  it('forged PASS adverts (priority 255) from a non-peer with unicast_peer: the VIP never leaves the MASTER', async () => {
    await startPair({ auth: PASS, advertInt: '0.1', unicastPeers: [b.address] }, { unicastPeers: [a.address] });
    const r = await forgedAttack([a.address, b.address]);
    expect(r.sent.sent).toBe(50);
    expect(r.moved).toBe(false);
    expect(stateOf(a)).toBe('MASTER');
    expect((await freshStatus(a)).dropped.NOT_A_PEER).toBe(50);
    expect((await freshStatus(b)).dropped.NOT_A_PEER).toBe(50);
    expect(out(a)).toContain(`advert from ${x.address} dropped: not a peer (unicast_peer)`);
    console.log(`forged PASS adverts, unicast_peer: 50 sent to each node, all dropped (NOT_A_PEER), VIP stayed on the MASTER, longest client outage ${longestOutage(r.ok, r.ok[0]!, r.ok.at(-1)!)} ms`);
  });

  it('forged PASS adverts in multicast mode with allowed_peers: the same', async () => {
    await startPair({ auth: PASS, advertInt: '0.1', allowedPeers: [b.address] }, { allowedPeers: [a.address] });
    const r = await forgedAttack([]);
    expect(r.sent.captured).toBe(true); // a real advert was captured and re-signed with the stranger's address
    expect(r.moved).toBe(false);
    expect((await freshStatus(a)).dropped.NOT_A_PEER).toBe(50);
    expect(out(a)).toContain(`advert from ${x.address} dropped: not a peer (allowed_peers)`);
    console.log(`forged PASS adverts, multicast with allowed_peers: 50 sent, all dropped, VIP stayed on the MASTER`);
  });

  it('PASS without either: the start-up warning is logged, and one forged advert changes nothing', async () => {
    await startPair({ auth: PASS, advertInt: '0.1' });
    for (const n of [a, b]) {
      expect(out(n)).toMatch(/"level":40.*auth_type PASS is cleartext: anyone who sees one advert can forge others and take the VIP away from any address \(no unicast_peer or allowed_peers\); use auth_type HMAC/);
    }
    const { moved, result } = await vipMovedDuring(() => inject(['forge-pass', String(udpPort), '224.0.0.18', x.address, VIP, PASS.pass, '1']));
    expect(result).toMatchObject({ sent: 1, captured: true });
    expect(moved).toBe(false);
    expect(out(a)).toContain(`higher priority 255 advert from ${x.address}, a node not heard from before: answering with our advert`);
  });

  it('genuine preemption: a higher-priority peer takes over within one advert interval of its first advert, heard from before or not', async () => {
    start(a, {});
    await waitFor('VIP on a', () => vipOn(a), 15_000);
    // b heard from before (its hellos while BACKUP): a yields to its first advert
    start(b, { priority: 150 });
    await waitFor(`VIP on b\n${out(b)}`, () => holders().join() === 'b', 10_000);
    const bMaster = logTime(b, /^BACKUP -> MASTER/)!;
    const aYield = logTime(a, /^MASTER -> BACKUP/)!;
    const known = aYield - bMaster;
    // b never heard from: it starts while cut off from a, becomes MASTER in its half, then the link heals
    await haved.b!.stop('SIGKILL');
    await waitFor('a MASTER again', () => holders().join() === 'a' || stateOf(a) === 'MASTER', 10_000);
    await waitFor('VIP back on a', () => vipOn(a), 10_000);
    lab.exec(b.ns, ['ip', 'addr', 'del', `${VIP}/32`, 'dev', b.ifname], { allowFail: true });
    lab.isolate(['a', 'b'], true);
    start(b, { priority: 150 });
    await waitFor(`b MASTER alone\n${out(b)}`, () => stateOf(b) === 'MASTER', 10_000);
    const healAt = Date.now();
    lab.isolate(['a', 'b'], false);
    await waitFor(`a yields after the heal\n${out(a)}`, () => holders().join() === 'b', 5000);
    const firstAdvert = logTime(a, /a node not heard from before/, healAt)!;
    const aYield2 = logTime(a, /^MASTER -> BACKUP/, healAt)!;
    const unknown = aYield2 - firstAdvert;
    console.log(`genuine preemption (advert_int 1): b MASTER -> a yields ${known} ms (b heard before); b never heard: first advert -> yield ${unknown} ms (heal -> yield ${aYield2 - healAt} ms)`);
    expect(known).toBeLessThanOrEqual(1000);
    expect(firstAdvert).not.toBeNull();
    expect(unknown).toBeLessThanOrEqual(1000);
  });
});

describe('haved -t', () => {
  it('warns that auth_type PASS is cleartext and names auth_type HMAC', () => {
    const r = spawnSync(bin('haved'), ['-t', '-f', join(repoRoot, 'test/fixtures/seeds/003-mem-master.conf')], { encoding: 'utf8', timeout: 15_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/WARNING: .*003-mem-master\.conf:23: \(VI_1\) auth_type PASS is cleartext: anyone who sees one advert can forge others and take the VIP away from any address \(no unicast_peer or allowed_peers\); use auth_type HMAC/);
  });
});
