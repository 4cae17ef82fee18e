import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../../../src/config/load.ts';
import { FakeClock } from '../../support/fake-clock.ts';
import { VipManager, type CommandRunner } from '../../../src/ha/adapters/vip-manager.ts';
import type { AdvertTransport } from '../../../src/ha/adapters/advert-transport.ts';
import { InstanceRuntime } from '../../../src/ha/daemon/instance-runtime.ts';
import { AdvertCodec } from '../../../src/proto/advert/index.ts';
import { settleTurns } from '../../support/wait.ts';

const CONF = `vrrp_instance VI_6 {
    interface hv0
    virtual_router_id 61
    priority 150
    advert_int 0.1
    allowed_peers {
        fe80::2
    }
    virtual_ipaddress {
        2001:db8::100/64
    }
}
`;

function setup() {
  const events: string[] = [];
  const run: CommandRunner = async (file, args) => {
    events.push(`${file} ${args.join(' ')}`);
    return { exitCode: 0, stderr: '' };
  };
  const transport: AdvertTransport = {
    start: async () => {},
    join: (group, iface) => void events.push(`join ${group} on ${iface}`),
    sendMulticast: (buf, group, iface) => void events.push(`advert to ${group} via ${iface}, priority ${buf[5]}`),
    sendUnicast: () => {},
    close: async () => {},
  };
  const clock = new FakeClock();
  const cfg = parseConfigText(CONF, 'test.conf', { localAddresses: [] });
  const vips = new VipManager({ run, writeSysctl: () => {} });
  const rt = new InstanceRuntime(cfg.instances[0]!, cfg.global, {
    clock, log: pino({ level: 'silent' }), vips, spawn: async () => ({ code: 0 }), transport, interfaceAddress: 'fe80::1%hv0', changed: () => {},
  });
  return { rt, clock, events };
}

describe('InstanceRuntime: an IPv6 instance', () => {
  it('joins ff02::12 on the link-local address, advertises there, adds the VIP with ip -6 and sends no ARP', async () => {
    const { rt, clock, events } = setup();
    await rt.start(false);
    clock.advance(400);
    await settleTurns(20);
    expect(rt.instance.state).toBe('MASTER');
    expect(events[0]).toBe('join ff02::12 on fe80::1%hv0');
    expect(events).toContain('advert to ff02::12 via fe80::1%hv0, priority 150');
    expect(events).toContain('ip -6 addr add 2001:db8::100/64 dev hv0');
    expect(events.some((e) => e.startsWith('arping'))).toBe(false);
    expect(rt.status().transport).toBe('multicast [ff02::12]:112 from fe80::2');
  });

  it('allowed_peers matches a link-local source whatever its zone; others are dropped', async () => {
    const { rt, clock } = setup();
    await rt.start(false);
    const codec = new AdvertCodec({ auth: { type: 'none' } });
    const from = (primaryAddress: string) =>
      codec.encode({ kind: 'ADVERT', vrid: 61, priority: 200, advertIntMs: 100, nodeId: primaryAddress, primaryAddress, vips: [{ address: '2001:db8::100', prefix: 64 }], successor: null });
    rt.receive(from('fe80::3'), 'fe80::3%hv0');
    expect(rt.drops).toEqual({ NOT_A_PEER: 1 });
    rt.receive(from('fe80::2'), 'fe80::2%hv0');
    clock.advance(50);
    await settleTurns(20);
    expect(rt.drops).toEqual({ NOT_A_PEER: 1 });
    expect(JSON.stringify(rt.status())).toContain('"advertsReceived":1');
  });
});
