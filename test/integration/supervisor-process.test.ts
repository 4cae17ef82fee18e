import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type Socket } from 'node:net';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { ProcessSupervisor } from '../../src/supervisor/process.ts';
import { fetchStats, StatsProbeError } from '../../src/supervisor/stats-probe.ts';
import type { RestartPolicy, SupervisorState } from '../../src/supervisor/supervisor.ts';
import { resolveUser } from '../../src/system/users.ts';
import { startProcess, stopAll, waitForPort } from '../support/daemon.ts';
import { mcRequest, startReferenceMemcached } from '../support/mc-client.ts';
import { isRunning, waitFor } from '../support/wait.ts';
import { freePort } from '../support/ports.ts';
import { isRoot, rootSkipReason } from '../support/root.ts';

const policy: RestartPolicy = {
  backoffInitialMs: 100,
  backoffMaxMs: 400,
  stableAfterMs: 10_000,
  maxRestarts: 100,
  windowMs: 60_000,
  stopTimeoutMs: 300,
};

interface LogLine { msg: string; component?: string; stream?: string; state?: string; level: number }

function harness(argv: string[], extra: Partial<RestartPolicy> = {}, user: string | null = null) {
  const lines: LogLine[] = [];
  const states: { state: SupervisorState; reason: string; at: number }[] = [];
  const logger = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s)) });
  const sup = new ProcessSupervisor({
    argv,
    user,
    policy: { ...policy, ...extra },
    logger,
    onState: (state, reason) => states.push({ state, reason, at: performance.now() }),
  });
  supervisors.push(sup);
  return { sup, lines, states, output: () => lines.filter((l) => l.stream).map((l) => l.msg) };
}

const supervisors: ProcessSupervisor[] = [];

/** /proc/PID/stat: [state, process group], or null when the process is gone. */
function procStat(pid: number | string): [string, number] | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return [f[0], Number(f[2])];
  } catch {
    return null;
  }
}

/** No live process is left in the process group. */
function groupGone(pgid: number): boolean {
  return readdirSync('/proc').filter((d) => /^\d+$/.test(d)).every((d) => {
    const s = procStat(d);
    return s === null || s[1] !== pgid || s[0] === 'Z';
  });
}

afterEach(async () => {
  await Promise.all(supervisors.splice(0).map((s) => s.stop()));
});
afterAll(stopAll);

