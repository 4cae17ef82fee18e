/**
 * Compatibility with real memcached clients and libmemcached's protocol checker:
 * memccapable -a, npm memcached (3rd-eden), memcache-client, and PHP's Memcached extension.
 */
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { promisify } from 'node:util';
import { MemcacheClient, type MultiRetrievalResponse } from 'memcache-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stopAll } from '../support/daemon.ts';
import { startCache, targetKind, type CacheInstance } from './repcache-harness.ts';

const run = promisify(execFile);

// 3rd-eden's memcached ships no types; this is the part of its callback API the test uses.
type Cb<T> = (err: Error | undefined, result: T) => void;
interface ThirdEdenClient {
  set(key: string, value: unknown, lifetime: number, cb: Cb<boolean>): void;
  get(key: string, cb: Cb<unknown>): void;
  getMulti(keys: string[], cb: Cb<Record<string, unknown>>): void;
  gets(key: string, cb: Cb<Record<string, unknown> & { cas: string }>): void;
  cas(key: string, value: unknown, cas: string, lifetime: number, cb: Cb<boolean>): void;
  incr(key: string, amount: number, cb: Cb<number | false>): void;
  decr(key: string, amount: number, cb: Cb<number | false>): void;
  del(key: string, cb: Cb<boolean>): void;
  touch(key: string, lifetime: number, cb: Cb<boolean>): void;
  end(): void;
}
const Memcached = createRequire(import.meta.url)('memcached') as new (loc: string, opts: object) => ThirdEdenClient;

function call<T>(fn: (cb: Cb<T>) => void): Promise<T> {
  return new Promise((res, rej) => fn((err, r) => (err ? rej(err) : res(r))));
}

