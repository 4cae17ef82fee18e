/** bin/repcache-proxy as a command: -h, -V, bad flags, -d with -P, a port already taken, -u. */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { stopAll } from '../support/daemon.ts';
import { freePort } from '../support/ports.ts';
import { isRunning, waitFor } from '../support/wait.ts';
import { PROXY, ask, startMemcached, startProxy } from './proxy-harness.ts';

const run = (args: string[]) => {
  const r = spawnSync(PROXY, args, { encoding: 'utf8', timeout: 20_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
};

describe('repcache-proxy command line', () => {
  const dir = mkdtempSync(join(tmpdir(), 'proxy-cli-'));
  let blocker: Server | undefined;
  afterAll(async () => {
    blocker?.close();
    await stopAll();
    rmSync(dir, { recursive: true, force: true });
  });

  it('-h prints the usage, -V the version; an unknown or malformed flag is one line of reason, the usage and exit 2', () => {
    const h = run(['-h']);
    expect(h.code).toBe(0);
    expect(h.out).toMatch(/^Usage: repcache-proxy -s HOST/);
    expect(run(['-V']).out).toBe('repcache-proxy 0.1.0 (magent-compatible memcached proxy, libmemcached ketama)\n');
    for (const [args, line] of [
      [['-s', 'a', '-x'], 'repcache-proxy: unknown option "-x"'],
      [['-s', 'a', '-p', 'http'], 'repcache-proxy: -p: the port must be an integer 0..65535, got "http"'],
      [['-p', '12000'], 'repcache-proxy: no server: give at least one -s HOST[:PORT]'],
    ] as const) {
      const r = run([...args]);
      expect(r.code, r.err).toBe(2);
      expect(r.err.split('\n')[0]).toBe(line);
      expect(r.err.split('\n')[1]).toMatch(/^Usage: /);
    }
  });

  it('-d returns once it listens and writes -P; SIGTERM stops it and removes the pid file', async () => {
    const m = await startMemcached();
    const port = await freePort();
    const pidFile = join(dir, 'proxy.pid');
    const r = run(['-d', '-P', pidFile, '-l', '127.0.0.1', '-p', String(port), '-s', `127.0.0.1:${m.port}`]);
    expect(r.code, r.err).toBe(0);
    const pid = Number(readFileSync(pidFile, 'utf8'));
    expect(readFileSync(`/proc/${pid}/comm`, 'utf8').trim()).toBe('repcache-proxy');
    expect(await ask(port, 'set k 0 0 1\r\nx\r\nget k\r\n', 'END\r\n')).toBe('STORED\r\nVALUE k 0 1\r\nx\r\nEND\r\n');
    process.kill(pid, 'SIGTERM');
    await waitFor('the daemon to exit', () => !isRunning(pid), 10_000, 50);
    expect(existsSync(pidFile)).toBe(false);
  });

  it('-d on a port already taken exits non-zero with the reason (magent forks first and fails silently)', async () => {
    const port = await freePort();
    blocker = createServer();
    await new Promise<void>((r) => blocker!.listen(port, '127.0.0.1', r));
    const r = run(['-d', '-l', '127.0.0.1', '-p', String(port), '-s', '127.0.0.1:1']);
    expect(r.code).toBe(71);
    expect(r.err).toContain(`failed to listen on 127.0.0.1 port ${port}`);
    expect(r.err).toContain('EADDRINUSE');
  });

  it.skipIf(process.getuid?.() !== 0)('-u nobody: it drops root once listening', async () => {
    const m = await startMemcached();
    const p = await startProxy(['-u', 'nobody', '-s', `127.0.0.1:${m.port}`]);
    // The port accepts as soon as the kernel listens; the drop follows on the daemon's next turn of its loop.
    const uid = () => Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${p.daemon.proc.pid}/status`, 'utf8'))?.[1]);
    await waitFor('the proxy to drop root', () => uid() !== 0, 5000, 20);
    expect(uid()).not.toBe(0);
    expect(await ask(p.port, 'version\r\n')).toMatch(/^VERSION 1\.6\.18-repcache-proxy/);
  });
});
