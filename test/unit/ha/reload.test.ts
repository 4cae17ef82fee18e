/**
 * Reload (SIGHUP, `haved reload`) of whole haved daemons over the in-memory advert network on fake time: what a
 * reload keeps, updates in place and rebuilds, seen from the wire (adverts), the addresses (`ip` commands) and
 * the states. The namespace test (haved-reload) proves it with real sockets and a client probing the VIP.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, configErrorList } from '../../../src/config/errors.ts';
import { parseConfigText } from '../../../src/config/load.ts';
import type { AdvertTransportFactory } from '../../../src/ha/adapters/advert-transport.ts';
import { VipManager } from '../../../src/ha/adapters/vip-manager.ts';
import { HaDaemon } from '../../../src/ha/daemon/daemon.ts';
import { reloadFromFile } from '../../../src/ha/daemon/reload-file.ts';
import { buildTrackers, type TrackBinding } from '../../../src/ha/daemon/trackers.ts';
import { AdvertNet, FakeIp } from '../../support/advert-net.ts';
import { FakeClock } from '../../support/fake-clock.ts';
import { settleTurns, whileTimeRuns } from '../../support/wait.ts';

const VIP1 = '198.18.0.100';
const VIP2 = '198.18.0.101';
const VIP3 = '198.18.0.102';

interface InstanceSpec {
  name?: string;
  vrid?: number;
  priority: number;
  nopreempt?: boolean;
  advertInt?: string;
  vips?: string[];
  pass?: string;
  /** unicast_src_ip and unicast_peer list (default: multicast). */
  unicast?: { src: string; peers: string[] };
}

const instance = (s: InstanceSpec) => `vrrp_instance ${s.name ?? 'VI_1'} {
    state BACKUP
    interface hv0
    virtual_router_id ${s.vrid ?? 51}
    priority ${s.priority}
    advert_int ${s.advertInt ?? '0.1'}
    ${s.nopreempt ? 'nopreempt' : ''}
    authentication {
        auth_type HMAC
        auth_pass ${s.pass ?? 'reload-test-key-0123456789'}
    }
${s.unicast ? `    unicast_src_ip ${s.unicast.src}\n    unicast_peer {\n${s.unicast.peers.map((p) => `        ${p}\n`).join('')}    }\n` : ''}    virtual_ipaddress {
${(s.vips ?? [VIP1]).map((v) => `        ${v.includes('/') ? v : `${v}/32`}\n`).join('')}    }
    garp_master_delay 0
}
`;

const flush = () => settleTurns(10);

const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const f of cleanup.splice(0)) await f();
});

interface Sent {
  at: number;
  node: string;
  vrid: number;
  priority: number;
}

