/**
 * repcache -t 4: worker threads over one shared store, under a few seconds of concurrent commands from many
 * connections (the kernel spreads them over the workers) on a small hot key set, plus a cold set that keeps -m 8
 * evicting. Then the invariants: no value that no client wrote (each carries a checksum), no cas token winning
 * twice, incr totals exact, appends whole and in each client's order, curr_items equal to the keys a get finds,
 * memory within -m, and the server still up.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connEntries, McClient, udpRequest } from '../support/mc-client.ts';
import { freePort } from '../support/ports.ts';
import { bin, startProcess, stopAll, waitForPort } from '../support/daemon.ts';
import { cacheCommand, parseStats, rssBytes, startCache, userArgs, type CacheInstance } from './repcache-harness.ts';

const MB = 1024 * 1024;
const THREADS = 4;
const CLIENTS = 16;
const COLD_CLIENTS = 2;
const RUN_MS = 3000;
const HOT_KEYS = 8;
const CAS_KEYS = 4;
const APPEND_KEYS = 4;
const COLD_VALUE = 3000;

/** FNV-1a of a string, as 8 hex digits. */
function fnv(s: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return (h >>> 0).toString(16).padStart(8, '0');
}

/** A value naming its writer, with a checksum over the rest: `body#checksum`. */
function value(writer: string, pad: number): string {
  const body = `${writer}:${'x'.repeat(pad)}`;
  return `${body}#${fnv(body)}`;
}

function wellFormed(v: string): boolean {
  const at = v.lastIndexOf('#');
  return at > 0 && fnv(v.slice(0, at)) === v.slice(at + 1);
}

/** The VALUE blocks of a get/gets reply: key -> [value, cas]. */
function values(reply: string): Map<string, [string, string]> {
  const out = new Map<string, [string, string]>();
  const re = /VALUE (\S+) \d+ (\d+)(?: (\d+))?\r\n/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(reply)) !== null) {
    const start = m.index + m[0].length;
    out.set(m[1], [reply.slice(start, start + Number(m[2])), m[3] ?? '']);
    re.lastIndex = start + Number(m[2]) + 2;
  }
  return out;
}

interface Tally {
  torn: string[];
  casWins: string[];
  incrTotal: bigint;
  errors: string[];
}

const pick = (n: number) => Math.floor(Math.random() * n);

async function hotClient(port: number, id: number, until: number, t: Tally): Promise<void> {
  const c = await McClient.connect(port);
  let seq = 0;
  try {
    while (Date.now() < until) {
      seq++;
      const key = `hot:${pick(HOT_KEYS)}`;
      const v = value(`c${id}.${seq}`, pick(400));
      const op = pick(10);
      let reply: string;
      if (op === 0) reply = await c.request(`set ${key} 0 0 ${v.length}\r\n${v}\r\n`);
      else if (op === 1) reply = await c.request(`add ${key} 0 0 ${v.length}\r\n${v}\r\n`);
      else if (op === 2) reply = await c.request(`delete ${key}\r\n`);
      else if (op === 3) reply = await c.request(`touch ${key} 0\r\n`);
      else if (op === 4) {
        const by = BigInt(1 + pick(5));
        reply = await c.request(`incr ctr ${by}\r\n`);
        if (/^\d+\r\n$/.test(reply)) t.incrTotal += by;
        else t.errors.push(`incr: ${reply}`);
      } else if (op === 5) {
        const ak = `app:${pick(APPEND_KEYS)}`;
        reply = await c.request(`append ${ak} 0 0 ${`<${id}.${seq}>`.length}\r\n<${id}.${seq}>\r\n`);
      } else if (op === 6) {
        const ck = `cas:${pick(CAS_KEYS)}`;
        const got = values(await c.request(`gets ${ck}\r\n`, 'END\r\n')).get(ck);
        if (got === undefined) continue;
        if (!wellFormed(got[0])) t.torn.push(`${ck}: ${got[0].slice(0, 60)}`);
        reply = await c.request(`cas ${ck} 0 0 ${v.length} ${got[1]}\r\n${v}\r\n`);
        if (reply === 'STORED\r\n') t.casWins.push(`${ck}@${got[1]}`);
      } else {
        const keys = [key, `hot:${pick(HOT_KEYS)}`, `cas:${pick(CAS_KEYS)}`];
        reply = await c.request(`get ${keys.join(' ')}\r\n`, 'END\r\n');
        for (const [k, [got]] of values(reply)) if (!wellFormed(got)) t.torn.push(`${k}: ${got.slice(0, 60)}`);
      }
      if (/ERROR/.test(reply)) t.errors.push(reply.slice(0, 80));
    }
  } finally {
    c.close();
  }
}

