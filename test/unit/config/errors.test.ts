import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, configErrorList, loadConfig } from '../../../src/config/load.ts';
import { errorOf, instance, parse } from './helpers.ts';

const I = 'vrrp_instance VI_1 {\n  interface eth0\n  virtual_router_id 51\n'; // lines 1-3
const vs = (body: string): string => `virtual_server 10.0.0.1 11211 {\n${body}\n}\n`; // body from line 2

/** Every bad input gets "file:line: what was expected". */
describe('errors', () => {
  it.each([
    ['value out of range', instance('  priority 100', 'vrrp_instance VI_1 {\n  interface eth0\n  virtual_router_id 300\n'),
      'haved.conf:3: virtual_router_id must be an integer 1..255, got "300"'],
    ['not an integer', instance('  priority high'), 'haved.conf:4: priority must be an integer 1..255, got "high"'],
    ['priority 0', instance('  priority 0'), 'haved.conf:4: priority must be an integer 1..255, got "0"'],
    ['missing value', instance('  priority\n  advert_int 1'), 'haved.conf:4: priority expects an integer 1..255'],
    ['bad duration', instance('  advert_int 1s'), 'haved.conf:4: advert_int must be a duration in seconds (e.g. 3 or 0.5), got "1s"'],
    ['duration out of range', instance('  advert_int 0.001'), 'haved.conf:4: advert_int must be between 0.01 and 255 seconds, got "0.001"'],
    ['missing } at end of file', `${I}  priority 100\n`,
      "haved.conf:4: missing '}': vrrp_instance VI_1 opened at haved.conf:1 is not closed at end of file"],
    ['missing } before the next block', `${I}\nvrrp_script chk {\n script /bin/true\n}\n`,
      "haved.conf:5: vrrp_script cannot be inside vrrp_instance VI_1: a '}' is missing before it (vrrp_instance VI_1 opened at haved.conf:1)"],
    ['extra }', `${instance('')}}\n`, "haved.conf:9: unexpected '}': no block is open here"],
    ['missing {', 'vrrp_instance VI_1\n  state MASTER\n', `haved.conf:2: expected '{' after vrrp_instance VI_1, got "state"`],
    ['stray { in a block', `${I}  {\n}`, "haved.conf:4: unexpected '{' in vrrp_instance"],
    ['stray { at top level', '{ }', "haved.conf:1: unexpected '{': a block must follow its keyword"],
    ['block name missing', 'vrrp_instance {\n}', 'haved.conf:1: vrrp_instance expects an instance name'],
    ['missing interface', 'vrrp_instance VI_1 {\n  virtual_router_id 51\n}', "haved.conf:1: vrrp_instance VI_1 needs 'interface IFNAME'"],
    ['missing virtual_router_id', '\nvrrp_instance VI_1 {\n  interface eth0\n}', "haved.conf:2: vrrp_instance VI_1 needs 'virtual_router_id 1..255'"],
    ['duplicate instance', `${instance('')}${instance('')}`, "haved.conf:9: duplicate vrrp_instance 'VI_1' (first defined at haved.conf:1)"],
    ['same VRID on one interface', `${instance('')}${instance('', 'vrrp_instance VI_2 {\n  interface eth0\n  virtual_router_id 51\n')}`,
      'haved.conf:11: virtual_router_id 51 on eth0 is already used by vrrp_instance VI_1 (haved.conf:1)'],
    ['unknown track_script', instance('  track_script {\n    chk_cache weight 2\n  }'),
      "haved.conf:5: (VI_1) track_script 'chk_cache' is not a defined vrrp_script"],
    ['unknown track_script, others defined', `vrrp_script chk { script /bin/true }\n${instance('  track_script { chck }')}`,
      "haved.conf:5: (VI_1) track_script 'chck' is not a defined vrrp_script (defined: chk)"],
    ['track weight out of range', `vrrp_script chk { script /bin/true }\n${instance('  track_script { chk weight 254 }')}`,
      'haved.conf:5: weight must be an integer -253..253, got "254"'],
    ['duplicate vrrp_script', 'vrrp_script a { script /a }\nvrrp_script a { script /b }', "haved.conf:2: duplicate vrrp_script 'a' (first defined at haved.conf:1)"],
    ['vrrp_script without script', 'vrrp_script a {\n  interval 2\n}', `haved.conf:1: vrrp_script a needs 'script "COMMAND [ARGS]"'`],
    ['empty script', 'vrrp_script a { script "" }', 'haved.conf:1: script expects a command, got an empty string'],
    ['sync group member unknown', `${instance('')}vrrp_sync_group G {\n  group {\n    VI_1\n    VI_9\n  }\n}`,
      "haved.conf:12: vrrp_sync_group G: 'VI_9' is not a vrrp_instance"],
    ['instance in two sync groups', `${instance('')}vrrp_sync_group G1 { group { VI_1 } }\nvrrp_sync_group G2 {\n group { VI_1 }\n}`,
      'haved.conf:11: vrrp_sync_group G2: vrrp_instance VI_1 is already in vrrp_sync_group G1 (an instance can be in one group only)'],
    ['empty sync group', 'vrrp_sync_group G { }', "haved.conf:1: vrrp_sync_group G needs 'group { INSTANCE … }'"],
    ['bad VIP', instance('  virtual_ipaddress {\n    192.168.1.300\n  }'), 'haved.conf:5: virtual_ipaddress entry must be an IPv4 or IPv6 address, got "192.168.1.300"'],
    ['bad VIP prefix', instance('  virtual_ipaddress { 10.0.0.2/33 }'), 'haved.conf:4: virtual_ipaddress entry must be IP[/PREFIX] with PREFIX 0..32, got "10.0.0.2/33"'],
    ['bad IPv6 VIP prefix', instance('  virtual_ipaddress { 2001:db8::1/129 }'), 'haved.conf:4: virtual_ipaddress entry must be IP[/PREFIX] with PREFIX 0..128, got "2001:db8::1/129"'],
    ['IPv6 VIP with brd', instance('  virtual_ipaddress { 2001:db8::1/64 brd 10.0.0.255 }'), 'haved.conf:4: virtual_ipaddress 2001:db8::1: brd is for IPv4 addresses only (IPv6 has no broadcast)'],
    ['IPv6 VIP with label', instance('  virtual_ipaddress { 2001:db8::1/64 label eth0:1 }'), 'haved.conf:4: virtual_ipaddress 2001:db8::1: label is for IPv4 addresses only (iproute2 has no IPv6 labels)'],
    ['VIP listed twice', instance('  virtual_ipaddress { 10.0.0.1/24 }'), 'haved.conf:6: (VI_1) virtual_ipaddress 10.0.0.1 is listed twice (first at haved.conf:4)'],
    ['bad scope', instance('  virtual_ipaddress { 10.0.0.2 scope planet }'), 'haved.conf:4: scope must be site, link, host, nowhere or global, got "planet"'],
    ['bad unicast_peer', instance('  unicast_peer {\n    10.0.0.256\n  }'), 'haved.conf:5: unicast_peer entry must be an IPv4 or IPv6 address, got "10.0.0.256"'],
    ['bad unicast_src_ip', instance('  unicast_src_ip me'), 'haved.conf:4: unicast_src_ip must be an IPv4 or IPv6 address, got "me"'],
    ['unicast and multicast mixed', instance('  mcast_src_ip 10.0.0.5\n  unicast_peer { 10.0.0.6 }'),
      'haved.conf:4: (VI_1) mcast_src_ip cannot be mixed with unicast_peer: use unicast_src_ip with unicast_peer, or multicast without unicast_peer'],
    ['own address as peer', instance('  unicast_src_ip 10.0.0.5\n  unicast_peer { 10.0.0.5 }'), 'haved.conf:4: (VI_1) unicast_peer lists our own unicast_src_ip 10.0.0.5'],
    ['bad auth_type', instance('  authentication {\n    auth_type pass\n    auth_pass 1111\n  }'), 'haved.conf:5: auth_type must be PASS, AH or HMAC, got "pass"'],
    ['auth without pass', instance('  authentication {\n    auth_type PASS\n  }'), "haved.conf:4: (VI_1) authentication needs 'auth_pass SECRET'"],
    ['bad cron', instance('  preempt_schedule "every night"'), 'haved.conf:4: preempt_schedule must be a cron expression (node-cron syntax), got "every night"'],
    ['multicast group not multicast', 'global_defs {\n  vrrp_mcast_group4 10.0.0.1\n}', 'haved.conf:2: vrrp_mcast_group4 must be a multicast address (224.0.0.0/4), got "10.0.0.1"'],
    ['udp port out of range', 'global_defs { vrrp_udp_port 70000 }', 'haved.conf:1: vrrp_udp_port must be a port 1..65535, got "70000"'],
    ['metrics_listen without a port', 'global_defs {\n  metrics_listen 127.0.0.1\n}',
      "haved.conf:2: metrics_listen needs ADDRESS:PORT (e.g. 127.0.0.1:9650 or [::1]:9650), got '127.0.0.1'"],
    ['metrics_listen with a host name', 'global_defs { metrics_listen metrics.example:9650 }',
      "haved.conf:1: metrics_listen: 'metrics.example' is not an IP address (IPv6 in brackets: [::1]:9650)"],
    ['metrics_listen port 0', 'global_defs { metrics_listen 127.0.0.1:0 }', 'haved.conf:1: metrics_listen: port 0 is out of range (1..65535)'],
    ['metrics_listen missing', 'global_defs {\n  metrics_listen\n}', 'haved.conf:2: metrics_listen expects ADDRESS:PORT'],
    ['metrics_listen misspelt', 'global_defs {\n  metric_listen 127.0.0.1:9650\n}', "haved.conf:2: unknown keyword 'metric_listen' in global_defs (did you mean 'metrics_listen'?)"],
    ['virtual_server address', 'virtual_server 10.0.0 11211 {\n}', 'haved.conf:1: virtual_server address must be an IPv4 address, got "10.0.0"'],
    ['virtual_server port', 'virtual_server 10.0.0.1 0 {\n}', 'haved.conf:1: virtual_server port must be a port 1..65535, got "0"'],
    ['virtual_server fwmark', 'virtual_server fwmark 1 {\n}', 'haved.conf:1: virtual_server fwmark is not supported by haved; use virtual_server IP PORT'],
    ['real_server port missing', vs('  real_server 10.0.0.2 {\n  }'), 'haved.conf:2: real_server expects a port 1..65535'],
    ['connect_port', vs('  real_server 10.0.0.2 11211 {\n    TCP_CHECK {\n      connect_port 11211x\n    }\n  }'),
      'haved.conf:4: connect_port must be a port 1..65535, got "11211x"'],
    ['protocol', vs('  protocol SCTP'), 'haved.conf:2: protocol must be TCP or UDP, got "SCTP"'],
    ['sorry_server', vs('  sorry_server 10.0.0.3'), 'haved.conf:2: sorry_server expects 2 values'],
    ['retry negative', vs('  retry -1'), 'haved.conf:2: retry must be an integer 0..1000000, got "-1"'],
    ['sorry_server port', vs('  sorry_server 10.0.0.3 http'), 'haved.conf:2: sorry_server port must be a port 1..65535, got "http"'],
    ['auth without type', instance('  authentication {\n    auth_pass 1111\n  }'), "haved.conf:4: (VI_1) authentication needs 'auth_type PASS|AH|HMAC'"],
    ['empty auth_pass', instance('  authentication {\n    auth_type PASS\n    auth_pass ""\n  }'), 'haved.conf:6: auth_pass must not be empty'],
    ['empty notify script', instance('  notify_master ""'), 'haved.conf:4: notify_master expects a script, got an empty string'],
    ['duplicate sync group', `${instance('')}vrrp_sync_group G { group { VI_1 } }\nvrrp_sync_group G { group { VI_1 } }\n`,
      "haved.conf:10: duplicate vrrp_sync_group 'G' (first defined at haved.conf:9)"],
  ])('%s', (_name, text, message) => {
    expect(errorOf(text)).toBe(message);
  });
});

