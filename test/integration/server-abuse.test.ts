/**
 * repcache under hostile clients, beside Debian's memcached on the same input: clients that never read their
 * replies, a 10 MB multiget line, connections that trickle a command a byte at a time, clients that leave replies
 * unread, and thousands of garbage connections and datagrams. Asserts the bounds repcache promises (README
 * "Limits under abuse") and prints each case's peak RSS and worst probe latency beside memcached's.
 */
import { createSocket } from 'node:dgram';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { stopAll } from '../support/daemon.ts';
import { MB, NonReader, open, rss, RssSampler, sleep, Trickler, VersionProbe, waitFor } from '../support/abuse.ts';
import { McClient } from '../support/mc-client.ts';
import { freePort } from '../support/ports.ts';
import { parseStats, startCache, type CacheInstance, type CacheKind } from './repcache-harness.ts';

interface Figures { steadyMB: number; peakRssMB: number; growthMB: number; worstProbeMs: number; afterMB: number; note?: string }
const table: Array<{ scenario: string; kind: CacheKind; f: Figures }> = [];

afterEach(() => stopAll());
afterAll(() => {
  const fmt = (f: Figures) => `peak RSS ${f.peakRssMB.toFixed(0)} MB (+${f.growthMB.toFixed(0)}), worst probe ${f.worstProbeMs.toFixed(0)} ms, RSS after ${f.afterMB.toFixed(0)} MB${f.note ? `, ${f.note}` : ''}`;
  const lines = table.map((r) => `  ${r.scenario.padEnd(44)} ${r.kind.padEnd(9)} ${fmt(r.f)}`);
  console.log(`Limits under abuse:\n${lines.join('\n')}`);
});

const mb = (bytes: number) => bytes / MB;

async function stats(port: number): Promise<Map<string, string>> {
  const c = await McClient.connect(port);
  try {
    return parseStats(await c.request('stats\r\n', 'END\r\n'));
  } finally {
    c.close();
  }
}

async function setValue(port: number, key: string, size: number): Promise<void> {
  const c = await McClient.connect(port);
  try {
    const reply = await c.request(Buffer.concat([Buffer.from(`set ${key} 0 0 ${size}\r\n`), Buffer.alloc(size, 'v'), Buffer.from('\r\n')]));
    if (reply !== 'STORED\r\n') throw new Error(`set ${key}: ${reply}`);
  } finally {
    c.close();
  }
}

/** RSS once it has been within 20 MB of `steady` (or after timeoutMs): what the memory comes back to. */
async function settledRss(pid: number, steady: number, timeoutMs: number): Promise<number> {
  await waitFor(() => rss(pid) <= steady + 20 * MB, timeoutMs, 100);
  return rss(pid);
}

/**
 * Runs `attack` against a server with an RSS sampler and a version probe, for as long as attack's promise takes;
 * then waits up to recoverMs for the RSS to come back.
 */
async function measure(server: CacheInstance, attack: () => Promise<void>, recoverMs = 5000): Promise<Figures> {
  await sleep(300);
  const steady = rss(server.pid);
  const sampler = new RssSampler(server.pid);
  const probe = await VersionProbe.start(server.port);
  await sleep(100);
  let peak: number;
  let result: Awaited<ReturnType<VersionProbe['stop']>>;
  try {
    await attack();
  } finally {
    result = await probe.stop();
    peak = sampler.stop();
  }
  const after = await settledRss(server.pid, steady, recoverMs);
  expect(result.answers).toBeGreaterThan(0);
  expect(result.failures).toBe(0);
  return { peakRssMB: mb(peak), growthMB: mb(peak - steady), worstProbeMs: result.worstMs, afterMB: mb(after), steadyMB: mb(steady) };
}

const KINDS: CacheKind[] = ['memcached', 'repcache'];

