import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.ts';
import { repoRoot } from '../support/daemon.ts';
import { rootSkipReason } from '../support/root.ts';
import { waitFor } from '../support/wait.ts';

const PREFIX = 'l5-';
const LAB = join(repoRoot, 'scripts/lab.sh');
const VIP = '198.18.0.100';

function run(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number } = {}) {
  const r = spawnSync(cmd, args, {
    cwd: repoRoot,
    encoding: 'utf8',
    env: { ...process.env, ...opts.env },
    input: opts.input,
    timeout: opts.timeoutMs ?? 30_000,
  });
  return { code: r.status, out: r.stdout ?? '', err: r.stderr ?? '', all: `${r.stdout}${r.stderr}${r.error ? String(r.error) : ''}` };
}

function namespaces(): string[] {
  return run('ip', ['netns', 'list']).out.split('\n').map((l) => l.split(' ')[0]).filter((n) => n.startsWith(PREFIX));
}

/** Processes whose command line mentions `word` (zombies excluded). */
function processesWith(word: string): number[] {
  const found: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d) || Number(d) === process.pid) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) continue;
      if (readFileSync(`/proc/${d}/cmdline`, 'utf8').includes(word)) found.push(Number(d));
    } catch {
      /* gone */
    }
  }
  return found;
}

