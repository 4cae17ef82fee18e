/**
 * Differential test of what flush_all leaves behind: memcached's LRU maintainer frees flushed items within
 * moments, so curr_items, bytes and `stats cachedump` drop (and reclaimed, expired_unfetched count them); after
 * `flush_all N` the same happens once the delay has passed. repcache must report the same. (memcached's cachedump
 * lists only its COLD LRU, which items reach a while after they are stored: repcache's listings before the flush are
 * checked on their own.)
 */
import { describe, expect, it } from 'vitest';
import { McClient } from '../support/mc-client.ts';
import { parseStats, useReferencePair, type CacheInstance } from './repcache-harness.ts';

const COUNTERS = ['curr_items', 'bytes', 'reclaimed', 'expired_unfetched', 'get_flushed'] as const;

class Side {
  readonly server: CacheInstance;
  #client: McClient | null = null;
  constructor(server: CacheInstance) { this.server = server; }

  async client(): Promise<McClient> {
    if (!this.#client || this.#client.isClosed) this.#client = await McClient.connect(this.server.port);
    return this.#client;
  }

  async stats(): Promise<Record<string, number>> {
    const s = parseStats(await (await this.client()).request('stats\r\n', 'END\r\n'));
    return Object.fromEntries(COUNTERS.map((n) => [n, Number(s.get(n))]));
  }

  async send(cmd: string, until = 'END\r\n'): Promise<string> {
    return (await this.client()).request(cmd, until);
  }

  /** Polls `stats` until curr_items is `n` (bounded), returns the counters then. */
  async settle(n: number, timeoutMs = 8000): Promise<Record<string, number>> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const s = await this.stats();
      if (s.curr_items === n || Date.now() > end) return s;
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  close(): void {
    this.#client?.close();
    this.#client = null;
  }
}

const stores = (prefix: string, n: number): string =>
  Array.from({ length: n }, (_, i) => `set ${prefix}${i} 0 0 5\r\nvalue\r\n`).join('');

describe('flush_all: items, bytes and cachedump drop as memcached\'s', () => {
  const pair = useReferencePair((server) => new Side(server), (side) => side.close());
  const both = <T>(f: (side: Side) => Promise<T>): Promise<[T, T]> => Promise.all([f(pair.memcached), f(pair.target)]);

  it('flush_all frees every item within moments, counted as reclaimed', async () => {
    const [m, t] = await both(async (side) => {
      await side.send('flush_all\r\n', 'OK\r\n');
      await side.settle(0);
      const before = await side.stats();
      await side.send(stores('k', 30) + 'get k3\r\n', 'END\r\n');
      const dump = side.server.kind === 'repcache' ? await side.send('stats cachedump 1 0\r\n') : '';
      const reply = await side.send('flush_all\r\n', 'OK\r\n');
      const after = await side.settle(0);
      const delta = Object.fromEntries(COUNTERS.map((n) => [n, after[n] - before[n]]));
      return { dump, reply, after: { curr_items: after.curr_items, bytes: after.bytes }, delta, dumpAfter: await side.send('stats cachedump 1 0\r\n') };
    });
    if (pair.target.server.kind === 'repcache') expect(t.dump.split('\r\n').length).toBe(32);
    expect({ ...t, dump: '' }).toEqual(m);
    expect(t.after).toEqual({ curr_items: 0, bytes: 0 });
    expect(t.dumpAfter).toBe('END\r\n');
  });

  it('flush_all N: listed until the delay has passed, then freed', async () => {
    const [m, t] = await both(async (side) => {
      await side.send('flush_all\r\n', 'OK\r\n');
      await side.settle(0);
      await side.send(stores('d', 5) + 'flush_all 2\r\nmn\r\n', 'MN\r\n');
      const during = { items: (await side.stats()).curr_items };
      const dump = side.server.kind === 'repcache' ? await side.send('stats cachedump 1 0\r\n') : '';
      await new Promise((r) => setTimeout(r, 2500));
      const after = await side.settle(0);
      return { during, items: after.curr_items, bytes: after.bytes, dump: await side.send('stats cachedump 1 0\r\n'), get: await side.send('get d1\r\n'), listed: dump };
    });
    expect(m.during.items).toBe(5);
    if (pair.target.server.kind === 'repcache') expect(t.listed.split('\r\n').length).toBe(7);
    t.listed = m.listed;
    expect(t).toEqual(m);
    expect(t.dump).toBe('END\r\n');
  });
});
