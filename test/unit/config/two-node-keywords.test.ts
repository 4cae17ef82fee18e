import { describe, expect, it } from 'vitest';
import { errorOf, parse } from './helpers.ts';

const inst = (body: string) => `vrrp_instance VI_1 {
  interface eth0
  virtual_router_id 51
  virtual_ipaddress {
    198.18.0.100/24
  }
${body}
}
`;

describe('dont_track_primary', () => {
  it('is read (default off)', () => {
    expect(parse(inst('')).instances[0]!.dontTrackPrimary).toBe(false);
    expect(parse(inst('  dont_track_primary')).instances[0]!.dontTrackPrimary).toBe(true);
  });
});

describe('virtual_ipaddress_excluded', () => {
  it('has the syntax of virtual_ipaddress and its own list', () => {
    const i = parse(inst('  virtual_ipaddress_excluded {\n    198.18.0.101/24 dev eth1 label eth1:5\n    198.18.0.102\n  }')).instances[0]!;
    expect(i.virtualIpAddresses.map((v) => v.address)).toEqual(['198.18.0.100']);
    expect(i.virtualIpAddressesExcluded).toMatchObject([
      { address: '198.18.0.101', prefix: 24, dev: 'eth1', label: 'eth1:5', where: 'haved.conf:8' },
      { address: '198.18.0.102', prefix: 32, dev: null },
    ]);
  });

  it('more virtual_ipaddress entries than an advert carries: an error that points to virtual_ipaddress_excluded', () => {
    const many = Array.from({ length: 256 }, (_, i) => `    198.18.${1 + (i >> 8)}.${i & 255}`).join('\n');
    const text = `vrrp_instance VI_1 {\n  interface eth0\n  virtual_router_id 51\n  virtual_ipaddress {\n${many}\n  }\n}\n`;
    expect(errorOf(text)).toBe(
      'haved.conf:260: (VI_1) at most 255 virtual_ipaddress entries fit in an advert (256 listed): put the others in virtual_ipaddress_excluded',
    );
    const ok = text.replace('virtual_ipaddress {\n    198.18.1.0', 'virtual_ipaddress {\n    198.18.1.0\n  }\n  virtual_ipaddress_excluded {');
    expect(parse(ok).instances[0]!.virtualIpAddressesExcluded).toHaveLength(255);
  });

  it('bad entries and an address listed in both lists are errors with file:line', () => {
    expect(errorOf(inst('  virtual_ipaddress_excluded {\n    198.18.0.300\n  }'))).toBe(
      'haved.conf:8: virtual_ipaddress_excluded entry must be an IPv4 or IPv6 address, got "198.18.0.300"',
    );
    expect(errorOf(inst('  virtual_ipaddress_excluded {\n    198.18.0.100/24\n  }'))).toBe(
      'haved.conf:8: (VI_1) virtual_ipaddress 198.18.0.100 is listed twice (first at haved.conf:5)',
    );
  });
});

