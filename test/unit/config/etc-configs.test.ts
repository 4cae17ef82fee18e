import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load.ts';

const etc = (name: string) => fileURLToPath(new URL(`../../../etc/${name}`, import.meta.url));

/** The configs shipped in etc/, parsed as on the host they are written for. */
describe('etc/ configurations', () => {
  const pair = [
    { file: 'haved-master.conf', me: '192.168.1.105', peer: '192.168.1.100', priority: 100, nopreempt: true },
    { file: 'haved-backup.conf', me: '192.168.1.100', peer: '192.168.1.105', priority: 90, nopreempt: false },
  ];

  it.each(pair)('$file: the seeds\' topology, supervising repcache that replicates with the peer', (p) => {
    const c = loadConfig(etc(p.file), { localAddresses: [p.me] });
    expect(c.warnings).toEqual([expect.stringMatching(/real_server .* is this host: haved tracks it as the local cache/)]);
    expect(c.instances).toHaveLength(1);
    const i = c.instances[0]!;
    expect(i).toMatchObject({ name: 'mem_ha', virtualRouterId: 51, priority: p.priority, advertIntMs: 1000, nopreempt: p.nopreempt, unicastSrcIp: p.me, unicastPeers: [p.peer] });
    expect(i.virtualIpAddresses.map((v) => `${v.address}/${v.prefix}`)).toEqual(['192.168.1.200/24']);
    expect(i.authentication?.type).toBe('HMAC');
    expect(c.cacheDaemon?.argv).toEqual(['/opt/haved/bin/repcache', '-p', '11211', '-m', '64', '-c', '1024', '-u', 'nobody', '-x', p.peer, '-o', 'repl_secret_file=/etc/repcache.secret']);
    expect(c.cacheDaemon?.checkPort).toBe(11211);
    const rs = c.virtualServers[0]!.realServers[0]!;
    expect(rs).toMatchObject({ address: p.me, port: 11211, local: true });
    expect(rs.checks[0]!.kind).toBe('MEMCACHE_CHECK');
  });

  it('the master and the backup agree on everything the election compares', () => {
    const [m, b] = pair.map((p) => loadConfig(etc(p.file), { localAddresses: [p.me] }).instances[0]!);
    const same = (i: typeof m) => ({ vrid: i!.virtualRouterId, advert: i!.advertIntMs, auth: { ...i!.authentication, where: null }, vips: i!.virtualIpAddresses.map((v) => ({ ...v, where: null })) });
    expect(same(m)).toEqual(same(b));
  });

  it('haved-local.conf (npm start): a VIP on lo and a local repcache on 127.0.0.1:11211', () => {
    const c = loadConfig(etc('haved-local.conf'));
    expect(c.warnings).toEqual([]);
    expect(c.global.advertPort).toBeGreaterThan(1023);
    expect(c.instances[0]).toMatchObject({ interface: 'lo' });
    expect(c.instances[0]!.virtualIpAddresses[0]).toMatchObject({ address: '198.18.0.100', prefix: 32, dev: 'lo' });
    expect(c.cacheDaemon).toMatchObject({ argv: ['bin/repcache', '-l', '127.0.0.1', '-p', '11211', '-m', '64', '-u', 'nobody'], checkPort: 11211 });
  });

  it('haved.conf.example parses without warnings', () => {
    const c = loadConfig(etc('haved.conf.example'), { localAddresses: ['192.168.1.101'] });
    expect(c.warnings).toHaveLength(1); // the local real_server note
    expect(c.instances[0]!.name).toBe('VI_1');
  });
});
