import { describe, expect, it } from 'vitest';
import { instanceFamily } from '../../../src/config/instance.ts';
import { errorOf, parse } from './helpers.ts';

const v6 = (body: string, vips = '2001:db8::10/64') =>
  `vrrp_instance VI_6 {\n  interface eth0\n  virtual_router_id 52\n${body}\n  virtual_ipaddress {\n    ${vips}\n  }\n}\n`;

describe('IPv6 instances', () => {
  it('reads IPv6 VIPs (default prefix /128, dev and scope) and makes the instance IPv6', () => {
    const [i] = parse(v6('', '2001:db8::10/64 dev eth1\n    2001:db8::11\n    2001:db8::12 scope link')).instances;
    expect(i!.virtualIpAddresses.map((v) => [v.address, v.prefix, v.dev, v.scope])).toEqual([
      ['2001:db8::10', 64, 'eth1', null],
      ['2001:db8::11', 128, null, null],
      ['2001:db8::12', 128, null, 'link'],
    ]);
    expect(instanceFamily(i!)).toBe(6);
  });

  it('reads IPv6 unicast peers and source', () => {
    const [i] = parse(v6('  unicast_src_ip 2001:db8::1\n  unicast_peer {\n    2001:db8::2\n  }')).instances;
    expect(i).toMatchObject({ unicastSrcIp: '2001:db8::1', unicastPeers: ['2001:db8::2'] });
  });

  it('an instance without VIPs takes its family from its unicast addresses', () => {
    const c = parse('vrrp_instance VI_6 {\n  interface eth0\n  virtual_router_id 52\n  unicast_peer {\n    2001:db8::2\n  }\n}\n');
    expect(instanceFamily(c.instances[0]!)).toBe(6);
  });

  it('an IPv4 and an IPv6 instance live side by side (dual stack)', () => {
    const c = parse(`${v6('')}vrrp_instance VI_4 {\n  interface eth0\n  virtual_router_id 51\n  virtual_ipaddress {\n    198.18.0.100/24\n  }\n}\n`);
    expect(c.instances.map(instanceFamily)).toEqual([6, 4]);
  });

  it('an IPv4 instance carries IPv6 addresses in virtual_ipaddress_excluded, as keepalived', () => {
    const c = parse(v6('  virtual_ipaddress_excluded {\n    2001:db8::20/64\n  }', '198.18.0.100/24'));
    expect(instanceFamily(c.instances[0]!)).toBe(4);
    expect(c.instances[0]!.virtualIpAddressesExcluded.map((v) => [v.address, v.prefix])).toEqual([['2001:db8::20', 64]]);
  });

  it.each([
    [
      'an IPv4 VIP in an IPv6 instance',
      v6('', '2001:db8::10/64\n    198.18.0.100'),
      'haved.conf:7: (VI_6) virtual_ipaddress 198.18.0.100 is IPv4 but the instance is IPv6 (from its first virtual_ipaddress 2001:db8::10 (haved.conf:6)): one address family per vrrp_instance; use another vrrp_instance (or virtual_ipaddress_excluded) for the other family',
    ],
    [
      'an IPv4 unicast_peer in an IPv6 instance',
      v6('  unicast_peer {\n    198.18.0.2\n  }'),
      'haved.conf:5: (VI_6) unicast_peer 198.18.0.2 is IPv4 but the instance is IPv6 (from its first virtual_ipaddress 2001:db8::10 (haved.conf:8)): one address family per vrrp_instance; use another vrrp_instance (or virtual_ipaddress_excluded) for the other family',
    ],
    [
      'an IPv4 unicast_src_ip in an IPv6 instance',
      v6('  unicast_src_ip 198.18.0.1\n  unicast_peer {\n    2001:db8::2\n  }'),
      'haved.conf:4: (VI_6) unicast_src_ip 198.18.0.1 is IPv4 but the instance is IPv6 (from its first virtual_ipaddress 2001:db8::10 (haved.conf:9)): one address family per vrrp_instance; use another vrrp_instance (or virtual_ipaddress_excluded) for the other family',
    ],
    ['a link-local unicast peer with a zone', v6('  unicast_peer {\n    fe80::1%eth0\n  }'), 'haved.conf:5: unicast_peer entry must be an IPv4 or IPv6 address, got "fe80::1%eth0"'],
  ])('rejects %s with file:line', (_name, text, message) => {
    expect(errorOf(text)).toBe(message);
  });
});

describe('IPv6: mcast_src_ip', () => {
  it('is refused: IPv6 adverts leave from the link-local address', () => {
    expect(errorOf(v6('  mcast_src_ip 2001:db8::1'))).toBe(
      "haved.conf:4: (VI_6) mcast_src_ip is not supported for IPv6: IPv6 adverts leave from the interface's link-local address (omit it)",
    );
  });
});