/** Writes cold:<id>:<i> in pipelined batches past -m, reading back some; returns the keys written. */
async function coldClient(port: number, id: number, until: number, t: Tally): Promise<string[]> {
  const c = await McClient.connect(port);
  const keys: string[] = [];
  try {
    for (let i = 0; Date.now() < until; ) {
      let req = '';
      for (let j = 0; j < 50; j++, i++) {
        const key = `cold:${id}:${i}`;
        const v = value(key, COLD_VALUE);
        keys.push(key);
        req += `set ${key} 0 0 ${v.length}\r\n${v}\r\n`;
      }
      const reply = await c.request(req, (s) => s.split('\r\n').length > 50, 10_000);
      if (reply !== 'STORED\r\n'.repeat(50)) t.errors.push(`cold set: ${reply.slice(0, 80)}`);
      const sample = Array.from({ length: 20 }, () => keys[pick(keys.length)]);
      for (const [k, [got]] of values(await c.request(`get ${sample.join(' ')}\r\n`, 'END\r\n', 10_000))) {
        if (!wellFormed(got) || !got.startsWith(`${k}:`)) t.torn.push(`${k}: ${got.slice(0, 60)}`);
      }
    }
  } finally {
    c.close();
  }
  return keys;
}

/** Whether a TCP connection to the port is accepted (as a health check sees the port answer). */
function connects(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ port, host: '127.0.0.1' });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** `version`'s reply on a new connection, or null if the connection failed, was reset or closed (bounded: 5 s). */
function versionOn(port: number): Promise<string | null> {
  return new Promise((resolve) => {
    const s = connect({ port, host: '127.0.0.1' });
    let got = '';
    const done = (r: string | null) => {
      clearTimeout(timer);
      s.destroy();
      resolve(r);
    };
    const timer = setTimeout(() => done(null), 5000);
    s.once('connect', () => s.write('version\r\n'));
    s.on('data', (d) => {
      got += d;
      if (got.endsWith('\r\n')) done(got);
    });
    s.once('error', () => done(null));
    s.once('close', () => done(null));
  });
}

async function stats(c: McClient, sub = ''): Promise<Map<string, string>> {
  return parseStats(await c.request(`stats${sub ? ` ${sub}` : ''}\r\n`, 'END\r\n'));
}

describe('repcache -t N starting', () => {
  afterAll(stopAll);

  it('refuses a port another repcache -t N already serves (SO_REUSEPORT would share it), exit 71', async () => {
    const first = await startCache('repcache', ['-t', '2']);
    const [cmd, argv] = cacheCommand('repcache', first.port, ['-t', '2']);
    const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      execFile(cmd, argv, { timeout: 20_000 }, (err, _stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stderr }));
    });
    expect(r.code).toBe(71);
    expect(r.stderr).toMatch(/^failed to listen on .*EADDRINUSE 127\.0\.0\.1:\d+ is already served by another process/);
  });

  it('once a named port answers it keeps answering: it is never bound for a check and closed again (4 starts)', async () => {
    const STARTS = 4;
    const CLIENTS = 32;
    for (let i = 0; i < STARTS; i++) {
      const port = await freePort();
      const [cmd, argv] = cacheCommand('repcache', port, ['-t', String(THREADS)]);
      const daemon = startProcess(cmd, argv);
      try {
        // polled every millisecond, as eager clients and health checks do
        const deadline = Date.now() + 15_000;
        while (!(await connects(port))) {
          expect(daemon.proc.exitCode, daemon.output()).toBeNull();
          expect(Date.now()).toBeLessThan(deadline);
          await new Promise((r) => setTimeout(r, 1));
        }
        const replies = await Promise.all(Array.from({ length: CLIENTS }, () => versionOn(port)));
        expect(replies.filter((r) => r === null)).toEqual([]);
      } finally {
        await daemon.stop();
      }
    }
  });
});

/**
 * Connections opened at once right after the start has finished: the kernel spreads them over the workers (a worker
 * gets 4 or fewer of 64 with a chance of about 4e-4; 3 or fewer, 7e-5).
 */
const AFTER_START = 64;
const AFTER_START_LEAST = 4;