describe('virtual_routes', () => {
  const routes = (lines: string) => parse(inst(`  virtual_routes {\n${lines}\n  }`)).instances[0]!.virtualRoutes;

  it("reads keepalived's forms", () => {
    expect(
      routes(
        [
          '    198.18.10.0/24 via 198.18.0.254 dev eth0',
          '    src 198.18.0.100 to 198.18.11.0/24 via 198.18.0.254 dev eth1',
          '    198.18.12.0/24 dev eth2 no_track',
          '    blackhole 198.18.13.0/24',
          '    0.0.0.0/0 gw 198.18.0.1 table 100 metric 5',
          '    default via 198.18.0.1 table vrrp proto static scope global onlink',
          '    198.18.14.1 dev eth0 src 198.18.0.100 preference 7',
        ].join('\n'),
      ).map(({ where: _, ...r }) => r),
    ).toEqual([
      { type: null, to: '198.18.10.0/24', via: '198.18.0.254', dev: 'eth0', src: null, table: null, metric: null, scope: null, protocol: null, onlink: false },
      { type: null, to: '198.18.11.0/24', via: '198.18.0.254', dev: 'eth1', src: '198.18.0.100', table: null, metric: null, scope: null, protocol: null, onlink: false },
      { type: null, to: '198.18.12.0/24', via: null, dev: 'eth2', src: null, table: null, metric: null, scope: null, protocol: null, onlink: false },
      { type: 'blackhole', to: '198.18.13.0/24', via: null, dev: null, src: null, table: null, metric: null, scope: null, protocol: null, onlink: false },
      { type: null, to: '0.0.0.0/0', via: '198.18.0.1', dev: null, src: null, table: '100', metric: 5, scope: null, protocol: null, onlink: false },
      { type: null, to: 'default', via: '198.18.0.1', dev: null, src: null, table: 'vrrp', metric: null, scope: 'global', protocol: 'static', onlink: true },
      { type: null, to: '198.18.14.1/32', via: null, dev: 'eth0', src: '198.18.0.100', table: null, metric: 7, scope: null, protocol: null, onlink: false },
    ]);
  });

  it('refuses what haved does not apply, and bad values, with file:line', () => {
    const err = (line: string) => errorOf(inst(`  virtual_routes {\n    ${line}\n  }`));
    expect(err('198.18.10.0/24 via 198.18.0.254 or 198.18.0.253')).toBe(
      "haved.conf:8: virtual_routes option 'or' is not supported by haved (remove it, or use a notify_master script)",
    );
    expect(err('198.18.10.0/24 via 198.18.0.254 mtu 1400')).toMatch(/^haved.conf:8: virtual_routes option 'mtu' is not supported/);
    expect(err('198.18.10.0/24 via 198.18.0.254 bogus 7')).toMatch(/^haved.conf:8: unknown virtual_routes option 'bogus' \(haved reads: via\/gw/);
    expect(err('198.18.10.1/24 via 198.18.0.254')).toBe(
      'haved.conf:8: virtual_routes destination 198.18.10.1/24 has host bits set (did you mean 198.18.10.0/24?)',
    );
    expect(err('198.18.10.0/24')).toBe("haved.conf:8: virtual_routes entry 198.18.10.0/24 needs 'via ADDRESS' or 'dev IFNAME' (or a type: blackhole, unreachable, prohibit, throw)");
    expect(err('198.18.10.0/24 via 198.18.0')).toBe('haved.conf:8: virtual_routes via must be an IPv4 address, got "198.18.0"');
    expect(err('198.18.10.0/24 dev eth0 metric -1')).toBe('haved.conf:8: virtual_routes metric must be an integer 0..4294967295, got "-1"');
    expect(err('198.18.10.0/24 dev eth0 table')).toBe('haved.conf:8: table expects a value after table');
    expect(errorOf(inst('  virtual_routes {\n    198.18.10.0/24 dev eth0\n    198.18.10.0/24 via 198.18.0.1\n    198.18.10.0/24 via 198.18.0.1 table 5\n  }'))).toBe(
      'haved.conf:9: virtual_routes 198.18.10.0/24 is listed twice (first at haved.conf:8)',
    );
    expect(err('blackhole 198.18.10.0/24 via 198.18.0.1')).toBe('haved.conf:8: virtual_routes: a blackhole route cannot have a gateway (via 198.18.0.1)');
  });
});

describe('notify_fifo', () => {
  it('global_defs: notify_fifo and vrrp_notify_fifo with owner and script', () => {
    const g = parse(
      'global_defs {\n  notify_fifo /run/haved.fifo haved adm\n  notify_fifo_script "/usr/local/bin/fifo-reader -v" root\n  vrrp_notify_fifo /run/vrrp.fifo\n}\n',
    ).global;
    expect(g.notifyFifos).toEqual([
      { keyword: 'notify_fifo', path: '/run/haved.fifo', user: 'haved', group: 'adm', script: { argv: ['/usr/local/bin/fifo-reader', '-v'], user: 'root', where: 'haved.conf:3' }, where: 'haved.conf:2' },
      { keyword: 'vrrp_notify_fifo', path: '/run/vrrp.fifo', user: null, group: null, script: null, where: 'haved.conf:4' },
    ]);
  });

  it('errors: relative path, same path twice, a script without its FIFO, inside an instance or a sync group', () => {
    expect(errorOf('global_defs {\n  notify_fifo haved.fifo\n}\n')).toBe('haved.conf:2: notify_fifo must be an absolute path, got "haved.fifo"');
    expect(errorOf('global_defs {\n  notify_fifo /run/a\n  vrrp_notify_fifo /run/a\n}\n')).toBe(
      'haved.conf:3: vrrp_notify_fifo /run/a: the FIFO names must all be different (notify_fifo at haved.conf:2)',
    );
    expect(errorOf('global_defs {\n  notify_fifo_script /bin/true\n}\n')).toBe(
      "haved.conf:2: notify_fifo_script needs 'notify_fifo PATH' in global_defs (the script is given the FIFO's path)",
    );
    expect(errorOf(inst('  notify_fifo /run/a'))).toBe(
      'haved.conf:7: notify_fifo belongs in global_defs (one FIFO carries every instance\'s and sync group\'s lines, as in keepalived)',
    );
    expect(errorOf(`${inst('')}${inst('').replace('VI_1', 'VI_2').replace('51', '52')}vrrp_sync_group G {\n  group {\n    VI_1\n    VI_2\n  }\n  notify_fifo /run/a\n}\n`)).toMatch(
      /^haved.conf:22: notify_fifo belongs in global_defs/,
    );
  });
});
