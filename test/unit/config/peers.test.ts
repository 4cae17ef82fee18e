import { describe, expect, it } from 'vitest';
import { errorOf, instance, parse } from './helpers.ts';

const HMAC = '  authentication {\n    auth_type HMAC\n    auth_pass 0123456789abcdef0123\n  }';

describe('allowed_peers (multicast source allow list)', () => {
  it('reads the addresses; without it every source is accepted', () => {
    const [i] = parse(instance(`${HMAC}\n  allowed_peers {\n    10.0.0.2\n    10.0.0.3\n  }`)).instances;
    expect(i!.allowedPeers).toEqual(['10.0.0.2', '10.0.0.3']);
    expect(parse(instance(HMAC)).instances[0]!.allowedPeers).toEqual([]);
  });

  it('one-line form: the block ends where the next keyword starts', () => {
    const c = parse('vrrp_instance VI_1 { interface eth0 virtual_router_id 51 allowed_peers { 10.0.0.2 } priority 90 virtual_ipaddress { 10.0.0.1 } }\n');
    expect(c.instances[0]).toMatchObject({ allowedPeers: ['10.0.0.2'], priority: 90 });
  });

  it.each([
    ['a malformed address', '  allowed_peers {\n    10.0.0.256\n  }', 'haved.conf:5: allowed_peers entry must be an IPv4 or IPv6 address, got "10.0.0.256"'],
    ['a host name', '  allowed_peers {\n    10.0.0.2\n    peer-b\n  }', 'haved.conf:6: allowed_peers entry must be an IPv4 or IPv6 address, got "peer-b"'],
    ['IPv6 in an IPv4 instance', '  allowed_peers {\n    2001:db8::2\n  }', 'haved.conf:5: (VI_1) allowed_peers entry 2001:db8::2 is IPv6 but the instance is IPv4 (from its first virtual_ipaddress 10.0.0.1 (haved.conf:8)): one address family per vrrp_instance; use another vrrp_instance (or virtual_ipaddress_excluded) for the other family'],
    ['an empty list', '  allowed_peers {\n  }', 'haved.conf:4: (VI_1) allowed_peers needs at least one address (omit it to accept adverts from anyone)'],
    ['no block', '  allowed_peers 10.0.0.2', `haved.conf:4: expected '{' after allowed_peers, got "10.0.0.2"`],
  ])('rejects %s with file:line', (_name, body, message) => {
    expect(errorOf(instance(body))).toBe(message);
  });

  it('is ignored (with a warning) next to unicast_peer, which already limits the sources', () => {
    const c = parse(instance(`${HMAC}\n  unicast_peer {\n    10.0.0.2\n  }\n  allowed_peers {\n    10.0.0.3\n  }`));
    expect(c.instances[0]!.allowedPeers).toEqual([]);
    expect(c.warnings).toEqual([
      "haved.conf:11: (VI_1) allowed_peers is for multicast: with unicast_peer only the unicast peers' adverts are accepted (allowed_peers ignored)",
    ]);
  });
});

describe('auth_type PASS is cleartext: a warning naming HMAC', () => {
  const pass = '  authentication {\n    auth_type PASS\n    auth_pass 1111\n  }';
  it('without a source filter it says adverts are accepted from any address', () => {
    expect(parse(instance(pass)).warnings).toEqual([
      'haved.conf:5: (VI_1) auth_type PASS is cleartext: anyone who sees one advert can forge others and take the VIP away from any address (no unicast_peer or allowed_peers); use auth_type HMAC',
    ]);
  });

  it('with unicast_peer or allowed_peers only a spoofed peer address works', () => {
    for (const filter of ['  unicast_peer {\n    10.0.0.2\n  }', '  allowed_peers {\n    10.0.0.2\n  }']) {
      expect(parse(instance(`${pass}\n${filter}`)).warnings).toEqual([
        "haved.conf:5: (VI_1) auth_type PASS is cleartext: anyone who sees one advert can forge others and take the VIP away by spoofing a peer's address; use auth_type HMAC",
      ]);
    }
  });

  it('AH (checked like PASS) gets it too; HMAC does not', () => {
    const ah = parse(instance('  authentication {\n    auth_type AH\n    auth_pass 1111\n  }')).warnings;
    expect(ah).toContain('haved.conf:5: (VI_1) auth_type AH is cleartext: anyone who sees one advert can forge others and take the VIP away from any address (no unicast_peer or allowed_peers); use auth_type HMAC');
    expect(parse(instance(HMAC)).warnings).toEqual([]);
  });
});

describe('garp_lower_prio_repeat / garp_lower_prio_delay', () => {
  it('default to the instance garp_master_repeat / garp_master_delay (keepalived)', () => {
    const [i] = parse(instance('  garp_master_repeat 3\n  garp_master_delay 2')).instances;
    expect(i).toMatchObject({ garpLowerPrioRepeat: 3, garpLowerPrioDelayMs: 2000 });
    const [d] = parse(instance('')).instances;
    expect(d).toMatchObject({ garpLowerPrioRepeat: 5, garpLowerPrioDelayMs: 5000 });
  });

  it('the global vrrp_garp_lower_prio_* values, then the instance keywords, override', () => {
    const global = 'global_defs {\n  vrrp_garp_lower_prio_repeat 2\n  vrrp_garp_lower_prio_delay 0.5\n}\n';
    const [g] = parse(global + instance('')).instances;
    expect(g).toMatchObject({ garpLowerPrioRepeat: 2, garpLowerPrioDelayMs: 500 });
    const [i] = parse(global + instance('  garp_lower_prio_repeat 0\n  garp_lower_prio_delay 0')).instances;
    expect(i).toMatchObject({ garpLowerPrioRepeat: 0, garpLowerPrioDelayMs: 0 });
  });

  it('rejects bad values with file:line', () => {
    expect(errorOf(instance('  garp_lower_prio_repeat -1'))).toBe('haved.conf:4: garp_lower_prio_repeat must be an integer 0..1000, got "-1"');
    expect(errorOf(instance('  garp_lower_prio_delay soon'))).toBe('haved.conf:4: garp_lower_prio_delay must be a duration in seconds (e.g. 3 or 0.5), got "soon"');
  });
});
