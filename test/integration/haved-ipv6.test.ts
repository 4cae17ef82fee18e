import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot, type Daemon } from '../support/daemon.ts';
import { freePort } from '../support/ports.ts';
import { rootSkipReason } from '../support/root.ts';
import { createLab, type Lab, type LabNode } from '../support/netns.ts';
import { waitFor } from '../support/wait.ts';
import { HMAC_KEY, Scratch, longestOutage, macOf, probeVip, startHaved, wallNow } from './haved-lab.ts';

/**
 * IPv6 VIPs in namespaces (2001:db8::/32 only): two haved nodes elect over IPv6 multicast (ff02::12 from the
 * link-local address) or unicast, a client probes a cache listening on the VIP, the MASTER stops and the VIP
 * moves; the client's neighbour entry must follow the new MAC (the kernel's unsolicited neighbour advertisement).
 */
const skip = rootSkipReason();
const VIP6 = '2001:db8::100';
const FAKE = join(repoRoot, 'test/integration/e2e-fake-cache.ts');
const v6 = (n: LabNode) => `2001:db8::${n.address.split('.')[3]}`;

function conf(n: LabNode, o: { priority: number; udpPort: number; peer?: LabNode; vrid?: number; ipv4Vip?: string }): string {
  const unicast = o.peer ? `    unicast_src_ip ${v6(n)}\n    unicast_peer {\n        ${v6(o.peer)}\n    }\n` : '';
  const instance = (name: string, vrid: number, body: string) => `vrrp_instance ${name} {
    state BACKUP
    interface ${n.ifname}
    virtual_router_id ${vrid}
    priority ${o.priority}
    advert_int 0.1
    authentication {
        auth_type HMAC
        auth_pass ${HMAC_KEY}
    }
${body}}
`;
  return `global_defs {
    router_id ${n.ns}
    vrrp_udp_port ${o.udpPort}
    vrrp_garp_master_delay 0
}
${instance('VI_6', o.vrid ?? 61, `${unicast}    virtual_ipaddress {\n        ${VIP6}/64 dev ${n.ifname}\n    }\n`)}${
    o.ipv4Vip ? instance('VI_4', (o.vrid ?? 61) + 1, `    virtual_ipaddress {\n        ${o.ipv4Vip}/32 dev ${n.ifname}\n    }\n`) : ''
  }`;
}

