import { createSocket } from 'node:dgram';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../../../src/config/load.ts';
import { FakeClock } from '../../support/fake-clock.ts';
import { UdpTransport } from '../../../src/ha/adapters/udp-transport.ts';
import { recordingTransport } from '../../support/advert-net.ts';
import { VipManager, type CommandRunner } from '../../../src/ha/adapters/vip-manager.ts';
import { InstanceRuntime } from '../../../src/ha/daemon/instance-runtime.ts';
import { buildTrackers, interfacesOf } from '../../../src/ha/daemon/trackers.ts';
import { AdvertCodec } from '../../../src/proto/advert/index.ts';
import { settleTurns } from '../../support/wait.ts';

const conf = (extra: string, auth = 'HMAC', pass = 'runtime-test-key-0123456789') => `vrrp_instance VI_1 {
    state BACKUP
    interface hv0
    virtual_router_id 51
    priority 150
    advert_int 0.1
    authentication {
        auth_type ${auth}
        auth_pass ${pass}
    }
    virtual_ipaddress {
        198.18.0.100/32
    }
    garp_master_delay 0
${extra}
}
`;

/** One runtime on a fake clock; commands, sent datagrams and log lines recorded. */
function setup(extra = '', auth: 'HMAC' | 'PASS' = 'HMAC') {
  const pass = auth === 'PASS' ? 'secret1' : 'runtime-test-key-0123456789';
  const commands: string[] = [];
  const run: CommandRunner = async (file, args) => {
    commands.push(`${file} ${args.join(' ')}`);
    return { exitCode: 0, stderr: '' };
  };
  const sent: { to: string; from: string | null; priority: number }[] = [];
  const transport = recordingTransport((buf, to, from) => void sent.push({ to, from, priority: buf[5]! }));
  const lines: Record<string, unknown>[] = [];
  const log = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s)) });
  const clock = new FakeClock();
  const cfg = parseConfigText(conf(extra, auth, pass), 'test.conf', { localAddresses: [] });
  const rt = new InstanceRuntime(cfg.instances[0]!, cfg.global, {
    clock, log, vips: new VipManager({ run }), spawn: async () => ({ code: 0 }), transport, interfaceAddress: '198.18.0.1', changed: () => {},
  });
  const codec = new AdvertCodec({ auth: auth === 'PASS' ? { type: 'PASS', password: pass } : { type: 'HMAC', key: pass } });
  const advert = (from: string, priority: number, kind: 'ADVERT' | 'BACKUP_HELLO' = 'ADVERT') =>
    codec.encode({ kind, vrid: 51, priority, advertIntMs: 100, nodeId: from, primaryAddress: from, vips: [], successor: null });
  const arpings = () => commands.filter((c) => c.startsWith('arping')).length;
  return { rt, clock, commands, sent, lines, advert, arpings };
}

const flush = () => settleTurns(20);

async function asMaster(h: ReturnType<typeof setup>): Promise<void> {
  await h.rt.start(false);
  h.clock.advance(400);
  await flush();
  expect(h.rt.instance.state).toBe('MASTER');
  expect(h.rt.vipsInstalled).toBe(true);
}

