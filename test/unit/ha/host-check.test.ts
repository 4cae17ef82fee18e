import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../../../src/config/load.ts';
import { FakeClock } from '../../support/fake-clock.ts';
import { hostInterfaces, missingInterfaceMessage } from '../../../src/ha/adapters/interfaces.ts';
import { recordingTransport } from '../../support/advert-net.ts';
import { VipManager } from '../../../src/ha/adapters/vip-manager.ts';
import { interfaceOperstate } from '../../../src/ha/daemon/trackers.ts';
import { missingInterfaces } from '../../../src/ha/daemon/host-check.ts';
import { InstanceRuntime } from '../../../src/ha/daemon/instance-runtime.ts';

const CONF = `vrrp_instance VI_1 {
    interface eth7
    virtual_router_id 51
    track_interface {
        eth1
        eth8 weight 10
    }
    virtual_ipaddress {
        10.0.0.1
        10.0.0.2 dev eth9
    }
}
`;

describe('an interface this host does not have', () => {
  it('is named with the interfaces the host has, for the instance, a tracked interface and a VIP dev', () => {
    const cfg = parseConfigText(CONF, 'h.conf', { localAddresses: [] });
    const has = new Set(['lo', 'eth0', 'eth1']);
    expect(missingInterfaces(cfg, (n) => has.has(n), () => [...has])).toEqual([
      'h.conf:1: vrrp_instance VI_1: interface eth7 does not exist on this host (it has: lo, eth0, eth1)',
      'h.conf:6: vrrp_instance VI_1: track_interface eth8 does not exist on this host (it has: lo, eth0, eth1)',
      'h.conf:10: vrrp_instance VI_1: virtual_ipaddress 10.0.0.2 dev eth9 does not exist on this host (it has: lo, eth0, eth1)',
    ]);
    expect(missingInterfaceMessage('eth7', ['lo', 'ens3'])).toBe('interface eth7 does not exist (this host has: lo, ens3)');
  });

  it('puts its instance in FAULT saying it does not exist (not "has no IPv4 address"), and the tracker says so too', async () => {
    const cfg = parseConfigText(CONF.replace('eth7', 'nosuch7'), 'h.conf', { localAddresses: [] });
    const rt = new InstanceRuntime(cfg.instances[0]!, cfg.global, {
      clock: new FakeClock(), log: pino({ level: 'silent' }), vips: new VipManager({ disabled: 'test' }), spawn: async () => ({ code: 0 }),
      transport: recordingTransport(() => {}), interfaceAddress: null, changed: () => {},
    });
    const host = hostInterfaces();
    expect(host).toContain('lo');
    expect(rt.status().faults).toEqual([`interface: interface nosuch7 does not exist (this host has: ${host.join(', ')})`]);
    expect(await interfaceOperstate('nosuch7')).toBe(`interface nosuch7 does not exist (this host has: ${host.join(', ')})`);
  });
});

describe('an interface this host does not have, in virtual_ipaddress_excluded and virtual_routes', () => {
  it('is a warning with file:line like the others', () => {
    const text = `vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    virtual_ipaddress_excluded {
        198.18.0.101 dev eth5
    }
    virtual_routes {
        198.18.10.0/24 via 198.18.0.254 dev eth6
        198.18.11.0/24 via 198.18.0.254
    }
}
`;
    const cfg = parseConfigText(text, 'h.conf', { localAddresses: [] });
    const has = new Set(['lo', 'eth0']);
    expect(missingInterfaces(cfg, (n) => has.has(n), () => [...has])).toEqual([
      'h.conf:5: vrrp_instance VI_1: virtual_ipaddress_excluded 198.18.0.101 dev eth5 does not exist on this host (it has: lo, eth0)',
      'h.conf:8: vrrp_instance VI_1: virtual_routes 198.18.10.0/24 dev eth6 does not exist on this host (it has: lo, eth0)',
    ]);
  });
});
