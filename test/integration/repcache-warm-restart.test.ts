/**
 * Warm restart (-e FILE) with real processes: bin/repcache saves its store on SIGUSR1 and loads it at the next
 * start; SIGTERM saves nothing; a bad file is refused with a clear message and the node serves from a clean cache.
 * Debian's memcached is run the same way for the behaviours both have (SIGUSR1 exits 0, SIGTERM leaves nothing to
 * load, other -m refused); memcached 1.6.18 refuses its own memory file at every restart ("restart incompatible
 * due to setting for [stop_time]"), so the items themselves cannot be compared with it.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { exchange, request, setExtras } from '../support/binary-client.ts';
import { bin, startProcess, stopAll, type Daemon } from '../support/daemon.ts';
import { McClient, mcRequest } from '../support/mc-client.ts';
import { freePort } from '../support/ports.ts';
import { parseStats, startCache, userArgs, type CacheInstance } from './repcache-harness.ts';

let dir: string;
let file: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'repcache-warm-'));
  fs.chmodSync(dir, 0o777); // memcached writes its file as -u's user
  file = path.join(dir, 'memory');
});
afterEach(async () => {
  await stopAll();
  fs.rmSync(dir, { recursive: true, force: true });
});
afterAll(stopAll);

const text = (c: CacheInstance, req: string, until: string | RegExp = 'END\r\n') => mcRequest(c.port, req, until);
const stats = async (c: CacheInstance, what = '') => parseStats(await text(c, `stats${what ? ` ${what}` : ''}\r\n`));

async function stopWith(d: Daemon, signal: NodeJS.Signals): Promise<number | null> {
  d.proc.kill(signal);
  const code = await Promise.race([d.exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 15_000))]);
  if (code === 'timeout') throw new Error(`no exit after ${signal}:\n${d.output()}`);
  return code;
}

async function binarySet(c: CacheInstance, key: string, value: Buffer, flags: number, exptime: number): Promise<void> {
  const r = await exchange(c.port, request({ opcode: 0x01, key, extras: setExtras(flags, exptime), value }), { done: (b) => b.length >= 24 });
  expect(r.bytes.readUInt16BE(6)).toBe(0); // status: no error
}

describe('repcache -e: warm restart', () => {
  it('SIGUSR1 saves; the next start serves every item with its value, flags, CAS, TTL, LRU order and stats', async () => {
    let c = await startCache('repcache', ['-e', file, '-v']);
    expect((await stats(c, 'settings')).get('memory_file')).toBe(file);
    const binValue = Buffer.from([0, 1, 2, 0xff, 13, 10, 0x80]);
    expect(await text(c, 'set plain 0 0 5\r\nhello\r\nset flagged 4294967295 0 3\r\nabc\r\nset ttl 7 1000 2\r\nxy\r\nset n 0 0 2\r\n10\r\n', /(STORED\r\n){4}$/)).toBe('STORED\r\n'.repeat(4));
    await binarySet(c, 'bin', binValue, 0xdeadbeef, 0);
    expect(await text(c, 'incr n 5\r\n', '\r\n')).toBe('15\r\n');
    for (let i = 0; i < 50; i++) await text(c, `set lru${i} ${i} 0 ${String(i).length}\r\n${i}\r\n`, '\r\n');
    await text(c, 'get lru7\r\n'); // fetched
    await text(c, 'delete lru9\r\n', '\r\n');
    const keys = 'plain flagged ttl n bin lru0 lru7 lru9 lru49';
    const before = await text(c, `gets ${keys}\r\n`);
    const statsBefore = await stats(c);
    const slabsBefore = await stats(c, 'slabs');
    const dumpBefore = await text(c, 'stats cachedump 1 0\r\n');
    // An item whose TTL runs out while the node is down.
    await text(c, 'set short 0 2 4\r\ngone\r\n', '\r\n');
    const shortSetAt = Date.now();

    expect(await stopWith(c.daemon, 'SIGUSR1')).toBe(0);
    expect(c.daemon.output()).toContain('items saved');
    expect(fs.existsSync(file)).toBe(true);
    await new Promise((r) => setTimeout(r, Math.max(0, shortSetAt + 3100 - Date.now())));

    c = await startCache('repcache', ['-e', file, '-v']);
    expect(c.daemon.output()).toMatch(/warm restart: \d+ items loaded/);
    expect(fs.existsSync(file)).toBe(false);
    const after = await text(c, `gets ${keys} short\r\n`);
    expect(after).toBe(before);
    const ttl = /^HD t(\d+)/m.exec(await text(c, 'mg ttl t\r\n', '\r\n'));
    expect(Number(ttl?.[1])).toBeGreaterThan(990);
    expect(Number(ttl?.[1])).toBeLessThanOrEqual(1000 - 3);
    const statsAfter = await stats(c);
    for (const name of ['curr_items', 'bytes']) expect(statsAfter.get(name), name).toBe(statsBefore.get(name));
    const slabsAfter = await stats(c, 'slabs');
    for (const name of ['active_slabs', 'total_malloced', '1:total_pages', '1:used_chunks']) expect(slabsAfter.get(name), name).toBe(slabsBefore.get(name));
    expect(await text(c, 'stats cachedump 1 0\r\n')).toBe(dumpBefore);
    // New writes get a CAS above every loaded one.
    await text(c, 'set fresh 0 0 1\r\nx\r\n', '\r\n');
    const casOf = (s: string) => [...s.matchAll(/^VALUE \S+ \d+ \d+ (\d+)\r$/gm)].map((m) => BigInt(m[1]));
    const freshCas = casOf(await text(c, 'gets fresh\r\n'))[0];
    for (const cas of casOf(before)) expect(freshCas > cas).toBe(true);
  });

  it('SIGTERM saves nothing: the next start is cold (as memcached)', async () => {
    const c = await startCache('repcache', ['-e', file, '-v']);
    await text(c, 'set k 0 0 1\r\nv\r\n', '\r\n');
    expect(await stopWith(c.daemon, 'SIGTERM')).toBe(0);
    expect(fs.existsSync(file)).toBe(false);
    const again = await startCache('repcache', ['-e', file, '-v']);
    expect(again.daemon.output()).toContain('no memory file, starting with a clean cache');
    expect(await text(again, 'get k\r\n')).toBe('END\r\n');
  });

  it('`shutdown graceful` (-A) saves as SIGUSR1 does; a plain `shutdown` does not (as memcached)', async () => {
    const c = await startCache('repcache', ['-e', file, '-A']);
    await text(c, 'set k 0 0 1\r\nv\r\n', '\r\n');
    await mcRequest(c.port, 'shutdown graceful\r\n', () => true).catch(() => '');
    expect(await c.daemon.exited).toBe(0);
    const warm = await startCache('repcache', ['-e', file, '-A']);
    expect(await text(warm, 'get k\r\n')).toBe('VALUE k 0 1\r\nv\r\nEND\r\n');
    await mcRequest(warm.port, 'shutdown\r\n', () => true).catch(() => '');
    expect(await warm.daemon.exited).toBe(0);
    expect(fs.existsSync(file)).toBe(false);
  });

  it('a memory file that cannot be written is a start-up error (memcached does not start either)', async () => {
    const port = await freePort();
    const d = startProcess(bin('repcache'), ['-l', '127.0.0.1', '-p', String(port), ...userArgs(), '-t', '1', '-e', path.join(dir, 'no-such-dir', 'memory')]);
    expect(await d.exited).toBe(71);
    expect(d.output()).toMatch(/repcache: cannot write the memory file .*no-such-dir\/memory\.tmp: ENOENT/);
  });

  it('a crash after a warm start does not bring back the loaded file', async () => {
    const c = await startCache('repcache', ['-e', file]);
    await text(c, 'set k 0 0 1\r\nv\r\n', '\r\n');
    expect(await stopWith(c.daemon, 'SIGUSR1')).toBe(0);
    const warm = await startCache('repcache', ['-e', file]);
    await text(warm, 'delete k\r\n', '\r\n');
    await stopWith(warm.daemon, 'SIGKILL');
    const again = await startCache('repcache', ['-e', file]);
    expect(await text(again, 'get k\r\n')).toBe('END\r\n');
  });

  const bad: Array<[string, (f: string) => void, string[], RegExp]> = [
    ['truncated', (f) => fs.truncateSync(f, fs.statSync(f).size - 20), [], /memory file refused \(the file ends inside/],
    ['not a memory file', (f) => fs.writeFileSync(f, 'GARBAGE'.repeat(100)), [], /memory file refused \(not a repcache memory file \(bad magic\)\)/],
    ['a flipped bit', (f) => { const b = fs.readFileSync(f); b[b.length - 40] ^= 4; fs.writeFileSync(f, b); }, [], /memory file refused \(block checksum mismatch/],
    ['saved with another -m', () => {}, ['-m', '32'], /memory file refused \(saved with -m 64 MB, started with -m 32 MB\)/],
    ['saved with another -I', () => {}, ['-I', '2m'], /memory file refused \(saved with -I 1048576, started with -I 2097152\)/],
  ];
  it.each(bad)('a memory file %s is refused with a clear message; the node serves from a clean cache', async (_, damage, args, message) => {
    const c = await startCache('repcache', ['-e', file]);
    await text(c, 'set k 0 0 100\r\n' + 'v'.repeat(100) + '\r\n', '\r\n');
    expect(await stopWith(c.daemon, 'SIGUSR1')).toBe(0);
    damage(file);
    const again = await startCache('repcache', ['-e', file, ...args]);
    expect(again.daemon.output()).toMatch(message);
    expect(again.daemon.output()).toContain('starting with a clean cache');
    expect(fs.existsSync(`${file}.refused`)).toBe(true);
    expect((await stats(again)).get('curr_items')).toBe('0');
    expect(await text(again, 'set k2 0 0 1\r\nv\r\nget k2\r\n')).toBe('STORED\r\nVALUE k2 0 1\r\nv\r\nEND\r\n');
  });

  it('a replicated node neither loads nor saves a memory file: its data comes from its peers', async () => {
    const c = await startCache('repcache', ['-e', file]);
    await text(c, 'set k 0 0 1\r\nv\r\n', '\r\n');
    expect(await stopWith(c.daemon, 'SIGUSR1')).toBe(0);
    const replPort = await freePort();
    const repl = await startCache('repcache', ['-e', file, '-X', String(replPort)]);
    expect(repl.daemon.output()).toContain('memory file removed unread: a replicated node takes its data from its peers');
    expect(await text(repl, 'get k\r\n')).toBe('END\r\n');
    await text(repl, 'set k 0 0 1\r\nw\r\n', '\r\n');
    expect(await stopWith(repl.daemon, 'SIGUSR1')).toBe(0);
    expect(fs.existsSync(file)).toBe(false);
  });
});

/** Keys of several sizes (up to most of -I's 1 MB), set from 8 connections at once, so that with -t N every worker writes. */
async function fillFromManyConnections(c: CacheInstance): Promise<string[]> {
  const sizes = [1, 100, 2000, 30_000, 250_000];
  const keys: string[] = [];
  await Promise.all(Array.from({ length: 8 }, async (_, conn) => {
    for (let i = 0; i < 6; i++) {
      const key = `c${conn}k${i}`;
      const size = sizes[i % sizes.length];
      const value = String.fromCharCode(97 + ((conn + i) % 26)).repeat(size);
      keys.push(key);
      expect(await text(c, `set ${key} ${conn * 1000 + i} ${i % 3 === 0 ? 5000 : 0} ${size}\r\n${value}\r\n`, '\r\n')).toBe('STORED\r\n');
    }
  }));
  keys.sort();
  expect(await text(c, 'incr ctr 1\r\n', '\r\n')).toBe('NOT_FOUND\r\n');
  expect(await text(c, 'set ctr 3 0 2\r\n40\r\nincr ctr 2\r\n', /\r\n42\r\n$/)).toBe('STORED\r\n42\r\n');
  return [...keys, 'ctr'];
}

