/**
 * Authentication on the client port (-Y auth file, -S SASL): memcached's replies byte for byte (Debian's memcached
 * with -Y, and with -S on a sasldb made by saslpasswd2), real clients with right and wrong passwords (memjs,
 * php-memcached, pylibmc), garbage from strangers, and the start-up errors.
 */
import { execFile } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bin, stopAll } from '../support/daemon.ts';
import { McClient } from '../support/mc-client.ts';
import { request, setExtras } from '../support/binary-client.ts';
import { memcacheProbe, tcpProbe } from '../../src/ha/adapters/probes.ts';
import { fetchStats } from '../../src/supervisor/stats-probe.ts';
import pino from 'pino';
import { CacheLink } from '../../src/ha/daemon/cache-link.ts';
import { CACHE_DAEMON_DEFAULTS } from '../../src/config/cache-daemon.ts';
import { backgroundClock } from '../../src/clock.ts';
import { parseStats, startCache, userArgs, type CacheInstance } from './repcache-harness.ts';

interface Exit { code: number; stdout: string; stderr: string }
function run(cmd: string, args: string[], opts: { timeout?: number; env?: NodeJS.ProcessEnv } = {}): Promise<Exit> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: opts.timeout ?? 30_000, env: { ...process.env, ...opts.env } }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

const dir = mkdtempSync(join(tmpdir(), 'repcache-auth-'));
const authFile = join(dir, 'auth');
writeFileSync(authFile, 'alice:secret\nbob:pw2\n');
chmodSync(dir, 0o755);
chmodSync(authFile, 0o644);

/** Sends each step on one connection and reads what comes back (until quiet); '<closed>' once the server closed. */
async function conversation(port: number, steps: Array<string | Buffer>, decode: (s: string) => string[] = (s) => [s]): Promise<string[]> {
  const c = await McClient.connect(port);
  const out: string[] = [];
  try {
    for (const step of steps) {
      if (c.isClosed) { out.push('<closed>'); break; }
      c.send(step);
      out.push(...decode(await c.readIdle(120, 3000)));
    }
    if (c.isClosed && out.at(-1) !== '<closed>') out.push('<closed>');
  } finally {
    c.close();
  }
  return out;
}

/** Binary response packets of a reply, as "opcode status value". */
function packets(s: string): string[] {
  const b = Buffer.from(s, 'latin1');
  const out: string[] = [];
  let at = 0;
  while (at + 24 <= b.length && b[at] === 0x81) {
    const body = b.readUInt32BE(at + 8);
    const skip = b[at + 4] + b.readUInt16BE(at + 2);
    out.push(`${b[at + 1].toString(16)} ${b.readUInt16BE(at + 6).toString(16)} ${b.toString('latin1', at + 24 + skip, at + 24 + body)}`);
    at += 24 + body;
  }
  if (at < b.length) out.push(`junk ${JSON.stringify(b.toString('latin1', at))}`);
  return out;
}

const plain = (user: string, pass: string, authzid = '') => Buffer.from(`${authzid}\0${user}\0${pass}`, 'latin1');
const auth = (mech: string, data: Buffer | string) => request({ opcode: 0x21, key: mech, value: data });
const VERSION = request({ opcode: 0x0b });
const NOOP = request({ opcode: 0x0a });

afterAll(async () => {
  await stopAll();
  rmSync(dir, { recursive: true, force: true });
});

