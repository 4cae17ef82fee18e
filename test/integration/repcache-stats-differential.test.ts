/**
 * Differential tests of counters in `stats`: what each command counts (meta commands' cmd_meta, ma and mg with N on a
 * miss), and what flush_all leaves behind: memcached's LRU maintainer frees flushed items within
 * moments, so curr_items, bytes and `stats cachedump` drop (and reclaimed, expired_unfetched count them); after
 * `flush_all N` the same happens once the delay has passed. repcache must report the same. (memcached's cachedump
 * lists only its COLD LRU, which items reach a while after they are stored: repcache's listings before the flush are
 * checked on their own.)
 */
import { describe, expect, it } from 'vitest';
import { McClient } from '../support/mc-client.ts';
import { parseStats, useReferencePair, type CacheInstance } from './repcache-harness.ts';

const COUNTERS = ['curr_items', 'bytes', 'reclaimed', 'expired_unfetched', 'get_flushed'] as const;
/** The counters a command may move (general stats, with stats slabs' per-class command counts summed). */
const COMMAND_COUNTERS = /^(cmd_|get_|incr_|decr_|delete_|touch_|cas_|total_items|curr_items|store_)/;
const SLAB_COUNTERS = /^\d+:(get_hits|cmd_set|delete_hits|incr_hits|decr_hits|cas_hits|cas_badval|touch_hits)$/;

/** Each stream runs after a flush on fresh keys; the counters it moved must be memcached's. */
const counterCases: Array<[string, string]> = [
  ['cmd_meta counts me only', 'mn\r\nmg a v\r\nms a 1\r\nx\r\nmg a v\r\nme a\r\nmd a q\r\nme a\r\nme YQ== b\r\nme Y b\r\nme\r\nmg\r\nmg a ?\r\nmn\r\n'],
  ['ma on a miss counts a miss', 'ma m1\r\nma m2 MD\r\nma m3 q\r\nmn\r\n'],
  ['ma with N on a miss counts no miss and no set', 'ma v1 N0\r\nma v1 N0 J5 v\r\nma v2 N0 MD v\r\nma v3 N0 J9 q\r\nmn\r\n'],
  ['mg with N on a miss counts no set', 'mg g1 N30 v\r\nmg g1 N30 v\r\nmg g2 N30 s q\r\nmn\r\n'],
  ['ma on a hit, on a non-number, with a bad CAS', 'set n 0 0 1\r\n5\r\nset t 0 0 1\r\nx\r\nma n v\r\nma n MD\r\nma t\r\nma n C1\r\nmn\r\n'],
];

class Side {
  readonly server: CacheInstance;
  #client: McClient | null = null;
  constructor(server: CacheInstance) { this.server = server; }

  async client(): Promise<McClient> {
    if (!this.#client || this.#client.isClosed) this.#client = await McClient.connect(this.server.port);
    return this.#client;
  }

  /** The command counters a stream moved (after stats reset), stats slabs' per-class ones summed over classes. */
  async counters(stream: string): Promise<Record<string, number>> {
    await this.send('flush_all\r\n', 'OK\r\n');
    await this.settle(0);
    await this.send('stats reset\r\n', 'RESET\r\n');
    await this.send(stream, 'MN\r\n');
    const general = parseStats(await this.send('stats\r\n'));
    const slabs = parseStats(await this.send('stats slabs\r\n'));
    const out: Record<string, number> = {};
    for (const [n, v] of general) if (COMMAND_COUNTERS.test(n)) out[n] = Number(v);
    for (const [n, v] of slabs) {
      if (!SLAB_COUNTERS.test(n)) continue;
      const name = `slabs:${n.split(':')[1]}`;
      out[name] = (out[name] ?? 0) + Number(v);
    }
    return out;
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

describe('stats counters as memcached\'s', () => {
  const pair = useReferencePair((server) => new Side(server), (side) => side.close());
  const both = <T>(f: (side: Side) => Promise<T>): Promise<[T, T]> => Promise.all([f(pair.memcached), f(pair.target)]);

  it.each(counterCases)('%s', async (_, stream) => {
    const [m, t] = await both((side) => side.counters(stream));
    expect(t).toEqual(m);
  });

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
