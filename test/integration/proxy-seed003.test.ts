/**
 * Seed 003 in network namespaces: two nodes, each with a cache (a repcache pair here, where the seed has two
 * memcacheds), repcache-proxy and haved; a client uses only the VIP on the proxy's port 12000. haved reads the
 * seed's keepalived.conf files as printed (only the VIP address and the script path changed): vrrp_script
 * magent + track_script, with scripts/repcache-proxy-check.sh as the script that checks and starts the proxy.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bin, repoRoot, type Daemon } from '../support/daemon.ts';
import { createLab, type Lab, type LabNode } from '../support/netns.ts';
import { rootSkipReason } from '../support/root.ts';
import { waitFor } from '../support/wait.ts';
import { Scratch } from './haved-lab.ts';
import { PROXY } from './proxy-harness.ts';

const VIP = '198.18.0.100';
const CHECK = join(repoRoot, 'scripts/repcache-proxy-check.sh');

interface Report { ok: number; failures: number; lost: number; maxGapMs: number; kinds: Record<string, number> }

describe.skipIf(rootSkipReason())('seed 003: keepalived-style vrrp_script keeps repcache-proxy behind the VIP', () => {
  let lab: Lab;
  let scratch: Scratch;
  let a: LabNode, b: LabNode, c: LabNode;
  const haved: Record<string, Daemon> = {};
  const repcache: Record<string, Daemon> = {};
  let client: Daemon;
  const vipOn = (n: LabNode) => lab.addresses(n.name).includes(VIP);
  let reports = 0;

  /** What the client saw since the last report. */
  async function report(): Promise<Report> {
    client.proc.kill('SIGUSR1');
    reports++;
    await waitFor('a client report', () => client.output().trim().split('\n').filter(Boolean).length >= reports, 5000);
    return JSON.parse(client.output().trim().split('\n').at(-1)!) as Report;
  }

  const startRepcache = (n: LabNode, peer: LabNode) =>
    (repcache[n.name] = lab.spawn(n.ns, [bin('repcache'), '-u', 'root', '-t', '1', '-U', '0', '-p', '11211', '-x', peer.address, '-o', 'repl_secret=seed-003-lab', '--replication-sync']));

  beforeAll(async () => {
    scratch = new Scratch();
    lab = createLab('p3', ['a', 'b', 'c'], 'eth0');
    ({ a, b, c } = lab.nodes as Record<string, LabNode>);
    startRepcache(a, b);
    startRepcache(b, a);
    for (const [n, seed] of [[a, '003-mem-master.conf'], [b, '003-mem-bak.conf']] as const) {
      // /opt/magent.sh: the check script with this node's settings
      const sysconfig = scratch.write(`${n.name}.sysconfig`, [
        `OPTIONS="-u root -n 51200 -p 12000 -s ${a.address} -b ${b.address} --no-backup-writes --timeout 2000 --retry-timeout 200"`,
        `PIDFILE=${scratch.path(`${n.name}.pid`)}`,
        '',
      ].join('\n'));
      const magentSh = scratch.write(`${n.name}-magent.sh`, `#!/bin/sh\nREPCACHE_PROXY_SYSCONFIG=${sysconfig} REPCACHE_PROXY_CMD=${PROXY} exec ${CHECK}\n`);
      (await import('node:fs')).chmodSync(magentSh, 0o755);
      const conf = readFileSync(join(repoRoot, 'test/fixtures/seeds', seed), 'utf8').replaceAll('172.17.7.66', VIP).replace('/opt/magent.sh', magentSh);
      haved[n.name] = lab.spawn(n.ns, [bin('haved'), '-f', scratch.write(`${n.name}.conf`, conf), '--state-file', scratch.path(`${n.name}.json`)], { HAVED_LOG_JSON: '1' });
    }
  });

  afterAll(() => {
    lab?.destroy();
    scratch?.remove();
  });

  it('the MASTER holds the VIP; both nodes run the proxy (started by the track script); the client works through it', async () => {
    await waitFor(`the VIP on a\n${haved.a?.output()}`, () => vipOn(a) && !vipOn(b), 20_000, 50);
    const pid = (n: LabNode) => Number(readFileSync(scratch.path(`${n.name}.pid`), 'utf8'));
    await waitFor('a proxy on each node', () => { try { return pid(a) > 0 && pid(b) > 0; } catch { return false; } }, 20_000, 50);
    client = lab.spawn(c.ns, [process.execPath, '--disable-warning=ExperimentalWarning', join(repoRoot, 'test/integration/proxy-vip-client.ts'), VIP, '12000']);
    await new Promise((r) => setTimeout(r, 1500));
    const r = await report();
    expect(r.ok, JSON.stringify(r)).toBeGreaterThan(20);
    expect(r.failures, JSON.stringify(r)).toBe(0);
    expect(r.lost).toBe(0);
  });

  it('the main repcache killed: the client keeps working through the backup, nothing lost', async () => {
    repcache.a!.proc.kill('SIGKILL');
    await repcache.a!.exited;
    await new Promise((r) => setTimeout(r, 1500));
    const r = await report();
    expect(r.ok, JSON.stringify(r)).toBeGreaterThan(20);
    expect(r.failures, JSON.stringify(r)).toBe(0);
    expect(r.lost, JSON.stringify(r)).toBe(0);
    expect(vipOn(a)).toBe(true); // the proxy routed around it: no failover was needed
    startRepcache(a, b); // it copies everything from b before it opens its port
  });

  it("the MASTER's haved killed: the VIP moves to the backup, whose proxy serves the client", async () => {
    await report();
    haved.a!.proc.kill('SIGKILL');
    await waitFor('the VIP on b', () => vipOn(b), 10_000, 50);
    await new Promise((r) => setTimeout(r, 2000));
    const r = await report();
    expect(r.ok, JSON.stringify(r)).toBeGreaterThan(20);
    expect(r.lost, JSON.stringify(r)).toBe(0);
    // advert_int 1: the backup claims the VIP after about 3 s of silence
    expect(r.maxGapMs, JSON.stringify(r)).toBeLessThan(6000);
    const after = await (async () => { await new Promise((res) => setTimeout(res, 1000)); return report(); })();
    expect(after.failures, JSON.stringify(after)).toBe(0);
  });
});
