/** A real binary-protocol client (npm memjs) against bin/repcache. */
import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stopAll } from '../support/daemon.ts';
import { startCache } from './repcache-harness.ts';

interface MemjsClient {
  get(key: string): Promise<{ value: Buffer | null; flags: Buffer | null }>;
  set(key: string, value: string, options: { expires?: number }): Promise<boolean>;
  add(key: string, value: string, options: { expires?: number }): Promise<boolean>;
  replace(key: string, value: string, options: { expires?: number }): Promise<boolean>;
  delete(key: string): Promise<boolean>;
  increment(key: string, amount: number, options: { initial?: number; expires?: number }): Promise<{ success: boolean; value: number | null }>;
  decrement(key: string, amount: number, options: { initial?: number; expires?: number }): Promise<{ success: boolean; value: number | null }>;
  append(key: string, value: string): Promise<boolean>;
  touch(key: string, expires: number): Promise<boolean>;
  flush(): Promise<Record<string, boolean | Error>>;
  stats(callback: (err: Error | null, server: string, stats: Record<string, string> | null) => void): void;
  close(): void;
}

interface Memjs {
  Client: { create(servers: string, options?: Record<string, unknown>): MemjsClient };
}

function loadMemjs(): Memjs {
  try {
    return createRequire(import.meta.url)('memjs') as Memjs;
  } catch (err) {
    throw new Error(`npm memjs is not installed (add it with: npm install --save-dev memjs@1.3.2): ${String(err)}`);
  }
}

describe('memjs (binary protocol client) against repcache', () => {
  let client: MemjsClient;
  beforeAll(async () => {
    const memjs = loadMemjs();
    const { port } = await startCache('repcache', ['-t', '1']);
    client = memjs.Client.create(`127.0.0.1:${port}`, { retries: 0, timeout: 2, logger: { log() {} } });
  });
  afterAll(async () => {
    client?.close();
    await stopAll();
  });

  it('set, get, add, replace, delete', async () => {
    expect(await client.set('mj:a', 'hello', { expires: 0 })).toBe(true);
    const got = await client.get('mj:a');
    expect(got.value?.toString()).toBe('hello');
    expect(await client.get('mj:missing')).toEqual({ value: null, flags: null });
    expect(await client.add('mj:a', 'x', {})).toBe(false);
    expect(await client.replace('mj:a', 'world', {})).toBe(true);
    expect((await client.get('mj:a')).value?.toString()).toBe('world');
    expect(await client.delete('mj:a')).toBe(true);
    expect(await client.delete('mj:a')).toBe(false);
  });

  it('increment and decrement, with an initial value', async () => {
    expect(await client.increment('mj:n', 5, { initial: 10 })).toEqual({ success: true, value: 10 });
    expect(await client.increment('mj:n', 5, {})).toEqual({ success: true, value: 15 });
    expect(await client.decrement('mj:n', 20, {})).toEqual({ success: true, value: 0 });
  });

  it('append (memjs 1.3.2 sends its prepend as an append too)', async () => {
    await client.set('mj:s', 'mid', {});
    expect(await client.append('mj:s', '>')).toBe(true);
    expect((await client.get('mj:s')).value?.toString()).toBe('mid>');
    // memcached answers NOT_STORED, which memjs reports as an error
    await expect(client.append('mj:none', 'x')).rejects.toThrow(/not stored/i);
  });

  it('touch', async () => {
    await client.set('mj:t', 'v', {});
    expect(await client.touch('mj:t', 100)).toBe(true);
    expect(await client.touch('mj:none', 100)).toBe(false);
  });

  it('stats', async () => {
    const stats = await new Promise<Record<string, string>>((resolve, reject) => {
      client.stats((err, _server, s) => (err || !s ? reject(err ?? new Error('no stats')) : resolve(s)));
    });
    expect(stats.version).toBe('1.6.18');
    expect(Number(stats.cmd_get)).toBeGreaterThan(0);
    expect(Number(stats.curr_items)).toBeGreaterThan(0);
  });

  it('flush empties the cache', async () => {
    await client.set('mj:f', 'v', {});
    const res = await client.flush();
    expect(Object.values(res)).toEqual([true]);
    expect((await client.get('mj:f')).value).toBeNull();
  });
});