describe('text authentication (-Y): the same replies as memcached', () => {
  let mine: CacheInstance;
  let theirs: CacheInstance;
  beforeAll(async () => {
    [mine, theirs] = await Promise.all([startCache('repcache', ['-Y', authFile]), startCache('memcached', ['-Y', authFile])]);
  });

  // one step at a time: memcached answers only the last of several failures that arrive in one read
  const conversations: Array<[string, string[]]> = [
    ['commands before authenticating', ['get foo\r\n', 'version\r\n', 'stats\r\n', 'mg foo v\r\n', 'set x 0 0\r\n', 'SET x 0 0 12\r\n', 'alice secret\r\n']],
    ['a wrong password, then the right one', ['set x 0 0 11\r\nalice wrong\r\n', 'get foo\r\n', 'set x 0 0 12\r\nalice secret\r\n', 'get foo\r\n', 'set k 0 0 1\r\nv\r\n', 'get k\r\n']],
    ['another user\'s password', ['set x 0 0 10\r\nbob secret\r\n', 'set x 0 0 7\r\nbob pw2\r\n', 'get k\r\n']],
    ['bad data blocks', ['set x 0 0 5\r\nalice\r\n', 'set x 0 0 12\r\nalice secretXX', 'set x 0 0 12\r\nalice:secret\r\n', 'set x 0 0 -1\r\n']],
    ['memcached\'s tokenizer: noreply, spaces, a bare newline', ['set x 0 0 12 noreply\r\nalice secret\r\n', 'get k\r\n']],
    ['leading spaces and \\n', [' set  x 0 0 13\nalice  secret\r\n', 'get k\r\n']],
    ['a long line without a newline', ['x'.repeat(3000)]],
  ];
  it.each(conversations)('%s', async (_what, steps) => {
    const [a, b] = await Promise.all([conversation(mine.port, steps), conversation(theirs.port, steps)]);
    expect(a).toEqual(b);
  });

  it('stats count attempts and failures as memcached does; stats settings show the file', async () => {
    const steps = ['set x 0 0 11\r\nalice wrong\r\n', 'set x 0 0 5\r\nalice\r\n', 'set x 0 0 12\r\nalice secret\r\n', 'stats reset\r\n', 'set x 0 0 7\r\nbob pw2\r\n'];
    const fresh = await Promise.all([startCache('repcache', ['-Y', authFile]), startCache('memcached', ['-Y', authFile])]);
    for (const s of fresh) await conversation(s.port, steps.slice(0, 3));
    const stats = await Promise.all(fresh.map(async (s) => {
      const [, reply] = await conversation(s.port, ['set x 0 0 12\r\nalice secret\r\n', 'stats\r\n']);
      const [, settings] = await conversation(s.port, ['set x 0 0 12\r\nalice secret\r\n', 'stats settings\r\n']);
      const st = parseStats(reply);
      const se = parseStats(settings);
      return [st.get('auth_cmds'), st.get('auth_errors'), se.get('auth_enabled_sasl'), se.get('auth_enabled_ascii')];
    }));
    expect(stats[0]).toEqual(['3', '1', 'no', authFile]);
    expect(stats[0]).toEqual(stats[1]);
    await Promise.all(fresh.map((s) => s.daemon.stop()));
  });
});