describe('words that are not keywords', () => {
  it("a typo is an error naming the keyword it resembles, not a warning (state MASTER would run at 255)", () => {
    expect(errorOf(instance('  state MASTER\n  prority 100'))).toBe("haved.conf:5: unknown keyword 'prority' in vrrp_instance (did you mean 'priority'?)");
    expect(errorOf(instance('  Priority 100'))).toBe("haved.conf:4: unknown keyword 'Priority' in vrrp_instance (did you mean 'priority'?)");
    expect(errorOf('global_defs {\n  router_di x\n}')).toBe("haved.conf:2: unknown keyword 'router_di' in global_defs (did you mean 'router_id'?)");
    expect(errorOf('vrrp_instnace VI_1 {\n}')).toBe("haved.conf:1: unknown keyword 'vrrp_instnace' at the top level (did you mean 'vrrp_instance'?)");
    expect(errorOf(vs('  real_server 10.0.0.2 11211 {\n    TCP_CHEK { }\n  }'))).toBe(
      "haved.conf:3: unknown keyword 'TCP_CHEK' in real_server (did you mean 'TCP_CHECK'?)",
    );
    // in the one-line form too, wherever the word is
    expect(errorOf(instance('  state MASTER prority 100').replace(/\n/g, ' '))).toBe(
      "haved.conf:1: unknown keyword 'prority' in vrrp_instance (did you mean 'priority'?)",
    );
  });

  it('a word that starts a line and resembles no keyword is an error; in the middle of a line, a warning', () => {
    expect(errorOf(instance('  bogus 1'))).toBe("haved.conf:4: unknown keyword 'bogus' in vrrp_instance: neither haved nor keepalived 2.2 knows it");
    expect(errorOf(instance('  "priority" 100'))).toBe('haved.conf:4: "priority" in vrrp_instance: a keyword cannot be quoted');
    // keepalived ignores extra words on a line; so does haved, saying so
    const c = parse(instance('  priority 100 200'));
    expect(c.instances[0].priority).toBe(100);
    expect(c.warnings).toEqual(["haved.conf:4: '200' in vrrp_instance is not a keyword; ignored (as keepalived ignores extra words on a line)"]);
  });

  it('every error in the file is reported, in line order, and reading goes on after each', () => {
    const text = `global_defs {
  vrrp_udp_port 70000
  router_di x
}
vrrp_instance VI_1 {
  interface eth0
  virtual_router_id 300
  prority 100
  advert_int 1s
  virtual_ipaddress {
    10.0.0.300
    10.0.0.1 dev eth0 scope planet
  }
  authentication { auth_type pass auth_pass x }
}
vrrp_script {
  script /bin/true
}
vrrp_instance VI_2 {
  interface eth0
  virtual_router_id 52
  track_script { nosuch }
}
}
`;
    expect(errorOf(text).split('\n')).toEqual([
      'haved.conf:2: vrrp_udp_port must be a port 1..65535, got "70000"',
      "haved.conf:3: unknown keyword 'router_di' in global_defs (did you mean 'router_id'?)",
      'haved.conf:7: virtual_router_id must be an integer 1..255, got "300"',
      "haved.conf:8: unknown keyword 'prority' in vrrp_instance (did you mean 'priority'?)",
      'haved.conf:9: advert_int must be a duration in seconds (e.g. 3 or 0.5), got "1s"',
      'haved.conf:11: virtual_ipaddress entry must be an IPv4 or IPv6 address, got "10.0.0.300"',
      'haved.conf:12: scope must be site, link, host, nowhere or global, got "planet"',
      'haved.conf:14: auth_type must be PASS, AH or HMAC, got "pass"',
      'haved.conf:16: vrrp_script expects a script name',
      "haved.conf:22: (VI_2) track_script 'nosuch' is not a defined vrrp_script",
      "haved.conf:24: unexpected '}': no block is open here",
    ]);
  });

  it('a block left open before the next top-level block is one error, and the rest is still read', () => {
    const text = `vrrp_instance VI_1 {\n  interface eth0\n  virtual_router_id 51\n\nvrrp_instance VI_2 {\n  interface eth0\n  virtual_router_id 51x\n}\n`;
    expect(errorOf(text).split('\n')).toEqual([
      "haved.conf:5: vrrp_instance cannot be inside vrrp_instance VI_1: a '}' is missing before it (vrrp_instance VI_1 opened at haved.conf:1)",
      'haved.conf:7: virtual_router_id must be an integer 1..255, got "51x"',
    ]);
  });

  it('a file without any vrrp_instance is an error when one is required (haved -f), not for a fragment', () => {
    expect(parse('global_defs { router_id a }').instances).toEqual([]);
    expect(errorOf('global_defs { router_id a }', { requireInstance: true })).toBe(
      'haved.conf: no vrrp_instance: haved needs at least one to run (a file with only other blocks is a fragment to include)',
    );
  });
});

