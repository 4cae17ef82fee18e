import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDistribution, type DistributionKind } from '../../src/routing/distribution.ts';
import type { KeyHash } from '../../src/routing/hashes.ts';
import type { ServerSpec } from '../../src/routing/servers.ts';
import { startProcess, stopAll, waitForPort } from '../support/daemon.ts';
import { freePort } from '../support/ports.ts';
import { mulberry32 } from '../support/prng.ts';
import { repoRoot } from '../support/daemon.ts';

/**
 * Key placement against the implementations users already run: PHP Memcached (libmemcached 1.1) and
 * twemproxy (Debian's nutcracker 0.5), for the same keys and server lists. The servers live on 127.0.1.x so
 * twemproxy can reach a recording stub at each; libmemcached's point names depend on whether the port is 11211.
 */
const KEY_CHARS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_:.-/';

function keys(count: number, seed: number): string[] {
  const rnd = mulberry32(seed);
  return Array.from({ length: count }, (_, i) => {
    const len = 1 + Math.floor(rnd() * 40);
    let k = '';
    for (let j = 0; j < len; j++) k += KEY_CHARS[Math.floor(rnd() * KEY_CHARS.length)];
    return `${k}${i}`;
  });
}

interface Case {
  name: string;
  kind: DistributionKind;
  hash: KeyHash;
  servers: ServerSpec[];
}

const equal = (n: number, port: number): ServerSpec[] => Array.from({ length: n }, (_, i) => ({ host: `127.0.1.${i + 1}`, port, weight: 1 }));
const CASES: Case[] = [
  { name: 'ketama, 2 servers on 11211', kind: 'ketama', hash: 'md5', servers: equal(2, 11211) },
  { name: 'ketama, 3 servers on another port', kind: 'ketama', hash: 'md5', servers: equal(3, 11311) },
  { name: 'ketama, 5 weighted servers', kind: 'ketama', hash: 'md5', servers: equal(5, 11211).map((s, i) => ({ ...s, weight: [1, 2, 3, 1, 5][i]! })) },
  // single precision gives 23 digests where double would give 24 (libmemcached computes in float)
  { name: 'ketama, 5 servers weighted 10,3,3,1,8', kind: 'ketama', hash: 'md5', servers: equal(5, 11311).map((s, i) => ({ ...s, weight: [10, 3, 3, 1, 8][i]! })) },
  { name: 'ketama, 7 servers', kind: 'ketama', hash: 'md5', servers: equal(7, 11311) },
  { name: 'modula, 3 servers, one-at-a-time', kind: 'modula', hash: 'one_at_a_time', servers: equal(3, 11211) },
  { name: 'modula, 5 servers, crc32', kind: 'modula', hash: 'crc32', servers: equal(5, 11311) },
];

const ours = (c: Case, ks: string[]) => {
  const d = createDistribution(c.kind, c.servers, c.hash);
  return ks.map((k) => d.serverFor(Buffer.from(k)));
};

function mismatches(a: number[], b: number[]): number {
  let n = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) n++;
  return n;
}

describe('key placement vs PHP Memcached (libmemcached)', () => {
  let dir: string;
  beforeAll(() => (dir = mkdtempSync(join(tmpdir(), 'routing-'))));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it.each(CASES)('$name: 100,000 keys placed alike', (c) => {
    const ks = keys(100_000, 7);
    const file = join(dir, 'keys');
    writeFileSync(file, ks.join('\n') + '\n');
    const conf = JSON.stringify({ distribution: c.kind, hash: c.hash, servers: c.servers.map((s) => [s.host, s.port, s.weight]) });
    const script = resolve(repoRoot, 'test/fixtures/routing/php-placement.php');
    const php = execFileSync('php', [script, conf, file], { encoding: 'utf8', maxBuffer: 64 << 20 }).trim().split('\n').map(Number);
    expect(php).toHaveLength(ks.length);
    expect(mismatches(ours(c, ks), php)).toBe(0);
  });
});