describe('only peers are heard', () => {
  it('unicast_peer: adverts from any other source are dropped, counted and logged once per minute', async () => {
    const h = setup('    unicast_peer {\n        198.18.0.2\n    }', 'PASS');
    await asMaster(h);
    for (let i = 0; i < 1000; i++) h.rt.receive(h.advert('198.18.0.66', 255), '198.18.0.66');
    expect(h.rt.instance.state).toBe('MASTER');
    expect(h.rt.drops).toEqual({ NOT_A_PEER: 1000 });
    const warn = () => h.lines.filter((l) => l.reason === 'NOT_A_PEER');
    expect(warn()).toHaveLength(1);
    expect(warn()[0]).toMatchObject({ level: 40, from: '198.18.0.66', msg: 'advert from 198.18.0.66 dropped: not a peer (unicast_peer)' });
    h.clock.advance(60_000);
    h.rt.receive(h.advert('198.18.0.66', 255), '198.18.0.67');
    expect(warn()).toHaveLength(2);
    expect(warn()[1]).toMatchObject({ count: 1000, total: 1001, from: '198.18.0.67' });
    expect(h.rt.status().dropped).toEqual({ NOT_A_PEER: 1001 });
    // the peer itself is heard: a hello, then its higher advert, and we yield
    h.rt.receive(h.advert('198.18.0.2', 200, 'BACKUP_HELLO'), '198.18.0.2');
    h.rt.receive(h.advert('198.18.0.2', 200), '198.18.0.2');
    expect(h.rt.instance.state).toBe('BACKUP');
  });

  it('allowed_peers: the same for multicast; a bad advert from a peer is counted under its own reason', async () => {
    const h = setup('    allowed_peers {\n        198.18.0.2\n        198.18.0.3\n    }', 'PASS');
    await asMaster(h);
    h.rt.receive(h.advert('198.18.0.66', 255), '198.18.0.66');
    h.rt.receive(h.advert('198.18.0.66', 255), '198.18.0.66');
    h.rt.receive(Buffer.from('garbage'), '198.18.0.3');
    expect(h.rt.instance.state).toBe('MASTER');
    expect(h.rt.drops).toEqual({ NOT_A_PEER: 2, BAD_MAGIC: 1 });
    expect(h.lines.find((l) => l.reason === 'NOT_A_PEER')?.msg).toBe('advert from 198.18.0.66 dropped: not a peer (allowed_peers)');
    expect(h.rt.status().transport).toBe('multicast 224.0.0.18:112 from 198.18.0.2,198.18.0.3');
  });

  it('without either, one forged advert is answered, not obeyed; the answer is logged (rate-limited)', async () => {
    const h = setup('', 'PASS');
    await asMaster(h);
    h.sent.length = 0;
    h.rt.receive(h.advert('198.18.0.66', 255), '198.18.0.66');
    expect(h.rt.instance.state).toBe('MASTER');
    expect(h.sent).toEqual([{ to: 'group', from: null, priority: 150 }]);
    const line = h.lines.find((l) => l.reason === 'unconfirmed-master');
    expect(line?.msg).toBe('higher priority 255 advert from 198.18.0.66, a node not heard from before: answering with our advert, yielding on its next one');
  });

  it('unicast adverts leave from unicast_src_ip', async () => {
    const h = setup('    unicast_src_ip 198.18.0.11\n    unicast_peer {\n        198.18.0.2\n    }');
    await asMaster(h);
    expect(h.sent.at(-1)).toEqual({ to: '198.18.0.2', from: '198.18.0.11', priority: 150 });
  });
});

describe('re-announcing the VIPs', () => {
  it('a lower master beaten: garp_lower_prio_repeat GARPs now and again after garp_lower_prio_delay', async () => {
    const h = setup('    garp_lower_prio_repeat 2\n    garp_lower_prio_delay 1');
    await asMaster(h);
    const before = h.arpings();
    h.rt.receive(h.advert('198.18.0.2', 90), '198.18.0.2');
    await flush();
    expect(h.arpings() - before).toBe(2);
    expect(h.lines.find((l) => l.announce === 'conflict')?.msg).toBe('re-announcing the VIPs: lower priority (90) advert from master 198.18.0.2');
    h.clock.advance(1000);
    expect(h.arpings() - before).toBe(4);
  });

  it('the second burst is cancelled when the instance leaves MASTER', async () => {
    const h = setup('    garp_lower_prio_delay 1');
    await asMaster(h);
    h.rt.receive(h.advert('198.18.0.2', 90), '198.18.0.2');
    await flush();
    const n = h.arpings();
    h.rt.instance.setFault('chk', 'down');
    h.clock.advance(2000);
    await flush();
    expect(h.arpings()).toBe(n);
  });

  it('garp_lower_prio_repeat 0: no GARP on a conflict', async () => {
    const h = setup('    garp_lower_prio_repeat 0');
    await asMaster(h);
    const before = h.arpings();
    h.rt.receive(h.advert('198.18.0.2', 90), '198.18.0.2');
    await flush();
    expect(h.arpings()).toBe(before);
  });

  it('after a pause: garp_master_repeat GARPs; garp_master_refresh: garp_master_refresh_repeat each period', async () => {
    const h = setup('    garp_master_repeat 3\n    garp_master_refresh 2\n    garp_master_refresh_repeat 1');
    await asMaster(h);
    let before = h.arpings();
    h.clock.stall(1000);
    h.clock.advance(0); // the overdue advert timer: a pause
    h.clock.advance(25); // listened, nobody else
    await flush();
    expect(h.arpings() - before).toBe(3);
    expect(h.lines.find((l) => l.announce === 'resumed')).toBeDefined();
    expect(h.lines.find((l) => l.event === 'paused')).toMatchObject({ level: 30 });
    before = h.arpings();
    h.clock.advance(2000);
    await flush();
    expect(h.arpings() - before).toBe(1);
  });
});

