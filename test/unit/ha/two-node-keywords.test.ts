/**
 * The keepalived keywords of two-node setups, on whole haved daemons over the in-memory advert network with
 * fake time: virtual_ipaddress_excluded, virtual_routes, dont_track_primary and track_interface weights,
 * seen from the `ip` commands, the adverts on the wire and the states; and what a reload of each touches.
 */
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfigText } from '../../../src/config/load.ts';
import type { AdvertTransportFactory } from '../../../src/ha/adapters/advert-transport.ts';
import { VipManager } from '../../../src/ha/adapters/vip-manager.ts';
import { RouteManager } from '../../../src/ha/adapters/route-manager.ts';
import { HaDaemon } from '../../../src/ha/daemon/daemon.ts';
import { AdvertCodec } from '../../../src/proto/advert/index.ts';
import { AdvertNet, FakeIp } from '../../support/advert-net.ts';
import { FakeClock } from '../../support/fake-clock.ts';
import { settleTurns, whileTimeRuns } from '../../support/wait.ts';

const KEY = 'two-node-test-key-0123456789';
const conf = (body: string, priority = 150) => `vrrp_instance VI_1 {
    state BACKUP
    interface hv0
    virtual_router_id 51
    priority ${priority}
    advert_int 0.1
    authentication {
        auth_type HMAC
        auth_pass ${KEY}
    }
    virtual_ipaddress {
        198.18.0.100/32
    }
    garp_master_delay 0
${body}
}
`;

const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const f of cleanup.splice(0)) await f();
});

/** One haved node on a fake clock; its `ip` commands, the VIP lists of its adverts and its interfaces' states. */
async function node(body: string, priority = 150) {
  const clock = new FakeClock();
  const net = new AdvertNet(clock);
  const ip = new FakeIp();
  const advertVips: string[][] = [];
  const codec = new AdvertCodec({ auth: { type: 'HMAC', key: KEY } });
  const transport: AdvertTransportFactory = (opts) => {
    const t = net.transport('198.18.0.1')(opts);
    const note = (buf: Uint8Array) => {
      const r = codec.decode(Buffer.from(buf));
      if (r.ok && r.message.kind === 'ADVERT') advertVips.push(r.message.vips.map((v) => `${v.address}/${v.prefix}`));
    };
    return {
      start: () => t.start(),
      join: (g, i) => t.join(g, i),
      sendMulticast: (buf, g, i) => (note(buf), t.sendMulticast(buf, g, i)),
      sendUnicast: (buf, p, s) => (note(buf), t.sendUnicast(buf, p, s)),
      close: () => t.close(),
    };
  };
  const down = new Set<string>();
  let failRoutes = false;
  const lines: Record<string, unknown>[] = [];
  const d = new HaDaemon({
    log: pino({ level: 'info' }, { write: (x: string) => void lines.push(JSON.parse(x)) }),
    stateFile: null,
    configFile: 'a.conf',
    clock,
    vips: new VipManager({ run: ip.run, findArping: () => '/usr/sbin/arping' }),
    routes: new RouteManager({
      run: async (f, a, t) => (failRoutes && a[1] === 'add' ? { exitCode: 2, stderr: 'Error: Nexthop has invalid gateway.' } : ip.run(f, a, t)),
    }),
    spawn: async () => ({ code: 0 }),
    transport,
    interfaceAddress: () => '198.18.0.1',
    interfaceUp: async (name) => (down.has(name) ? `interface ${name} is down` : null),
    scheduler: { schedule: () => ({ stop: () => {} }) },
  });
  const run = async (ms: number) => {
    for (let t = 0; t < ms; t += 10) {
      clock.advance(Math.min(10, ms - t));
      await settleTurns(10);
    }
  };
  const parse = (text: string) => parseConfigText(text, 'a.conf', { localAddresses: ['198.18.0.1'] });
  await d.start(parse(conf(body, priority)));
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await whileTimeRuns(d.stop('SIGTERM'), () => run(10));
  };
  cleanup.push(stop);
  const reload = async (b: string) => {
    return whileTimeRuns(d.reload(parse(conf(b, priority))), () => run(10));
  };
  const inst = () => d.status().instances[0]!;
  const ipCommands = () => ip.commands.filter((c) => c.startsWith('ip '));
  return { clock, ip, d, run, stop, reload, inst, ipCommands, advertVips, down, lines, failRoutes: () => void (failRoutes = true) };
}

