/**
 * Whole haved daemons (HaDaemon: runtimes, codec, VIP manager, trackers) electing over an in-memory advert network
 * on fake time: the scenarios of the namespace tests that do not need a kernel, in milliseconds and without root.
 * The namespace tests (haved-failover, haved-split-brain, e2e-haved) prove the UDP, `ip` and `arping` adapters.
 */
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfigText } from '../../../src/config/load.ts';
import { VipManager } from '../../../src/ha/adapters/vip-manager.ts';
import { HaDaemon } from '../../../src/ha/daemon/daemon.ts';
import { AdvertNet, FakeIp } from '../../support/advert-net.ts';
import { FakeClock } from '../../support/fake-clock.ts';
import { mulberry32 } from '../../support/prng.ts';
import { settleTurns, whileTimeRuns } from '../../support/wait.ts';

const VIP = '198.18.0.100';

interface NodeSpec {
  name: string;
  address: string;
  priority: number;
  nopreempt?: boolean;
}

const conf = (n: NodeSpec, all: NodeSpec[], unicast: boolean) => `vrrp_instance VI_1 {
    state BACKUP
    interface hv0
    virtual_router_id 51
    priority ${n.priority}
    advert_int 0.1
    ${n.nopreempt ? 'nopreempt' : ''}
    authentication {
        auth_type HMAC
        auth_pass elections-test-key-0123456789
    }
    ${unicast ? `unicast_src_ip ${n.address}\n    unicast_peer {\n${all.filter((o) => o !== n).map((o) => `        ${o.address}\n`).join('')}    }` : ''}
    virtual_ipaddress {
        ${VIP}/32
    }
    garp_master_delay 0
}
`;

const flush = () => settleTurns(10);

/** Each cluster's way to stop its daemons (fake time has to run while they hand over). */
const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const f of cleanup.splice(0)) await f();
});

/** A cluster of haved nodes on one fake clock and one in-memory network. */
function cluster(specs: NodeSpec[], opts: { unicast?: boolean } = {}) {
  const clock = new FakeClock();
  const net = new AdvertNet(clock);
  const ips = new Map(specs.map((s) => [s.name, new FakeIp()]));
  const daemons = new Map<string, HaDaemon>();

  /** Fake time passes in 10 ms steps, with the VIP work (promises) done between steps. */
  const run = async (ms: number) => {
    for (let t = 0; t < ms; t += 10) {
      clock.advance(Math.min(10, ms - t));
      await flush();
    }
  };

  const start = async (name: string) => {
    const spec = specs.find((s) => s.name === name)!;
    const cfg = parseConfigText(conf(spec, specs, opts.unicast ?? false), `${name}.conf`, { localAddresses: [spec.address] });
    const d = new HaDaemon({
      log: pino({ level: process.env.DBG ? 'debug' : 'silent' }), stateFile: null, configFile: `${name}.conf`, clock,
      vips: new VipManager({ run: ips.get(name)!.run, findArping: () => '/usr/sbin/arping' }),
      spawn: async () => ({ code: 0 }),
      transport: net.transport(spec.address),
      interfaceAddress: () => spec.address,
      interfaceUp: async () => null,
    });
    await d.start(cfg);
    daemons.set(name, d);
  };

  /** A clean stop (SIGTERM): priority 0, VIPs handed over; time runs meanwhile. */
  const stop = async (name: string) => {
    const d = daemons.get(name)!;
    daemons.delete(name);
    await whileTimeRuns(d.stop('SIGTERM'), () => run(10));
  };

  cleanup.push(async () => {
    for (const name of [...daemons.keys()]) await stop(name);
  });

  const state = (name: string) => daemons.get(name)?.status().instances[0]!.state;
  const masters = () => [...daemons.keys()].filter((n) => state(n) === 'MASTER');
  const holders = () => [...ips].filter(([, ip]) => ip.addresses.has(VIP)).map(([n]) => n);
  return { clock, net, ips, run, start, stop, state, masters, holders };
}