describe('ProcessSupervisor', () => {
  it('restarts a child that exits, with growing delays, and logs its output as {component: cache}', async () => {
    const { sup, states, lines, output } = harness(['sh', '-c', 'echo "run $$"; echo "oops" >&2; exit 3']);
    sup.start();
    await waitFor('5 starts', () => states.filter((s) => s.state === 'starting').length >= 5);
    await sup.stop();
    const starts = states.filter((s) => s.state === 'starting').map((s) => s.at);
    const gaps = starts.slice(1).map((t, i) => t - starts[i]);
    // backoff 100, 200, 400, 400 ms (plus the child's own run time)
    expect(gaps[0]).toBeGreaterThanOrEqual(95);
    expect(gaps[1]).toBeGreaterThanOrEqual(195);
    expect(gaps[2]).toBeGreaterThanOrEqual(395);
    expect(gaps[3]).toBeGreaterThanOrEqual(395);
    expect(gaps[3]).toBeLessThan(2000);
    expect(states.find((s) => s.state === 'backoff')!.reason).toBe('process exited with code 3; restart in 100 ms');
    await waitFor('output lines', () => output().filter((l) => l === 'oops').length >= 4);
    expect(output().filter((l) => /^run \d+$/.test(l)).length).toBeGreaterThanOrEqual(4);
    const out = lines.filter((l) => l.stream);
    expect(out.every((l) => l.component === 'cache')).toBe(true);
    expect(out.some((l) => l.stream === 'stderr' && l.msg === 'oops')).toBe(true);
    expect(lines.some((l) => l.msg === 'cache daemon backoff: process exited with code 3; restart in 100 ms' && l.level === 40)).toBe(true);
    expect(sup.status()).toMatchObject({ state: 'stopped', pid: null });
  });

  it('stop sends SIGTERM to the whole process group', async () => {
    const { sup, states, output } = harness(['sh', '-c', 'sleep 30 & echo "child $!"; wait']);
    sup.start();
    await waitFor('the grandchild pid', () => output().some((l) => l.startsWith('child ')));
    const pgid = sup.pid!;
    const grandchild = Number(output().find((l) => l.startsWith('child '))!.split(' ')[1]);
    expect(isRunning(grandchild)).toBe(true);
    expect(states.map((s) => s.state)).toEqual(['starting', 'running']);
    const t0 = performance.now();
    await sup.stop();
    expect(performance.now() - t0).toBeLessThan(policy.stopTimeoutMs);
    expect(states.at(-1)).toMatchObject({ state: 'stopped', reason: 'process killed by SIGTERM' });
    await waitFor('the group to be gone', () => groupGone(pgid) && !isRunning(grandchild), 2000);
  });

  it('a child that ignores SIGTERM gets SIGKILL after stop_timeout', async () => {
    const { sup, output } = harness(['sh', '-c', 'trap "" TERM; echo ready; while :; do sleep 0.05; done']);
    sup.start();
    await waitFor('ready', () => output().includes('ready'));
    const pgid = sup.pid!;
    const t0 = performance.now();
    await sup.stop();
    const took = performance.now() - t0;
    expect(took).toBeGreaterThanOrEqual(policy.stopTimeoutMs - 5);
    expect(sup.status().lastExit).toBe('killed by SIGKILL');
    await waitFor('the group to be gone', () => groupGone(pgid), 2000);
  });

  it('kills what the child left in its group when the child exits', async () => {
    const { sup, states, output } = harness(['sh', '-c', 'sleep 30 & echo "child $!"; exit 1'], { backoffInitialMs: 5000 });
    sup.start();
    await waitFor('the backoff', () => states.some((s) => s.state === 'backoff'));
    await waitFor('the grandchild pid', () => output().some((l) => l.startsWith('child ')));
    const grandchild = Number(output().find((l) => l.startsWith('child '))!.split(' ')[1]);
    await waitFor('the orphan to be killed', () => !isRunning(grandchild), 2000);
    await sup.stop();
    expect(states.at(-1)).toMatchObject({ state: 'stopped', reason: 'stop requested' });
  });

  it('a command that cannot start is retried with backoff and says why', async () => {
    const { sup, states } = harness(['/nonexistent/repcache']);
    sup.start();
    await waitFor('two failures', () => states.filter((s) => s.state === 'backoff').length >= 2);
    await sup.stop();
    expect(states.find((s) => s.state === 'backoff')!.reason).toBe('process failed to start: spawn /nonexistent/repcache ENOENT; restart in 100 ms');
  });

  it.skipIf(rootSkipReason())('runs the child as the configured user', async () => {
    const { sup, output } = harness(['sh', '-c', 'echo "uid $(id -u) gid $(id -g)"; exec sleep 30'], {}, 'nobody');
    sup.start();
    await waitFor('the id line', () => output().some((l) => l.startsWith('uid ')));
    const nobody = resolveUser('nobody');
    expect(output().find((l) => l.startsWith('uid '))).toBe(`uid ${nobody.uid} gid ${nobody.gid}`);
    expect(isRoot).toBe(true);
  });

  it('refuses an unknown user when constructed', () => {
    const users = { passwd: () => 'root:x:0:0:root:/root:/bin/bash\n', group: () => 'root:x:0:\n' };
    expect(() => new ProcessSupervisor({ argv: ['x'], user: 'no-such-user-l5', policy, logger: pino({ level: 'silent' }), users })).toThrow(
      "unknown user 'no-such-user-l5'",
    );
  });

  it('supervises a real repcache: kill -9 brings it back on the same port', async () => {
    const port = await freePort();
    const argv = ['bin/repcache', '-l', '127.0.0.1', '-p', String(port), '-U', '0', ...(isRoot ? ['-u', 'nobody'] : [])];
    const { sup, states } = harness(argv);
    sup.start();
    await waitForPort(port);
    const first = sup.pid!;
    expect((await fetchStats('127.0.0.1', port)).replicationState).toBe('standalone');
    process.kill(first, 'SIGKILL');
    await waitFor('a restart', () => states.filter((s) => s.state === 'running').length >= 2, 10_000);
    await waitForPort(port);
    expect(sup.pid).not.toBe(first);
    expect(states.find((s) => s.state === 'backoff')!.reason).toBe('process killed by SIGKILL; restart in 100 ms');
    await sup.stop();
    expect(groupGone(first)).toBe(true);
  });

  it('a repcache with -e stopped with SIGUSR1 (cache_daemon does so) saves its store and starts warm', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'supervised-warm-'));
    try {
      chmodSync(dir, 0o777); // written as -u's user
      const port = await freePort();
      const argv = ['bin/repcache', '-l', '127.0.0.1', '-p', String(port), '-U', '0', '-e', join(dir, 'memory'), ...(isRoot ? ['-u', 'nobody'] : [])];
      const first = harness(argv, { stopSignal: 'SIGUSR1', stopTimeoutMs: 10_000 });
      first.sup.start();
      await waitForPort(port);
      expect(await mcRequest(port, 'set k 3 0 2\r\nhi\r\n')).toBe('STORED\r\n');
      await first.sup.stop();
      expect(existsSync(join(dir, 'memory'))).toBe(true);
      const second = harness(argv, { stopSignal: 'SIGUSR1', stopTimeoutMs: 10_000 });
      second.sup.start();
      await waitForPort(port);
      expect(await mcRequest(port, 'get k\r\n', 'END\r\n')).toBe('VALUE k 3 2\r\nhi\r\nEND\r\n');
      await second.sup.stop();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('fetchStats', () => {
  it('reads a real memcached: no replication_state means standalone', async () => {
    const { port } = await startReferenceMemcached();
    const s = await fetchStats('127.0.0.1', port);
    expect(s.replicationState).toBe('standalone');
    expect(s.stats.get('version')).toMatch(/^1\.6\./);
    expect(Number(s.stats.get('pid'))).toBeGreaterThan(0);
  });

  it('reads replication_state from repcache', async () => {
    const port = await freePort();
    const replPort = await freePort();
    const rc = startProcess('bin/repcache', ['-l', '127.0.0.1', '-p', String(port), '-U', '0', '-X', String(replPort), ...(isRoot ? ['-u', 'nobody'] : [])]);
    await waitForPort(port, '127.0.0.1', 10_000, rc);
    const s = await fetchStats('127.0.0.1', port);
    expect(s.stats.get('replication')).toBe('MASTER');
    expect(['standalone', 'streaming', 'disconnected', 'syncing']).toContain(s.replicationState);
    await rc.stop();
  });

  it('rejects with StatsProbeError when nothing listens', async () => {
    const port = await freePort();
    await expect(fetchStats('127.0.0.1', port)).rejects.toThrow(StatsProbeError);
    await expect(fetchStats('127.0.0.1', port)).rejects.toThrow(`127.0.0.1:${port}: connect ECONNREFUSED`);
  });

  it('rejects on an error reply, a silent server and a closed connection', async () => {
    const replies: Record<string, (s: Socket) => void> = {
      error: (s) => s.end('ERROR\r\n'),
      silent: () => {},
      closed: (s) => s.end('STAT pid 1\r\n'),
    };
    for (const [name, reply] of Object.entries(replies)) {
      const srv = createServer((s) => s.once('data', () => reply(s)));
      await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
      const { port } = srv.address() as { port: number };
      const err = await fetchStats('127.0.0.1', port, 300).catch((e: Error) => e);
      srv.close();
            expect(err, name).toBeInstanceOf(StatsProbeError);
      expect((err as Error).message, name).toMatch(
        { error: /unexpected reply line to stats: "ERROR"/, silent: /no stats reply within 300 ms/, closed: /connection closed before the end/ }[name]!,
      );
    }
  });
});