describe.skipIf(skip)('IPv6 VIPs (namespaces)', () => {
  let lab: Lab;
  let scratch: Scratch;
  let a: LabNode, b: LabNode, c: LabNode;
  const running: Daemon[] = [];

  const addrs6 = (n: LabNode) => lab.exec(n.ns, ['ip', '-6', '-o', 'addr', 'show', 'dev', n.ifname]);
  const holds = (n: LabNode, vip = VIP6) => addrs6(n).includes(` ${vip}/`);
  const holds4 = (n: LabNode, vip: string) => lab.exec(n.ns, ['ip', '-4', '-o', 'addr', 'show', 'dev', n.ifname]).includes(` ${vip}/`);
  const neighbour = (vip = VIP6) => /lladdr ([0-9a-f:]+)/.exec(lab.exec(c.ns, ['ip', 'neigh', 'show', vip, 'dev', c.ifname], { allowFail: true }))?.[1] ?? null;

  beforeAll(async () => {
    scratch = new Scratch();
    lab = createLab('v6', ['a', 'b', 'c']);
    ({ a, b, c } = lab.nodes as Record<string, LabNode>);
    for (const n of [a, b, c]) lab.exec(n.ns, ['ip', '-6', 'addr', 'add', `${v6(n)}/64`, 'dev', n.ifname, 'nodad']);
    // the link-local addresses (the multicast adverts' source) leave DAD
    await waitFor('link-local addresses', () => [a, b, c].every((n) => /fe80::/.test(addrs6(n)) && !/tentative/.test(addrs6(n))), 10_000);
    for (const n of [a, b]) running.push(lab.spawn(n.ns, [process.execPath, '--disable-warning=ExperimentalWarning', FAKE], { HOST: '::', PORT: '11211' }));
  }, 60_000);

  afterEach(async () => {
    await Promise.all(running.splice(2).map((d) => d.stop('SIGTERM', 5000)));
  });

  afterAll(async () => {
    await Promise.all(running.map((d) => d.stop('SIGKILL')));
    lab?.destroy();
    scratch?.remove();
  });

  async function pair(mode: 'multicast' | 'unicast', extra: { ipv4Vip?: string } = {}): Promise<[Daemon, Daemon]> {
    const udpPort = await freePort();
    const start = (n: LabNode, priority: number, peer: LabNode) => {
      const file = scratch.write(`${n.name}-${mode}.conf`, conf(n, { priority, udpPort, peer: mode === 'unicast' ? peer : undefined, ...extra }));
      const d = startHaved(lab, n, file, scratch.path(`state-${n.name}.json`));
      running.push(d);
      return d;
    };
    const da = start(a, 150, b);
    const db = start(b, 100, a);
    await waitFor(`a to hold ${VIP6}\n${da.output()}\n${db.output()}`, () => holds(a) && !holds(b), 10_000);
    return [da, db];
  }

  it.each(['multicast', 'unicast'] as const)('%s: the VIP moves when the MASTER stops, and the client follows the new MAC', async (mode) => {
    const [da, db] = await pair(mode);
    expect(da.output()).toContain(`IPv6 VIPs on ${a.ifname} are announced by unsolicited neighbour advertisement`);
    // the client talks to the VIP: its neighbour entry holds a's MAC
    await waitFor('the client reaches the cache on the VIP', async () => (await probeVip(c, 100, VIP6)).ok.length > 0, 10_000);
    expect(neighbour()).toBe(macOf(lab, a));

    const probing = probeVip(c, 3000, VIP6);
    await new Promise((r) => setTimeout(r, 500));
    const stopAt = wallNow();
    await da.stop('SIGTERM', 5000);
    await waitFor(`b to hold ${VIP6}\n${db.output()}`, () => holds(b), 5000);
    await waitFor(`the client's entry to move to b's MAC (${macOf(lab, b)})`, () => neighbour() === macOf(lab, b), 3000);
    const p = await probing;
    const outage = longestOutage(p.ok, stopAt, stopAt + 2000);
    console.log(`IPv6 ${mode}: failover outage seen by the client ${outage} ms (${p.ok.length}/${p.sent} probes ok)`);
    expect(holds(a)).toBe(false);
    expect(p.ok.some((t) => t > stopAt + 100)).toBe(true);
    expect(outage).toBeLessThan(1500);
    expect(db.output()).not.toMatch(/"level":50/);
  }, 60_000);

  it('the MASTER node dies (haved killed, link down): b takes over and the client follows b\'s MAC', async () => {
    const [da, db] = await pair('multicast');
    await waitFor('the client reaches the cache on the VIP', async () => (await probeVip(c, 100, VIP6)).ok.length > 0, 10_000);
    expect(neighbour()).toBe(macOf(lab, a));
    const probing = probeVip(c, 3000, VIP6);
    await new Promise((r) => setTimeout(r, 500));
    const killAt = wallNow();
    await da.stop('SIGKILL');
    lab.exec(a.ns, ['ip', 'link', 'set', a.ifname, 'down']);
    try {
      await waitFor(`b to hold ${VIP6}\n${db.output()}`, () => holds(b), 5000);
      await waitFor(`the client's entry to move to b's MAC (${macOf(lab, b)})`, () => neighbour() === macOf(lab, b), 3000);
      const p = await probing;
      const outage = longestOutage(p.ok, killAt, killAt + 2000);
      console.log(`IPv6 multicast, MASTER node dead: outage seen by the client ${outage} ms (${p.ok.length}/${p.sent} probes ok)`);
      expect(p.ok.some((t) => t > killAt + 100)).toBe(true);
      expect(outage).toBeLessThan(1500);
    } finally {
      lab.exec(a.ns, ['ip', 'link', 'set', a.ifname, 'up']);
      lab.exec(a.ns, ['ip', '-6', 'addr', 'replace', `${v6(a)}/64`, 'dev', a.ifname, 'nodad']);
      await waitFor('a\'s link-local address', () => /fe80::/.test(addrs6(a)) && !/tentative/.test(addrs6(a)), 10_000);
    }
  }, 60_000);

  it('dual stack: an IPv4 and an IPv6 instance on the same pair move together', async () => {
    const vip4 = '198.18.0.100';
    const [da, db] = await pair('multicast', { ipv4Vip: vip4 });
    await waitFor(`a to hold ${vip4}\n${da.output()}`, () => holds4(a, vip4), 5000);
    await da.stop('SIGTERM', 5000);
    await waitFor(`b to hold both VIPs\n${db.output()}`, () => holds(b) && holds4(b, vip4), 5000);
    expect(holds(a) || holds4(a, vip4)).toBe(false);
  }, 60_000);

  it('an IPv6 VIP on an interface with IPv6 disabled: a clear error at start and FAULT, not a silent MASTER', async () => {
    const udpPort = await freePort();
    lab.exec(b.ns, ['sysctl', '-qw', `net.ipv6.conf.${b.ifname}.disable_ipv6=1`]);
    try {
      const file = scratch.write('b-noipv6.conf', conf(b, { priority: 100, udpPort }));
      const d = startHaved(lab, b, file, scratch.path('state-b-noipv6.json'));
      running.push(d);
      await waitFor(`the reason in the log\n${d.output()}`, () => d.output().includes(`interface ${b.ifname} has no IPv6 link-local address`), 5000);
      await new Promise((r) => setTimeout(r, 500));
      expect(d.output()).not.toMatch(/"msg":"[^"]*-> MASTER/);
      expect(holds(b)).toBe(false);
    } finally {
      lab.exec(b.ns, ['sysctl', '-qw', `net.ipv6.conf.${b.ifname}.disable_ipv6=0`]);
    }
  }, 30_000);
});