describe('scripts are well-formed', () => {
  const scripts = [
    ...readdirSync(join(repoRoot, 'scripts')).filter((f) => f.endsWith('.sh')).map((f) => `scripts/${f}`),
    'vagrant/provision.sh',
  ];

  it.each(scripts)('%s passes bash -n and shellcheck', (script) => {
    const syntax = run('bash', ['-n', script]);
    expect(syntax.code, syntax.all).toBe(0);
    const lint = run('shellcheck', [script]);
    expect(lint.code, lint.all).toBe(0);
  });

  it('vagrant/Vagrantfile passes ruby -c (when ruby is installed)', () => {
    const ruby = run('ruby', ['-c', 'vagrant/Vagrantfile']);
    if (ruby.code === null && process.env.CI !== 'true') return; // no ruby here; CI installs it
    expect(ruby.code, ruby.all).toBe(0);
    expect(ruby.out).toContain('Syntax OK');
  });

  it('lab.sh config writes the configs haved reads: cache_daemon replicating to the peer', () => {
    const dir = mkdtempSync(join(tmpdir(), 'l5-conf-'));
    try {
      for (const supervise of ['1', '0']) {
        const r = run('bash', [LAB, 'config'], { env: { LAB_DIR: dir, LAB_SUPERVISE: supervise } });
        expect(r.code, r.all).toBe(0);
        const [a, b] = ['nodea', 'nodeb'].map((n) => loadConfig(join(dir, n, 'haved.conf'), { localAddresses: [] }));
        expect(a.warnings).toEqual([]);
        expect(a.instances.map((i) => [i.priority, i.unicastSrcIp, i.unicastPeers, i.virtualIpAddresses[0].address])).toEqual([
          [150, '198.18.0.1', ['198.18.0.2'], VIP],
        ]);
        expect(b.instances.map((i) => [i.priority, i.unicastSrcIp, i.unicastPeers])).toEqual([[100, '198.18.0.2', ['198.18.0.1']]]);
        if (supervise === '0') {
          expect(a.cacheDaemon).toBeNull();
          continue;
        }
        expect(a.cacheDaemon!.argv.slice(0, 1)).toEqual([join(repoRoot, 'bin/repcache')]);
        expect(a.cacheDaemon!.argv.join(' ')).toContain('-x 198.18.0.2:11212');
        expect(b.cacheDaemon!.argv.join(' ')).toContain('-x 198.18.0.1:11212');
        // peers off loopback prove a shared secret: one file for both nodes, readable by its owner only
        for (const n of [a, b]) expect(n.cacheDaemon!.argv).toContain(`repl_secret_file=${dir}/repl.secret`);
        expect(statSync(join(dir, 'repl.secret')).mode & 0o777).toBe(0o600);
        expect(readFileSync(join(dir, 'repl.secret'), 'utf8').trim().length).toBeGreaterThanOrEqual(40);
        expect(a.cacheDaemon!.checkPort).toBe(11211);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('lab.sh config proxy: seed 003\'s topology, a proxy_daemon in front of the replicating caches', () => {
    const dir = mkdtempSync(join(tmpdir(), 'l5-conf-'));
    try {
      const r = run('bash', [LAB, 'config', 'proxy'], { env: { LAB_DIR: dir } });
      expect(r.code, r.all).toBe(0);
      for (const [n, peer] of [['nodea', '198.18.0.2'], ['nodeb', '198.18.0.1']]) {
        const c = loadConfig(join(dir, n!, 'haved.conf'), { localAddresses: [] });
        expect(c.warnings).toEqual([]);
        expect(c.cacheDaemon!.argv.join(' ')).toContain(`-x ${peer}:11212`);
        expect(c.proxyDaemon!.argv.slice(1).join(' ')).toBe(
          '-u nobody -p 12000 -s 198.18.0.1:11211 -s 198.18.0.2:11211 -b 198.18.0.2:11211 -b 198.18.0.1:11211 --no-backup-writes --timeout 500 --retry-timeout 200',
        );
        expect(c.proxyDaemon!.checkPort).toBe(12000);
      }
      expect(readFileSync(join(dir, 'nodea', 'check-cache.sh'), 'utf8')).toContain('/dev/tcp/127.0.0.1/12000');
      expect(run('bash', [LAB, 'config'], { env: { LAB_DIR: dir, LAB_TOPOLOGY: 'mesh' } }).err).toBe('lab.sh: LAB_TOPOLOGY must be cache or proxy, got "mesh"\n');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('lab.sh refuses a mistyped setting by name; LAB_SYNC=0 means no --replication-sync', () => {
    const dir = mkdtempSync(join(tmpdir(), 'l5-conf-'));
    try {
      for (const [name, value, message] of [
        ['LAB_SYNC', 'yes', 'LAB_SYNC must be 0 or 1, got "yes"'],
        ['LAB_SUPERVISE', '2', 'LAB_SUPERVISE must be 0 or 1, got "2"'],
        ['LAB_KEYS', '0', 'LAB_KEYS must be a positive integer, got "0"'],
        ['LAB_ADVERT_INT', '1s', 'LAB_ADVERT_INT must be seconds (e.g. 1 or 0.1), got "1s"'],
      ]) {
        const r = run('bash', [LAB, 'config'], { env: { LAB_DIR: dir, [name]: value } });
        expect(r.code, r.all).toBe(1);
        expect(r.err).toBe(`lab.sh: ${message}\n`);
      }
      for (const sync of ['0', '1']) {
        expect(run('bash', [LAB, 'config'], { env: { LAB_DIR: dir, LAB_SYNC: sync } }).code).toBe(0);
        const argv = loadConfig(join(dir, 'nodea', 'haved.conf'), { localAddresses: [] }).cacheDaemon!.argv;
        expect(argv.includes('--replication-sync')).toBe(sync === '1');
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('lab.sh explains its usage', () => {
    const r = run('bash', [LAB, 'nonsense']);
    expect(r.code).toBe(2);
    expect(r.err).toContain('Usage:');
  });
});

describe.skipIf(rootSkipReason())('scripts/lab.sh (root)', () => {
  let dir: string;
  let env: NodeJS.ProcessEnv;
  const lab = (cmd: string, timeoutMs = 60_000) => run(LAB, [cmd], { env, timeoutMs });
  const mc = (host: string, input: string) => run('ip', ['netns', 'exec', `${PREFIX}client`, LAB, '_mc', host], { env, input }).out;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'l5-lab-'));
    env = { LAB_PREFIX: PREFIX, LAB_DIR: dir, LAB_SUPERVISE: '0', LAB_KEYS: '300' };
    lab('down');
  });

  afterAll(() => {
    lab('down');
    for (const ns of namespaces()) run('ip', ['netns', 'del', ns]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('up: both caches answer the client, they replicate, the VIP comes up', async () => {
    const up = lab('up');
    expect(up.code, up.all).toBe(0);
    expect(namespaces().sort()).toEqual(['l5-client', 'l5-labbr', 'l5-nodea', 'l5-nodeb']);
    for (const host of ['198.18.0.1', '198.18.0.2']) {
      await waitFor(`repcache on ${host}`, () => mc(host, 'version\r\n').startsWith('VERSION '), 15_000, 50);
    }
    expect(mc('198.18.0.1', 'set lab:probe 0 0 2\r\nok\r\n')).toBe('STORED\r\n');
    await waitFor('the key on nodeb', () => mc('198.18.0.2', 'get lab:probe\r\n') === 'VALUE lab:probe 0 2\r\nok\r\nEND\r\n', 5000, 50);
    await waitFor('the VIP', () => lab('status').out.includes(`VIP ${VIP} is on: nodea`), 15_000, 50);
    expect(mc(VIP, 'get lab:probe\r\n')).toContain('VALUE lab:probe');
    const status = lab('status').out;
    expect(status).toMatch(/nodea\s+198\.18\.0\.1\s+haved running\s+repcache running\s+replication_state streaming/);
    expect(status).toMatch(/nodeb\s+198\.18\.0\.2\s+haved running\s+repcache running\s+replication_state streaming/);
    expect(lab('up').err).toContain("a lab with prefix 'l5-' is up already");
  });

  it('demo: the VIP moves when the MASTER cache dies, the keys survive, the node resyncs and fails back', () => {
    const demo = lab('demo', 120_000);
    expect(demo.code, demo.all).toBe(0);
    expect(demo.out).toContain('300 of 300 STORED');
    expect(demo.out).toMatch(/the VIP answers again after \d+ ms \(client outage\)\nthe VIP moved to nodeb \d+ ms after the kill\nthe VIP is now on nodeb/);
    expect(demo.out).toContain('read back through the VIP: 300 of 300 (100.0 %)');
    expect(demo.out).toMatch(/nodea: warm \(replication_state streaming\) \d+ ms after the restart, holding 300 of 300 keys/);
    expect(demo.out).toMatch(/the VIP is back on nodea \d+ ms after the restart/);
  });

  it('down: no namespace, no process and no lab directory are left', async () => {
    const down = lab('down');
    expect(down.code, down.all).toBe(0);
    expect(namespaces()).toEqual([]);
    await waitFor('the lab processes to be gone', () => processesWith(dir).length === 0, 5000, 50);
    expect(existsSync(dir)).toBe(false);
    expect(lab('down').code).toBe(0); // idempotent
    expect(lab('status').code).toBe(3);
  });

  it('a lab that fails to come up is removed, but its logs are kept and their place is printed', () => {
    const failDir = mkdtempSync(join(tmpdir(), 'l5-fail-'));
    try {
      const failEnv = { ...env, LAB_PREFIX: 'l5f-', LAB_DIR: join(failDir, 'lab'), LAB_PREEMPT_SCHEDULE: 'not a cron' };
      const r = run(LAB, ['demo'], { env: failEnv, timeoutMs: 60_000 });
      expect(r.code).toBe(1);
      expect(r.err).toContain(`lab.sh: up failed; the lab is removed, its logs are kept in ${join(failDir, 'lab')}`);
      expect(run('ip', ['netns', 'list']).out).not.toMatch(/^l5f-/m);
      expect(readFileSync(join(failDir, 'lab', 'nodea', 'config-check.log'), 'utf8')).toMatch(/preempt_schedule must be a cron expression/);
    } finally {
      run(LAB, ['down'], { env: { ...env, LAB_PREFIX: 'l5f-', LAB_DIR: join(failDir, 'lab') } });
      rmSync(failDir, { recursive: true, force: true });
    }
  });

  it('down cleans a half-made lab', () => {
    run('ip', ['netns', 'add', `${PREFIX}labbr`]);
    run('ip', ['netns', 'add', `${PREFIX}nodea`]);
    expect(namespaces().length).toBe(2);
    expect(lab('down').code).toBe(0);
    expect(namespaces()).toEqual([]);
  });
});