/** A memcached stand-in that records the keys of every `get` it receives and answers END. */
function recordingStub(host: string, port: number, seen: Set<string>): Promise<Server> {
  const srv = createServer((s) => {
    let buf = '';
    s.on('data', (d) => {
      buf += d.toString('latin1');
      for (let nl = buf.indexOf('\r\n'); nl >= 0; nl = buf.indexOf('\r\n')) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 2);
        const [cmd, ...ks] = line.split(' ');
        if (cmd === 'get') {
          for (const k of ks) seen.add(k);
          s.write('END\r\n');
        } else s.write('ERROR\r\n');
      }
    });
    s.on('error', () => {});
  });
  return new Promise((res, rej) => srv.once('error', rej).listen(port, host, () => res(srv)));
}

/** Sends `get` lines of up to 100 keys through twemproxy and waits for each END. */
async function getThrough(port: number, ks: string[]): Promise<void> {
  const s = connect({ port, host: '127.0.0.1' });
  await new Promise<void>((res, rej) => s.once('connect', res).once('error', rej));
  let pending = '';
  let ends = 0;
  let want = 0;
  let wake: (() => void) | null = null;
  s.on('data', (d) => {
    pending += d.toString('latin1');
    for (let i = pending.indexOf('END\r\n'); i >= 0; i = pending.indexOf('END\r\n')) {
      ends++;
      pending = pending.slice(i + 5);
    }
    if (ends >= want) wake?.();
  });
  for (let i = 0; i < ks.length; i += 100) {
    want++;
    s.write(`get ${ks.slice(i, i + 100).join(' ')}\r\n`);
    if (want - ends > 50 || i + 100 >= ks.length) {
      await new Promise<void>((res, rej) => {
        const t = setTimeout(() => rej(new Error(`twemproxy answered ${ends} of ${want} gets`)), 10_000);
        wake = () => (clearTimeout(t), res());
        if (ends >= want - (i + 100 >= ks.length ? 0 : 10)) wake();
      });
    }
  }
  s.destroy();
}

describe('key placement vs twemproxy (nutcracker)', () => {
  let dir: string;
  beforeAll(() => (dir = mkdtempSync(join(tmpdir(), 'routing-nc-'))));
  afterAll(async () => {
    await stopAll();
    rmSync(dir, { recursive: true, force: true });
  });

  it.each(CASES.filter((c) => c.hash !== 'crc32' || c.kind === 'modula'))('$name: 100,000 keys reach the same server', async (c) => {
    const seen = c.servers.map(() => new Set<string>());
    const stubs = await Promise.all(c.servers.map((s, i) => recordingStub(s.host, s.port, seen[i]!)));
    try {
      const [port, statsPort] = [await freePort(), await freePort()];
      const conf = join(dir, `${c.kind}-${c.servers.length}.yml`);
      writeFileSync(
        conf,
        [
          'pool:',
          `  listen: 127.0.0.1:${port}`,
          `  hash: ${c.hash}`,
          `  distribution: ${c.kind}`,
          '  timeout: 5000',
          '  auto_eject_hosts: false',
          '  servers:',
          ...c.servers.map((s) => `   - ${s.host}:${s.port}:${s.weight}`),
          '',
        ].join('\n'),
      );
      const nc = startProcess('nutcracker', ['-c', conf, '-s', String(statsPort), '-a', '127.0.0.1', '-o', join(dir, 'nc.log')]);
      await waitForPort(port, '127.0.0.1', 10_000, nc);
      const ks = keys(100_000, 11);
      await getThrough(port, ks);
      await nc.stop();
      const theirs = ks.map((k) => seen.findIndex((set) => set.has(k)));
      expect(theirs.filter((i) => i < 0)).toHaveLength(0);
      expect(mismatches(ours(c, ks), theirs)).toBe(0);
    } finally {
      await Promise.all(stubs.map((s) => new Promise((r) => s.close(r))));
    }
  });
});