describe('virtual_ipaddress_excluded', () => {
  const EXCLUDED = '    virtual_ipaddress_excluded {\n        198.18.0.101/24 dev hv1\n        198.18.0.102/32\n    }';

  it('added and removed with the VIPs, announced, but not carried in adverts', async () => {
    const n = await node(EXCLUDED);
    await n.run(1000);
    expect(n.inst().state).toBe('MASTER');
    expect([...n.ip.addresses].sort()).toEqual(['198.18.0.100', '198.18.0.101', '198.18.0.102']);
    expect(n.ipCommands()).toEqual([
      'ip addr del 198.18.0.100/32 dev hv0', // stale ones left by a crash, at start
      'ip addr del 198.18.0.101/24 dev hv1',
      'ip addr del 198.18.0.102/32 dev hv0',
      'ip addr add 198.18.0.100/32 dev hv0',
      'ip addr add 198.18.0.101/24 dev hv1',
      'ip addr add 198.18.0.102/32 dev hv0',
    ]);
    expect(n.ip.commands.filter((c) => c.includes('arping')).join('\n')).toMatch(/198\.18\.0\.101[\s\S]*198\.18\.0\.102/);
    expect(n.advertVips.length).toBeGreaterThan(5);
    expect(new Set(n.advertVips.map((v) => v.join(',')))).toEqual(new Set(['198.18.0.100/32']));
    await n.stop();
    expect(n.ip.addresses.size).toBe(0);
  });

  it('a reload that adds or removes an excluded address touches only that address', async () => {
    const n = await node(EXCLUDED);
    await n.run(1000);
    const before = n.ip.commands.length;
    const r = await n.reload('    virtual_ipaddress_excluded {\n        198.18.0.101/24 dev hv1\n        198.18.0.103/32\n    }');
    await n.run(500);
    expect(r.updated).toEqual(['VI_1']);
    expect(r.changes.VI_1).toEqual(['excluded address added 198.18.0.103/32 dev hv0', 'excluded address removed 198.18.0.102/32 dev hv0']);
    expect(n.ip.commands.slice(before).filter((c) => c.startsWith('ip '))).toEqual(['ip addr del 198.18.0.102/32 dev hv0', 'ip addr add 198.18.0.103/32 dev hv0']);
    expect(n.inst().state).toBe('MASTER');
    expect(n.inst().transitions).toEqual({ BACKUP: 1, MASTER: 1 });
  });
});

describe('virtual_routes', () => {
  const ROUTES = '    virtual_routes {\n        198.18.10.0/24 via 198.18.0.254 dev hv0\n        blackhole 198.18.11.0/24\n    }';

  it('added after the addresses on becoming MASTER, removed before them on leaving', async () => {
    const n = await node(ROUTES);
    const start = n.ipCommands().length;
    expect(n.ipCommands()).toEqual([
      'ip route del blackhole 198.18.11.0/24 proto 18', // stale, at start (last first)
      'ip route del 198.18.10.0/24 via 198.18.0.254 dev hv0 proto 18',
      'ip addr del 198.18.0.100/32 dev hv0',
    ]);
    await n.run(1000);
    expect(n.ipCommands().slice(start)).toEqual([
      'ip addr add 198.18.0.100/32 dev hv0',
      'ip route add 198.18.10.0/24 via 198.18.0.254 dev hv0 proto 18',
      'ip route add blackhole 198.18.11.0/24 proto 18',
    ]);
    const master = n.ipCommands().length;
    await n.stop();
    expect(n.ipCommands().slice(master)).toEqual([
      'ip route del blackhole 198.18.11.0/24 proto 18',
      'ip route del 198.18.10.0/24 via 198.18.0.254 dev hv0 proto 18',
      'ip addr del 198.18.0.100/32 dev hv0',
    ]);
  });

  it('a failing route is logged and the VIP stays: the instance remains MASTER', async () => {
    const n = await node(ROUTES);
    n.failRoutes();
    await n.run(1000);
    expect(n.inst().state).toBe('MASTER');
    expect([...n.ip.addresses]).toEqual(['198.18.0.100']);
    const errors = n.lines.filter((l) => l.msg === 'cannot add a virtual route').map((l) => l.err);
    expect(errors).toEqual([
      'ip route add 198.18.10.0/24 via 198.18.0.254 dev hv0 proto 18: Error: Nexthop has invalid gateway. (a.conf:16)',
      'ip route add blackhole 198.18.11.0/24 proto 18: Error: Nexthop has invalid gateway. (a.conf:17)',
    ]);
  });

  it('a reload touches only the route added or removed; a BACKUP adds none', async () => {
    const n = await node(ROUTES);
    await n.run(1000);
    const before = n.ipCommands().length;
    const r = await n.reload('    virtual_routes {\n        198.18.10.0/24 via 198.18.0.254 dev hv0\n        198.18.12.0/24 dev hv0 metric 7\n    }');
    await n.run(500);
    expect(r.changes.VI_1).toEqual(['route added 198.18.12.0/24 dev hv0 metric 7', 'route removed blackhole 198.18.11.0/24']);
    expect(n.ipCommands().slice(before)).toEqual(['ip route del blackhole 198.18.11.0/24 proto 18', 'ip route add 198.18.12.0/24 dev hv0 metric 7 proto 18']);
    expect(n.inst().transitions).toEqual({ BACKUP: 1, MASTER: 1 });
  });
});