describe('clients that never read their replies', () => {
  it.each(KINDS)('three pipelining `get` of a 900 KB value: bounded memory, others served (%s)', async (kind) => {
    const server = await startCache(kind, ['-m', '64']);
    await setValue(server.port, 'bigkey', 900 * 1024);
    const readers: NonReader[] = [];
    const f = await measure(server, async () => {
      for (let i = 0; i < 3; i++) readers.push(await NonReader.start(server.port, 'get bigkey\r\n'));
      await sleep(3000);
      for (const r of readers) r.stop();
    });
    table.push({ scenario: '3 non-readers, get of a 900 KB value, 3 s', kind, f });
    if (kind !== 'repcache') return;
    const steady = f.steadyMB;
    expect(f.growthMB).toBeLessThanOrEqual(64);
    expect(f.worstProbeMs).toBeLessThan(500);
    expect(f.afterMB).toBeLessThanOrEqual(steady + 20);
  }, 30_000);

  it('closes a client that leaves its replies unread for longer than drain_timeout, and counts it', async () => {
    const server = await startCache('repcache', ['-m', '64', '-o', 'drain_timeout=1']);
    await setValue(server.port, 'bigkey', 500 * 1024);
    const reader = await NonReader.start(server.port, 'get bigkey\r\n');
    try {
      // stalled from about the first second on; closed once more than 1 s has passed (clock seconds)
      expect(await reader.closed(5000)).toBe(true);
    } finally {
      reader.stop();
    }
    const s = await stats(server.port);
    expect(s.get('drain_timeout_kicks')).toBe('1');
    expect(s.get('curr_connections')).toBe('1'); // this stats connection
  }, 20_000);

  it('a slow but steady reader is not a stalled one: every reply arrives', async () => {
    const server = await startCache('repcache', ['-m', '64', '-o', 'drain_timeout=1']);
    await setValue(server.port, 'v', 100 * 1024);
    const s = await open(server.port);
    let got = 0;
    const want = 40 * (100 * 1024 + 'VALUE v 0 102400\r\n\r\nEND\r\n'.length);
    const done = new Promise<void>((resolve, reject) => {
      s.on('data', (d: Buffer) => {
        got += d.length;
        s.pause();
        setTimeout(() => s.resume(), 20);
        if (got >= want) resolve();
      });
      s.on('close', () => reject(new Error(`closed after ${got} of ${want} bytes`)));
    });
    s.write('get v\r\n'.repeat(40));
    await done;
    s.destroy();
  }, 20_000);
});

describe('a 10 MB multiget line', () => {
  // 3,844 two-character keys, each a hit, repeated to 3.5 million keys: 63 MB of replies
  const alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
  const keys = [...alphabet].flatMap((a) => [...alphabet].map((b) => a + b));
  const KEY_COUNT = 3_500_000;

  function line(): Buffer {
    const unit = Buffer.from(keys.map((k) => ` ${k}`).join(''), 'latin1');
    const reps = Math.ceil(KEY_COUNT / keys.length);
    const b = Buffer.allocUnsafe(4 + unit.length * reps + 2);
    b.write('get', 0, 'latin1');
    for (let i = 0; i < reps; i++) unit.copy(b, 3 + i * unit.length);
    const end = 3 + unit.length * reps;
    b.write('\r\n', end, 'latin1');
    return b.subarray(0, end + 2);
  }

  // memcached builds all 63 MB of replies before it writes one (over 20 s and 4 GB here): it runs only on request
  const kinds = process.env.ABUSE_MEMCACHED_10MB === '1' ? KINDS : (['repcache'] as CacheKind[]);
  it.each(kinds)('streams the replies, serves other clients meanwhile, and gives the memory back (%s)', async (kind) => {
    const server = await startCache(kind, ['-m', '64']);
    const setup = await McClient.connect(server.port);
    await setup.request(keys.map((k) => `set ${k} 0 0 1 noreply\r\nv\r\n`).join('') + 'mn\r\n', 'MN\r\n');
    setup.close();
    const request = line();
    const expected = Math.ceil(KEY_COUNT / keys.length) * keys.length * 'VALUE ab 0 1\r\nv\r\n'.length + 5;
    let received = 0;
    const f = await measure(server, async () => {
      const s = await open(server.port);
      await new Promise<void>((resolve, reject) => {
        let tail = '';
        const t = setTimeout(() => reject(new Error(`only ${received} of ${expected} bytes after 120 s`)), 120_000);
        s.on('data', (d: Buffer) => {
          received += d.length;
          tail = (tail + d.toString('latin1', Math.max(0, d.length - 5))).slice(-5);
          if (tail === 'END\r\n') { clearTimeout(t); resolve(); }
        });
        s.on('close', () => { clearTimeout(t); reject(new Error(`closed after ${received} bytes`)); });
        s.write(request);
      });
      s.destroy();
    }, 8000);
    table.push({ scenario: `get of ${KEY_COUNT / 1e6} M keys (${(request.length / MB).toFixed(1)} MB line)`, kind, f: { ...f, note: `${(received / MB).toFixed(0)} MB of replies` } });
    expect(received).toBe(expected);
    if (kind !== 'repcache') return;
    const steady = f.steadyMB;
    expect(f.growthMB).toBeLessThanOrEqual(64);
    expect(f.worstProbeMs).toBeLessThan(500);
    expect(f.afterMB).toBeLessThanOrEqual(steady + 20);
  }, 180_000);
});

