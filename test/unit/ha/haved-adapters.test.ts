import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { VirtualAddress } from '../../../src/config/model.ts';
import { memcacheProbe, tcpProbe } from '../../../src/ha/adapters/probes.ts';
import { runScript } from '../../../src/ha/adapters/script-runner.ts';
import { VipError, VipManager, type CommandRunner } from '../../../src/ha/adapters/vip-manager.ts';
import { UnknownUserError } from '../../../src/system/users.ts';
import { freePort } from '../../support/ports.ts';

const vip = (address: string, extra: Partial<VirtualAddress> = {}): VirtualAddress => ({
  address, prefix: 32, dev: null, brd: null, scope: null, label: null, where: 'x.conf:1', ...extra,
});

function recorder(replies: Record<string, { exitCode: number; stderr: string }>) {
  const calls: string[] = [];
  const run: CommandRunner = async (file, args) => {
    const line = `${file} ${args.join(' ')}`;
    calls.push(line);
    const key = Object.keys(replies).find((k) => line.includes(k));
    return key ? replies[key]! : { exitCode: 0, stderr: '' };
  };
  return { calls, run };
}

describe('VipManager', () => {
  it('builds ip addr add with dev, broadcast, scope and label', async () => {
    const r = recorder({});
    await new VipManager({ run: r.run }).add(vip('198.18.0.100', { prefix: 24, brd: '198.18.0.255', scope: 'global', label: 'hv0:1' }), 'hv0');
    expect(r.calls).toEqual(['ip addr add 198.18.0.100/24 dev hv0 broadcast 198.18.0.255 scope global label hv0:1']);
  });

  it('counts "already assigned" and "not found" (exit 2) as done', async () => {
    const r = recorder({
      'addr add': { exitCode: 2, stderr: 'Error: ipv4: Address already assigned.' },
      'addr del': { exitCode: 2, stderr: 'Error: ipv4: Address not found.' },
    });
    const m = new VipManager({ run: r.run });
    await m.add(vip('198.18.0.100'), 'hv0');
    await m.remove(vip('198.18.0.100'), 'hv0');
  });

  it('reports a missing device as VipError and rolls back the VIPs already added', async () => {
    const r = recorder({ 'dev nosuch': { exitCode: 1, stderr: 'Cannot find device "nosuch"' } });
    const m = new VipManager({ run: r.run });
    await expect(m.addAll([vip('198.18.0.100'), vip('198.18.0.101', { dev: 'nosuch' })], 'hv0')).rejects.toThrow(VipError);
    expect(r.calls).toEqual([
      'ip addr add 198.18.0.100/32 dev hv0',
      'ip addr add 198.18.0.101/32 dev nosuch',
      'ip addr del 198.18.0.100/32 dev hv0',
    ]);
  });

  it('sends repeat gratuitous ARPs per VIP on its device', async () => {
    const r = recorder({});
    new VipManager({ run: r.run }).garp([vip('198.18.0.100')], 'hv0', 3);
    await new Promise((res) => setImmediate(res));
    expect(r.calls).toEqual(Array(3).fill('arping -U -c 1 -I hv0 198.18.0.100'));
  });
});

describe('probes', () => {
  let server: Server;
  let port: number;
  let reply: string | null = 'VERSION 1.6.18\r\n';
  beforeAll(async () => {
    port = await freePort();
    server = createServer((s) => s.on('data', () => { if (reply !== null) s.write(reply); }));
    await new Promise<void>((res) => server.listen(port, '127.0.0.1', res));
  });
  afterAll(() => new Promise<void>((res) => server.close(() => res())));

  it('MEMCACHE_CHECK passes on a VERSION line and fails on anything else or silence', async () => {
    const t = { host: '127.0.0.1', port, timeoutMs: 300 };
    expect(await memcacheProbe(t)).toBeNull();
    reply = 'ERROR\r\n';
    expect(await memcacheProbe(t)).toMatch(/unexpected reply "ERROR"/);
    // a cache that requires authentication (-Y) is up and parsing: the check needs no password
    reply = 'CLIENT_ERROR unauthenticated\r\n';
    expect(await memcacheProbe(t)).toBeNull();
    reply = 'CLIENT_ERROR bad command line format\r\n';
    expect(await memcacheProbe(t)).toMatch(/unexpected reply/);
    reply = null;
    expect(await memcacheProbe({ ...t, timeoutMs: 100 })).toMatch(/timed out after 100 ms/);
    expect(await tcpProbe(t)).toBeNull(); // TCP_CHECK only connects
  });

  it('a closed port fails with the errno', async () => {
    const closed = await freePort();
    expect(await tcpProbe({ host: '127.0.0.1', port: closed, timeoutMs: 500 })).toBe('ECONNREFUSED');
    expect(await memcacheProbe({ host: '127.0.0.1', port: closed, timeoutMs: 500 })).toBe('ECONNREFUSED');
  });
});

describe('runScript', () => {
  it('reports exit codes and missing programs', async () => {
    expect(await runScript(['/bin/sh', '-c', 'exit 0'], { timeoutMs: 2000 })).toMatchObject({ ok: true });
    expect(await runScript(['/bin/sh', '-c', 'exit 3'], { timeoutMs: 2000 })).toMatchObject({ ok: false, exitCode: 3, reason: 'exit 3' });
    expect((await runScript(['/nonexistent/check'], { timeoutMs: 2000 })).ok).toBe(false);
  });

  it('refuses a script user that does not exist, before starting anything', async () => {
    await expect(runScript(['/bin/true'], { timeoutMs: 2000, user: 'no-such-user-l5' })).rejects.toThrow(UnknownUserError);
  });

  it('a timeout kills the whole process group', async () => {
    const t0 = performance.now();
    const r = await runScript(['/bin/sh', '-c', 'sleep 5 & sleep 5; wait'], { timeoutMs: 150 });
    expect(r).toMatchObject({ ok: false, timedOut: true });
    expect(performance.now() - t0).toBeLessThan(3000);
  });
});
