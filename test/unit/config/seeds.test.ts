import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { fixture, load, shape, fixtureText, parse } from './helpers.ts';

/** The seeds' configs are what users paste; every complete one must parse unchanged. */
describe('seed documents', () => {
  const complete = readdirSync(fixture('seeds')).filter((f) => !f.includes('as-printed'));

  it.each(complete)('%s parses', (name) => {
    expect(() => load(`seeds/${name}`)).not.toThrow();
  });

  it('000 master: sync group, nopreempt kept with state MASTER, TCP_CHECK with nb_get_retry', () => {
    const c = load('seeds/000-memcached1-master.conf', { localAddresses: ['192.168.1.105'] });
    expect(c.global).toMatchObject({
      routerId: 'LVS_DEVEL',
      notificationEmail: ['admin@example.com'],
      notificationEmailFrom: 'Alexandre.Cassen@firewall.loc',
      smtpServer: '192.168.200.1',
      smtpConnectTimeoutMs: 30_000,
      mcastGroup4: '224.0.0.18',
      advertPort: 112,
    });
    expect(c.syncGroups).toMatchObject([{ name: 'cluster', members: ['mem_ha'] }]);
    const [i] = c.instances;
    expect(i).toMatchObject({
      name: 'mem_ha',
      state: 'MASTER',
      interface: 'ens33',
      virtualRouterId: 51,
      priority: 100,
      advertIntMs: 1000,
      nopreempt: true,
      authentication: { type: 'PASS', secret: '1111' },
      virtualIpAddresses: [{ address: '192.168.1.200', prefix: 32, dev: null }],
      garpMasterDelayMs: 5000,
      garpMasterRepeat: 5,
    });
    const [vs] = c.virtualServers;
    expect(vs).toMatchObject({ address: '192.168.1.200', port: 11211, delayLoopMs: 6000, protocol: 'TCP', vipInstances: ['mem_ha'] });
    expect(vs.sorryServer).toEqual({ address: '192.168.1.100', port: 11211 });
    const [rs] = vs.realServers;
    expect(rs).toMatchObject({ address: '192.168.1.105', port: 11211, weight: 3, local: true });
    expect(rs.notifyDown?.argv).toEqual(['/root/memcached.sh']);
    expect(rs.checks).toMatchObject([
      { kind: 'TCP_CHECK', connectTimeoutMs: 3000, retry: 3, delayBeforeRetryMs: 3000, connectPort: 11211, delayLoopMs: 6000 },
    ]);
    const where = fixture('seeds/000-memcached1-master.conf');
    expect(c.warnings).toEqual([
      `${where}:10: '//' is not keepalived syntax; haved reads it as a comment to the end of the line (10 lines; use '#' or '!')`,
      `${where}:13: vrrp_sync_group cluster has only 1 virtual router - this probably isn't what you want (as keepalived warns)`,
      `${where}:24: (mem_ha) state MASTER with nopreempt: keepalived would clear nopreempt; haved keeps it, so a recovered node does not take the VIP back`,
      `${where}:27: (mem_ha) auth_type PASS is cleartext: anyone who sees one advert can forge others and take the VIP away from any address (no unicast_peer or allowed_peers); use auth_type HMAC`,
      `${where}:37: persistence_timeout: haved does not load-balance; ignored (reported once for lb_algo, lb_kind, persistence_timeout, protocol, weight, sorry_server)`,
      `${where}:40: real_server 192.168.1.105 11211 is this host: haved tracks it as the local cache - when its checks fail it runs notify_down and puts the VRRP instances in FAULT so the peer takes over (keepalived would only run notify_down)`,
      `${where}:46: nb_get_retry is not a TCP_CHECK keyword in keepalived (it ignores it); haved reads it as 'retry'`,
    ]);
  });

  it('000 backup as printed (an excerpt with "// 省略" = omitted) is reported as missing both its }', () => {
    const path = fixture('seeds/000-memcached2-as-printed.conf');
    expect(() => load('seeds/000-memcached2-as-printed.conf')).toThrow(
      [
        `${path}:15: virtual_server cannot be inside vrrp_instance mem_ha: a '}' is missing before it (vrrp_instance mem_ha opened at ${path}:2)`,
        `${path}:23: missing '}': virtual_server 192.168.1.200 11211 opened at ${path}:15 is not closed at end of file`,
      ].join('\n'),
    );
  });

  it('000 backup completed: priority 90, no nopreempt, no check', () => {
    const c = load('seeds/000-memcached2-completed.conf', { localAddresses: ['192.168.1.105'] });
    expect(c.instances[0]).toMatchObject({ state: 'MASTER', priority: 90, nopreempt: false, virtualRouterId: 51 });
    expect(c.virtualServers[0].realServers[0]).toMatchObject({ local: true, checks: [] });
  });

  it('001 master and backup differ only in priority, sorry_server and real_server', () => {
    const m = load('seeds/001-mamcache1-master.conf', { localAddresses: ['192.168.23.201'] });
    const b = load('seeds/001-memcache2-backup.conf', { localAddresses: ['192.168.23.202'] });
    for (const [c, prio, self, peer] of [
      [m, 100, '192.168.23.201', '192.168.23.202'],
      [b, 99, '192.168.23.202', '192.168.23.201'],
    ] as const) {
      expect(c.instances[0]).toMatchObject({ name: 'VI_1', state: 'MASTER', interface: 'ens32', virtualRouterId: 51, priority: prio, nopreempt: false });
      expect(c.instances[0].virtualIpAddresses.map((v) => v.address)).toEqual(['192.168.23.100']);
      const vs = c.virtualServers[0];
      expect(vs.sorryServer).toEqual({ address: peer, port: 11211 });
      expect(vs.realServers[0]).toMatchObject({ address: self, weight: 1, local: true });
      expect(vs.realServers[0].checks[0]).toMatchObject({ kind: 'TCP_CHECK', retry: 3, connectTimeoutMs: 3000 });
      expect(c.warnings.some((w) => w.includes("lb_algo: haved does not load-balance"))).toBe(true);
    }
  });

  it('003: vrrp_script magent tracked with the script defaults', () => {
    for (const [name, state, prio, router] of [
      ['seeds/003-mem-master.conf', 'MASTER', 100, 'LVS_MASTER'],
      ['seeds/003-mem-bak.conf', 'BACKUP', 99, 'LVS_BACKUP'],
    ] as const) {
      const c = load(name);
      expect(c.global.routerId).toBe(router);
      expect(c.global.smtpServer).toBe('127.0.0.1');
      expect(c.scripts.get('magent')).toMatchObject({ script: ['/opt/magent.sh'], intervalMs: 2000, timeoutMs: 2000, weight: 0, rise: 1, fall: 1 });
      expect(c.instances[0]).toMatchObject({ state, priority: prio, interface: 'eth0', virtualRouterId: 51 });
      expect(c.instances[0].trackScripts).toMatchObject([{ name: 'magent', weight: null, reverse: false }]);
      expect(c.instances[0].virtualIpAddresses[0].address).toBe('172.17.7.66');
      expect(c.warnings).toEqual([expect.stringMatching(/:\d+: \(VI_1\) auth_type PASS is cleartext: .*use auth_type HMAC$/)]);
    }
  });

  it('a real_server elsewhere is not local; 127.0.0.1 always is', () => {
    expect(load('seeds/001-mamcache1-master.conf').virtualServers[0].realServers[0].local).toBe(false);
    const text = fixtureText('seeds/001-mamcache1-master.conf').replace('real_server 192.168.23.201', 'real_server 127.0.0.1');
    expect(parse(text).virtualServers[0].realServers[0].local).toBe(true);
  });

  it.each(complete)('%s flattened onto one line gives the same config', (name) => {
    const text = fixtureText(`seeds/${name}`);
    const flat = text
      .split('\n')
      .map((l) => l.replace(/\/\/.*|[#!].*/, ''))
      .join(' ');
    expect(flat).not.toContain('\n');
    expect(shape(parse(flat))).toEqual(shape(parse(text)));
  });

  it('the one-line form as tutorials print it', () => {
    const flat = fixtureText('flattened/000-one-line.conf');
    const c = parse(flat, { localAddresses: ['192.168.1.105'] });
    const multi = load('seeds/000-memcached1-master.conf', { localAddresses: ['192.168.1.105'] });
    expect(flat.trim().split('\n')).toHaveLength(1);
    expect(shape(c)).toEqual(shape(multi));
  });
});
