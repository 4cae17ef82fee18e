import { describe, expect, it } from 'vitest';
import { instance, parse } from './helpers.ts';

describe('keepalived defaults', () => {
  it('global_defs', () => {
    expect(parse('').global).toEqual({
      routerId: null,
      mcastGroup4: '224.0.0.18',
      advertPort: 112,
      garpMasterDelayMs: 5000,
      garpMasterRepeat: 5,
      garpMasterRefreshMs: 0,
      garpMasterRefreshRepeat: 1,
      garpLowerPrioDelayMs: null,
      garpLowerPrioRepeat: null,
      scriptUser: null,
      enableScriptSecurity: false,
      notificationEmail: [],
      notificationEmailFrom: null,
      smtpServer: null,
      metricsListen: null,
      notifyFifos: [],
      smtpConnectTimeoutMs: 30_000,
      where: 'haved.conf:1',
    });
  });

  it('vrrp_instance', () => {
    const [i] = parse(instance('')).instances;
    expect(i).toMatchObject({
      state: 'BACKUP',
      priority: 100,
      advertIntMs: 1000,
      nopreempt: false,
      preemptDelayMs: 0,
      authentication: null,
      unicastPeers: [],
      unicastSrcIp: null,
      mcastSrcIp: null,
      garpMasterDelayMs: 5000,
      garpMasterRepeat: 5,
      garpMasterRefreshMs: 0,
      garpMasterRefreshRepeat: 1,
      preemptSchedule: null,
      notify: null,
      where: 'haved.conf:1',
    });
  });

  it('priority 255 for state MASTER without priority; state from priority when state is absent', () => {
    expect(parse(instance('state MASTER')).instances[0]).toMatchObject({ state: 'MASTER', priority: 255 });
    expect(parse(instance('priority 255')).instances[0]).toMatchObject({ state: 'MASTER', priority: 255 });
    expect(parse(instance('priority 150')).instances[0]).toMatchObject({ state: 'BACKUP', priority: 150 });
    expect(parse(instance('state MASTER\npriority 90')).instances[0]).toMatchObject({ state: 'MASTER', priority: 90 });
  });

  it('instances inherit the global vrrp_garp_* values unless they set their own', () => {
    const text = `global_defs {\n vrrp_garp_master_delay 2\n vrrp_garp_master_repeat 3\n vrrp_garp_master_refresh 60\n vrrp_garp_master_refresh_repeat 2\n}\n${instance('')}${instance('garp_master_delay 0.5\ngarp_master_repeat 1', 'vrrp_instance VI_2 {\n interface eth0\n virtual_router_id 52\n')}`;
    const [a, b] = parse(text).instances;
    expect(a).toMatchObject({ garpMasterDelayMs: 2000, garpMasterRepeat: 3, garpMasterRefreshMs: 60_000, garpMasterRefreshRepeat: 2 });
    expect(b).toMatchObject({ garpMasterDelayMs: 500, garpMasterRepeat: 1, garpMasterRefreshMs: 60_000 });
  });

  it('vrrp_script: interval 1 s, timeout = interval, weight 0, rise/fall 1', () => {
    const s = parse('vrrp_script a { script /bin/true }\nvrrp_script b {\n script "/bin/chk -p 1"\n interval 0.25\n}').scripts;
    expect(s.get('a')).toEqual({
      name: 'a',
      script: ['/bin/true'],
      intervalMs: 1000,
      timeoutMs: 1000,
      weight: 0,
      rise: 1,
      fall: 1,
      user: null,
      initFail: false,
      where: 'haved.conf:1',
    });
    expect(s.get('b')).toMatchObject({ script: ['/bin/chk', '-p', '1'], intervalMs: 250, timeoutMs: 250 });
    const unquoted = parse('vrrp_script c {\n script killall -0 magent\n interval 2\n}').scripts.get('c');
    expect(unquoted).toMatchObject({ script: ['killall', '-0', 'magent'], intervalMs: 2000 });
    expect(parse('vrrp_script c { script killall -0 magent interval 2 }').scripts.get('c')).toEqual({ ...unquoted, where: 'haved.conf:1' });
  });

  it('checks: connect_timeout 5 s, retry 1, delay_before_retry 1 s, delay_loop 60 s; inner levels override', () => {
    const text = `virtual_server 10.0.0.1 11211 {
  real_server 127.0.0.1 11211 { TCP_CHECK { } }
  real_server 10.0.0.2 11211 {
    retry 2
    MEMCACHE_CHECK { connect_timeout 0.2 }
  }
  delay_loop 2
}`;
    const [vs] = parse(text).virtualServers;
    expect(vs).toMatchObject({ delayLoopMs: 2000, protocol: 'TCP', sorryServer: null, vipInstances: [] });
    expect(vs.realServers[0]).toMatchObject({ weight: 1, local: true, notifyUp: null, notifyDown: null });
    expect(vs.realServers[0].checks[0]).toEqual({
      kind: 'TCP_CHECK',
      connectIp: null,
      connectPort: null,
      bindTo: null,
      connectTimeoutMs: 5000,
      retry: 1,
      delayBeforeRetryMs: 1000,
      delayLoopMs: 2000,
      where: 'haved.conf:2',
    });
    expect(vs.realServers[1]).toMatchObject({ local: false });
    expect(vs.realServers[1].checks[0]).toMatchObject({ kind: 'MEMCACHE_CHECK', connectTimeoutMs: 200, retry: 2, delayLoopMs: 2000 });
    expect(parse('virtual_server 10.0.0.1 1 { }').virtualServers[0].delayLoopMs).toBe(60_000);
  });
});

