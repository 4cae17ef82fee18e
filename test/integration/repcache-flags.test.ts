/**
 * bin/repcache's command line as a process: memcached's messages and exit codes for bad values,
 * -V/-h, -d with -P, -c, -u, and clean exits on SIGTERM/SIGINT/shutdown.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { bin, startProcess, stopAll, waitForPort } from '../support/daemon.ts';
import { McClient, udpRequest } from '../support/mc-client.ts';
import { freePort } from '../support/ports.ts';
import { isRoot } from '../support/root.ts';
import { startCache, userArgs } from './repcache-harness.ts';

interface Exit { code: number; stdout: string; stderr: string }

function runCmd(cmd: string, args: string[], timeoutMs = 15_000): Promise<Exit> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

const repcache = (...args: string[]) => runCmd(bin('repcache'), args);

async function until(what: string, cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function alive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch { return false; }
}

const tmp = mkdtempSync(join(tmpdir(), 'repcache-flags-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe.concurrent('repcache flags: bad values are refused like memcached refuses them', () => {
  // Each is refused before anything listens, by both programs; -p 0 keeps a wrongly accepted one off the network.
  const sameAsMemcached: string[][] = [
    ['-c', '0'], ['-t', '0'], ['-B', 'http'], ['-I', '2k'], ['-I', '512'], ['-I', '2000m'], ['-m', '1'], ['-f', '0.5'],
    ['-f', '1'], ['-n', '0'], ['-R', '0'], ['-p', '70000'], ['-D', ''], ['-o', 'bogus'], ['-o', 'hashpower=99'],
    ['-o', 'hot_lru_pct=50,warm_lru_pct=50'], ['-o', 'slab_chunk_max=2000'],
  ];
  it.each(sameAsMemcached.map((a) => [a.join(' '), a] as const))('%s', async (_, args) => {
    const [mine, theirs] = await Promise.all([
      repcache(...userArgs(), '-p', '0', ...args),
      runCmd('memcached', [...userArgs(), '-p', '0', ...args]),
    ]);
    expect(theirs.code, `memcached ${args.join(' ')}: ${theirs.stderr}`).not.toBe(0);
    expect({ code: mine.code, stderr: mine.stderr }).toEqual({ code: theirs.code, stderr: theirs.stderr });
  });

  it('getopt errors name the option', async () => {
    expect(await repcache('-Q')).toMatchObject({ code: 1, stderr: "repcache: invalid option -- 'Q'\nIllegal argument \"?\"\n" });
    expect(await repcache('-p')).toMatchObject({ code: 1, stderr: "repcache: option requires an argument -- 'p'\nIllegal argument \"?\"\n" });
    expect(await repcache('--bogus')).toMatchObject({ code: 1, stderr: "repcache: unrecognized option '--bogus'\nIllegal argument \"?\"\n" });
  });

  it('-l fooble fails to listen, exit 71', async () => {
    const port = await freePort();
    const r = await repcache(...userArgs(), '-l', 'fooble', '-p', String(port));
    expect(r.code).toBe(71);
    expect(r.stderr).toMatch(/^failed to listen on one of interface\(s\) fooble.*ENOTFOUND/);
  });

  it('root needs -u, and an unknown user is refused', async () => {
    if (isRoot) {
      expect(await repcache('-p', '0')).toMatchObject({ code: 64, stderr: "can't run as root without the -u switch\n" });
      expect(await repcache('-u', 'no-such-user-here', '-p', '0')).toMatchObject({ code: 67, stderr: "can't find the user no-such-user-here to switch to\n" });
    } else {
      // Not root: -u is ignored, as memcached ignores it; the server starts and -V proves the binary runs.
      expect((await repcache('-V')).code).toBe(0);
    }
  });
});

describe('repcache flags: behaviour', () => {
  afterEach(stopAll);

  it('-V and -h', async () => {
    expect(await repcache('-V')).toMatchObject({ code: 0, stdout: 'repcache 0.1.0 (memcached 1.6.18 compatible)\n' });
    const help = await repcache('-h');
    expect(help.code).toBe(0);
    for (const flag of ['-p, --port', '-m, --memory-limit', '-c, --conn-limit', '-x, --replication-peer', '--disable-dumping']) {
      expect(help.stdout).toContain(flag);
    }
  });

  it('-d -P: the parent exits 0 once the daemon listens; the pid file names the daemon; SIGTERM removes it', async () => {
    const port = await freePort();
    const pidFile = join(tmp, 'repcache.pid');
    let pid = 0;
    try {
      const r = await repcache('-d', ...userArgs(), '-l', '127.0.0.1', '-p', String(port), '-P', pidFile);
      expect(r).toMatchObject({ code: 0, stderr: '' });
      pid = Number(readFileSync(pidFile, 'utf8').trim());
      expect(alive(pid)).toBe(true);
      const c = await McClient.connect(port);
      expect(await c.request('set d 0 0 2\r\nok\r\nget d\r\n', 'END\r\n')).toBe('STORED\r\nVALUE d 0 2\r\nok\r\nEND\r\n');
      c.close();
      // A second daemon on the same port reports its failure through the parent.
      const again = await repcache('-d', ...userArgs(), '-l', '127.0.0.1', '-p', String(port));
      expect(again.code).toBe(71);
      expect(again.stderr).toMatch(/EADDRINUSE/);
      process.kill(pid, 'SIGTERM');
      await until('the daemon to exit', () => !alive(pid));
      pid = 0;
      expect(existsSync(pidFile)).toBe(false);
    } finally {
      if (pid && alive(pid)) process.kill(pid, 'SIGKILL');
    }
  });

  it('-c: connections over the limit get memcached\'s error and are closed', async () => {
    const server = await startCache('repcache', ['-c', '4']);
    const clients: McClient[] = [];
    try {
      for (let i = 0; i < 8; i++) clients.push(await McClient.connect(server.port));
      expect(await clients[0].request('version\r\n')).toMatch(/^VERSION /);
      const refused = clients.slice(1);
      await until('refusals', () => refused.filter((c) => c.isClosed).length >= 4);
      for (const c of refused.filter((x) => x.isClosed)) expect(c.take()).toBe('ERROR Too many open connections\r\n');
      expect(clients.filter((c) => !c.isClosed).length).toBeLessThanOrEqual(4);
      clients[0].close();
      await new Promise((r) => setTimeout(r, 100));
      const late = await McClient.connect(server.port);
      clients.push(late);
      expect(await late.request('version\r\n')).toMatch(/^VERSION /);
    } finally {
      for (const c of clients) c.close();
    }
  });

  it.runIf(isRoot)('-u nobody: privileges are dropped after binding', async () => {
    const server = await startCache('repcache', ['-u', 'nobody']);
    const nobody = /^nobody:[^:]*:(\d+):(\d+):/m.exec(readFileSync('/etc/passwd', 'utf8'))!;
    const uid = () => /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${server.pid}/status`, 'utf8'))![1];
    await until('the switch to nobody', () => uid() === nobody[1]);
    const status = readFileSync(`/proc/${server.pid}/status`, 'utf8');
    expect(/^Uid:\s+(\d+)/m.exec(status)![1]).toBe(nobody[1]);
    expect(/^Gid:\s+(\d+)/m.exec(status)![1]).toBe(nobody[2]);
    expect(await (await McClient.connect(server.port)).request('version\r\n')).toMatch(/^VERSION /);
  });

  it('-s and -a: serves on a UNIX socket with that mode, instead of TCP', async () => {
    const path = join(tmp, 'repcache.sock');
    const d = startProcess(bin('repcache'), [...userArgs(), '-t', '1', '-s', path, '-a', '770']);
    await until('the socket', () => existsSync(path), 15_000);
    expect(statSync(path).mode & 0o777).toBe(0o770);
    const reply = await new Promise<string>((res, rej) => {
      const sock = connect({ path });
      let got = '';
      sock.on('data', (b) => { got += b; if (got.endsWith('END\r\n')) { sock.destroy(); res(got); } });
      sock.on('error', rej);
      sock.write('set u 0 0 2\r\nok\r\nget u\r\n');
    });
    expect(reply).toBe('STORED\r\nVALUE u 0 2\r\nok\r\nEND\r\n');
    await d.stop();
  });

  it('-U: answers memcached UDP frames', async () => {
    const udpPort = await freePort();
    const server = await startCache('repcache', ['-U', String(udpPort)]);
    await (await McClient.connect(server.port)).request('set udp 0 0 3\r\nabc\r\n');
    let replies: Awaited<ReturnType<typeof udpRequest>> = [];
    for (let i = 0; i < 20 && replies.length === 0; i++) replies = await udpRequest(udpPort, 'get udp\r\n', 7 + i);
    expect(replies.map((r) => [r.requestId > 0, r.body])).toEqual([[true, 'VALUE udp 0 3\r\nabc\r\nEND\r\n']]);
  });

  it.each(['SIGTERM', 'SIGINT'] as const)('%s closes and exits 0', async (signal) => {
    const server = await startCache('repcache');
    server.daemon.proc.kill(signal);
    expect(await server.daemon.exited).toBe(0);
  });

  it('shutdown needs -A; with -A it exits 0', async () => {
    const port = await freePort();
    const d = startProcess(bin('repcache'), [...userArgs(), '-t', '1', '-l', '127.0.0.1', '-p', String(port), '-A']);
    await waitForPort(port, '127.0.0.1', 15_000, d);
    const c = await McClient.connect(port);
    c.send('shutdown\r\n');
    await c.waitClosed(5000);
    expect(await d.exited).toBe(0);
  });
});

describe('the launcher', () => {
  it('bin/run-node gives Node the options before the entry point and the script the rest', async () => {
    const r = await runCmd(join(bin('repcache'), '../run-node'), ['--max-semi-space-size=1', 'test/fixtures/run-node/print-argv.ts', '-m', '--not-a-node-option']);
    expect(r.code, r.stderr).toBe(0);
    const { execArgv, args } = JSON.parse(r.stdout) as { execArgv: string[]; args: string[] };
    expect(execArgv).toContain('--max-semi-space-size=1');
    expect(args).toEqual(['-m', '--not-a-node-option']);
  });

  it('bin/repcache limits glibc to two malloc arenas and maps blocks from 32 KB, unless the environment says otherwise', async () => {
    const environOf = async (env: NodeJS.ProcessEnv): Promise<string[]> => {
      const port = await freePort();
      const d = startProcess(bin('repcache'), [...userArgs(), '-l', '127.0.0.1', '-p', String(port)], { env });
      try {
        await waitForPort(port, '127.0.0.1', 15_000, d);
        // bin/repcache and bin/run-node exec: the pid is Node's
        return readFileSync(`/proc/${d.proc.pid}/environ`, 'latin1').split('\0');
      } finally {
        await d.stop();
      }
    };
    expect(await environOf({ MALLOC_ARENA_MAX: undefined })).toContain('MALLOC_ARENA_MAX=2');
    expect(await environOf({ MALLOC_ARENA_MAX: '4' })).toContain('MALLOC_ARENA_MAX=4');
    expect(await environOf({ MALLOC_MMAP_THRESHOLD_: undefined })).toContain('MALLOC_MMAP_THRESHOLD_=32768');
    expect(await environOf({ MALLOC_MMAP_THRESHOLD_: '131072' })).toContain('MALLOC_MMAP_THRESHOLD_=131072');
  });

  it('after the install step fills the compile cache, a daemon strips no TypeScript', async () => {
    const warm = await runCmd(join(bin('repcache'), '../run-node'), ['scripts/compile-cache.ts']);
    expect(warm.code, warm.stderr).toBe(0);
    const port = await freePort();
    const d = startProcess(bin('repcache'), [...userArgs(), '-l', '127.0.0.1', '-p', String(port)], { env: { NODE_DEBUG_NATIVE: 'COMPILE_CACHE' } });
    try {
      await waitForPort(port, '127.0.0.1', 15_000, d);
    } finally {
      await d.stop();
    }
    const log = d.output();
    expect(log).toMatch(/transpile cache for StrippedTypeScript \S+\/src\/server\/cache-server\.ts\.\.\.success/);
    expect(log.match(/no transpile cache for StrippedTypeScript \S+/g) ?? []).toEqual([]);
  });

  it('bin/repcache runs Node with a 1 MB young generation', () => {
    expect(readFileSync(bin('repcache'), 'utf8')).toMatch(/run-node" --max-semi-space-size=1 src\/cli\/repcache\.ts "\$@"/);
  });
});