describe('repcache -e with -t N: the main thread loads the file before the workers start and saves it after they stop', () => {
  it.each([[4, 4], [4, 1], [1, 4]])('saved with -t %i, loaded with -t %i: every item with its value, flags, CAS and TTL', async (saveThreads, loadThreads) => {
    let c = await startCache('repcache', ['-e', file, '-v', '-t', String(saveThreads)]);
    const keys = await fillFromManyConnections(c);
    const gets = `gets ${keys.join(' ')}\r\n`;
    const before = await text(c, gets);
    expect(before.match(/^VALUE /gm)?.length).toBe(keys.length);
    const statsBefore = await stats(c);
    expect(await stopWith(c.daemon, 'SIGUSR1')).toBe(0);
    expect(c.daemon.output()).toContain(`warm restart: ${keys.length} items saved`);

    c = await startCache('repcache', ['-e', file, '-v', '-t', String(loadThreads)]);
    expect(c.daemon.output()).toContain(`warm restart: ${keys.length} items loaded`);
    expect(fs.existsSync(file)).toBe(false);
    // from several connections, so from several workers
    const replies = await Promise.all(Array.from({ length: 4 }, () => text(c, gets)));
    for (const r of replies) expect(r).toBe(before);
    const statsAfter = await stats(c);
    for (const name of ['curr_items', 'bytes']) expect(statsAfter.get(name), name).toBe(statsBefore.get(name));
    expect(statsAfter.get('threads')).toBe(String(loadThreads));
    const ttl = /^HD t(\d+)/m.exec(await text(c, 'mg c0k0 t\r\n', '\r\n'));
    expect(Number(ttl?.[1])).toBeGreaterThan(4900);
    expect(Number(ttl?.[1])).toBeLessThanOrEqual(5000);
    // CAS: a loaded CAS still wins once, a stale one loses, and new writes on any worker get CAS values above every loaded one
    const casOf = (s: string) => [...s.matchAll(/^VALUE \S+ \d+ \d+ (\d+)\r$/gm)].map((m) => BigInt(m[1]));
    const loaded = casOf(before);
    expect(await text(c, `cas c1k1 0 0 1 ${loaded[keys.indexOf('c1k1')]}\r\nz\r\n`, '\r\n')).toBe('STORED\r\n');
    expect(await text(c, `cas c1k1 0 0 1 ${loaded[keys.indexOf('c1k1')]}\r\ny\r\n`, '\r\n')).toBe('EXISTS\r\n');
    expect(await text(c, 'incr ctr 8\r\n', '\r\n')).toBe('50\r\n');
    const fresh = await Promise.all(Array.from({ length: 6 }, async (_, i) => {
      await text(c, `set fresh${i} 0 0 1\r\nx\r\n`, '\r\n');
      return casOf(await text(c, `gets fresh${i}\r\n`))[0];
    }));
    const maxLoaded = loaded.reduce((a, b) => (a > b ? a : b));
    for (const cas of fresh) expect(cas > maxLoaded).toBe(true);
  });

  it('-t 4: a file with more items than the first hash table holds loads before the workers attach; every worker finds every item', async () => {
    const N = 120_000;
    const conns = 8;
    const pipelined = async (c: CacheInstance, line: (i: number) => string, reply: RegExp, timeoutMs = 20_000): Promise<number[]> =>
      Promise.all(Array.from({ length: conns }, async (_, k) => {
        const cl = await McClient.connect(c.port);
        try {
          const parts: string[] = [];
          for (let i = k; i < N; i += conns) parts.push(line(i));
          const got = await cl.request(parts.join(''), (r) => (r.match(reply) ?? []).length >= parts.length, timeoutMs);
          return (got.match(/^VALUE /gm) ?? got.match(/^STORED\r$/gm) ?? []).length;
        } finally {
          cl.close();
        }
      }));
    let c = await startCache('repcache', ['-e', file, '-t', '4']);
    expect((await pipelined(c, (i) => `set key${i} ${i} 0 ${String(i).length}\r\n${i}\r\n`, /STORED\r\n/g)).reduce((a, b) => a + b)).toBe(N);
    expect(await stopWith(c.daemon, 'SIGUSR1')).toBe(0);
    c = await startCache('repcache', ['-e', file, '-t', '4']);
    const s = await stats(c);
    expect(s.get('curr_items')).toBe(String(N));
    expect(Number(s.get('hash_power_level'))).toBeGreaterThan(16);
    expect((await pipelined(c, (i) => `get key${i}\r\n`, /END\r\n/g)).reduce((a, b) => a + b)).toBe(N);
    expect(await text(c, 'get key4242 key119999\r\n')).toBe('VALUE key4242 4242 4\r\n4242\r\nVALUE key119999 119999 6\r\n119999\r\nEND\r\n');
  });

  it('-t 4: `shutdown graceful` saves, a plain `shutdown` and SIGTERM do not', async () => {
    const c = await startCache('repcache', ['-e', file, '-A', '-t', '4']);
    await text(c, 'set k 0 0 1\r\nv\r\n', '\r\n');
    await mcRequest(c.port, 'shutdown graceful\r\n', () => true).catch(() => '');
    expect(await c.daemon.exited).toBe(0);
    const warm = await startCache('repcache', ['-e', file, '-A', '-t', '4']);
    expect(await text(warm, 'get k\r\n')).toBe('VALUE k 0 1\r\nv\r\nEND\r\n');
    await mcRequest(warm.port, 'shutdown\r\n', () => true).catch(() => '');
    expect(await warm.daemon.exited).toBe(0);
    expect(fs.existsSync(file)).toBe(false);
    const cold = await startCache('repcache', ['-e', file, '-v', '-t', '4']);
    expect(cold.daemon.output()).toContain('no memory file, starting with a clean cache');
    await text(cold, 'set k 0 0 1\r\nv\r\n', '\r\n');
    expect(await stopWith(cold.daemon, 'SIGTERM')).toBe(0);
    expect(fs.existsSync(file)).toBe(false);
  });

  it('-t 4: a kill -9 after a warm start does not bring back the loaded file, nor leaves a file that is trusted', async () => {
    const c = await startCache('repcache', ['-e', file, '-t', '4']);
    await fillFromManyConnections(c);
    expect(await stopWith(c.daemon, 'SIGUSR1')).toBe(0);
    const warm = await startCache('repcache', ['-e', file, '-t', '4']);
    expect(await text(warm, 'get c0k0\r\n')).toMatch(/^VALUE c0k0 /);
    await text(warm, 'delete c0k0\r\n', '\r\n');
    await stopWith(warm.daemon, 'SIGKILL');
    expect(fs.existsSync(file)).toBe(false);
    const again = await startCache('repcache', ['-e', file, '-t', '4']);
    expect(await text(again, 'get c0k0 c1k1\r\n')).toBe('END\r\n');
    expect((await stats(again)).get('curr_items')).toBe('0');
  });

  it('-t 4: a kill -9 while saving leaves the whole file or none, never a part that is loaded', async () => {
    const c = await startCache('repcache', ['-e', file, '-v', '-t', '4']);
    const value = 'v'.repeat(500_000);
    const N = 80;
    await Promise.all(Array.from({ length: 4 }, async (_, k) => {
      for (let i = k; i < N; i += 4) expect(await text(c, `set big${i} 0 0 ${value.length}\r\n${value}\r\n`, '\r\n')).toBe('STORED\r\n');
    }));
    c.daemon.proc.kill('SIGUSR1');
    // killed as soon as the save has begun (or, on a fast disk, just after it ended)
    const deadline = Date.now() + 5000;
    while (!fs.existsSync(`${file}.tmp`) && !fs.existsSync(file) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 1));
    c.daemon.proc.kill('SIGKILL');
    await c.daemon.exited;
    const again = await startCache('repcache', ['-e', file, '-v', '-t', '4']);
    expect(again.daemon.output()).not.toContain('refused');
    const items = (await stats(again)).get('curr_items');
    if (again.daemon.output().includes('no memory file')) expect(items).toBe('0');
    else {
      expect(again.daemon.output()).toContain(`warm restart: ${N} items loaded`);
      expect(items).toBe(String(N));
    }
  });

  it('-t 4: a truncated memory file is refused and the node serves from a clean cache', async () => {
    const c = await startCache('repcache', ['-e', file, '-t', '4']);
    await fillFromManyConnections(c);
    expect(await stopWith(c.daemon, 'SIGUSR1')).toBe(0);
    fs.truncateSync(file, fs.statSync(file).size - 20);
    const again = await startCache('repcache', ['-e', file, '-t', '4']);
    expect(again.daemon.output()).toMatch(/memory file refused \(the file ends inside/);
    expect((await stats(again)).get('curr_items')).toBe('0');
    expect(await text(again, 'set k2 0 0 1\r\nv\r\nget k2\r\n')).toBe('STORED\r\nVALUE k2 0 1\r\nv\r\nEND\r\n');
  });

  it('-t 4: a memory file that cannot be written is a start-up error', async () => {
    const port = await freePort();
    const d = startProcess(bin('repcache'), ['-l', '127.0.0.1', '-p', String(port), ...userArgs(), '-t', '4', '-e', path.join(dir, 'no-such-dir', 'memory')]);
    expect(await d.exited).toBe(71);
    expect(d.output()).toMatch(/repcache: cannot write the memory file .*no-such-dir\/memory\.tmp: ENOENT/);
  });

  it('-t 4 with replication: the memory file is removed unread and none is saved', async () => {
    const c = await startCache('repcache', ['-e', file, '-t', '4']);
    await text(c, 'set k 0 0 1\r\nv\r\n', '\r\n');
    expect(await stopWith(c.daemon, 'SIGUSR1')).toBe(0);
    const replPort = await freePort();
    const repl = await startCache('repcache', ['-e', file, '-t', '4', '-X', String(replPort)]);
    expect(repl.daemon.output()).toContain('memory file removed unread: a replicated node takes its data from its peers');
    expect(await text(repl, 'get k\r\n')).toBe('END\r\n');
    await text(repl, 'set k 0 0 1\r\nw\r\n', '\r\n');
    expect(await stopWith(repl.daemon, 'SIGUSR1')).toBe(0);
    expect(fs.existsSync(file)).toBe(false);
  });
});