/** Two (or more) haved nodes on one fake clock; every datagram sent is recorded (time, VRID, priority). */
function cluster(names: string[]) {
  const clock = new FakeClock();
  const net = new AdvertNet(clock);
  const ips = new Map(names.map((n) => [n, new FakeIp()]));
  const daemons = new Map<string, HaDaemon>();
  const sent: Sent[] = [];
  const address = (name: string) => `198.18.0.${names.indexOf(name) + 1}`;

  const recording = (name: string): AdvertTransportFactory => (opts) => {
    const t = net.transport(address(name))(opts);
    const note = (buf: Uint8Array) => {
      // Both kinds carry the VRID at byte 4; adverts (not hellos) are what a MASTER sends on its timer.
      sent.push({ at: clock.now(), node: name, vrid: buf[4]!, priority: buf[5]! });
    };
    return {
      start: () => t.start(),
      join: (g, i) => t.join(g, i),
      sendMulticast: (buf, g, i) => (note(buf), t.sendMulticast(buf, g, i)),
      sendUnicast: (buf, p, s) => (note(buf), t.sendUnicast(buf, p, s)),
      close: () => t.close(),
    };
  };

  const run = async (ms: number) => {
    for (let t = 0; t < ms; t += 10) {
      clock.advance(Math.min(10, ms - t));
      await flush();
    }
  };

  const parse = (name: string, text: string) => parseConfigText(text, `${name}.conf`, { localAddresses: [address(name)] });

  const start = async (name: string, text: string) => {
    const d = new HaDaemon({
      log: pino({ level: process.env.DBG ? 'debug' : 'silent' }),
      stateFile: null,
      configFile: `${name}.conf`,
      clock,
      vips: new VipManager({ run: (f, a, t) => ips.get(name)!.run(f, a, t), findArping: () => '/usr/sbin/arping' }),
      spawn: async () => ({ code: 0 }),
      transport: recording(name),
      interfaceAddress: () => address(name),
      interfaceUp: async () => null,
      scheduler: { schedule: () => ({ stop: () => {} }) }, // preempt_schedule's cron never fires here
    });
    await d.start(parse(name, text));
    daemons.set(name, d);
    return d;
  };

  /** Reloads while fake time runs (a resigning instance waits for its successor). */
  const reload = async (name: string, text: string) => {
    return whileTimeRuns(daemons.get(name)!.reload(parse(name, text)), () => run(10));
  };

  const stop = async (name: string) => {
    const d = daemons.get(name)!;
    daemons.delete(name);
    await whileTimeRuns(d.stop('SIGTERM'), () => run(10));
  };
  cleanup.push(async () => {
    for (const name of [...daemons.keys()]) await stop(name);
  });

  const inst = (name: string, which = 'VI_1') => daemons.get(name)!.status().instances.find((i) => i.name === which)!;
  const state = (name: string, which = 'VI_1') => inst(name, which).state;
  const holders = (vip: string) => [...ips].filter(([, ip]) => ip.addresses.has(vip)).map(([n]) => n);
  /** `ip` and `arping` commands a node ran from `from` on. */
  const commandsSince = (name: string, from: number) => ips.get(name)!.commands.slice(from);
  const transitions = (name: string, which = 'VI_1') => ({ ...inst(name, which).transitions });
  return { clock, net, ips, sent, run, start, reload, stop, inst, state, holders, commandsSince, transitions, daemons };
}

/** a (150) is MASTER with VIP1, b (120) BACKUP: the usual pair, settled. */
async function pair(a: Partial<InstanceSpec> = {}, b: Partial<InstanceSpec> = {}) {
  const c = cluster(['a', 'b']);
  await c.start('a', instance({ priority: 150, ...a }));
  await c.start('b', instance({ priority: 120, ...b }));
  await c.run(a.advertInt ? 4000 : 1000);
  expect([c.state('a'), c.state('b')]).toEqual(['MASTER', 'BACKUP']);
  expect(c.holders(VIP1)).toEqual(['a']);
  return c;
}

/** The gaps between one node's datagrams of one VRID in [from, to). */
const gaps = (sent: Sent[], node: string, from: number, to: number, vrid = 51) => {
  const at = sent.filter((s) => s.node === node && s.vrid === vrid && s.at >= from && s.at < to).map((s) => s.at);
  return at.slice(1).map((t, i) => t - at[i]!);
};