describe('connections that trickle a command a byte at a time', () => {
  it.each(KINDS)('900 of them are closed by idle_timeout, which counts commands, not bytes (%s)', async (kind) => {
    const server = await startCache(kind, ['-m', '64', '-c', '1024', '-o', 'idle_timeout=2']);
    const ticklers: Trickler[] = [];
    let setget: Awaited<ReturnType<VersionProbe['stop']>> | undefined;
    const f = await measure(server, async () => {
      const client = await VersionProbe.start(server.port, 5, 'setget');
      try {
        for (let i = 0; i < 900; i++) ticklers.push(await Trickler.start(server.port, 'get trickled-key-that-never-ends', 500));
        // idle_timeout=2 on a 1 s clock: every trickler is closed within about 4 s of its last command (none)
        expect(await waitFor(() => ticklers.every((t) => t.closedAt > 0), 6000, 100)).toBe(true);
      } finally {
        setget = await client.stop();
      }
    });
    const worstMs = setget!.worstMs;
    for (const t of ticklers) t.stop();
    table.push({ scenario: '900 tricklers (1 byte/0.5 s), idle_timeout=2', kind, f: { ...f, note: `worst set+get ${worstMs.toFixed(1)} ms` } });
    const s = await stats(server.port);
    expect(Number(s.get('idle_kicks'))).toBeGreaterThanOrEqual(900);
    if (kind !== 'repcache') return;
    expect(worstMs).toBeLessThan(500);
    expect(f.worstProbeMs).toBeLessThan(500);
  }, 40_000);

  it('read_timeout closes one whose command is unfinished for too long, with idle_timeout off', async () => {
    const server = await startCache('repcache', ['-m', '64', '-o', 'read_timeout=1']);
    const trickler = await Trickler.start(server.port, 'set k 0 0 100\r\n', 300);
    // a connection that only sits there is not one that is sending a command
    const quiet = await McClient.connect(server.port);
    expect(await waitFor(() => trickler.closedAt > 0, 5000)).toBe(true);
    trickler.stop();
    expect(await quiet.request('version\r\n')).toMatch(/^VERSION /);
    quiet.close();
    expect((await stats(server.port)).get('read_timeout_kicks')).toBe('1');
  }, 20_000);
});

describe('garbage from strangers', () => {
  it('5,000 garbage connections and datagrams write at most a few log lines', async () => {
    const udpPort = await freePort();
    const server = await startCache('repcache', ['-m', '64', '-c', '200', '-U', String(udpPort), '-o', 'read_timeout=1']);
    const logBefore = server.daemon.output().split('\n').filter((l) => l.trim() !== '').length;
    const udp = createSocket('udp4');
    let seed = 1;
    const random = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const garbage = () => Buffer.from(Array.from({ length: 1 + random(300) }, () => random(256)));
    try {
      for (let batch = 0; batch < 10; batch++) {
        // 500 at a time: more than -c allows, so some are refused
        const conns = await Promise.all(Array.from({ length: 500 }, () => open(server.port).catch(() => null)));
        for (const c of conns) c?.write(garbage());
        for (let i = 0; i < 500; i++) udp.send(garbage(), udpPort, '127.0.0.1');
        await sleep(50);
        for (const c of conns) c?.destroy();
      }
      // and some that send half a command and stay (read_timeout)
      const stuck = await Promise.all(Array.from({ length: 50 }, () => open(server.port)));
      for (const c of stuck) c.write('get half-a-comm');
      await sleep(3000);
      for (const c of stuck) c.destroy();
      const s = await stats(server.port);
      expect(Number(s.get('rejected_connections'))).toBeGreaterThan(0);
      expect(Number(s.get('read_timeout_kicks'))).toBe(50);
      expect(Number(s.get('udp_bad_datagrams'))).toBeGreaterThan(0);
      const lines = server.daemon.output().split('\n').filter((l) => l.trim() !== '').slice(logBefore);
      // one line per reason per minute: refused connections and read timeouts
      console.log(`garbage from strangers: ${lines.length} log lines`);
      expect(lines.length, lines.join('\n')).toBeLessThanOrEqual(4);
      for (const l of lines) expect(l.length).toBeLessThan(400);
    } finally {
      udp.close();
    }
  }, 40_000);
});