const trio: NodeSpec[] = [
  { name: 'a', address: '198.18.0.1', priority: 150 },
  { name: 'b', address: '198.18.0.2', priority: 120 },
  { name: 'c', address: '198.18.0.3', priority: 100 },
];

describe('elections over an in-memory network, on fake time', () => {
  for (const unicast of [false, true]) {
    it(`three nodes (${unicast ? 'unicast' : 'multicast'}): the highest priority is MASTER and alone holds the VIP`, async () => {
      const c = cluster(trio, { unicast });
      for (const n of ['c', 'b', 'a']) await c.start(n);
      await c.run(1000);
      expect(c.masters()).toEqual(['a']);
      expect(c.holders()).toEqual(['a']);
      expect(c.ips.get('a')!.commands).toContain(`/usr/sbin/arping -U -c 1 -I hv0 ${VIP}`);
      await c.run(5000);
      expect(c.masters()).toEqual(['a']); // steady: no flapping
    });
  }

  it('a stopped MASTER resigns with priority 0: the next takes over within an advert interval, the VIP follows', async () => {
    const c = cluster(trio);
    for (const n of ['a', 'b', 'c']) await c.start(n);
    await c.run(1000);
    const t0 = c.clock.now();
    let tookOver = -1;
    const stopping = c.stop('a');
    while (tookOver < 0 && c.clock.now() - t0 < 5000) {
      await c.run(10);
      if (c.state('b') === 'MASTER') tookOver = c.clock.now() - t0;
    }
    await stopping;
    expect(tookOver).toBeGreaterThanOrEqual(0);
    expect(tookOver).toBeLessThanOrEqual(150);
    await c.run(500);
    expect(c.masters()).toEqual(['b']);
    expect(c.holders()).toEqual(['b']);
  });

  it('a MASTER cut off keeps the VIP (split brain) while the rest elects another; healed, one MASTER and one holder remain', async () => {
    const c = cluster(trio);
    for (const n of ['a', 'b', 'c']) await c.start(n);
    await c.run(1000);
    c.net.isolate('198.18.0.1');
    await c.run(1000);
    expect(c.masters().sort()).toEqual(['a', 'b']);
    expect(c.holders().sort()).toEqual(['a', 'b']);
    c.net.heal();
    await c.run(2000);
    expect(c.masters()).toEqual(['a']);
    expect(c.holders()).toEqual(['a']);
  });

  it('nopreempt: a returning higher-priority node stays BACKUP; the VIP does not move back', async () => {
    const c = cluster([
      { name: 'a', address: '198.18.0.1', priority: 150, nopreempt: true },
      { name: 'b', address: '198.18.0.2', priority: 100, nopreempt: true },
    ]);
    await c.start('a');
    await c.start('b');
    await c.run(1000);
    expect(c.masters()).toEqual(['a']);
    await c.stop('a');
    await c.run(500);
    expect(c.masters()).toEqual(['b']);
    await c.start('a');
    await c.run(3000);
    expect(c.state('a')).toBe('BACKUP');
    expect(c.masters()).toEqual(['b']);
    expect(c.holders()).toEqual(['b']);
  });

  it('with a fifth of the adverts lost and 20 ms of delay, the MASTER keeps its role', async () => {
    const c = cluster(trio);
    c.net.loss = 0.2;
    c.net.delayMs = 20;
    c.net.random = mulberry32(1600);
    for (const n of ['a', 'b', 'c']) await c.start(n);
    await c.run(1000);
    const changes: string[] = [];
    for (let i = 0; i < 100; i++) {
      await c.run(100);
      const m = c.masters().join(',');
      if (changes.at(-1) !== m) changes.push(m);
    }
    expect(c.net.dropped).toBeGreaterThan(100);
    expect(changes).toEqual(['a']);
    expect(c.holders()).toEqual(['a']);
  });
});
