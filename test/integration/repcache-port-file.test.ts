/**
 * -p -1 / -U -1 (ports the system picks) and MEMCACHED_PORT_FILENAME, side by side with Debian's memcached:
 * the same lines in the file, the ports serve, -p 0 -U 0 leaves an empty file, and a file that cannot be
 * written is only logged.
 */
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { bin, startProcess, stopAll, waitForPort } from '../support/daemon.ts';
import { freePort } from '../support/ports.ts';
import { McClient, mcRequest, udpRequest } from '../support/mc-client.ts';
import { userArgs, type CacheKind } from './repcache-harness.ts';

const dir = mkdtempSync(join(tmpdir(), 'repcache-portfile-'));
// memcached writes the file after dropping to -u's user
chmodSync(dir, 0o777);
afterAll(async () => {
  await stopAll();
  rmSync(dir, { recursive: true, force: true });
});

async function waitForFile(path: string): Promise<string> {
  const deadline = Date.now() + 15_000;
  while (!existsSync(path)) {
    if (Date.now() > deadline) throw new Error(`no ${path}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return readFileSync(path, 'latin1');
}

/** memcached, or repcache with -t 1 unless `args` give -t (its default follows the CPUs). */
function start(kind: CacheKind, args: string[], file: string) {
  const user = userArgs().length > 0 && kind === 'memcached' ? ['-u', 'nobody'] : userArgs();
  const threads = kind === 'repcache' && !args.includes('-t') ? ['-t', '1'] : [];
  return startProcess(kind === 'memcached' ? 'memcached' : bin('repcache'), [...user, ...threads, ...args], { env: { MEMCACHED_PORT_FILENAME: file } });
}

describe('MEMCACHED_PORT_FILENAME and ephemeral ports', () => {
  it.each(['memcached', 'repcache'] as const)('%s: -p -1 -U -1 writes TCP and UDP lines, and the ports serve', async (kind) => {
    const file = join(dir, `eph-${kind}`);
    start(kind, ['-p', '-1', '-U', '-1', '-l', '127.0.0.1'], file);
    const text = await waitForFile(file);
    expect(existsSync(`${file}.lck`)).toBe(false);
    expect(text).toMatch(/^TCP INET: \d+\nUDP INET: \d+\n$/);
    const tcp = Number(/^TCP INET: (\d+)$/m.exec(text)![1]);
    expect(tcp).toBeGreaterThan(0);
    expect(await mcRequest(tcp, 'version\r\n')).toMatch(/^VERSION /);
    expect(parseInt((await mcRequest(tcp, 'stats settings\r\n', 'END\r\n')).match(/STAT tcpport (-?\d+)/)![1], 10)).toBe(-1);
  });

  it.each(['memcached', 'repcache'] as const)('%s: -p 0 -U 0 leaves an empty file', async (kind) => {
    const file = join(dir, `off-${kind}`);
    start(kind, ['-p', '0', '-U', '0', '-l', '127.0.0.1'], file);
    expect(await waitForFile(file)).toBe('');
  });

  it('repcache -t 4: -p -1 -U -1 writes the same lines, and every worker serves on the port', async () => {
    const file = join(dir, 'eph-t4');
    const d = start('repcache', ['-p', '-1', '-U', '-1', '-l', '127.0.0.1', '-t', '4'], file);
    const text = await waitForFile(file);
    expect(existsSync(`${file}.lck`)).toBe(false);
    expect(text).toMatch(/^TCP INET: \d+\nUDP INET: \d+\n$/);
    const tcp = Number(/^TCP INET: (\d+)$/m.exec(text)![1]);
    const udp = Number(/^UDP INET: (\d+)$/m.exec(text)![1]);
    expect((await udpRequest(udp, 'version\r\n'))[0]?.body).toMatch(/^VERSION /);
    // 32 connections held at once, spread by the kernel: all 4 workers get one but with a chance of about 4e-5
    // (stats' worker_thread names the worker that answers)
    const clients = await Promise.all(Array.from({ length: 32 }, () => McClient.connect(tcp)));
    try {
      const workers = await Promise.all(clients.map(async (c) => /STAT worker_thread (\d+)/.exec(await c.request('stats\r\n', 'END\r\n'))![1]));
      expect(new Set(workers).size).toBe(4);
      expect(parseInt((await clients[0].request('stats settings\r\n', 'END\r\n')).match(/STAT tcpport (-?\d+)/)![1], 10)).toBe(-1);
      expect(await clients[5].request('set k 0 0 1\r\nv\r\n')).toBe('STORED\r\n');
      for (const c of clients) expect(await c.request('get k\r\n', 'END\r\n')).toBe('VALUE k 0 1\r\nv\r\nEND\r\n');
    } finally {
      for (const c of clients) c.close();
    }
    d.proc.kill('SIGTERM');
    expect(await d.exited).toBe(0);
  });

  it.each(['1', '4'])('repcache -t %s: -p -1 on two addresses picks a port per address, and each serves', async (threads) => {
    const file = join(dir, `eph-two-t${threads}`);
    const d = start('repcache', ['-p', '-1', '-U', '0', '-l', '127.0.0.1,[::1]', '-t', threads], file);
    const text = await waitForFile(file);
    // -t 1 and -t N write the same lines: one per listener, in -l's order
    expect(text).toMatch(/^TCP INET: \d+\nTCP INET6: \d+\n$/);
    const v4 = Number(/^TCP INET: (\d+)$/m.exec(text)![1]);
    const v6 = Number(/^TCP INET6: (\d+)$/m.exec(text)![1]);
    expect(await mcRequest(v4, 'version\r\n', '\r\n', '127.0.0.1')).toMatch(/^VERSION /);
    expect(await mcRequest(v6, 'version\r\n', '\r\n', '::1')).toMatch(/^VERSION /);
    // each port was picked on its own address: the other address does not serve it (unless the kernel happened to
    // pick the same number for both)
    if (v4 !== v6) await expect(mcRequest(v4, 'version\r\n', '\r\n', '::1')).rejects.toThrow();
    const conns = await mcRequest(v6, 'stats conns\r\n', 'END\r\n', '::1');
    expect(conns).toContain(`:addr tcp:127.0.0.1:${v4}\r\n`);
    expect(conns).toMatch(new RegExp(`:addr tcp6?:\\[?::1\\]?:${v6}\r\n`));
    d.proc.kill('SIGTERM');
    expect(await d.exited).toBe(0);
  });

  it('repcache -t 4: a named port is written too, and -p 0 -U 0 leaves an empty file', async () => {
    const port = await freePort();
    const named = join(dir, 'named-t4');
    start('repcache', ['-p', String(port), '-U', '0', '-l', '127.0.0.1', '-t', '4'], named);
    expect(await waitForFile(named)).toBe(`TCP INET: ${port}\n`);
    const off = join(dir, 'off-t4');
    start('repcache', ['-p', '0', '-U', '0', '-l', '127.0.0.1', '-t', '4'], off);
    expect(await waitForFile(off)).toBe('');
  });

  it('a port file in a directory that does not exist is logged and the daemon keeps serving', async () => {
    const port = await freePort();
    const d = start('repcache', ['-p', String(port), '-U', '0', '-l', '127.0.0.1'], join(dir, 'missing', 'pf'));
    await waitForPort(port, '127.0.0.1', 15_000, d);
    expect(await mcRequest(port, 'version\r\n')).toMatch(/^VERSION /);
    const deadline = Date.now() + 5000;
    while (!d.output().includes('failed to open the port file') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(d.output()).toContain('failed to open the port file');
  });

  it('bad port numbers are refused as memcached refuses them', async () => {
    for (const bad of ['-2', '65536', 'x', '99999999999999999999']) {
      const d = startProcess(bin('repcache'), [...userArgs(), '-p', bad]);
      const code = await d.exited;
      expect(code, bad).toBe(64);
      expect(d.output()).toContain(`Invalid port number ${bad}`);
    }
  });
});