describe(`repcache -t ${THREADS}: connections after the start`, () => {
  afterAll(stopAll);

  it(`once the start has finished (the port file is written), ${AFTER_START} connections opened at once reach every worker, each at least ${AFTER_START_LEAST}`, async () => {
    // (a client that connects as soon as the port answers, before the last worker listens, may land on the first
    // ones: README, Threads)
    const dir = mkdtempSync(join(tmpdir(), 'repcache-spread-'));
    const portFile = join(dir, 'ports');
    try {
      const ours = await startCache('repcache', ['-t', String(THREADS)], { ...process.env, MEMCACHED_PORT_FILENAME: portFile });
      for (const deadline = Date.now() + 10_000; !existsSync(portFile) && Date.now() < deadline;) await new Promise((r) => setTimeout(r, 5));
      expect(existsSync(portFile)).toBe(true);
      const clients = await Promise.all(Array.from({ length: AFTER_START }, () => McClient.connect(ours.port)));
      try {
        const workers = await Promise.all(clients.map(async (c) => (await stats(c)).get('worker_thread')));
        const counts = Array.from({ length: THREADS }, (_, w) => workers.filter((x) => x === String(w)).length);
        expect(Math.min(...counts), `connections per worker: ${counts.join(', ')}`).toBeGreaterThanOrEqual(AFTER_START_LEAST);
      } finally {
        for (const c of clients) c.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe(`repcache -t ${THREADS} under concurrent load`, () => {
  let server: CacheInstance;
  beforeAll(async () => {
    server = await startCache('repcache', ['-t', String(THREADS), '-m', '8']);
  });
  afterAll(stopAll);

  it('keeps every invariant of one store', async () => {
    const c = await McClient.connect(server.port);
    try {
      expect((await stats(c)).get('threads')).toBe(String(THREADS));
      const casInit = Array.from({ length: CAS_KEYS }, (_, i) => value(`init${i}`, 10));
      let init = 'set ctr 0 0 1\r\n0\r\n';
      for (let i = 0; i < CAS_KEYS; i++) init += `set cas:${i} 0 0 ${casInit[i].length}\r\n${casInit[i]}\r\n`;
      for (let i = 0; i < APPEND_KEYS; i++) init += `set app:${i} 0 0 0\r\n\r\n`;
      expect(await c.request(init, (s) => s.split('\r\n').length > 1 + CAS_KEYS + APPEND_KEYS)).toBe('STORED\r\n'.repeat(1 + CAS_KEYS + APPEND_KEYS));
      const rssBefore = rssBytes(server.pid);

      const t: Tally = { torn: [], casWins: [], incrTotal: 0n, errors: [] };
      const until = Date.now() + RUN_MS;
      const [coldKeys] = await Promise.all([
        Promise.all(Array.from({ length: COLD_CLIENTS }, (_, i) => coldClient(server.port, i, until, t))).then((k) => k.flat()),
        ...Array.from({ length: CLIENTS }, (_, i) => hotClient(server.port, i, until, t)),
      ]);

      expect(t.errors).toEqual([]);
      expect(t.torn).toEqual([]);
      expect(t.casWins.length).toBeGreaterThan(0);
      expect(new Set(t.casWins).size).toBe(t.casWins.length); // no cas token won twice
      const s = await stats(c);
      expect(Number(s.get('evictions'))).toBeGreaterThan(0); // the cold set did press on -m 8
      const ctr = values(await c.request('get ctr\r\n', 'END\r\n')).get('ctr');
      expect(ctr?.[0]).toBe(String(t.incrTotal));

      // appends: whole tokens, each client's in the order it sent them
      const apps = values(await c.request(`get ${Array.from({ length: APPEND_KEYS }, (_, i) => `app:${i}`).join(' ')}\r\n`, 'END\r\n'));
      for (const [k, [v]] of apps) {
        expect(v, k).toMatch(/^(<\d+\.\d+>)*$/);
        const last = new Map<string, number>();
        for (const [, who, n] of v.matchAll(/<(\d+)\.(\d+)>/g)) {
          expect(Number(n), `${k} client ${who}`).toBeGreaterThan(last.get(who) ?? 0);
          last.set(who, Number(n));
        }
      }

      // curr_items is the number of keys a get finds
      const all = [
        'ctr',
        ...Array.from({ length: HOT_KEYS }, (_, i) => `hot:${i}`),
        ...Array.from({ length: CAS_KEYS }, (_, i) => `cas:${i}`),
        ...Array.from({ length: APPEND_KEYS }, (_, i) => `app:${i}`),
        ...coldKeys,
      ];
      let found = 0;
      for (let i = 0; i < all.length; i += 100) {
        const reply = await c.request(`get ${all.slice(i, i + 100).join(' ')}\r\n`, 'END\r\n', 10_000);
        for (const [k, [v]] of values(reply)) {
          found++;
          if (k.startsWith('cold:') || k.startsWith('hot:') || k.startsWith('cas:')) expect(wellFormed(v), k).toBe(true);
        }
      }
      const after = await stats(c);
      expect(Number(after.get('curr_items'))).toBe(found);
      expect(Number(after.get('bytes'))).toBeLessThanOrEqual(8 * MB);
      expect(Number(after.get('total_malloced') ?? 0)).toBeLessThanOrEqual(8 * MB + 64 * MB);
      // the store is shared memory: the workers' heaps do not grow with the items written
      expect(rssBytes(server.pid) - rssBefore).toBeLessThan(64 * MB);
    } finally {
      c.close();
    }
  }, 60_000);

  it('counts connections and commands over all workers', async () => {
    const clients = await Promise.all(Array.from({ length: 8 }, () => McClient.connect(server.port)));
    try {
      const before = await stats(clients[0], '');
      for (const cl of clients) expect(await cl.request('get nothing-here\r\n', 'END\r\n')).toBe('END\r\n');
      const after = await stats(clients[7]);
      expect(Number(after.get('cmd_get')) - Number(before.get('cmd_get'))).toBe(8);
      expect(Number(after.get('get_misses')) - Number(before.get('get_misses'))).toBe(8);
      expect(Number(after.get('curr_connections'))).toBeGreaterThanOrEqual(8);
      // the store lock's contended acquisitions and the sleeps among them, summed over the workers
      const [contended, waits] = [Number(after.get('lock_contended')), Number(after.get('lock_waits'))];
      expect(Number.isInteger(contended) && Number.isInteger(waits), 'lock_contended and lock_waits').toBe(true);
      expect(waits).toBeLessThanOrEqual(contended);
      // flush_all on one connection is seen by all
      expect(await clients[1].request('set f 0 0 1\r\nx\r\n')).toBe('STORED\r\n');
      expect(await clients[2].request('flush_all\r\n')).toBe('OK\r\n');
      for (const cl of clients) expect(await cl.request('get f\r\n', 'END\r\n')).toBe('END\r\n');
    } finally {
      for (const cl of clients) cl.close();
    }
  });

  it('a set on any worker right after another worker\'s flush_all is kept (the workers agree on the second)', async () => {
    const clients = await Promise.all(Array.from({ length: 8 }, () => McClient.connect(server.port)));
    try {
      let lost = 0;
      // across at least two second boundaries, where a worker's clock ticked later than another's
      for (const end = Date.now() + 2500; Date.now() < end; ) {
        expect(await clients[0].request('flush_all\r\n')).toBe('OK\r\n');
        for (let i = 1; i < clients.length; i++) {
          expect(await clients[i].request(`set after${i} 0 0 1\r\nx\r\n`)).toBe('STORED\r\n');
          if (!(await clients[i].request(`get after${i}\r\n`, 'END\r\n')).includes('VALUE')) lost++;
        }
      }
      expect(lost).toBe(0);
    } finally {
      for (const cl of clients) cl.close();
    }
  });
});

/** Connections held at once: with 4 workers all land on one with a chance of 4 x 4^-12 (the kernel spreads them). */
const SPREAD = 12;

describe(`repcache -t ${THREADS} is one memcached to stats conns and watch (as memcached -t ${THREADS})`, () => {
  afterAll(stopAll);

  /**
   * SPREAD clients and the worker each landed on (stats' worker_thread: repcache -t N only), once every worker
   * listens: the port answers as soon as the first worker binds it, and the kernel gives every connection of those
   * first milliseconds to the workers already listening.
   */
  async function spread(port: number, count = SPREAD): Promise<{ clients: McClient[]; workers: string[] }> {
    const listening = new Set<string>();
    for (const deadline = Date.now() + 10_000; listening.size < THREADS && Date.now() < deadline;) {
      const c = await McClient.connect(port);
      try {
        listening.add((await stats(c)).get('worker_thread') ?? '');
      } finally {
        c.close();
      }
    }
    const clients = await Promise.all(Array.from({ length: count }, () => McClient.connect(port)));
    const workers = await Promise.all(clients.map(async (c) => (await stats(c)).get('worker_thread') ?? ''));
    return { clients, workers };
  }

  it('stats conns on any worker lists every connection of the node once, the asking one as conn_parse_cmd', async () => {
    const [ours, theirs] = await Promise.all([startCache('repcache', ['-t', String(THREADS)]), startCache('memcached', ['-t', String(THREADS)])]);
    const { clients, workers } = await spread(ours.port);
    const reference = await Promise.all(Array.from({ length: SPREAD }, () => McClient.connect(theirs.port)));
    try {
      expect(new Set(workers).size).toBeGreaterThan(1);
      // each entry's fields and state (every client has sent a command: conn_read, the asking one conn_parse_cmd)
      const fieldsOf = (reply: string) => [...connEntries(reply).values()].map((e) => `${[...e.keys()].join(',')} ${e.get('state')}`).sort();
      // (memcached lists a connection once its thread has taken it up)
      for (const c of reference) await c.request('version\r\n');
      const expected = fieldsOf(await reference[0].request('stats conns\r\n', 'END\r\n'));
      for (const [i, c] of clients.entries()) {
        const reply = await c.request('stats conns\r\n', 'END\r\n');
        const entries = [...connEntries(reply).values()];
        const clientPorts = entries.map((e) => e.get('addr')).filter((a) => a !== `tcp:127.0.0.1:${ours.port}`).map((a) => Number(a!.split(':')[2]));
        // every client once (they are the only connections), whichever worker serves it
        expect(clientPorts.sort()).toEqual(clients.map((cl) => cl.socket.localPort!).sort());
        const self = entries.find((e) => e.get('addr') === `tcp:127.0.0.1:${c.socket.localPort}`)!;
        expect(self.get('state'), `client ${i} on worker ${workers[i]}`).toBe('conn_parse_cmd');
        expect(entries.filter((e) => e.get('state') === 'conn_parse_cmd')).toHaveLength(1);
        // the same fields per entry as memcached -t 4 (its UDP entries aside: one per thread there, -U 0 here)
        expect(fieldsOf(reply)).toEqual(expected.filter((f) => !f.startsWith('UDP')));
      }
    } finally {
      for (const c of [...clients, ...reference]) c.close();
    }
  });

  it('stats conns over UDP (the first worker serves -U) lists every worker\'s connections, the request\'s socket as memcached lists it', async () => {
    const udpPort = await freePort();
    const ours = await startCache('repcache', ['-t', String(THREADS), '-U', String(udpPort)]);
    const { clients, workers } = await spread(ours.port, 48);
    try {
      expect(new Set(workers).size).toBe(THREADS);
      for (const c of clients) await c.request('version\r\n');
      // a command after it in the same datagram is answered after it
      const replies = await udpRequest(udpPort, 'stats conns\r\nversion\r\n', 11, 500, '127.0.0.1', true);
      expect(replies.every((r) => r.requestId === 11)).toBe(true);
      const version = replies.pop()!;
      expect(version).toMatchObject({ seq: 0, total: 1, body: 'VERSION 1.6.18\r\n' });
      // one reply in several datagrams, in order
      expect(replies.length).toBeGreaterThan(1);
      expect(replies.map((r) => [r.seq, r.total])).toEqual(replies.map((_, i) => [i, replies.length]));
      const text = replies.map((r) => r.body).join('');
      expect(text.endsWith('END\r\n')).toBe(true);
      const entries = [...connEntries(text).values()];
      const tcpPorts = entries.map((e) => e.get('addr')!).filter((a) => a.startsWith('tcp:') && a !== `tcp:127.0.0.1:${ours.port}`).map((a) => Number(a.split(':')[2]));
      expect(tcpPorts.sort()).toEqual(clients.map((c) => c.socket.localPort!).sort());
      const udp = entries.filter((e) => e.has('UDP'));
      expect(udp).toHaveLength(1);
      expect(udp[0].get('addr')).toMatch(/^udp:127\.0\.0\.1:\d+$/);
      expect(udp[0].get('addr')).not.toBe(`udp:127.0.0.1:${udpPort}`);
      expect(udp[0].get('listen_addr')).toBe(`udp:127.0.0.1:${udpPort}`);
      expect(entries.filter((e) => e.get('state') === 'conn_parse_cmd')).toEqual([udp[0]]);
    } finally {
      for (const c of clients) c.close();
    }
  });

  it('watch sees the events of every worker: mutations and fetches made on the others', async () => {
    const ours = await startCache('repcache', ['-t', String(THREADS)]);
    const { clients, workers } = await spread(ours.port);
    const [watcher, ...rest] = clients;
    try {
      expect(await watcher.request('watch mutations fetchers\r\n', 'OK\r\n')).toBe('OK\r\n');
      const elsewhere = rest.filter((_, i) => workers[i + 1] !== workers[0]);
      expect(elsewhere.length).toBeGreaterThan(0);
      for (const [i, c] of rest.entries()) {
        expect(await c.request(`set w${i} 0 0 1\r\nx\r\n`)).toBe('STORED\r\n');
        expect(await c.request(`get w${i}\r\n`, 'END\r\n')).toBe(`VALUE w${i} 0 1\r\nx\r\nEND\r\n`);
      }
      const want = rest.length * 3; // per client: the set's lookup, its store and the get
      const deadline = Date.now() + 5000;
      let text = '';
      while ((text.match(/\n/g)?.length ?? 0) < want && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50));
        text += watcher.take();
      }
      const lines = text.split('\n').filter((l) => l !== '');
      for (const i of rest.keys()) {
        expect(lines.filter((l) => l.includes(` key=w${i} `)).map((l) => l.replace(/^ts=\d+\.\d+ gid=\d+ /, '').replace(/ cfd=\d+/, ''))).toEqual([
          `type=item_get key=w${i} status=not_found clsid=0 size=0`,
          `type=item_store key=w${i} status=stored cmd=set ttl=0 clsid=1 size=1`,
          `type=item_get key=w${i} status=found clsid=1 size=1`,
        ]);
      }
      // the log ids are the node's: no two lines share one
      const gids = lines.map((l) => /gid=(\d+)/.exec(l)![1]);
      expect(new Set(gids).size).toBe(gids.length);
      const counted = await stats(rest[0]);
      expect(counted.get('log_watchers')).toBe('1');
      // summed over the workers, whichever answers
      expect(Number(counted.get('log_watcher_sent'))).toBeGreaterThanOrEqual(want);
      watcher.close();
      // once the watcher is gone nobody watches anywhere
      const end = Date.now() + 5000;
      while ((await stats(rest[0])).get('log_watchers') !== '0' && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
      expect((await stats(rest[0])).get('log_watchers')).toBe('0');
    } finally {
      for (const c of clients) c.close();
    }
  });
});

/** The names of a process's threads that serve clients beside the main thread (Worker's `name`, cut to 15 bytes). */
function workerThreads(pid: number): number {
  return readdirSync(`/proc/${pid}/task`).filter((t) => readFileSync(`/proc/${pid}/task/${t}/comm`, 'utf8').trim() === 'repcache worker').length;
}

/**
 * A client served by worker `worker` (stats' worker_thread): connects until the kernel gives one to it (bounded).
 * Just after the start a connection may be reset or refused: the port answers for a moment while the start checks
 * that no other process holds it (repcache-threads.ts, probeTcpPorts), a few milliseconds before the workers bind it.
 */
async function clientOn(port: number, worker: number): Promise<McClient> {
  for (const deadline = Date.now() + 10_000; Date.now() < deadline;) {
    let c: McClient | null = null;
    try {
      c = await McClient.connect(port);
      if ((await stats(c)).get('worker_thread') === String(worker)) return c;
    } catch {
      await new Promise((r) => setTimeout(r, 20));
    }
    c?.close();
  }
  throw new Error(`no connection landed on worker ${worker} in 10 s`);
}

describe('repcache -t N: the main thread serves as worker 0 beside N - 1 worker threads', () => {
  afterAll(stopAll);

  it('-t 3: three workers answer over one store, two of them worker threads', async () => {
    const server = await startCache('repcache', ['-t', '3']);
    const clients = [await clientOn(server.port, 0), await clientOn(server.port, 1), await clientOn(server.port, 2)];
    try {
      expect(workerThreads(server.pid)).toBe(2);
      for (const [i, c] of clients.entries()) {
        expect((await stats(c)).get('threads')).toBe('3');
        expect(await c.request(`set from${i} 0 0 1\r\n${i}\r\n`)).toBe('STORED\r\n');
      }
      // what each worker wrote, every other reads
      for (const c of clients) {
        expect(await c.request('get from0 from1 from2\r\n', 'END\r\n')).toBe('VALUE from0 0 1\r\n0\r\nVALUE from1 0 1\r\n1\r\nVALUE from2 0 1\r\n2\r\nEND\r\n');
      }
    } finally {
      for (const c of clients) c.close();
    }
  });

  it('-t 2: a setting one worker\'s client changes holds on every worker (memcached has one settings): worker 0, which crawls, stops crawling', async () => {
    const server = await startCache('repcache', ['-t', '2']);
    const [zero, one] = [await clientOn(server.port, 0), await clientOn(server.port, 1)];
    const settingsOf = async (c: McClient) => {
      const s = await stats(c, 'settings');
      const names = ['lru_crawler', 'maxbytes', 'verbosity', 'detail_enabled', 'slab_automove', 'slab_automove_ratio', 'hot_lru_pct', 'warm_lru_pct', 'hot_max_factor', 'warm_max_factor', 'lru_segmented', 'temporary_ttl', 'lru_crawler_sleep', 'lru_crawler_tocrawl'];
      return { ...Object.fromEntries(names.map((n) => [n, s.get(n)])), limit_maxbytes: (await stats(c)).get('limit_maxbytes') };
    };
    try {
      const before = await settingsOf(zero);
      expect(await settingsOf(one)).toEqual(before);
      for (const cmd of ['lru_crawler disable', 'cache_memlimit 20', 'verbosity 1', 'stats detail on', 'slabs automove 2', 'slabs automove ratio 0.5', 'lru tune 10 40 0.5 1.5', 'lru mode flat', 'lru temp_ttl 30', 'lru_crawler sleep 50', 'lru_crawler tocrawl 7']) {
        expect(await one.request(`${cmd}\r\n`), cmd).toBe('OK\r\n');
      }
      const after = await settingsOf(one);
      expect(after).toMatchObject({ lru_crawler: 'no', maxbytes: String(20 * MB), limit_maxbytes: String(20 * MB), verbosity: '1', detail_enabled: 'yes', slab_automove_ratio: '0.50', hot_lru_pct: '10', lru_crawler_sleep: '50', lru_crawler_tocrawl: '7' });
      expect(await settingsOf(zero)).toEqual(after);
      // and worker 0 obeys it: its crawler, the one that runs for the node, is off
      expect(await zero.request('lru_crawler crawl all\r\n')).toBe('CLIENT_ERROR lru crawler disabled\r\n');
      // back the other way: worker 0's client turns it on again, for worker 1 too
      expect(await zero.request('lru_crawler enable\r\n')).toBe('OK\r\n');
      expect((await stats(one, 'settings')).get('lru_crawler')).toBe('yes');
    } finally {
      zero.close();
      one.close();
    }
  });

  it('-t 2: stats reset on one worker zeroes the others\' counters at once, not at their next command or tick', async () => {
    const server = await startCache('repcache', ['-t', '2']);
    const [zero, one] = [await clientOn(server.port, 0), await clientOn(server.port, 1)];
    try {
      const v = 'x'.repeat(100_000);
      for (let i = 0; i < 4; i++) expect(await one.request(`set big${i} 0 0 ${v.length}\r\n${v}\r\n`)).toBe('STORED\r\n');
      expect(Number((await stats(zero)).get('bytes_read'))).toBeGreaterThan(400_000);
      // worker 1 is idle now: its row of the counters is what it last published
      const reply = await zero.request('stats reset\r\nstats\r\n', (r) => r.endsWith('END\r\n'));
      expect(reply.startsWith('RESET\r\n')).toBe(true);
      const after = parseStats(reply.slice('RESET\r\n'.length));
      expect(Number(after.get('bytes_read'))).toBeLessThan(1000);
      expect(Number(after.get('bytes_written'))).toBeLessThan(1000);
      expect(after.get('curr_connections')).not.toBe('0');
    } finally {
      zero.close();
      one.close();
    }
  });

  it('-t 2: stats detail dump counts what every worker\'s clients did, and stats reset on any worker clears it', async () => {
    const server = await startCache('repcache', ['-t', '2']);
    const [zero, one] = [await clientOn(server.port, 0), await clientOn(server.port, 1)];
    try {
      expect(await zero.request('stats detail on\r\n')).toBe('OK\r\n');
      expect(await one.request('set p:1 0 0 1\r\nx\r\n')).toBe('STORED\r\n');
      expect(await zero.request('get p:1 p:2\r\n', 'END\r\n')).toBe('VALUE p:1 0 1\r\nx\r\nEND\r\n');
      expect(await one.request('delete p:1\r\n')).toBe('DELETED\r\n');
      const dump = 'PREFIX p get 2 hit 1 set 1 del 1\r\nEND\r\n';
      expect(await zero.request('stats detail dump\r\n', 'END\r\n')).toBe(dump);
      expect(await one.request('stats detail dump\r\n', 'END\r\n')).toBe(dump);
      expect(await zero.request('stats reset\r\n')).toBe('RESET\r\n');
      expect(await one.request('stats detail dump\r\n', 'END\r\n')).toBe('END\r\n');
    } finally {
      zero.close();
      one.close();
    }
  });

  it('-t 2: stats conns and watch cross between worker 0 and the worker thread both ways', async () => {
    const server = await startCache('repcache', ['-t', '2']);
    // a watcher and a writer on each
    const clients = [await clientOn(server.port, 0), await clientOn(server.port, 0), await clientOn(server.port, 1), await clientOn(server.port, 1)];
    const [zero, zeroWriter, one, oneWriter] = clients;
    try {
      const ports = clients.map((c) => c.socket.localPort!).sort();
      for (const c of [zero, one]) {
        const entries = [...connEntries(await c.request('stats conns\r\n', 'END\r\n')).values()];
        const clientPorts = entries.map((e) => e.get('addr')).filter((a) => a !== `tcp:127.0.0.1:${server.port}`).map((a) => Number(a!.split(':')[2]));
        expect(clientPorts.sort()).toEqual(ports);
      }
      expect(await zero.request('watch mutations\r\n', 'OK\r\n')).toBe('OK\r\n');
      expect(await one.request('watch mutations\r\n', 'OK\r\n')).toBe('OK\r\n');
      expect(await oneWriter.request('set byone 0 0 1\r\nx\r\n')).toBe('STORED\r\n');
      expect(await zeroWriter.request('set byzero 0 0 1\r\nx\r\n')).toBe('STORED\r\n');
      for (const watcher of [zero, one]) {
        let text = '';
        for (const deadline = Date.now() + 5000; !(text.includes(' key=byone ') && text.includes(' key=byzero ')) && Date.now() < deadline;) {
          await new Promise((r) => setTimeout(r, 20));
          text += watcher.take();
        }
        expect(text).toMatch(/type=item_store key=byone status=stored cmd=set/);
        expect(text).toMatch(/type=item_store key=byzero status=stored cmd=set/);
      }
    } finally {
      for (const c of clients) c.close();
    }
  });

  it.each([['shutdown graceful', 0], ['shutdown graceful', 1], ['shutdown', 0], ['shutdown', 1]] as const)(
    '-t 2 -e: `%s` on worker %i stops the node; graceful saves what both workers wrote',
    async (command, worker) => {
      const dir = mkdtempSync(join(tmpdir(), 'repcache-t2-'));
      const file = join(dir, 'memory');
      try {
        const server = await startCache('repcache', ['-t', '2', '-A', '-e', file]);
        const [zero, one] = [await clientOn(server.port, 0), await clientOn(server.port, 1)];
        expect(await zero.request('set k0 0 0 2\r\nv0\r\n')).toBe('STORED\r\n');
        expect(await one.request('set k1 0 0 2\r\nv1\r\n')).toBe('STORED\r\n');
        (worker === 0 ? zero : one).socket.write(`${command}\r\n`);
        const code = await Promise.race([server.daemon.exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 15_000))]);
        zero.close();
        one.close();
        expect(code).toBe(0);
        expect(existsSync(file)).toBe(command === 'shutdown graceful');
        if (command === 'shutdown') return;
        const again = await startCache('repcache', ['-t', '2', '-e', file]);
        const c = await McClient.connect(again.port);
        try {
          expect(await c.request('get k0 k1\r\n', 'END\r\n')).toBe('VALUE k0 0 2\r\nv0\r\nVALUE k1 0 2\r\nv1\r\nEND\r\n');
        } finally {
          c.close();
        }
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );
});

describe('repcache without -t: memcached\'s default of 4 workers, no more than the CPUs it may use', () => {
  afterAll(stopAll);

  /** bin/repcache with no -t unless `extra` gives one, run by `runner` (taskset execs it: the pid is repcache's). */
  async function started(runner: string[], extra: string[] = []) {
    const port = await freePort();
    const argv = [...runner, bin('repcache'), '-l', '127.0.0.1', '-p', String(port), ...userArgs(), ...extra];
    const d = startProcess(argv[0]!, argv.slice(1));
    await waitForPort(port, '127.0.0.1', 15_000, d);
    const c = await McClient.connect(port);
    try {
      return { stats: await stats(c), settings: await stats(c, 'settings'), workerThreads: workerThreads(d.proc.pid!), output: d.output() };
    } finally {
      c.close();
      await d.stop();
    }
  }

  it(`a bare bin/repcache serves on min(4, CPUs) workers (${Math.min(4, availableParallelism())} here), without a warning`, async () => {
    const n = Math.min(4, availableParallelism());
    const r = await started([]);
    expect(r.stats.get('threads')).toBe(String(n));
    expect(r.settings.get('num_threads')).toBe(String(n));
    expect(r.workerThreads).toBe(n - 1);
    expect(r.output).not.toContain('WARNING');
  });

  it('under taskset -c 0 (one CPU) the default is the single-thread path; an explicit -t 2 is taken as given, with a warning', async () => {
    const one = await started(['taskset', '-c', '0']);
    expect(one.stats.get('threads')).toBe('1');
    expect(one.settings.get('num_threads')).toBe('1');
    expect(one.stats.has('worker_thread')).toBe(false); // only -t N (N > 1) names the worker that answered
    expect(one.workerThreads).toBe(0);
    expect(one.output).not.toContain('WARNING');
    const two = await started(['taskset', '-c', '0'], ['-t', '2']);
    expect(two.stats.get('threads')).toBe('2');
    expect(two.settings.get('num_threads')).toBe('2');
    expect(two.workerThreads).toBe(1);
    expect(two.output).toContain('WARNING: -t 2 is more worker threads than the 1 CPU this process may use');
  });
});