describe('reload: an unchanged instance is kept as it runs', () => {
  it('the MASTER keeps its state, its VIP and its advert timer: no burst, no gap, no `ip` command', async () => {
    const c = await pair();
    const cmds = c.ips.get('a')!.commands.length;
    const before = c.transitions('a');
    const bBefore = c.transitions('b');
    const t0 = c.clock.now();
    await c.run(55); // reload in the middle of an advert interval
    const r = await c.reload('a', instance({ priority: 150 }));
    await c.run(2000);
    expect(r).toMatchObject({ kept: ['VI_1'], updated: [], started: [], stopped: [] });
    expect(c.transitions('a')).toEqual(before);
    expect(c.transitions('b')).toEqual(bBefore);
    expect(c.state('b')).toBe('BACKUP');
    expect(c.commandsSince('a', cmds)).toEqual([]);
    expect(c.holders(VIP1)).toEqual(['a']);
    // every 100 ms, as before the reload: not one advert more or less
    expect(new Set(gaps(c.sent, 'a', t0, c.clock.now()))).toEqual(new Set([100]));
  });

  it('a BACKUP keeps its state and its hello cadence; a file that only moved lines is unchanged too', async () => {
    const c = await pair();
    const t0 = c.clock.now();
    const bBefore = c.transitions('b');
    const r = await c.reload('b', `\n\n# moved down\n${instance({ priority: 120 })}`);
    await c.run(2000);
    expect(r.kept).toEqual(['VI_1']);
    expect(c.transitions('b')).toEqual(bBefore);
    expect(new Set(gaps(c.sent, 'b', t0, c.clock.now()))).toEqual(new Set([100]));
    expect(c.commandsSince('b', 0).filter((x) => x.startsWith('ip addr add'))).toEqual([]);
  });
});

describe('reload: priority changes are re-evaluated with the preemption rules', () => {
  it('a BACKUP raised above the MASTER preempts; the VIP moves once', async () => {
    const c = await pair();
    const r = await c.reload('b', instance({ priority: 200 }));
    expect(r).toMatchObject({ kept: [], updated: ['VI_1'], started: [], stopped: [] });
    expect(r.changes.VI_1).toEqual(['priority 120 -> 200']);
    await c.run(1000);
    expect([c.state('a'), c.state('b')]).toEqual(['BACKUP', 'MASTER']);
    expect(c.holders(VIP1)).toEqual(['b']);
    expect(c.transitions('b').MASTER).toBe(1);
    expect(c.inst('b').basePriority).toBe(200);
  });

  it('a BACKUP raised above the MASTER with nopreempt stays BACKUP', async () => {
    const c = await pair({}, { nopreempt: true });
    await c.reload('b', instance({ priority: 200, nopreempt: true }));
    await c.run(3000);
    expect([c.state('a'), c.state('b')]).toEqual(['MASTER', 'BACKUP']);
    expect(c.holders(VIP1)).toEqual(['a']);
  });

  it('a MASTER lowered below a BACKUP yields to it (VRRP: the backup discards its lower adverts and takes over)', async () => {
    const c = await pair();
    const r = await c.reload('a', instance({ priority: 100 }));
    expect(r.updated).toEqual(['VI_1']);
    await c.run(1000);
    expect([c.state('a'), c.state('b')]).toEqual(['BACKUP', 'MASTER']);
    expect(c.holders(VIP1)).toEqual(['b']);
  });

  it('a MASTER lowered below a BACKUP that has nopreempt keeps the VIP', async () => {
    const c = await pair({}, { nopreempt: true });
    await c.reload('a', instance({ priority: 100 }));
    await c.run(3000);
    expect([c.state('a'), c.state('b')]).toEqual(['MASTER', 'BACKUP']);
    expect(c.holders(VIP1)).toEqual(['a']);
  });

  it('a MASTER raised or a BACKUP lowered changes nobody\'s state', async () => {
    const c = await pair();
    await c.reload('a', instance({ priority: 200 }));
    await c.reload('b', instance({ priority: 50 }));
    await c.run(2000);
    expect([c.state('a'), c.state('b')]).toEqual(['MASTER', 'BACKUP']);
    expect(c.transitions('a').MASTER).toBe(1);
  });

  it('removing nopreempt from a higher-priority BACKUP lets it preempt', async () => {
    const c = cluster(['a', 'b']);
    await c.start('b', instance({ priority: 120 }));
    await c.run(1000);
    await c.start('a', instance({ priority: 150, nopreempt: true }));
    await c.run(1000);
    expect([c.state('a'), c.state('b')]).toEqual(['BACKUP', 'MASTER']);
    const r = await c.reload('a', instance({ priority: 150 }));
    expect(r.changes.VI_1).toEqual(['nopreempt true -> false']);
    await c.run(1000);
    expect([c.state('a'), c.state('b')]).toEqual(['MASTER', 'BACKUP']);
  });
});

