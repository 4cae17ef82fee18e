/**
 * Differential test of the administrative commands (cache_memlimit, slabs, lru, lru_crawler, stats extstore):
 * the same lines go to Debian's memcached and to repcache, the replies must be the same bytes, and the
 * settings they change show the same in `stats settings`. A page moved by `slabs reassign` moves in both.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { bin, startProcess, stopAll } from '../support/daemon.ts';
import { McClient } from '../support/mc-client.ts';
import { parseStats, startCache, useReferencePair, type CacheInstance } from './repcache-harness.ts';
import { SENTINEL, SENTINEL_REPLY } from '../support/differential.ts';

class Runner {
  readonly server: CacheInstance;
  #client: McClient | null = null;
  constructor(server: CacheInstance) { this.server = server; }

  async run(stream: string): Promise<string> {
    this.#client ??= await McClient.connect(this.server.port);
    this.#client.send(stream + SENTINEL);
    return (await this.#client.readUntil((s) => s.endsWith(SENTINEL_REPLY), 10_000)).slice(0, -SENTINEL_REPLY.length);
  }

  async stats(sub = ''): Promise<Map<string, string>> {
    return parseStats(await this.run(`stats${sub ? ` ${sub}` : ''}\r\n`));
  }

  /** memcached moves a page in a background thread: waits until it is done. */
  async settled(): Promise<void> {
    const deadline = Date.now() + 10_000;
    while ((await this.stats()).get('slab_reassign_running') !== '0') {
      if (Date.now() > deadline) throw new Error('slab reassign still running');
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  close(): void {
    this.#client?.close();
    this.#client = null;
  }
}

const cases: Array<[string, string]> = [
  ['cache_memlimit', 'cache_memlimit\r\ncache_memlimit 0\r\ncache_memlimit 7\r\ncache_memlimit 8\r\ncache_memlimit x\r\ncache_memlimit -5\r\n'
    + 'cache_memlimit 32 noreply\r\ncache_memlimit 33 x\r\ncache_memlimit 1000000001\r\ncache_memlimit 4294967296\r\n'
    + 'cache_memlimit 99999999999999999999999\r\ncache_memlimit 64 1 2\r\ncache_memlimit 64\r\n'],
  ['slabs automove', 'slabs\r\nslabs automove\r\nslabs automove 0\r\nslabs automove 1\r\nslabs automove 2\r\nslabs automove 3\r\n'
    + 'slabs automove x\r\nslabs automove -1\r\nslabs automove 1 2\r\nslabs automove 4294967296\r\nslabs automove 01\r\n'
    + 'slabs automove 1 noreply\r\nslabs automove 5 noreply\r\nslabs automove x noreply\r\nslabs automove ratio\r\n'
    + 'slabs automove ratio 0.5\r\nslabs automove ratio x y\r\nslabs bogus\r\nslabs automove 1\r\n'],
  ['slabs reassign on an empty cache', 'slabs reassign\r\nslabs reassign 1\r\nslabs reassign 1 2\r\nslabs reassign 1 1\r\nslabs reassign 0 2\r\n'
    + 'slabs reassign -1 2\r\nslabs reassign 1 0\r\nslabs reassign 64 1\r\nslabs reassign 1 64\r\nslabs reassign 39 1\r\n'
    + 'slabs reassign 40 1\r\nslabs reassign x y\r\nslabs reassign 1x 2\r\nslabs reassign 1 2 noreply\r\nslabs reassign 1 -1\r\n'
    + 'slabs reassign 4294967297 2\r\nslabs reassign 2147483648 2\r\nslabs reassign +1 2\r\nslabs reassign 99999999999 1\r\n'
    + 'slabs reassign 99999999999999999999 1\r\nslabs reassign 64 64\r\n'],
  ['lru', 'lru\r\nlru mode\r\nlru mode flat\r\nlru mode segmented\r\nlru mode x\r\nlru temp_ttl\r\nlru temp_ttl 10\r\n'
    + 'lru temp_ttl -1\r\nlru temp_ttl x\r\nlru tune 10 20 0.1 2\r\nlru tune 50 40 0.1 2\r\nlru tune 10 20 0 2\r\n'
    + 'lru tune 10 20 x 2\r\nlru tune 10 20 0.1\r\nlru tune 10 20 0.1 2 noreply\r\nlru bogus\r\nlru noreply\r\nlru bogus noreply\r\n'
    + 'lru tune 20 40 0.2 2\r\n'],
  // memcached crawls in a thread: a crawl asked for while one runs is BUSY, which a pipeline may or may not meet
  ['lru_crawler crawl all', 'lru_crawler crawl all\r\n'],
  ['lru_crawler crawl 1', 'lru_crawler crawl 1\r\n'],
  ['lru_crawler crawl 1,,2', 'lru_crawler crawl 1,,2\r\n'],
  ['lru_crawler crawl ,', 'lru_crawler crawl ,\r\n'],
  ['lru_crawler', 'lru_crawler\r\nlru_crawler enable\r\nlru_crawler crawl\r\nlru_crawler crawl 0\r\nlru_crawler crawl 64\r\n'
    + 'lru_crawler crawl x\r\nlru_crawler crawl 1,x\r\nlru_crawler crawl -1\r\nlru_crawler crawl 1 2\r\nlru_crawler metadump\r\n'
    + 'lru_crawler mgdump all\r\nlru_crawler sleep 1000001\r\nlru_crawler sleep x\r\nlru_crawler tocrawl x\r\n'
    + 'lru_crawler bogus\r\nlru_crawler sleep 100\r\nlru_crawler tocrawl 0\r\n'],
  // (memcached's crawler thread stops in the background: the commands after it wait for a round trip)
  ['lru_crawler disable', 'lru_crawler disable\r\nlru_crawler disable\r\n'],
  ['lru_crawler crawl while disabled', 'lru_crawler crawl all\r\n'],
  ['lru_crawler metadump while disabled', 'lru_crawler metadump all\r\n'],
  ['lru_crawler enabled again', 'lru_crawler enable\r\n'],
  ['lru_crawler metadump with nothing before it', 'lru_crawler metadump 0\r\n'],
  ['lru_crawler metadump after another command', 'version\r\nlru_crawler metadump 0\r\n'],
  ['stats extstore and argument checks', 'stats extstore\r\nstats extstore x\r\nverbosity x\r\nverbosity\r\nverbosity x noreply\r\nverbosity 0\r\n'],
];

/** The settings the commands above change, as `stats settings` shows them. */
const CHANGED_SETTINGS = ['maxbytes', 'slab_automove', 'slab_automove_ratio', 'lru_crawler_sleep', 'lru_crawler_tocrawl',
  'lru_segmented', 'hot_lru_pct', 'warm_lru_pct', 'hot_max_factor', 'warm_max_factor', 'temp_lru', 'temporary_ttl'];

describe('repcache vs memcached: administrative commands', () => {
  const pair = useReferencePair((server) => new Runner(server), (runner) => runner.close());

  it.each(cases)('%s: same replies', async (name, stream) => {
    if (stream.includes('lru_crawler crawl') || stream.includes('lru_crawler metadump')) {
      // memcached answers BUSY while the crawl an earlier case started still runs (longer on a loaded machine)
      const deadline = Date.now() + 5000;
      while ((await pair.memcached.stats()).get('lru_crawler_running') === '1' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    }
    if (name.includes('while disabled')) {
      // memcached's `lru_crawler disable` says OK before its thread has stopped
      const deadline = Date.now() + 5000;
      while ((await pair.memcached.stats('settings')).get('lru_crawler') !== 'no' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    }
    const expected = await pair.memcached.run(stream);
    const actual = await pair.target.run(stream);
    expect(actual).toBe(expected);
  });

  it('settings changed by the commands show the same in stats settings', async () => {
    const stream = 'cache_memlimit 48\r\nslabs automove 2\r\nslabs automove ratio 0.5\r\nlru_crawler sleep 200\r\n'
      + 'lru_crawler tocrawl 7\r\nlru mode flat\r\nlru tune 10 30 0.5 3\r\nlru temp_ttl 100\r\n';
    expect(await pair.target.run(stream)).toBe(await pair.memcached.run(stream));
    const [m, t] = [await pair.memcached.stats('settings'), await pair.target.stats('settings')];
    const [mg, tg] = [await pair.memcached.stats(), await pair.target.stats()];
    for (const name of CHANGED_SETTINGS) expect(t.get(name), name).toBe(m.get(name));
    expect(tg.get('limit_maxbytes')).toBe(mg.get('limit_maxbytes'));
    const back = 'cache_memlimit 64\r\nslabs automove 1\r\nslabs automove ratio 0.8\r\nlru_crawler sleep 100\r\n'
      + 'lru_crawler tocrawl 0\r\nlru mode segmented\r\nlru tune 20 40 0.2 2\r\nlru temp_ttl -1\r\n';
    expect(await pair.target.run(back)).toBe(await pair.memcached.run(back));
  });

  it('lru_crawler crawl counts in lru_crawler_starts, as memcached\'s crawls do', async () => {
    for (const side of [pair.memcached, pair.target]) {
      const before = Number((await side.stats()).get('lru_crawler_starts'));
      expect(await side.run('lru_crawler crawl all\r\n')).toBe('OK\r\n');
      expect(Number((await side.stats()).get('lru_crawler_starts'))).toBeGreaterThan(before);
      await new Promise((r) => setTimeout(r, 50));
    }
  });

  it('slabs reassign moves a page between classes in both', async () => {
    // 3000 items of 1000 bytes: three pages of one class
    const value = 'v'.repeat(1000);
    let fill = '';
    for (let i = 0; i < 3000; i++) fill += `set page:${i} 0 0 ${value.length} noreply\r\n${value}\r\n`;
    for (const side of [pair.memcached, pair.target]) await side.run(fill);
    const items = await pair.memcached.stats('slabs');
    const cls = [...items.keys()].map((k) => /^(\d+):total_pages$/.exec(k)?.[1]).find((c) => c !== undefined && Number(items.get(`${c}:total_pages`)) >= 3)!;
    expect(cls, 'a class with three pages').toBeDefined();
    const dst = String(Number(cls) + 1);
    for (const stream of [`slabs reassign ${cls} ${dst}\r\n`, `slabs reassign ${cls} 0\r\n`, `slabs reassign 0 ${dst}\r\n`, 'slabs reassign -1 0\r\n']) {
      const m = await pair.memcached.run(stream);
      await pair.memcached.settled();
      expect(await pair.target.run(stream), stream).toBe(m);
    }
    const [ms, ts] = [await pair.memcached.stats('slabs'), await pair.target.stats('slabs')];
    for (const c of [cls, dst]) expect(ts.get(`${c}:total_pages`), `class ${c} pages`).toBe(ms.get(`${c}:total_pages`));
    const [mg, tg] = [await pair.memcached.stats(), await pair.target.stats()];
    expect(tg.get('slabs_moved')).toBe(mg.get('slabs_moved'));
    // a moved page's items are rescued into free chunks of their class while there are some, the rest evicted
    for (const name of ['curr_items', 'slab_reassign_rescues', 'slab_reassign_evictions_nomem']) expect(tg.get(name), name).toBe(mg.get(name));
    // what is left is readable, and the class that got the page stores into it
    const probe = `set after 0 0 ${value.length + 200}\r\n${'w'.repeat(value.length + 200)}\r\nget after\r\n`;
    expect(await pair.target.run(probe)).toBe(await pair.memcached.run(probe));
  });
});

/** The names `stats`, `stats settings` and `stats items` show once an item is stored (class ids as N). */
async function statNames(kind: 'memcached' | 'repcache', args: string[], extra = ''): Promise<Set<string>> {
  const server = await startCache(kind, args);
  const runner = new Runner(server);
  await runner.run(`set a 0 0 1\r\nx\r\n${extra}`);
  // memcached's crawler thread stops in the background after `lru_crawler disable`
  await new Promise((r) => setTimeout(r, extra ? 300 : 0));
  const text = await runner.run('stats\r\nstats settings\r\nstats items\r\n');
  runner.close();
  await server.daemon.stop();
  return new Set(text.split('\r\n').filter((l) => l.startsWith('STAT ')).map((l) => l.split(' ')[1].replace(/^items:\d+:/, 'items:N:')));
}

describe('repcache vs memcached: stats lines that depend on options', () => {
  afterAll(stopAll);
  const removed = (base: Set<string>, other: Set<string>) => [...base].filter((n) => !other.has(n)).sort();

  it.each([
    ['-o no_lru_crawler', ['-o', 'no_lru_crawler'], ''],
    ['-o no_lru_maintainer', ['-o', 'no_lru_maintainer'], ''],
    ['-o no_lru_crawler,no_lru_maintainer', ['-o', 'no_lru_crawler,no_lru_maintainer'], ''],
    ['lru_crawler disable', [], 'lru_crawler disable\r\n'],
  ])('%s removes the lines memcached removes', async (_, args, extra) => {
    const [mBase, rBase] = await Promise.all([statNames('memcached', []), statNames('repcache', [])]);
    const [mWith, rWith] = await Promise.all([statNames('memcached', args, extra), statNames('repcache', args, extra)]);
    expect(removed(rBase, rWith)).toEqual(removed(mBase, mWith));
    expect(removed(rWith, rBase)).toEqual(removed(mWith, mBase));
  });
});

describe('repcache vs memcached: -R and conn_yields', () => {
  afterAll(stopAll);

  it('a pipeline of N requests yields as often as memcached\'s, with the same replies', async () => {
    const servers = await Promise.all([startCache('memcached', ['-R', '5']), startCache('repcache', ['-R', '5'])]);
    const runners = servers.map((s) => new Runner(s));
    for (const n of [1, 5, 6, 10, 11, 20, 100, 1000]) {
      const results = await Promise.all(runners.map(async (r) => {
        const before = Number((await r.stats()).get('conn_yields'));
        // (the sentinel after the stream is a set and a get: two more requests)
        const replies = await r.run(Array.from({ length: n }, (_, i) => `get k${i}\r\n`).join(''));
        return [Number((await r.stats()).get('conn_yields')) - before, replies] as const;
      }));
      expect(results[1], `${n} requests`).toEqual(results[0]);
    }
    for (const r of runners) r.close();
  });

  it('-R 0 and -R x are refused', async () => {
    for (const bad of ['0', 'x', '-1']) {
      const d = startProcess(bin('repcache'), ['-R', bad]);
      expect(await d.exited, bad).toBe(1);
      expect(d.output()).toContain('Number of requests per event must be greater than 0');
    }
  });
});