describe('binary SASL (-S): the same replies as memcached on a sasldb', () => {
  let mine: CacheInstance;
  let theirs: CacheInstance;
  beforeAll(async () => {
    // memcached's users come from Cyrus SASL: a sasldb made by saslpasswd2, found through SASL_CONF_PATH
    const sasldb = join(dir, 'sasldb');
    const made = await run('sh', ['-c', `echo secret | saslpasswd2 -p -a memcached -c -f ${sasldb} alice`]);
    if (made.code !== 0) throw new Error(`saslpasswd2 (Debian package sasl2-bin) failed: ${made.stderr}`);
    writeFileSync(join(dir, 'memcached.conf'), `mech_list: plain\nsasldb_path: ${sasldb}\n`);
    chmodSync(sasldb, 0o644);
    [mine, theirs] = await Promise.all([
      startCache('repcache', ['-S', '-Y', authFile]),
      startCache('memcached', ['-S'], { SASL_CONF_PATH: dir }),
    ]);
  });

  const conversations: Array<[string, Array<string | Buffer>]> = [
    ['LIST_MECHS and VERSION before authenticating', [request({ opcode: 0x20 }), VERSION]],
    ['a command before authenticating closes', [request({ opcode: 0x00, key: 'k' }), VERSION]],
    ['a quiet set before authenticating closes', [request({ opcode: 0x11, key: 'k', extras: setExtras(0, 0), value: 'v' }), VERSION]],
    ['AUTH PLAIN, then commands', [auth('PLAIN', plain('alice', 'secret')), request({ opcode: 0x00, key: 'k' }), request({ opcode: 0x01, key: 'k', extras: setExtras(0, 0), value: 'v' })]],
    ['a wrong password keeps the connection, unauthenticated', [auth('PLAIN', plain('alice', 'wrong')), VERSION, NOOP, VERSION]],
    ['a wrong password, then the right one', [auth('PLAIN', plain('alice', 'wrong')), auth('PLAIN', plain('alice', 'secret')), NOOP]],
    ['a truncated PLAIN message', [auth('PLAIN', '\0alice'), VERSION]],
    ['an unknown mechanism', [auth('FOO', plain('alice', 'secret')), VERSION]],
    ['the mechanism in lower case', [auth('plain', plain('alice', 'secret')), NOOP]],
    ['another authzid', [auth('PLAIN', plain('alice', 'secret', 'bob')), VERSION]],
    ['the same authzid', [auth('PLAIN', plain('alice', 'secret', 'alice')), NOOP]],
    ['STEP without a started exchange', [request({ opcode: 0x22, key: 'PLAIN', value: plain('alice', 'secret') }), VERSION]],
    ['a 33-byte mechanism name', [auth('X'.repeat(33), 'data'), VERSION]],
    ['a huge body', [Buffer.concat([request({ opcode: 0x21, key: 'PLAIN', bodyLength: 5 + 2 * 1024 * 1024 }), Buffer.alloc(2 * 1024 * 1024)]), VERSION]],
    ['a 100 kB body', [auth('PLAIN', Buffer.alloc(100_000, 1)), VERSION]],
    ['AUTH without a mechanism', [request({ opcode: 0x21, value: 'x' }), VERSION]],
    ['LIST_MECHS with a body', [request({ opcode: 0x20, key: 'x' }), VERSION]],
  ];
  it.each(conversations)('%s', async (_what, steps) => {
    const [a, b] = await Promise.all([conversation(mine.port, steps, packets), conversation(theirs.port, steps, packets)]);
    expect(a).toEqual(b);
  });

  it('the node keeps serving after all that', async () => {
    expect(await conversation(mine.port, [auth('PLAIN', plain('bob', 'pw2')), request({ opcode: 0x01, key: 'after', extras: setExtras(0, 0), value: 'ok' }), request({ opcode: 0x00, key: 'after' })], packets))
      .toEqual(['21 0 Authenticated', '1 0 ', '0 0 ok']);
  });
});