describe('reload: VIPs added or removed touch only that address', () => {
  it('on the MASTER: an added VIP is `ip addr add`ed and announced alone; the first VIP is not touched', async () => {
    const c = await pair();
    const cmds = c.ips.get('a')!.commands.length;
    const r = await c.reload('a', instance({ priority: 150, vips: [VIP1, VIP2] }));
    await c.run(500);
    expect(r.changes.VI_1).toEqual([`VIP added ${VIP2}/32 dev hv0`]);
    expect(c.commandsSince('a', cmds)).toEqual([
      `ip addr add ${VIP2}/32 dev hv0`,
      ...Array(5).fill(`/usr/sbin/arping -U -c 1 -I hv0 ${VIP2}`),
    ]);
    expect(c.holders(VIP1)).toEqual(['a']);
    expect(c.holders(VIP2)).toEqual(['a']);
    expect(c.transitions('a').MASTER).toBe(1);
  });

  it('on the MASTER: a removed VIP is `ip addr del`ed alone', async () => {
    const c = await pair({ vips: [VIP1, VIP2, VIP3] });
    expect(c.holders(VIP2)).toEqual(['a']);
    const cmds = c.ips.get('a')!.commands.length;
    await c.reload('a', instance({ priority: 150, vips: [VIP1, VIP3] }));
    await c.run(500);
    expect(c.commandsSince('a', cmds)).toEqual([`ip addr del ${VIP2}/32 dev hv0`]);
    expect(c.holders(VIP1)).toEqual(['a']);
    expect(c.holders(VIP2)).toEqual([]);
    expect(c.holders(VIP3)).toEqual(['a']);
  });

  it('on a BACKUP: nothing is run; the added VIP comes with the others when it becomes MASTER', async () => {
    const c = await pair();
    const cmds = c.ips.get('b')!.commands.length;
    await c.reload('b', instance({ priority: 120, vips: [VIP1, VIP2] }));
    await c.run(500);
    expect(c.commandsSince('b', cmds)).toEqual([]);
    await c.stop('a');
    await c.run(500);
    expect(c.holders(VIP1)).toEqual(['b']);
    expect(c.holders(VIP2)).toEqual(['b']);
  });

  it('a VIP whose attributes change (a label) is removed and added again; the others stay', async () => {
    const c = await pair({ vips: [VIP1, VIP2] });
    const cmds = c.ips.get('a')!.commands.length;
    await c.reload('a', instance({ priority: 150, vips: [VIP1, `${VIP2}/32 dev hv0 label hv0:2`] }));
    await c.run(500);
    const ran = c.commandsSince('a', cmds);
    expect(ran.filter((x) => x.startsWith('ip '))).toEqual([`ip addr del ${VIP2}/32 dev hv0`, `ip addr add ${VIP2}/32 dev hv0 label hv0:2`]);
    expect(ran.some((x) => x.includes(VIP1))).toBe(false);
  });
});

describe('reload: preempt_schedule', () => {
  const scheduled = (priority: number, expr: string | null) =>
    instance({ priority }).replace('    garp_master_delay 0', `    garp_master_delay 0${expr ? `\n    preempt_schedule "${expr}"` : ''}`);

  it('another closed window keeps a waiting BACKUP waiting; removing the schedule lets it preempt', async () => {
    const c = cluster(['a', 'b']);
    await c.start('a', instance({ priority: 150 }));
    await c.run(1000);
    await c.start('b', scheduled(200, '0 3 * * *'));
    await c.run(2000);
    expect([c.state('a'), c.state('b')]).toEqual(['MASTER', 'BACKUP']);
    const r = await c.reload('b', scheduled(200, '0 4 * * *'));
    expect(r.changes.VI_1).toEqual(['preempt_schedule "0 3 * * *" -> "0 4 * * *"']);
    await c.run(2000);
    expect([c.state('a'), c.state('b')]).toEqual(['MASTER', 'BACKUP']);
    await c.reload('b', scheduled(200, null));
    await c.run(2000);
    expect([c.state('a'), c.state('b')]).toEqual(['BACKUP', 'MASTER']);
  });
});