describe('warnings', () => {
  it("keepalived keywords haved does not read are skipped with their arguments and block, in both layouts", () => {
    const multi = `${I}  vmac_xmit_base
  virtual_rules {
    from 10.1.0.0/16 table 1
  }
  priority 150
  notify_deleted bar baz
  virtual_ipaddress { 10.0.0.1 }
}
static_ipaddress {
  10.9.9.9 dev eth0
}`;
    const c = parse(multi);
    expect(c.instances[0].priority).toBe(150);
    expect(c.warnings).toEqual([
      "haved.conf:4: unknown keyword 'vmac_xmit_base' in vrrp_instance (ignored)",
      "haved.conf:5: unknown keyword 'virtual_rules' in vrrp_instance (ignored)",
      "haved.conf:9: unknown keyword 'notify_deleted' in vrrp_instance (ignored)",
      "haved.conf:12: unknown keyword 'static_ipaddress' at the top level (ignored)",
    ]);
    const flat = parse(multi.replace(/\n/g, ' '));
    expect(flat.instances[0].priority).toBe(150);
    expect(flat.warnings).toEqual([
      "haved.conf:1: unknown keyword 'vmac_xmit_base' in vrrp_instance (ignored)",
      "haved.conf:1: unknown keyword 'virtual_rules' in vrrp_instance (ignored)",
      "haved.conf:1: unknown keyword 'notify_deleted' in vrrp_instance (ignored)",
      "haved.conf:1: unknown keyword 'static_ipaddress' at the top level (ignored)",
    ]);
  });

  it('in the one-line form an optional argument never swallows a keepalived keyword', () => {
    const c = parse(vs('  real_server 10.0.0.2 11211 { notify_down /bin/down inhibit_on_failure notify_up /bin/up root }').replace(/\n/g, ' '));
    expect(c.virtualServers[0].realServers[0]).toMatchObject({ notifyDown: { argv: ['/bin/down'], user: null }, notifyUp: { user: 'root' } });
    expect(c.warnings).toEqual(["haved.conf:1: unknown keyword 'inhibit_on_failure' in real_server (ignored)"]);
  });

  it("values are case-sensitive: 'state Master' warns and means BACKUP, like keepalived", () => {
    const c = parse(instance('  state Master'));
    expect(c.instances[0]).toMatchObject({ state: 'BACKUP', priority: 100 });
    expect(c.warnings).toEqual([
      "haved.conf:4: (VI_1) unknown state 'Master', defaulting to BACKUP (values are case-sensitive: MASTER or BACKUP)",
    ]);
  });

  it('nb_get_retry and load-balancer keys are reported once each', () => {
    const rs = (ip: string): string => `  real_server ${ip} 11211 {\n    weight 2\n    TCP_CHECK { nb_get_retry 4 }\n  }`;
    const c = parse(vs(`  lb_algo rr\n  lb_kind DR\n${rs('10.0.0.2')}\n${rs('10.0.0.3')}`));
    expect(c.virtualServers[0].realServers.map((r) => [r.weight, r.checks[0].retry])).toEqual([
      [2, 4],
      [2, 4],
    ]);
    expect(c.warnings).toEqual([
      'haved.conf:2: lb_algo: haved does not load-balance; ignored (reported once for lb_algo, lb_kind, persistence_timeout, protocol, weight, sorry_server)',
      "haved.conf:6: nb_get_retry is not a TCP_CHECK keyword in keepalived (it ignores it); haved reads it as 'retry'",
    ]);
  });

  it('// annotations: one warning with the first place and the count', () => {
    const c = parse(`// header\n${instance('  priority 90 // lower')}`);
    expect(c.instances[0].priority).toBe(90);
    expect(c.warnings).toEqual([
      "haved.conf:1: '//' is not keepalived syntax; haved reads it as a comment to the end of the line (2 lines; use '#' or '!')",
    ]);
  });

  it('keepalived rules kept: nopreempt with priority 255, preempt_delay with nopreempt', () => {
    expect(parse(instance('  priority 255\n  nopreempt')).warnings).toEqual([
      'haved.conf:5: (VI_1) nopreempt is incompatible with priority 255 - resetting nopreempt (as keepalived)',
    ]);
    const c = parse(instance('  nopreempt\n  preempt_delay 10'));
    expect(c.instances[0]).toMatchObject({ nopreempt: true, preemptDelayMs: 0 });
    expect(c.warnings).toEqual(['haved.conf:5: (VI_1) preempt_delay does nothing with nopreempt - clearing it (as keepalived)']);
  });

  it.each([
    ['script_user with a group', 'global_defs {\n  script_user nobody nogroup\n}\n', 'haved.conf:2: script_user: the group is not supported by haved (ignored)'],
    ['notify with a group', instance('  notify_master /bin/m root wheel'), 'haved.conf:4: notify_master: the group after the user is not supported by haved (ignored)'],
    ['vrrp_script user with a group', 'vrrp_script chk {\n  script /bin/true\n  user nobody nogroup\n}\n',
      'haved.conf:3: vrrp_script chk: the group is not supported by haved (ignored)'],
    ['vrrp_script weight reverse', 'vrrp_script chk {\n  script /bin/true\n  weight 10 reverse\n}\n',
      'haved.conf:3: vrrp_script chk: reverse is only supported on the track_script line (ignored)'],
    ['track_interface reverse with weight 0', instance('  track_interface {\n    eth1 weight 0 reverse\n  }'),
      'haved.conf:5: track_interface eth1: reverse needs a non-zero weight'],
    ['auth_type AH', instance('  authentication {\n    auth_type AH\n    auth_pass 1111\n  }'),
      'haved.conf:5: (VI_1) auth_type AH (IPsec) cannot be done over UDP; haved checks the password like PASS - prefer HMAC'],
    ['instance without VIPs', 'vrrp_instance VI_1 {\n  interface eth0\n  virtual_router_id 51\n}\n', 'haved.conf:1: (VI_1) has no virtual_ipaddress'],
  ])('warns: %s', (_name, text, warning) => {
    expect(parse(text).warnings.filter((w) => !w.includes('is cleartext'))).toEqual([warning]);
  });

  it('unsupported checkers, VIP options and unicast without peers', () => {
    const c = parse(
      `${instance('  unicast_src_ip 10.0.0.5\n  virtual_ipaddress { 10.0.0.2 no_track peer 10.0.0.3 }')}${vs('  real_server 10.0.0.2 80 {\n    HTTP_GET {\n      url { path / }\n    }\n  }')}`,
    );
    expect(c.instances[0].virtualIpAddresses.map((v) => v.address)).toEqual(['10.0.0.2', '10.0.0.1']);
    expect(c.virtualServers[0].realServers[0].checks).toEqual([]);
    expect(c.warnings).toEqual([
      'haved.conf:4: (VI_1) unicast_src_ip without unicast_peer: adverts go to the multicast group 224.0.0.18',
      "haved.conf:5: virtual_ipaddress option 'no_track' is not supported by haved (ignored)",
      "haved.conf:5: virtual_ipaddress option 'peer' is not supported by haved (ignored)",
      'haved.conf:12: HTTP_GET is not supported by haved (use TCP_CHECK or MEMCACHE_CHECK); ignored',
    ]);
  });
});

