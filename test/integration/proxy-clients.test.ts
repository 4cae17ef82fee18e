/**
 * Real clients through repcache-proxy over three memcacheds: libmemcached's memccapable, npm memcached, PHP
 * Memcached; and PHP Memcached with client-side ketama (OPT_LIBKETAMA_COMPATIBLE) straight to the same three
 * servers finds every key the proxy placed, so both can share a cluster.
 */
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stopAll } from '../support/daemon.ts';
import { startMemcached, startProxy, type Proc } from './proxy-harness.ts';

const run = promisify(execFile);

type Cb<T> = (err: Error | undefined, result: T) => void;
interface ThirdEdenClient {
  set(key: string, value: unknown, lifetime: number, cb: Cb<boolean>): void;
  get(key: string, cb: Cb<unknown>): void;
  getMulti(keys: string[], cb: Cb<Record<string, unknown>>): void;
  incr(key: string, amount: number, cb: Cb<number | false>): void;
  del(key: string, cb: Cb<boolean>): void;
  end(): void;
}
const Memcached = createRequire(import.meta.url)('memcached') as new (loc: string, opts: object) => ThirdEdenClient;
const call = <T>(fn: (cb: Cb<T>) => void): Promise<T> => new Promise((res, rej) => fn((err, r) => (err ? rej(err) : res(r))));

describe('real clients through repcache-proxy', () => {
  const backends: Proc[] = [];
  let proxy: Proc;
  beforeAll(async () => {
    for (let i = 0; i < 3; i++) backends.push(await startMemcached());
    proxy = await startProxy(backends.flatMap((b) => ['-s', `127.0.0.1:${b.port}`]));
  });
  afterAll(stopAll);

  it('memccapable -a passes every ASCII test', async () => {
    const { stdout, stderr } = await run('memccapable', ['-a', '-h', '127.0.0.1', '-p', String(proxy.port)], { timeout: 60_000 })
      .catch((err: { stdout?: string; stderr?: string; message: string }) => {
        throw new Error(`memccapable failed: ${err.message}\n${err.stdout ?? ''}${err.stderr ?? ''}`);
      });
    const out = stdout + stderr;
    const results = [...out.matchAll(/^(ascii \S.*?)\s+\[(\w+)\]$/gm)].map((m) => [m[1]!.trim(), m[2]]);
    expect(results.length, out).toBeGreaterThanOrEqual(25);
    expect(results.filter(([, r]) => r !== 'pass'), out).toEqual([]);
  });

  it('npm memcached: set/get/getMulti/incr/del', async () => {
    const mc = new Memcached(`127.0.0.1:${proxy.port}`, { retries: 0, timeout: 3000, poolSize: 2 });
    try {
      const keys = Array.from({ length: 50 }, (_, i) => `npm:${i}`);
      for (const k of keys) expect(await call<boolean>((cb) => mc.set(k, { k }, 0, cb))).toBe(true);
      expect(await call((cb) => mc.getMulti([...keys, 'npm:none'], cb))).toEqual(Object.fromEntries(keys.map((k) => [k, { k }])));
      expect(await call((cb) => mc.set('npm:n', 41, 0, cb))).toBe(true);
      expect(await call((cb) => mc.incr('npm:n', 1, cb))).toBe(42);
      expect(await call((cb) => mc.del('npm:0', cb))).toBe(true);
      expect(await call((cb) => mc.get('npm:0', cb))).toBeUndefined();
    } finally {
      mc.end();
    }
  });

  it('PHP Memcached through the proxy, and with client-side ketama straight to the servers: the same placement', async () => {
    const script = `
      [$proxy, $servers] = [(int)$argv[1], json_decode($argv[2])];
      $p = new Memcached();
      $p->setOption(Memcached::OPT_COMPRESSION, false);
      $p->addServer('127.0.0.1', $proxy);
      $keys = [];
      for ($i = 0; $i < 500; $i++) $keys["php:$i"] = "v$i";
      $ok = [];
      $ok[] = $p->setMulti($keys) ? 'setMulti' : 'setMulti-failed ' . $p->getResultMessage();
      $ok[] = $p->getMulti(array_keys($keys)) === $keys ? 'getMulti' : 'getMulti-failed';
      $ok[] = $p->increment('php:none', 1) === false && $p->getResultCode() === Memcached::RES_NOTFOUND ? 'increment-miss' : 'increment-miss-failed';
      $ok[] = $p->touch('php:1', 100) ? 'touch' : 'touch-failed ' . $p->getResultMessage();
      $ok[] = preg_match('/^1\\.6\\./', $p->getVersion()["127.0.0.1:$proxy"]) ? 'version' : 'version-failed ' . json_encode($p->getVersion());
      $direct = new Memcached();
      $direct->setOption(Memcached::OPT_LIBKETAMA_COMPATIBLE, true);
      $direct->setOption(Memcached::OPT_COMPRESSION, false);
      foreach ($servers as $port) $direct->addServer('127.0.0.1', $port);
      $got = $direct->getMulti(array_keys($keys), Memcached::GET_PRESERVE_ORDER);
      $ok[] = $got === $keys ? 'ketama-agrees' : 'ketama-disagrees on ' . count(array_diff_assoc($keys, $got ?: []));
      $ok[] = $direct->set('php:from-client', 'x') && $p->get('php:from-client') === 'x' ? 'proxy-finds-client-keys' : 'proxy-misses';
      echo implode(' ', $ok), "\\n";
    `;
    const { stdout } = await run('php', ['-r', script, '--', String(proxy.port), JSON.stringify(backends.map((b) => b.port))], { timeout: 30_000 });
    expect(stdout.trim()).toBe('setMulti getMulti increment-miss touch version ketama-agrees proxy-finds-client-keys');
  });
});