describe('reload: VIP work racing other VIP work', () => {
  it('a VIP removed while the MASTER hands over (its removal queued before the reload) leaves no address behind', async () => {
    const c = await pair({ vips: [VIP1, VIP2] }, { vips: [VIP1, VIP2] });
    void c.daemons.get('b')!.reload(parseConfigText(instance({ priority: 200, vips: [VIP1, VIP2] }), 'b.conf', { localAddresses: ['198.18.0.2'] }));
    for (let i = 0; i < 300 && c.state('a') === 'MASTER'; i++) await c.run(10);
    expect(c.state('a')).toBe('BACKUP');
    expect(c.inst('a').vipsInstalled).toBe(true); // still in the hand-over grace
    await c.reload('a', instance({ priority: 150, vips: [VIP1] }));
    await c.run(500);
    expect(c.holders(VIP1)).toEqual(['b']);
    expect(c.holders(VIP2)).toEqual(['b']);
  });

  it('an added VIP that cannot be added is logged and retried; the MASTER keeps the others', async () => {
    const c = await pair();
    const ip = c.ips.get('a')!;
    const real = ip.run;
    let refuse = true;
    (ip as { run: typeof real }).run = async (file, args, t) =>
      refuse && file === 'ip' && args[1] === 'add' && args[2] === `${VIP2}/32` ? { exitCode: 2, stderr: 'Cannot find device' } : real(file, args, t);
    expect(c.state('a')).toBe('MASTER');
    await c.reload('a', instance({ priority: 150, vips: [VIP1, VIP2] }));
    await c.run(1000);
    expect(c.state('a')).toBe('MASTER');
    expect(c.holders(VIP1)).toEqual(['a']);
    expect(c.holders(VIP2)).toEqual([]);
    refuse = false;
    await c.run(5000);
    expect(c.holders(VIP2)).toEqual(['a']);
    expect(c.transitions('a').MASTER).toBe(1);
  });
});

describe('reload: advert_int changes re-arm the timers without a flap', () => {
  for (const [from, to] of [['0.1', '0.5'], ['0.5', '0.1']] as const) {
    it(`MASTER ${from} s -> ${to} s: the new cadence, the backup follows, no state changes`, async () => {
      const c = await pair({ advertInt: from }, { advertInt: from });
      const tb = c.transitions('b');
      const r = await c.reload('a', instance({ priority: 150, advertInt: to }));
      expect(r.changes.VI_1).toEqual([`advert_int ${from} -> ${to}`]);
      const t0 = c.clock.now();
      await c.run(5000);
      expect([c.state('a'), c.state('b')]).toEqual(['MASTER', 'BACKUP']);
      expect(c.transitions('b')).toEqual(tb);
      expect(c.inst('a').advertIntMs).toBe(Number(to) * 1000);
      const g = gaps(c.sent, 'a', t0, c.clock.now());
      expect(g.slice(-3)).toEqual([Number(to) * 1000, Number(to) * 1000, Number(to) * 1000]);
      expect(Math.max(...g)).toBeLessThanOrEqual(Number(to) * 1000);
    });
  }
});