describe("keepalived's own sample configs", () => {
  // Shipped with Debian's keepalived package (installed for the comparison tests).
  const dir = '/usr/share/doc/keepalived/samples';
  const samples = existsSync(dir) ? readdirSync(dir).filter((f) => f.startsWith('keepalived.conf')) : [];
  const skip = samples.length === 0 && process.env.CI !== 'true';

  it.skipIf(skip)('use no word haved calls an unknown keyword, except those keepalived -t rejects too', () => {
    expect(samples.length).toBeGreaterThan(10);
    const unknown: string[] = [];
    for (const f of samples) {
      try {
        loadConfig(join(dir, f), { localAddresses: [], configId: 'node1' });
      } catch (e) {
        if (!(e instanceof ConfigError)) throw e;
        unknown.push(...configErrorList(e).map((x) => x.message.slice(dir.length + 1)).filter((m) => m.includes('unknown keyword')));
      }
    }
    // keepalived 2.2.7 -t: "Unknown keyword 'VI_2'" (an old sync group syntax without `group { }`)
    expect(unknown).toEqual([
      "keepalived.conf.vrrp.lvs_syncd:4: unknown keyword 'VI_2' in vrrp_sync_group: neither haved nor keepalived 2.2 knows it",
      "keepalived.conf.vrrp.lvs_syncd:5: unknown keyword 'VI_3' in vrrp_sync_group: neither haved nor keepalived 2.2 knows it",
    ]);
  });
});