describe(`real clients against ${targetKind()}`, () => {
  let server: CacheInstance;
  beforeAll(async () => { server = await startCache(targetKind()); });
  afterAll(stopAll);

  it('memccapable -a passes every ASCII test', async () => {
    const { stdout, stderr } = await run('memccapable', ['-a', '-h', '127.0.0.1', '-p', String(server.port)], { timeout: 60_000 })
      .catch((err: { stdout?: string; stderr?: string; message: string }) => {
        throw new Error(`memccapable failed: ${err.message}\n${err.stdout ?? ''}${err.stderr ?? ''}`);
      });
    const out = stdout + stderr;
    const results = [...out.matchAll(/^(ascii \S.*?)\s+\[(\w+)\]$/gm)].map((m) => [m[1].trim(), m[2]]);
    expect(results.length, out).toBeGreaterThanOrEqual(25);
    expect(results.filter(([, r]) => r !== 'pass'), out).toEqual([]);
    expect(out).toContain('All tests passed');
  });

  it('npm memcached: set/get/getMulti/gets+cas/incr/decr/del/touch', async () => {
    const mc = new Memcached(`127.0.0.1:${server.port}`, { retries: 0, timeout: 3000, poolSize: 2 });
    try {
      expect(await call<boolean>((cb) => mc.set('te:a', 'alpha', 0, cb))).toBe(true);
      expect(await call((cb) => mc.set('te:b', { json: [1, 2] }, 100, cb))).toBe(true);
      expect(await call((cb) => mc.set('te:n', 41, 0, cb))).toBe(true);
      expect(await call((cb) => mc.get('te:a', cb))).toBe('alpha');
      expect(await call((cb) => mc.getMulti(['te:a', 'te:b', 'te:missing'], cb))).toEqual({ 'te:a': 'alpha', 'te:b': { json: [1, 2] } });
      const g = await call<Record<string, unknown> & { cas: string }>((cb) => mc.gets('te:a', cb));
      expect(g['te:a']).toBe('alpha');
      expect(g.cas).toMatch(/^\d+$/);
      expect(await call((cb) => mc.cas('te:a', 'beta', g.cas, 0, cb))).toBe(true);
      expect(await call((cb) => mc.cas('te:a', 'gamma', g.cas, 0, cb))).toBe(false);
      expect(await call((cb) => mc.get('te:a', cb))).toBe('beta');
      expect(await call((cb) => mc.incr('te:n', 1, cb))).toBe(42);
      expect(await call((cb) => mc.decr('te:n', 50, cb))).toBe(0);
      expect(await call((cb) => mc.incr('te:nokey', 1, cb))).toBe(false);
      expect(await call((cb) => mc.touch('te:a', 100, cb))).toBe(true);
      expect(await call((cb) => mc.del('te:a', cb))).toBe(true);
      expect(await call((cb) => mc.get('te:a', cb))).toBeUndefined();
    } finally {
      mc.end();
    }
  });

  it('memcache-client: set/get/multi-get/gets+cas/incr/decr/delete/touch', async () => {
    const client = new MemcacheClient({ server: `127.0.0.1:${server.port}`, cmdTimeout: 3000 });
    try {
      expect(await client.set('mc:a', 'data-a')).toEqual(['STORED']);
      expect(await client.set('mc:b', Buffer.from([0, 1, 2, 255]))).toEqual(['STORED']);
      expect(await client.set('mc:n', '10')).toEqual(['STORED']);
      expect((await client.get<string>('mc:a'))?.value).toBe('data-a');
      const multi = await client.get<MultiRetrievalResponse<unknown>>(['mc:a', 'mc:b', 'mc:none']);
      expect(multi['mc:a'].value).toBe('data-a');
      expect(Buffer.compare(multi['mc:b'].value as Buffer, Buffer.from([0, 1, 2, 255]))).toBe(0);
      expect(multi['mc:none']).toBeUndefined();
      const g = await client.gets<string>('mc:a');
      expect(await client.cas('mc:a', 'data-a2', { casUniq: g.casUniq })).toEqual(['STORED']);
      await expect(client.cas('mc:a', 'data-a3', { casUniq: g.casUniq })).rejects.toThrow(/EXISTS/);
      expect((await client.get<string>('mc:a'))?.value).toBe('data-a2');
      expect(Number(await client.incr('mc:n', 5))).toBe(15);
      expect(Number(await client.decr('mc:n', 20))).toBe(0);
      expect(await client.touch('mc:a', '100')).toEqual(['TOUCHED']);
      expect(await client.delete('mc:a')).toEqual(['DELETED']);
      expect(await client.get('mc:a')).toBeUndefined();
      expect((await client.version()).join(' ')).toMatch(/^VERSION 1\.6\.\d+/);
    } finally {
      client.shutdown();
    }
  });

  it('PHP Memcached: set/get/getMulti/cas/increment/delete', async () => {
    const script = `
      $m = new Memcached();
      $m->setOption(Memcached::OPT_COMPRESSION, false);
      $m->addServer('127.0.0.1', (int)$argv[1]);
      $ok = [];
      $ok[] = $m->set('php:a', 'hello') ? 'set' : 'set-failed ' . $m->getResultMessage();
      $ok[] = $m->set('php:arr', ['x' => 1, 'y' => [2, 3]]) ? 'set-array' : 'set-array-failed';
      $ok[] = $m->set('php:n', 5) ? 'set-int' : 'set-int-failed';
      $ok[] = $m->get('php:a') === 'hello' ? 'get' : 'get-failed';
      $ok[] = $m->get('php:arr') === ['x' => 1, 'y' => [2, 3]] ? 'get-array' : 'get-array-failed';
      $multi = $m->getMulti(['php:a', 'php:n', 'php:none']);
      $ok[] = $multi === ['php:a' => 'hello', 'php:n' => 5] ? 'getMulti' : 'getMulti-failed ' . json_encode($multi);
      $r = $m->get('php:a', null, Memcached::GET_EXTENDED);
      $ok[] = $m->cas($r['cas'], 'php:a', 'world') ? 'cas' : 'cas-failed ' . $m->getResultMessage();
      $ok[] = $m->cas($r['cas'], 'php:a', 'again') === false && $m->getResultCode() === Memcached::RES_DATA_EXISTS ? 'cas-exists' : 'cas-exists-failed';
      $ok[] = $m->get('php:a') === 'world' ? 'get-after-cas' : 'get-after-cas-failed';
      $ok[] = $m->increment('php:n', 10) === 15 ? 'increment' : 'increment-failed ' . $m->getResultMessage();
      $ok[] = $m->decrement('php:n', 100) === 0 ? 'decrement' : 'decrement-failed';
      $ok[] = $m->delete('php:a') ? 'delete' : 'delete-failed';
      $ok[] = $m->get('php:a') === false && $m->getResultCode() === Memcached::RES_NOTFOUND ? 'get-deleted' : 'get-deleted-failed';
      echo implode(' ', $ok), "\\n";
    `;
    const { stdout } = await run('php', ['-r', script, '--', String(server.port)], { timeout: 30_000 });
    expect(stdout.trim()).toBe('set set-array set-int get get-array getMulti cas cas-exists get-after-cas increment decrement delete get-deleted');
  });
});