describe('reload: advert_int lengthened while the backup misses the first advert', () => {
  it('the MASTER keeps the old cadence for a few adverts: the backup learns the new interval without taking over', async () => {
    const c = await pair();
    const tb = c.transitions('b');
    c.net.cut(['198.18.0.1'], ['198.18.0.2']);
    await c.daemons.get('a')!.reload(parseConfigText(instance({ priority: 150, advertInt: '1' }), 'a.conf', { localAddresses: ['198.18.0.1'] }));
    c.net.heal();
    await c.run(5000);
    expect([c.state('a'), c.state('b')]).toEqual(['MASTER', 'BACKUP']);
    expect(c.transitions('b')).toEqual(tb);
    expect(c.inst('b').master).toMatchObject({ nodeId: '198.18.0.1' });
  });
});

describe('reload: changes that cannot apply in place rebuild the instance', () => {
  it('a VRID change: the old instance resigns (priority 0) and releases its VIP, the new one starts in BACKUP', async () => {
    const c = await pair();
    const cmds = c.ips.get('a')!.commands.length;
    const t0 = c.clock.now();
    const r = await c.reload('a', instance({ priority: 150, vrid: 52 }));
    expect(r).toMatchObject({ kept: [], updated: [], started: ['VI_1'], stopped: ['VI_1'] });
    expect(r.changes.VI_1).toEqual(['virtual_router_id changed: stopped, then started in BACKUP']);
    expect(c.sent.some((s) => s.node === 'a' && s.vrid === 51 && s.priority === 0 && s.at >= t0)).toBe(true);
    expect(c.commandsSince('a', cmds)[0]).toBe(`ip addr del ${VIP1}/32 dev hv0`);
    expect(c.inst('a').vrid).toBe(52);
    expect(c.inst('a').lastTransition).toMatchObject({ from: 'INIT', to: 'BACKUP' });
    expect(c.state('b')).toBe('MASTER');
    expect(c.holders(VIP1)).toEqual(['b']);
  });

  it('an authentication change rebuilds; a rebuilt instance is reported as stopped and started', async () => {
    const c = await pair();
    const r = await c.reload('b', instance({ priority: 120, pass: 'another-key-0123456789abcdef' }));
    expect(r).toMatchObject({ stopped: ['VI_1'], started: ['VI_1'] });
    expect(r.changes.VI_1![0]).toMatch(/^authentication changed: rebuilt/);
    expect(c.inst('b').lastTransition).toMatchObject({ from: 'INIT', to: 'BACKUP' });
  });

  it('a removed instance resigns and releases its VIPs; the other instance is not touched; a new one starts in BACKUP', async () => {
    const c = cluster(['a', 'b']);
    const two = (p: number) => instance({ priority: p }) + instance({ name: 'VI_2', vrid: 52, priority: p, vips: [VIP2] });
    await c.start('a', two(150));
    await c.start('b', two(120));
    await c.run(1000);
    expect(c.holders(VIP2)).toEqual(['a']);
    const cmds = c.ips.get('a')!.commands.length;
    const t0 = c.clock.now();
    const r = await c.reload('a', instance({ priority: 150 }) + instance({ name: 'VI_3', vrid: 53, priority: 150, vips: [VIP3] }));
    expect(r).toMatchObject({ kept: ['VI_1'], updated: [], started: ['VI_3'], stopped: ['VI_2'] });
    expect(c.sent.some((s) => s.node === 'a' && s.vrid === 52 && s.priority === 0 && s.at >= t0)).toBe(true);
    expect(c.commandsSince('a', cmds)).toEqual([`ip addr del ${VIP2}/32 dev hv0`]);
    expect(c.state('b', 'VI_2')).toBe('MASTER');
    expect(c.holders(VIP2)).toEqual(['b']);
    expect(c.holders(VIP1)).toEqual(['a']);
    expect(c.inst('a', 'VI_3').lastTransition).toMatchObject({ from: 'INIT', to: 'BACKUP' });
    expect(c.transitions('a').MASTER).toBe(1);
  });
});