describe('real clients with -S -Y', () => {
  let server: CacheInstance;
  beforeAll(async () => {
    server = await startCache('repcache', ['-S', '-Y', authFile]);
  });

  interface MemjsClient {
    get(key: string): Promise<{ value: Buffer | null }>;
    set(key: string, value: string, options: Record<string, unknown>): Promise<boolean>;
    close(): void;
  }
  const memjs = createRequire(import.meta.url)('memjs') as { Client: { create(s: string, o: Record<string, unknown>): MemjsClient } };
  const memjsClient = (password: string) => memjs.Client.create(`127.0.0.1:${server.port}`, { username: 'alice', password, retries: 0, timeout: 2, logger: { log() {} } });

  it('memjs with the right password', async () => {
    const c = memjsClient('secret');
    try {
      expect(await c.set('memjs:a', 'hello', {})).toBe(true);
      expect((await c.get('memjs:a')).value?.toString()).toBe('hello');
    } finally {
      c.close();
    }
  });

  it('memjs with a wrong password: an authentication error and no data', async () => {
    const c = memjsClient('wrong');
    try {
      await expect(c.get('memjs:a')).rejects.toThrow(/auth/i);
    } finally {
      c.close();
    }
  });

  const php = (password: string) => run('php', ['-r', `
    $m = new Memcached();
    $m->setOption(Memcached::OPT_BINARY_PROTOCOL, true);
    $m->setOption(Memcached::OPT_COMPRESSION, false);
    $m->setSaslAuthData('alice', $argv[2]);
    $m->addServer('127.0.0.1', (int)$argv[1]);
    $ok = [];
    $code = fn() => $m->getResultCode() === Memcached::RES_AUTH_FAILURE ? 'auth-failure' : $m->getResultCode();
    $ok[] = $m->set('php:a', 'hello') ? 'set' : 'set-failed ' . $code();
    $v = $m->get('memjs:a');
    $ok[] = $v === 'hello' ? 'get' : 'get-failed';
    echo implode(' ', $ok), "\\n";
  `, '--', String(server.port), password]);

  it('php-memcached setSaslAuthData with the right password', async () => {
    expect((await php('secret')).stdout.trim()).toBe('set get');
  });

  it('php-memcached with a wrong password: RES_AUTH_FAILURE, no data', async () => {
    expect((await php('wrong')).stdout.trim()).toBe('set-failed auth-failure get-failed');
  });

  const py = (password: string) => run('/usr/bin/python3', ['-c', `
import sys, pylibmc
mc = pylibmc.Client(['127.0.0.1:' + sys.argv[1]], binary=True, username='alice', password=sys.argv[2])
try:
    mc.set('py:a', 'hello')
    print('set', mc.get('py:a'), mc.get('memjs:a') == b'hello')
except pylibmc.Error as e:
    print('error', type(e).__name__)
`, String(server.port), password]);

  it('pylibmc binary=True with username and password', async () => {
    expect((await py('secret')).stdout.trim()).toBe('set hello True');
  });

  it('pylibmc with a wrong password: its authentication error, no data', async () => {
    const r = await py('wrong');
    expect(r.stdout.trim()).toMatch(/^error /);
    expect(r.stdout).not.toContain('hello');
  });

  it('strangers\' garbage closes their connections; the node keeps serving', async () => {
    const flood = async (bytes: Buffer | string) => {
      const c = await McClient.connect(server.port);
      c.send(bytes);
      await c.waitClosed(5000);
      const got = c.take();
      expect(got).not.toMatch(/VALUE|STAT|STORED/);
      return got.length;
    };
    // many commands in one read: at most 64 replies, then closed
    expect(await flood('get k\r\n'.repeat(2000))).toBeLessThanOrEqual(64 * 'CLIENT_ERROR unauthenticated\r\n'.length);
    await flood('x'.repeat(5000));
    await flood(Buffer.alloc(3000, 0x81));
    await flood(`set x 0 0 ${10_000_000}\r\n${'a'.repeat(4000)}`);
    expect(await conversation(server.port, ['set x 0 0 12\r\nalice secret\r\n', 'version\r\n'])).toEqual(['STORED\r\n', 'VERSION 1.6.18\r\n']);
  });

  it('stats count the attempts', async () => {
    const text = await conversation(server.port, ['set x 0 0 12\r\nalice secret\r\n', 'stats\r\n']);
    const st = parseStats(text[1]);
    expect(Number(st.get('auth_cmds'))).toBeGreaterThanOrEqual(6);
    expect(Number(st.get('auth_errors'))).toBeGreaterThanOrEqual(2);
  });
});

describe('a half-sent authentication', () => {
  it('is closed by read_timeout like any unfinished command', async () => {
    const server = await startCache('repcache', ['-Y', authFile, '-o', 'read_timeout=1']);
    const c = await McClient.connect(server.port);
    c.send('set x 0 0 12\r\nali');
    await c.waitClosed(5000);
    expect(c.take()).toBe('');
    await server.daemon.stop();
  });
});

