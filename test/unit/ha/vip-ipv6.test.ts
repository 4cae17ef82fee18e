import { describe, expect, it } from 'vitest';
import type { VirtualAddress } from '../../../src/config/model.ts';
import { VipError, VipManager, type CommandRunner } from '../../../src/ha/adapters/vip-manager.ts';

const vip = (address: string, extra: Partial<VirtualAddress> = {}): VirtualAddress => ({
  address, prefix: 64, dev: null, brd: null, scope: null, label: null, where: 'x.conf:1', ...extra,
});

function recorder(replies: Record<string, { exitCode: number; stderr: string }> = {}) {
  const calls: string[] = [];
  const run: CommandRunner = async (file, args) => {
    const line = `${file} ${args.join(' ')}`;
    calls.push(line);
    const key = Object.keys(replies).find((k) => line.includes(k));
    return key ? replies[key]! : { exitCode: 0, stderr: '' };
  };
  return { calls, run };
}

function sysctls(fail: Record<string, NodeJS.ErrnoException> = {}) {
  const written: string[] = [];
  const writeSysctl = (path: string, value: string) => {
    const key = Object.keys(fail).find((k) => path.includes(k));
    if (key) throw fail[key];
    written.push(`${path}=${value}`);
  };
  return { written, writeSysctl };
}

const errno = (code: string, message: string) => Object.assign(new Error(message), { code });

describe('VipManager: IPv6 VIPs', () => {
  it('turns on the kernel announcement once per interface and adds with ip -6 (DAD is off on it)', async () => {
    const r = recorder();
    const s = sysctls();
    const m = new VipManager({ run: r.run, writeSysctl: s.writeSysctl });
    await m.add(vip('2001:db8::10'), 'hv0');
    await m.add(vip('2001:db8::11', { prefix: 128, scope: 'global' }), 'hv0');
    await m.remove(vip('2001:db8::10'), 'hv0');
    expect(s.written).toEqual(['/proc/sys/net/ipv6/conf/hv0/ndisc_notify=1', '/proc/sys/net/ipv6/conf/hv0/accept_dad=0']);
    expect(r.calls).toEqual([
      'ip -6 addr add 2001:db8::10/64 dev hv0',
      'ip -6 addr add 2001:db8::11/128 dev hv0 scope global',
      'ip -6 addr del 2001:db8::10/64 dev hv0',
    ]);
  });

  it('an interface without IPv6: the reason is given and the VIP is added with nodad', async () => {
    const r = recorder();
    const s = sysctls({ 'hv1/ndisc_notify': errno('ENOENT', 'no such file') });
    const m = new VipManager({ run: r.run, writeSysctl: s.writeSysctl });
    expect(m.prepareIPv6('hv1')).toBe('interface hv1 has no IPv6 (/proc/sys/net/ipv6/conf/hv1/ndisc_notify does not exist: IPv6 disabled or no such interface)');
    await m.add(vip('2001:db8::10', { dev: 'hv1' }), 'hv0');
    expect(r.calls).toEqual(['ip -6 addr add 2001:db8::10/64 dev hv1 nodad']);
  });

  it('a read-only /proc/sys is said too', () => {
    const s = sysctls({ accept_dad: errno('EROFS', 'EROFS: read-only file system') });
    expect(new VipManager({ run: recorder().run, writeSysctl: s.writeSysctl }).prepareIPv6('hv0')).toBe(
      'cannot set /proc/sys/net/ipv6/conf/hv0/accept_dad to 0: EROFS: read-only file system',
    );
  });

  it('ip refusing an IPv6 address (IPv6 disabled on the device) is a VipError that says so', async () => {
    const r = recorder({ '-6 addr add': { exitCode: 2, stderr: 'RTNETLINK answers: Permission denied' } });
    const m = new VipManager({ run: r.run, writeSysctl: sysctls().writeSysctl });
    const e = await m.add(vip('2001:db8::10'), 'hv0').catch((x: unknown) => x);
    expect(e).toBeInstanceOf(VipError);
    expect((e as Error).message).toBe(
      'ip -6 addr add 2001:db8::10/64 dev hv0: RTNETLINK answers: Permission denied (is IPv6 disabled on hv0? sysctl net.ipv6.conf.hv0.disable_ipv6)',
    );
  });

  it('sends no gratuitous ARP for IPv6 VIPs (the kernel announced them)', async () => {
    const r = recorder();
    new VipManager({ run: r.run, writeSysctl: sysctls().writeSysctl }).garp([vip('2001:db8::10'), vip('198.18.0.100', { prefix: 32 })], 'hv0', 1);
    await new Promise((res) => setImmediate(res));
    expect(r.calls).toEqual(['arping -U -c 1 -I hv0 198.18.0.100']);
  });

  it('without VIP management nothing is written', () => {
    const s = sysctls();
    expect(new VipManager({ disabled: 'not root', writeSysctl: s.writeSysctl }).prepareIPv6('hv0')).toBeNull();
    expect(s.written).toEqual([]);
  });
});

describe('reload: an instance that changes address family is rebuilt', () => {
  it('says why', async () => {
    const { parse } = await import('../config/helpers.ts');
    const { rebuildReason } = await import('../../../src/ha/daemon/instance-runtime.ts');
    const conf = (vip: string) => parse(`vrrp_instance VI_1 {\n  interface eth0\n  virtual_router_id 51\n  virtual_ipaddress {\n    ${vip}\n  }\n}\n`).instances[0]!;
    expect(rebuildReason(conf('198.18.0.100'), conf('2001:db8::100'), '224.0.0.18', '224.0.0.18')).toBe('address family changed');
    expect(rebuildReason(conf('2001:db8::100'), conf('2001:db8::101/64'), '224.0.0.18', '224.0.0.18')).toBeNull();
  });
});