describe('keywords', () => {
  it('reads every vrrp_instance keyword', () => {
    const text = `vrrp_script chk { script "/bin/chk" weight -20 rise 2 fall 3 timeout 0.5 user nobody init_fail }
vrrp_instance VI_1 {
  state BACKUP
  interface eth0
  virtual_router_id 7
  priority 150
  advert_int 0.1
  preempt_delay 2.5
  authentication {
    auth_type HMAC
    auth_pass 0123456789abcdef0123
  }
  virtual_ipaddress {
    198.18.0.10/24 dev br0 label br0:vip brd 198.18.0.255 scope global
    198.18.0.11
  }
  unicast_src_ip 198.18.0.1
  unicast_peer {
    198.18.0.2
    198.18.0.3
  }
  track_script {
    chk weight 10 reverse
  }
  track_interface {
    eth1 weight -5
    eth2
  }
  notify "/etc/haved/notify.sh all"
  notify_master "/bin/m 'a b'" root
  notify_backup /bin/b
  notify_fault /bin/f
  notify_stop /bin/s
  garp_master_refresh 30
  preempt_schedule "* 2-4 * * *"
}`;
    const c = parse(text);
    expect(c.scripts.get('chk')).toMatchObject({ weight: -20, rise: 2, fall: 3, timeoutMs: 500, user: 'nobody', initFail: true });
    const [i] = c.instances;
    expect(i).toMatchObject({
      state: 'BACKUP',
      virtualRouterId: 7,
      priority: 150,
      advertIntMs: 100,
      preemptDelayMs: 2500,
      authentication: { type: 'HMAC', secret: '0123456789abcdef0123', where: 'haved.conf:10' },
      unicastSrcIp: '198.18.0.1',
      unicastPeers: ['198.18.0.2', '198.18.0.3'],
      trackScripts: [{ name: 'chk', weight: 10, reverse: true, where: 'haved.conf:23' }],
      trackInterfaces: [
        { name: 'eth1', weight: -5, reverse: false, where: 'haved.conf:26' },
        { name: 'eth2', weight: 0, reverse: false, where: 'haved.conf:27' },
      ],
      notify: { argv: ['/etc/haved/notify.sh', 'all'], user: null, where: 'haved.conf:29' },
      notifyMaster: { argv: ['/bin/m', 'a b'], user: 'root' },
      notifyBackup: { argv: ['/bin/b'], user: null },
      notifyFault: { argv: ['/bin/f'] },
      notifyStop: { argv: ['/bin/s'] },
      garpMasterRefreshMs: 30_000,
      preemptSchedule: '* 2-4 * * *',
    });
    expect(i.virtualIpAddresses).toEqual([
      { address: '198.18.0.10', prefix: 24, dev: 'br0', brd: '198.18.0.255', scope: 'global', label: 'br0:vip', where: 'haved.conf:14' },
      { address: '198.18.0.11', prefix: 32, dev: null, brd: null, scope: null, label: null, where: 'haved.conf:15' },
    ]);
    expect(c.warnings).toEqual([]);
  });

  it('reads global_defs keywords, vrrp_sync_group and the haved vrrp_udp_port extension', () => {
    const text = `global_defs {
  router_id n1
  notification_email { a@b c@d }
  smtp_server 10.0.0.9 25
  enable_script_security
  script_user haved
  vrrp_mcast_group4 239.1.2.3
  vrrp_udp_port 11112
  metrics_listen [::1]:9650
}
${instance('')}${instance('', 'vrrp_instance VI_2 { interface eth0 virtual_router_id 52\n')}
vrrp_sync_group G {
  group { VI_1 VI_2 }
  notify /bin/n
  notify_master /bin/m
  notify_backup /bin/b
  notify_fault /bin/f
  notify_stop /bin/s
}`;
    const c = parse(text);
    expect(c.global).toMatchObject({
      routerId: 'n1',
      notificationEmail: ['a@b', 'c@d'],
      smtpServer: '10.0.0.9',
      enableScriptSecurity: true,
      scriptUser: 'haved',
      mcastGroup4: '239.1.2.3',
      advertPort: 11112,
      metricsListen: { host: '::1', port: 9650 },
    });
    expect(c.syncGroups).toMatchObject([
      { name: 'G', members: ['VI_1', 'VI_2'], notify: { argv: ['/bin/n'] }, notifyMaster: { argv: ['/bin/m'] }, notifyStop: { argv: ['/bin/s'] } },
    ]);
    expect(c.warnings).toEqual([]);
  });

  it('PASS passwords longer than 8 characters are truncated with a warning; short HMAC keys are warned', () => {
    const c = parse(instance('authentication {\n auth_type PASS\n auth_pass 123456789\n}'));
    expect(c.instances[0].authentication).toEqual({ type: 'PASS', secret: '12345678', where: 'haved.conf:5' });
    expect(c.warnings).toEqual([
      `haved.conf:5: (VI_1) auth_type PASS is cleartext: anyone who sees one advert can forge others and take the VIP away from any address (no unicast_peer or allowed_peers); use auth_type HMAC`,
      "haved.conf:6: (VI_1) Truncating auth_pass to 8 characters (keepalived's rule)",
    ]);
    const h = parse(instance('authentication { auth_type HMAC auth_pass short }'));
    expect(h.instances[0].authentication?.secret).toBe('short');
    expect(h.warnings).toEqual(['haved.conf:4: (VI_1) HMAC key is shorter than 16 characters; use a longer random key']);
  });
});