describe('UdpTransport', () => {
  it('sends unicast from unicast_src_ip, and from the shared socket when none', async () => {
    const rx = createSocket({ type: 'udp4', reuseAddr: true });
    const seen: string[] = [];
    await new Promise<void>((r) => rx.bind(0, '127.0.0.1', () => r()));
    rx.on('message', (_m, rinfo) => seen.push(rinfo.address));
    const port = rx.address().port;
    // the transport's port is the advert port, the destination's too: share it (rx, bound to 127.0.0.1, gets them)
    const tx = new UdpTransport({ port, onMessage: () => {} });
    await tx.start();
    tx.sendUnicast(Buffer.from('a'), ['127.0.0.1'], '127.0.0.2');
    tx.sendUnicast(Buffer.from('b'), ['127.0.0.1']);
    const deadline = Date.now() + 2000;
    while (seen.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(seen.sort()).toEqual(['127.0.0.1', '127.0.0.2']);
    await tx.close();
    rx.close();
  });

  it('an unbindable unicast_src_ip is reported and the advert still goes out', async () => {
    const rx = createSocket({ type: 'udp4', reuseAddr: true });
    const seen: string[] = [];
    await new Promise<void>((r) => rx.bind(0, '127.0.0.1', () => r()));
    rx.on('message', (_m, rinfo) => seen.push(rinfo.address));
    const errors: string[] = [];
    const tx = new UdpTransport({ port: rx.address().port, onMessage: () => {}, onError: (e) => errors.push(e.message) });
    await tx.start();
    tx.sendUnicast(Buffer.from('a'), ['127.0.0.1'], '198.18.0.250'); // not an address of this host
    const deadline = Date.now() + 2000;
    while (errors.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(errors[0]).toMatch(/cannot send from unicast_src_ip 198\.18\.0\.250 .*retrying in 10 s/);
    tx.sendUnicast(Buffer.from('b'), ['127.0.0.1'], '198.18.0.250');
    while (seen.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(seen).toEqual(['127.0.0.1']);
    await tx.close();
    rx.close();
  });
});

describe('interfaces an instance depends on', () => {
  it('its own, the tracked ones and its VIPs\' devices are polled (loopback aside)', () => {
    const cfg = parseConfigText(
      conf('    track_interface {\n        eth2 weight -10\n    }\n    virtual_ipaddress {\n        198.18.0.101/32 dev eth1\n        198.18.0.102/32 dev lo\n    }'),
      'test.conf',
      { localAddresses: [] },
    );
    expect(interfacesOf(cfg.instances[0]!)).toEqual(['hv0', 'eth2', 'eth1']);
    const trackers = buildTrackers(cfg, { clock: new FakeClock(), log: pino({ level: 'silent' }), spawn: async () => ({ code: 0 }), onChange: () => {} }, new Map());
    expect([...trackers.keys()].sort()).toEqual(['interface eth1', 'interface eth2', 'interface hv0']);
  });
});