describe('dont_track_primary and track_interface', () => {
  it('a MASTER kept through a link down puts its virtual routes back when the link returns', async () => {
    const n = await node('    dont_track_primary\n    virtual_routes {\n        198.18.10.0/24 via 198.18.0.254 dev hv0\n    }');
    await n.run(1000);
    n.down.add('hv0');
    await n.run(1500);
    const before = n.ipCommands().length;
    n.down.delete('hv0');
    await n.run(1500);
    expect(n.inst().state).toBe('MASTER');
    expect(n.ipCommands().slice(before)).toEqual(['ip route add 198.18.10.0/24 via 198.18.0.254 dev hv0 proto 18']);
  });


  it('the instance interface down: FAULT (VIP released); back up: MASTER again', async () => {
    const n = await node('');
    await n.run(1000);
    expect(n.inst().state).toBe('MASTER');
    n.down.add('hv0');
    await n.run(1500);
    expect(n.inst().state).toBe('FAULT');
    expect(n.ip.addresses.size).toBe(0);
    n.down.delete('hv0');
    await n.run(1500);
    expect(n.inst().state).toBe('MASTER');
    expect([...n.ip.addresses]).toEqual(['198.18.0.100']);
  });

  it('dont_track_primary: the instance interface down changes nothing', async () => {
    const n = await node('    dont_track_primary');
    await n.run(1000);
    n.down.add('hv0');
    await n.run(1500);
    expect(n.inst().state).toBe('MASTER');
    expect(n.inst().faults).toEqual([]);
    expect([...n.ip.addresses]).toEqual(['198.18.0.100']);
  });

  it('track_interface with a weight changes the priority; without one it is a FAULT', async () => {
    const n = await node('    track_interface {\n        hv1 weight -20\n        hv2\n    }');
    await n.run(1000);
    expect(n.inst()).toMatchObject({ state: 'MASTER', priority: 150 });
    n.down.add('hv1');
    await n.run(1500);
    expect(n.inst()).toMatchObject({ state: 'MASTER', priority: 130 });
    n.down.add('hv2');
    await n.run(1500);
    expect(n.inst().state).toBe('FAULT');
    n.down.clear();
    await n.run(1500);
    expect(n.inst()).toMatchObject({ state: 'MASTER', priority: 150 });
  });

  it('a reload that sets dont_track_primary clears the FAULT of the instance interface, without a restart', async () => {
    const n = await node('');
    await n.run(1000);
    n.down.add('hv0');
    await n.run(1500);
    expect(n.inst().state).toBe('FAULT');
    const r = await n.reload('    dont_track_primary');
    await n.run(1500);
    expect(r.changes.VI_1).toEqual(['dont_track_primary false -> true']);
    expect(n.inst().state).toBe('MASTER');
  });
});

describe('garp_master_refresh', () => {
  const arpings = (n: Awaited<ReturnType<typeof node>>) => n.ip.commands.filter((c) => c.includes('arping')).length;

  it('while MASTER: garp_master_refresh_repeat GARPs every period; a reload changes the period without a transition', async () => {
    const n = await node('    garp_master_repeat 1\n    garp_master_refresh 1\n    garp_master_refresh_repeat 2');
    await n.run(1000);
    expect(n.inst().state).toBe('MASTER');
    const first = arpings(n);
    await n.run(3000);
    expect(arpings(n) - first).toBe(3 * 2);
    const r = await n.reload('    garp_master_repeat 1\n    garp_master_refresh 0.5\n    garp_master_refresh_repeat 2');
    expect(r.changes.VI_1).toEqual(['garp_master_refresh 1 -> 0.5']);
    const before = arpings(n);
    await n.run(3000);
    expect(arpings(n) - before).toBeGreaterThanOrEqual(5 * 2); // every 0.5 s now
    expect(arpings(n) - before).toBeLessThanOrEqual(6 * 2);
    expect(n.inst().transitions).toEqual({ BACKUP: 1, MASTER: 1 });
    await n.stop();
    const stopped = arpings(n);
    await n.run(3000);
    expect(arpings(n)).toBe(stopped);
  });
});
