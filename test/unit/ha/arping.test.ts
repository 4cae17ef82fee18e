import { describe, expect, it } from 'vitest';
import type { VirtualAddress } from '../../../src/config/model.ts';
import { arpingFlavour, findOnPath, garpArgs, garpSent } from '../../../src/ha/adapters/arping.ts';
import { VipError, VipManager, type CommandRunner } from '../../../src/ha/adapters/vip-manager.ts';

// What each arping prints for `arping -V` (stdout + stderr), as captured from Debian 12's packages.
const IPUTILS_V = 'arping from iputils 20221126\nlibcap: yes, IDN: yes, NLS: no, error.h: yes, getrandom(): yes, __fpending(): yes\n';
const HABETS_V = "ARPing 2.23, by Thomas Habets <thomas@habets.se>\nusage: arping [ -0aAbdDeFpPqrRuUvzZ ] [ -w <sec> ] [ -W <sec> ] [ -S <host/ip> ]\n\n/usr/sbin/arping: option requires an argument -- 'V'\n";
const BUSYBOX_V = "arping: invalid option -- 'V'\nBusyBox v1.36.1 (Debian 1:1.36.1-9) multi-call binary.\n\nUsage: arping [-fqbDUA] [-c CNT] [-w TIMEOUT] [-I IFACE] [-s SRC_IP] DST_IP\n";
const HABETS_GARP = 'ARPING 198.18.0.100\nTimeout\n\n--- 198.18.0.100 statistics ---\n1 packets transmitted, 0 packets received, 100% unanswered (0 extra)\n\n';

const vip = (address: string): VirtualAddress => ({ address, prefix: 32, dev: null, brd: null, scope: null, label: null, where: 'x.conf:1' });

describe('arping flavours', () => {
  it('tells iputils (and BusyBox, same syntax) from Habets by their -V output', () => {
    expect(arpingFlavour(IPUTILS_V)).toBe('iputils');
    expect(arpingFlavour(BUSYBOX_V)).toBe('iputils');
    expect(arpingFlavour(HABETS_V)).toBe('habets');
    expect(arpingFlavour('sh: 1: arping: not found')).toBeNull();
  });

  it('builds each flavour\'s gratuitous ARP and reads its success', () => {
    expect(garpArgs('iputils', 'eth0', '10.0.0.1')).toEqual(['-U', '-c', '1', '-I', 'eth0', '10.0.0.1']);
    expect(garpArgs('habets', 'eth0', '10.0.0.1')).toEqual(['-U', '-c', '1', '-i', 'eth0', '-S', '10.0.0.1', '10.0.0.1']);
    expect(garpSent('iputils', { exitCode: 0 })).toBe(true);
    expect(garpSent('iputils', { exitCode: 2 })).toBe(false);
    // Habets: exit 1 means "no reply", which an unsolicited ARP never gets
    expect(garpSent('habets', { exitCode: 1, stdout: HABETS_GARP })).toBe(true);
    expect(garpSent('habets', { exitCode: 1, stdout: '' })).toBe(false); // e.g. libnet_init: No such device
    expect(garpSent('habets', { exitCode: 1, stdout: '0 packets transmitted' })).toBe(false);
  });

  it('finds the first executable on PATH', () => {
    expect(findOnPath('sh', '/nonexistent:/bin:/usr/bin')).toMatch(/\/sh$/);
    expect(findOnPath('no-such-program-here', '/bin:/usr/bin')).toBeNull();
  });
});

describe('VipManager announces with the arping it found at start', () => {
  function runner(vOutput: { stdout?: string; stderr?: string; exitCode?: number }, garp = { exitCode: 0, stdout: '', stderr: '' }) {
    const calls: string[] = [];
    const run: CommandRunner = async (file, args) => {
      calls.push(`${file} ${args.join(' ')}`);
      if (args[0] === '-V') return { exitCode: vOutput.exitCode ?? 0, stdout: vOutput.stdout ?? '', stderr: vOutput.stderr ?? '' };
      return garp;
    };
    return { calls, run };
  }
  const tick = () => new Promise((res) => setImmediate(res));

  it('iputils: -I IFACE', async () => {
    const r = runner({ stdout: IPUTILS_V });
    const v = new VipManager({ run: r.run, findArping: () => '/usr/bin/arping' });
    expect(await v.detectArping()).toEqual({ file: '/usr/bin/arping', flavour: 'iputils' });
    v.garp([vip('198.18.0.100')], 'hv0', 2);
    await tick();
    expect(r.calls).toEqual(['/usr/bin/arping -V', ...Array(2).fill('/usr/bin/arping -U -c 1 -I hv0 198.18.0.100')]);
  });

  it("Habets: -i IFACE -S VIP, and its exit 1 with '1 packets transmitted' is no error", async () => {
    const r = runner({ stdout: HABETS_V, exitCode: 1 }, { exitCode: 1, stdout: HABETS_GARP, stderr: '' });
    const v = new VipManager({ run: r.run, findArping: () => '/usr/sbin/arping' });
    expect(await v.detectArping()).toEqual({ file: '/usr/sbin/arping', flavour: 'habets' });
    const errors: VipError[] = [];
    v.garp([vip('198.18.0.100'), { ...vip('198.18.0.101'), dev: 'lo' }], 'hv0', 1, (e) => errors.push(e));
    await tick();
    expect(r.calls.slice(1)).toEqual(['/usr/sbin/arping -U -c 1 -i hv0 -S 198.18.0.100 198.18.0.100']); // none on lo
    expect(errors).toEqual([]);
  });

  it('a failed announcement is reported with the command and its message', async () => {
    const r = runner({ stdout: HABETS_V }, { exitCode: 1, stdout: '', stderr: 'arping: libnet_init(LIBNET_LINK, hv9): No such device' });
    const v = new VipManager({ run: r.run, findArping: () => '/usr/sbin/arping' });
    await v.detectArping();
    const errors: VipError[] = [];
    v.garp([vip('198.18.0.100')], 'hv9', 3, (e) => errors.push(e));
    await tick();
    expect(errors.map((e) => e.message)).toEqual([
      '/usr/sbin/arping -U -c 1 -i hv9 -S 198.18.0.100 198.18.0.100: exit 1: arping: libnet_init(LIBNET_LINK, hv9): No such device',
    ]);
  });

  it('without an arping nothing is run, and the reason is there for the start-up log', async () => {
    const r = runner({});
    const v = new VipManager({ run: r.run, findArping: () => null });
    expect(await v.detectArping()).toEqual({ unavailable: 'no arping on PATH (install iputils-arping or arping)' });
    v.garp([vip('198.18.0.100')], 'hv0', 3);
    await tick();
    expect(r.calls).toEqual([]);
  });

  it('an arping that prints neither banner is used with the iputils syntax, with a note', async () => {
    const r = runner({ stdout: 'arping 0.1 (some other build)\n' });
    const v = new VipManager({ run: r.run, findArping: () => '/opt/bin/arping' });
    expect(await v.detectArping()).toEqual({
      file: '/opt/bin/arping', flavour: 'iputils', note: 'unrecognised arping ("arping 0.1 (some other build)"): using the iputils syntax',
    });
  });
});