describe('haved\'s checks on a cache that requires authentication', () => {
  it('TCP_CHECK and MEMCACHE_CHECK pass without a password; the supervisor\'s stats poll logs in with the -Y file', async () => {
    const server = await startCache('repcache', ['-Y', authFile]);
    const t = { host: '127.0.0.1', port: server.port, timeoutMs: 2000 };
    expect(await tcpProbe(t)).toBeNull();
    expect(await memcacheProbe(t)).toBeNull();
    const s = await fetchStats('127.0.0.1', server.port, 2000, { user: 'alice', pass: 'secret' });
    expect(s.stats.get('auth_cmds')).toBe('1');
    await expect(fetchStats('127.0.0.1', server.port, 2000)).rejects.toThrow(/CLIENT_ERROR unauthenticated/);
    await expect(fetchStats('127.0.0.1', server.port, 2000, { user: 'alice', pass: 'nope' })).rejects.toThrow('authentication refused: "CLIENT_ERROR authentication failure"');
    await server.daemon.stop();
  });

  it('a cache_daemon with -Y: the warmth poll reads replication_state after logging in', async () => {
    const server = await startCache('repcache', ['-Y', authFile]);
    const link = new CacheLink(
      { argv: ['repcache', '-p', String(server.port), '-Y', authFile], user: null, restart: { ...CACHE_DAEMON_DEFAULTS }, checkPort: server.port, where: 'haved.conf:1' },
      {
        log: pino({ level: 'silent' }), clock: backgroundClock, changed: () => {}, pollIntervalMs: 50,
        makeProcess: (o) => ({ start: () => o.onState?.('running', 'started'), stop: async () => {}, status: () => ({ state: 'running', starts: 1, failures: 0, nextStartInMs: null, lastExit: null, pid: server.pid }) }),
      },
    );
    link.start();
    const deadline = Date.now() + 5000;
    while (link.status().replicationState === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const state = link.status().replicationState;
    await link.stop();
    // a repcache without peers reports itself standalone; without the login every poll fails (state stays null)
    expect(state).toBe('standalone');
    expect(Number(parseStats((await conversation(server.port, ['set x 0 0 12\r\nalice secret\r\n', 'stats\r\n']))[1]).get('auth_errors'))).toBe(0);
    await server.daemon.stop();
  });
});

describe('start-up errors', () => {
  const repcache = (...args: string[]) => run(bin('repcache'), [...userArgs(), '-p', '0', ...args], { timeout: 15_000 });

  it('a missing auth file (memcached\'s message, exit 1)', async () => {
    expect(await repcache('-Y', join(dir, 'none'))).toMatchObject({ code: 1, stderr: `Could not open authfile [${join(dir, 'none')}] for reading: No such file or directory\n` });
  });

  it('a malformed line names file:line', async () => {
    const bad = join(dir, 'bad');
    writeFileSync(bad, 'alice:secret\nnocolon\n');
    expect(await repcache('-Y', bad)).toMatchObject({ code: 1, stderr: `${bad}:2: malformed entry, should be 'user:password'\n` });
  });

  it('an empty file', async () => {
    const empty = join(dir, 'empty');
    writeFileSync(empty, '');
    expect(await repcache('-Y', empty)).toMatchObject({ code: 1, stderr: `${empty}: no user:password entries\n` });
  });

  it('-S without -Y, and authentication with UDP', async () => {
    expect(await repcache('-S')).toMatchObject({ code: 64, stderr: 'repcache: -S needs -Y <auth_file> (user:password lines): SASL users are read from that file, not from a sasldb\n' });
    const [mine, theirs] = await Promise.all([repcache('-S', '-Y', authFile, '-U', '11299'), run('memcached', [...userArgs(), '-p', '0', '-S', '-U', '11299'])]);
    expect({ code: mine.code, stderr: mine.stderr }).toEqual({ code: theirs.code, stderr: theirs.stderr });
    const [mine2, theirs2] = await Promise.all([repcache('-Y', authFile, '-U', '11299'), run('memcached', [...userArgs(), '-p', '0', '-Y', authFile, '-U', '11299'])]);
    expect({ code: mine2.code, stderr: mine2.stderr }).toEqual({ code: theirs2.code, stderr: theirs2.stderr });
  });
});
