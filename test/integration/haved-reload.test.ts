import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bin, type Daemon } from '../support/daemon.ts';
import { freePort } from '../support/ports.ts';
import { rootSkipReason } from '../support/root.ts';
import { createLab, type Lab, type LabNode } from '../support/netns.ts';
import { waitFor } from '../support/wait.ts';
import { Scratch, VIP, havedConf, startHaved, startMemcached, longestOutage, probeVip, wallNow, watchWhile, type NodeConf } from './haved-lab.ts';

/**
 * Reload as clients see it: nodes a (150, MASTER) and b (100) with a memcached each, and a client c probing
 * VIP:11211 every 10 ms through `haved reload` of a with (a) the same file and (b) a second VIP added. The first
 * VIP must never stop answering, and the peer must not miss an advert (it would see a master going away).
 */
const skip = rootSkipReason();
const VIP2 = '198.18.0.101';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(skip)('haved reload without a flap (namespaces, a client probing the VIP)', () => {
  let lab: Lab;
  let scratch: Scratch;
  let a: LabNode, b: LabNode, c: LabNode;
  let udpPort: number;
  const procs: Daemon[] = [];
  const haved: Record<string, Daemon> = {};
  const state = (n: LabNode) => scratch.path(`state-${n.name}.json`);
  const confText = (n: LabNode, o: Partial<NodeConf> & { vip2?: boolean } = {}) => {
    const text = havedConf({ node: n, priority: n === a ? 150 : 100, advertInt: '0.1', udpPort, check: null, ...o });
    const line = `        ${VIP}/32 dev ${n.ifname}\n`;
    return o.vip2 ? text.replace(line, `${line}        ${VIP2}/32 dev ${n.ifname}\n`) : text;
  };
  const ctl = (n: LabNode, ...args: string[]) => {
    const r = spawnSync(bin('haved'), [...args, '--state-file', state(n)], { encoding: 'utf8', timeout: 70_000 });
    return { code: r.status, out: r.stdout, err: r.stderr };
  };
  const status = (n: LabNode) => JSON.parse(ctl(n, 'status', '--json').out) as { updatedAt: string; instances: { state: string; transitions: Record<string, number>; counters: { advertsSent: number; advertsReceived: number } }[] };
  const vipOn = (n: LabNode, vip = VIP) => lab.addresses(n.name).includes(vip);
  const out = (n: LabNode) => haved[n.name]?.output() ?? '';

  const probe = (ms: number) => probeVip(c, ms);

  /** Polls every 10 ms while `during` runs whether the first VIP ever left a or appeared on b. */
  const vipMovedDuring = <T>(during: () => Promise<T>) => watchWhile(() => !vipOn(a) || vipOn(b), during);

  /**
   * Reloads a with `text` while c probes the VIP for 3 s (the reload 1 s in); returns the reload's reply, the
   * probes and the adverts b received against those a sent meanwhile.
   */
  const reloadUnderProbe = async (text: string) => {
    const probing = probe(3000);
    const t0 = wallNow();
    await sleep(1000);
    const before = { a: status(a), b: status(b) };
    const logFrom = out(a).length;
    scratch.write('a.conf', text);
    const watched = await vipMovedDuring(async () => {
      const r = ctl(a, 'reload');
      await sleep(1000);
      return r;
    });
    const after = { a: status(a), b: status(b) };
    const { sent, ok } = await probing;
    const elapsedMs = Date.parse(after.b.updatedAt) - Date.parse(before.b.updatedAt);
    const advertsSent = after.a.instances[0]!.counters.advertsSent - before.a.instances[0]!.counters.advertsSent;
    const advertsReceived = after.b.instances[0]!.counters.advertsReceived - before.b.instances[0]!.counters.advertsReceived;
    // a's adverts every 100 ms over b's window: what b should have received
    const expected = Math.floor(elapsedMs / 100);
    return { reply: watched.result, moved: watched.moved, sent, ok, outageMs: longestOutage(ok, t0 + 50, t0 + 2900), elapsedMs, expected, advertsSent, advertsReceived, before, after, log: out(a).slice(logFrom) };
  };

  beforeAll(async () => {
    udpPort = await freePort();
    scratch = new Scratch();
    lab = createLab('hr', ['a', 'b', 'c']);
    ({ a, b, c } = lab.nodes as Record<string, LabNode>);
    procs.push(startMemcached(lab, a), startMemcached(lab, b));
    haved.a = startHaved(lab, a, scratch.write('a.conf', confText(a)), state(a));
    await waitFor(`VIP on a\n${out(a)}`, () => vipOn(a), 15_000);
    haved.b = startHaved(lab, b, scratch.write('b.conf', confText(b)), state(b));
    await waitFor(`b BACKUP\n${out(b)}`, () => ctl(b, 'status').out.includes('VI_1: BACKUP'), 10_000);
  });

  afterAll(async () => {
    await Promise.all([...Object.values(haved), ...procs].map((d) => d.stop('SIGKILL')));
    lab?.destroy();
    scratch?.remove();
  });

  it('an unchanged file: kept; the VIP answers every probe and b misses no advert', async () => {
    const r = await reloadUnderProbe(confText(a));
    expect([r.reply.code, r.reply.out], r.reply.err).toEqual([0, 'configuration reloaded: kept VI_1; updated -; started -; stopped -\n']);
    console.log(
      `reload of an unchanged config under probe: ${r.sent - r.ok.length} of ${r.sent} probes failed, longest gap between answered probes ${r.outageMs} ms; ` +
        `in ${r.elapsedMs} ms around the reload b received ${r.advertsReceived} adverts (${Math.max(0, r.expected - r.advertsReceived)} missed of ${r.expected} due every 100 ms; a counted ${r.advertsSent} sent)`,
    );
    expect(r.moved).toBe(false);
    expect(r.ok.length).toBe(r.sent);
    // the two status reads are not simultaneous: one advert of slack either way
    expect(r.advertsReceived).toBeGreaterThanOrEqual(r.expected - 1);
    expect(r.advertsSent).toBeLessThanOrEqual(r.expected + 2);
    expect(r.after.a.instances[0]!.transitions).toEqual(r.before.a.instances[0]!.transitions);
    expect(r.after.b.instances[0]!.transitions).toEqual(r.before.b.instances[0]!.transitions);
    expect(r.log).toContain('configuration reloaded');
    expect(r.log).not.toMatch(/VIPs (added|removed)|-> (MASTER|BACKUP)/);
  });

  it('a second VIP added: only it is added and announced; the first VIP answers every probe', async () => {
    // The backup first, as an operator would (nothing to touch there), then the master under the probe.
    scratch.write('b.conf', confText(b, { vip2: true }));
    expect(ctl(b, 'reload').out).toContain('updated VI_1');
    const r = await reloadUnderProbe(confText(a, { vip2: true }));
    expect([r.reply.code, r.reply.out], r.reply.err).toEqual([0, `configuration reloaded: kept -; updated VI_1; started -; stopped -\n  VI_1: VIP added ${VIP2}/32 dev ${a.ifname}\n`]);
    console.log(`reload adding a second VIP under probe: ${r.sent - r.ok.length} of ${r.sent} probes of the first VIP failed, longest gap ${r.outageMs} ms; b received ${r.advertsReceived} adverts of ${r.expected} due (a counted ${r.advertsSent} sent)`);
    expect(r.moved).toBe(false);
    expect(r.ok.length).toBe(r.sent);
    expect(vipOn(a, VIP2)).toBe(true);
    expect(vipOn(b, VIP2)).toBe(false);
    expect(r.log).toContain('VIPs added by reload');
    expect(r.log).not.toMatch(/VIPs removed|-> (MASTER|BACKUP)/);
    // b missed none of the adverts a sent (one of slack: the status reads are not simultaneous). How many were due
    // is not asserted here: adding the VIP runs `ip` and announces it, and on a loaded machine a's advert timer
    // may slip (2.9 s for this reload once, 5 of 29 due adverts late); the flap it could cause is what the
    // transitions below rule out.
    expect(r.advertsReceived).toBeGreaterThanOrEqual(r.advertsSent - 1);
    expect(r.after.a.instances[0]!.transitions).toEqual(r.before.a.instances[0]!.transitions);
    expect(r.after.b.instances[0]!.transitions).toEqual(r.before.b.instances[0]!.transitions);
  });
});