describe('memcached -e, for comparison', () => {
  it('SIGUSR1 exits 0 and SIGTERM leaves nothing to load, in both', async () => {
    for (const kind of ['memcached', 'repcache'] as const) {
      const f = path.join(dir, `${kind}-memory`);
      const c = await startCache(kind, ['-e', f]);
      await text(c, 'set k 0 0 1\r\nv\r\n', '\r\n');
      expect(await stopWith(c.daemon, 'SIGUSR1'), kind).toBe(0);
      const c2 = await startCache(kind, ['-e', f]);
      expect(await stopWith(c2.daemon, 'SIGTERM'), kind).toBe(0);
      const c3 = await startCache(kind, ['-e', f]);
      expect(await text(c3, 'get k\r\n'), kind).toBe('END\r\n');
      expect(await stopWith(c3.daemon, 'SIGTERM'), kind).toBe(0);
    }
  });

  it('both refuse a file saved with another -m and serve from a clean cache', async () => {
    for (const kind of ['memcached', 'repcache'] as const) {
      const f = path.join(dir, `${kind}-memory`);
      const c = await startCache(kind, ['-e', f, '-m', '64']);
      await text(c, 'set k 0 0 1\r\nv\r\n', '\r\n');
      expect(await stopWith(c.daemon, 'SIGUSR1'), kind).toBe(0);
      // (memcached 1.6.18 with -e needs at least 39 MB: -m 32 does not start at all)
      const c2 = await startCache(kind, ['-e', f, '-m', '128']);
      expect(c2.daemon.output(), kind).toMatch(kind === 'memcached' ? /restart incompatible due to setting for \[maxbytes\]/ : /saved with -m 64 MB, started with -m 128 MB/);
      expect(await text(c2, 'get k\r\n'), kind).toBe('END\r\n');
    }
  });
});
