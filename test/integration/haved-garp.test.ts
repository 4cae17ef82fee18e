import { symlinkSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { arpingDirs, type ArpingDirs } from '../support/arping.ts';
import { bin, type Daemon } from '../support/daemon.ts';
import { freePort } from '../support/ports.ts';
import { rootSkipReason } from '../support/root.ts';
import { createLab, type Lab, type LabNode } from '../support/netns.ts';
import { waitFor } from '../support/wait.ts';
import { findOnPath } from '../../src/ha/adapters/arping.ts';
import { Scratch, VIP, clientNeighbour, havedConf, macOf } from './haved-lab.ts';

/**
 * Gratuitous ARP with both Debian arping flavours (iputils-arping and Habets' arping): the client holds a
 * stale neighbour entry for the VIP, haved takes the VIP, and the client's entry must move to haved's MAC.
 */
const skip = rootSkipReason();
const STALE_MAC = '02:00:00:00:00:01';

describe.skipIf(skip)('gratuitous ARP with either arping (namespaces)', () => {
  let lab: Lab;
  let scratch: Scratch;
  let a: LabNode, c: LabNode;
  let udpPort: number;
  let arping: ArpingDirs;
  const running: Daemon[] = [];

  beforeAll(async () => {
    udpPort = await freePort();
    scratch = new Scratch();
    lab = createLab('ga', ['a', 'c']);
    ({ a, c } = lab.nodes as Record<string, LabNode>);
    arping = arpingDirs();
  }, 300_000);

  afterEach(async () => {
    await Promise.all(running.splice(0).map((d) => d.stop('SIGTERM', 5000)));
  });

  afterAll(async () => {
    await Promise.all(running.map((d) => d.stop('SIGKILL')));
    lab?.destroy();
    scratch?.remove();
  });

  /** haved on `a` with `path` as its PATH; resolves once it holds the VIP. */
  async function start(path: string): Promise<Daemon> {
    const conf = havedConf({ node: a, priority: 100, advertInt: '0.1', udpPort, check: null }).replace('vrrp_garp_master_delay 0', 'vrrp_garp_master_delay 0\n    vrrp_garp_master_repeat 1');
    const file = scratch.write('a.conf', conf);
    const d = lab.spawn(a.ns, [bin('haved'), '-f', file, '--state-file', scratch.path('state-a.json')], { HAVED_LOG_JSON: '1', PATH: path });
    running.push(d);
    await waitFor(`the VIP on a\n${d.output()}`, () => lab.addresses('a').includes(VIP), 10_000);
    return d;
  }

  const staleEntry = () => lab.exec(c.ns, ['ip', 'neigh', 'replace', VIP, 'lladdr', STALE_MAC, 'nud', 'stale', 'dev', c.ifname]);

  it.each(['iputils', 'habets'] as const)('%s arping: detected at start, and the client learns the new MAC', async (flavour) => {
    const dir = arping.dirs[flavour];
    if (!dir) throw new Error(`no ${flavour} arping for this test: ${arping.problems.join('; ')}`);
    staleEntry();
    expect(clientNeighbour(lab, c)).toBe(STALE_MAC);
    const d = await start(`${dir}:${process.env.PATH}`);
    await waitFor(`the client's entry for the VIP to move to a's MAC\n${d.output()}`, () => clientNeighbour(lab, c) === macOf(lab, a), 3000);
    const name = flavour === 'habets' ? "Habets' arping" : 'iputils arping';
    expect(d.output()).toContain(`"msg":"gratuitous ARP with ${dir}/arping (${name})"`);
    expect(d.output()).not.toContain('gratuitous ARP failed');
  });

  it('without any arping: says at start that announcing is impossible, and still moves the VIP', async () => {
    // a PATH with what bin/haved and the VIP work need, but no arping
    const dir = scratch.path('no-arping');
    mkdirSync(dir);
    for (const cmd of ['dirname', 'readlink', 'ip']) symlinkSync(findOnPath(cmd)!, join(dir, cmd));
    staleEntry();
    const d = await start(dir);
    expect(d.output()).toMatch(/"level":50,.*"msg":"gratuitous ARP is impossible: no arping on PATH \(install iputils-arping or arping\)\. The VIPs still move, but clients/);
    await new Promise((r) => setTimeout(r, 300));
    expect(clientNeighbour(lab, c)).toBe(STALE_MAC); // nobody told the client
  });
});
