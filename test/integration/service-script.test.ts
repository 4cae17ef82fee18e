import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot, waitForPort } from '../support/daemon.ts';
import { mcRequest } from '../support/mc-client.ts';
import { freePort } from '../support/ports.ts';
import { isRoot } from '../support/root.ts';
import { isRunning } from '../support/wait.ts';

const SCRIPT = join(repoRoot, 'scripts/repcache-service.sh');

describe('scripts/repcache-service.sh', () => {
  let dir: string;
  let port: number;
  let pidFile: string;
  const started: number[] = [];
  const service = (action: string) => {
    const r = spawnSync(SCRIPT, [action], {
      encoding: 'utf8',
      timeout: 30_000,
      env: { ...process.env, REPCACHE_SYSCONFIG: join(dir, 'repcache'), PIDFILE: pidFile },
    });
    return { code: r.status, out: r.stdout.trim(), err: r.stderr.trim() };
  };
  const pid = () => Number(readFileSync(pidFile, 'utf8').trim());

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'l5-service-'));
    pidFile = join(dir, 'repcache.pid');
    port = await freePort();
    // the sysconfig file of the classic setup, pointed at a free loopback port
    writeFileSync(
      join(dir, 'repcache'),
      [`PORT="${port}"`, `USER="${isRoot ? 'nobody' : userInfo().username}"`, 'MAXCONN="64"', 'CACHESIZE="16"', 'OPTIONS="-l 127.0.0.1 -U 0"', ''].join('\n'),
    );
  });

  afterAll(() => {
    for (const p of started) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('start runs the daemon in the background with the sysconfig settings and writes the pid file', async () => {
    const r = service('start');
    expect(r.code, r.err).toBe(0);
    started.push(pid());
    expect(r.out).toBe(`repcache started (pid ${pid()}, port ${port})`);
    expect(isRunning(pid())).toBe(true);
    await waitForPort(port);
    expect(await mcRequest(port, 'set svc 0 0 2\r\nok\r\n')).toBe('STORED\r\n');
    const settings = await mcRequest(port, 'stats settings\r\n', 'END\r\n');
    expect(settings).toContain('STAT maxconns 64\r\n');
    expect(settings).toContain(`STAT maxbytes ${16 * 1024 * 1024}\r\n`);
  });

  it('status reports the running daemon; start again does not start a second one', () => {
    expect(service('status')).toMatchObject({ code: 0, out: `repcache running (pid ${pid()})` });
    const again = service('start');
    expect(again).toMatchObject({ code: 0, out: `repcache already running (pid ${pid()})` });
  });

  it('restart replaces the process', async () => {
    const before = pid();
    const r = service('restart');
    expect(r.code, r.err).toBe(0);
    started.push(pid());
    expect(r.out).toBe(`repcache stopped\nrepcache started (pid ${pid()}, port ${port})`);
    expect(pid()).not.toBe(before);
    expect(isRunning(before)).toBe(false);
    await waitForPort(port);
    expect(await mcRequest(port, 'get svc\r\n')).toBe('END\r\n'); // a new, empty cache
  });

  it('stop ends the daemon it started and removes the pid file', async () => {
    const last = pid();
    expect(service('stop')).toMatchObject({ code: 0, out: 'repcache stopped' });
    expect(existsSync(pidFile)).toBe(false);
    expect(isRunning(last)).toBe(false);
    await expect(mcRequest(port, 'version\r\n')).rejects.toThrow(/ECONNREFUSED/);
    expect(service('status')).toMatchObject({ code: 3, out: 'repcache not running' });
    expect(service('stop')).toMatchObject({ code: 0, out: 'repcache not running' });
  });

  it('a stale pid file does not stop a start, and stop clears it', async () => {
    writeFileSync(pidFile, '999999\n');
    expect(service('status').code).toBe(3);
    expect(service('stop')).toMatchObject({ code: 0, out: 'repcache not running' });
    expect(existsSync(pidFile)).toBe(false);
    writeFileSync(pidFile, '999999\n');
    const r = service('start');
    expect(r.code, r.err).toBe(0);
    started.push(pid());
    await waitForPort(port);
    expect(service('stop').code).toBe(0);
    expect(existsSync(pidFile)).toBe(false);
  });

  it('an unknown action prints the usage', () => {
    expect(service('reload')).toMatchObject({ code: 2, err: `Usage: ${SCRIPT} {start|stop|restart|status}` });
  });
});