describe('reload: unicast peers', () => {
  it('a changed peer list applies in place; switching to multicast rebuilds', async () => {
    const uni = (self: string, peers: string[]) => ({ unicast: { src: self, peers } });
    const c = await pair(uni('198.18.0.1', ['198.18.0.2']), uni('198.18.0.2', ['198.18.0.1']));
    const ta = c.transitions('a');
    const r = await c.reload('a', instance({ priority: 150, ...uni('198.18.0.1', ['198.18.0.2', '198.18.0.3']) }));
    expect(r).toMatchObject({ updated: ['VI_1'], changes: { VI_1: ['unicast_peer changed'] } });
    await c.run(2000);
    expect(c.transitions('a')).toEqual(ta);
    expect([c.state('a'), c.state('b')]).toEqual(['MASTER', 'BACKUP']);
    const m = await c.reload('a', instance({ priority: 150 }));
    expect(m).toMatchObject({ stopped: ['VI_1'], started: ['VI_1'], changes: { VI_1: ['unicast/multicast mode changed: rebuilt (stopped, then started in BACKUP)'] } });
  });
});

describe('reload from the file', () => {
  it('an invalid file is refused whole with file:line errors; the running configuration stays', async () => {
    const c = await pair();
    const dir = mkdtempSync(join(tmpdir(), 'haved-reload-'));
    try {
      const file = join(dir, 'haved.conf');
      writeFileSync(file, instance({ priority: 200, vips: [VIP1, VIP2] }).replace('priority 200', 'prority 200').replace('advert_int 0.1', 'advert_int abc'));
      const cmds = c.ips.get('a')!.commands.length;
      const before = c.transitions('a');
      const err = await reloadFromFile(c.daemons.get('a')!, file, pino({ level: 'silent' })).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConfigError);
      const messages = configErrorList(err as ConfigError).map((x) => x.message);
      expect(messages.length).toBeGreaterThanOrEqual(2);
      for (const m of messages) expect(m).toMatch(new RegExp(`^${file}:\\d+: `));
      expect(messages.join('\n')).toContain("did you mean 'priority'");
      await c.run(1000);
      expect(c.commandsSince('a', cmds)).toEqual([]);
      expect(c.transitions('a')).toEqual(before);
      expect(c.inst('a').basePriority).toBe(150);
      expect(c.inst('a').vips).toEqual([`${VIP1}/32 dev hv0`]);

      writeFileSync(file, instance({ priority: 150, vips: [VIP1, VIP2] }));
      const r = await reloadFromFile(c.daemons.get('a')!, file, pino({ level: 'silent' }));
      expect(r.updated).toEqual(['VI_1']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('reload: checks restart only when their own settings change', () => {
  const withScript = (interval: number, weight: number, priority = 150) => `vrrp_script chk {
    script "/bin/true"
    interval ${interval}
    weight ${weight}
}
${instance({ priority }).replace('    garp_master_delay 0', '    garp_master_delay 0\n    track_script {\n        chk\n    }')}`;
  const trackers = (text: string, previous: Map<string, TrackBinding>) =>
    buildTrackers(parseConfigText(text, 'a.conf', { localAddresses: ['198.18.0.1'] }), { clock: new FakeClock(), log: pino({ level: 'silent' }), spawn: async () => ({ code: 0 }), onChange: () => {} }, previous);

  it('an instance priority or a script weight change keeps the script check; its interval changes it', () => {
    const first = trackers(withScript(2, -20), new Map());
    const same = trackers(withScript(2, -20, 100), first);
    expect(same.get('script chk')!.tracker).toBe(first.get('script chk')!.tracker);
    expect(same.get('interface hv0')!.tracker).toBe(first.get('interface hv0')!.tracker);
    const weight = trackers(withScript(2, -50), same);
    expect(weight.get('script chk')!.tracker).toBe(first.get('script chk')!.tracker);
    const interval = trackers(withScript(3, -50), weight);
    expect(interval.get('script chk')!.tracker).not.toBe(first.get('script chk')!.tracker);
  });
});
