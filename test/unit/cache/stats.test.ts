import { describe, expect, it } from 'vitest';
import { CACHE_CLOCK_ORIGIN } from '../../../src/clock.ts';
import { getValue, k, MB, makeStore, set, STARTED, stat } from './helpers.ts';

describe('stats', () => {
  // Same commands as an observed memcached 1.6.18 session: set a:1 hello; set b 7 x; get a:1.
  it('matches memcached for a small session', () => {
    const { store } = makeStore();
    set(store, 'a:1', 'hello');
    set(store, 'b', 'x', 7);
    getValue(store, 'a:1');
    const general = store.statsGeneral();
    expect(stat(general, 'cmd_get')).toBe(1);
    expect(stat(general, 'cmd_set')).toBe(2);
    expect(stat(general, 'get_hits')).toBe(1);
    // bytes counts our layout (40-byte header + key + value), not memcached's 132: see the capacity test.
    expect(stat(general, 'bytes')).toBe(40 + 3 + 5 + 40 + 1 + 1);
    expect(stat(general, 'curr_items')).toBe(2);
    expect(stat(general, 'total_items')).toBe(2);
    expect(stat(general, 'limit_maxbytes')).toBe(64 * MB);
    expect(stat(general, 'hash_power_level')).toBe(16);
    const items = store.statsItems();
    expect(items.slice(0, 8)).toEqual([
      ['items:1:number', 2],
      ['items:1:number_hot', 0],
      ['items:1:number_warm', 0],
      ['items:1:number_cold', 2],
      ['items:1:age_hot', 0],
      ['items:1:age_warm', 0],
      ['items:1:age', 0],
      ['items:1:mem_requested', 132],
    ]);
    expect(items.map(([n]) => n.split(':')[2])).toEqual([
      'number', 'number_hot', 'number_warm', 'number_cold', 'age_hot', 'age_warm', 'age', 'mem_requested',
      'evicted', 'evicted_nonzero', 'evicted_time', 'outofmemory', 'tailrepairs', 'reclaimed',
      'expired_unfetched', 'evicted_unfetched', 'evicted_active', 'crawler_reclaimed', 'crawler_items_checked',
      'lrutail_reflocked', 'moves_to_cold', 'moves_to_warm', 'moves_within_lru', 'direct_reclaims',
      'hits_to_hot', 'hits_to_warm', 'hits_to_cold', 'hits_to_temp',
    ]);
    expect(store.statsSlabs()).toEqual([
      ['1:chunk_size', 96],
      ['1:chunks_per_page', 10922],
      ['1:total_pages', 1],
      ['1:total_chunks', 10922],
      ['1:used_chunks', 2],
      ['1:free_chunks', 10920],
      ['1:free_chunks_end', 0],
      ['1:get_hits', 1],
      ['1:cmd_set', 2],
      ['1:delete_hits', 0],
      ['1:incr_hits', 0],
      ['1:decr_hits', 0],
      ['1:cas_hits', 0],
      ['1:cas_badval', 0],
      ['1:touch_hits', 0],
      ['active_slabs', 1],
      ['total_malloced', MB],
    ]);
  });

  // Observed on memcached 1.6.18: set a; add a; replace zz; append zz; gat 100 a zz; gets a; cas a (bad);
  // cas a (good); cas qq; touch a; touch qq; incr a 5; decr qq 1; delete zz; set e -1; get e.
  it('counts hits and misses like memcached', () => {
    const { store } = makeStore();
    set(store, 'a', '1');
    store.store('add', k('a'), 0, 0, k('2'), 0n);
    store.store('replace', k('zz'), 0, 0, k('1'), 0n);
    store.store('append', k('zz'), 0, 0, k('1'), 0n);
    store.getAndTouch(k('a'), 100);
    store.getAndTouch(k('zz'), 100);
    const cas = store.itemCas(store.get(k('a')));
    store.store('cas', k('a'), 0, 0, k('3'), 99n);
    store.store('cas', k('a'), 0, 0, k('3'), cas);
    store.store('cas', k('qq'), 0, 0, k('1'), 1n);
    store.touch(k('a'), 10);
    store.touch(k('qq'), 10);
    expect(store.arith(k('a'), true, 5n)).toBe(8n);
    store.arith(k('qq'), false, 1n);
    store.delete(k('zz'));
    set(store, 'e', 'x', 0, -1);
    getValue(store, 'e');
    const expected: Record<string, number> = {
      cmd_get: 2, cmd_set: 8, cmd_touch: 4, get_hits: 1, get_misses: 1, get_expired: 1, get_flushed: 0,
      delete_misses: 1, delete_hits: 0, incr_misses: 0, incr_hits: 1, decr_misses: 1, decr_hits: 0,
      cas_misses: 1, cas_hits: 1, cas_badval: 1, touch_hits: 2, touch_misses: 2, bytes: 40 + 1 + 1, curr_items: 1,
      total_items: 3,
    };
    const general = Object.fromEntries(store.statsGeneral());
    for (const [name, value] of Object.entries(expected)) expect([name, general[name]]).toEqual([name, value]);
  });

  it('keeps bytes and sizes right when a value is replaced in its own chunk or moved to another class', () => {
    const { store } = makeStore({ trackSizes: true });
    set(store, 'a', 'x');
    set(store, 'a', 'xyz', 5);
    let general = Object.fromEntries(store.statsGeneral());
    expect([general.bytes, general.curr_items, general.total_items]).toEqual([40 + 1 + 3, 1, 2]);
    set(store, 'a', 'y'.repeat(200));
    general = Object.fromEntries(store.statsGeneral());
    expect([general.bytes, general.curr_items, general.total_items]).toEqual([40 + 1 + 200, 1, 3]);
    expect(store.statsSizes()).toEqual([['288', 1]]);
    expect(store.statsItems()[0]).toEqual(['items:6:number', 1]); // 40 + 1 + 200 bytes -> 304-byte chunks
    expect(getValue(store, 'a')).toBe('y'.repeat(200));
  });

  it('counts get_flushed and keeps contents across resetStats', () => {
    const { store } = makeStore();
    set(store, 'a', '1');
    store.flushAll(0);
    getValue(store, 'a');
    set(store, 'b', '1');
    expect(stat(store.statsGeneral(), 'get_flushed')).toBe(1);
    store.resetStats();
    const general = store.statsGeneral();
    expect(stat(general, 'get_flushed')).toBe(0);
    expect(stat(general, 'cmd_set')).toBe(0);
    expect(stat(general, 'total_items')).toBe(0);
    expect(stat(general, 'curr_items')).toBe(1);
    expect(stat(general, 'bytes')).toBe(40 + 1 + 1);
    expect(stat(store.statsItems(), 'items:1:number')).toBe(1);
  });

  it('reports sizes only with trackSizes', () => {
    expect(makeStore().store.statsSizes()).toEqual([['sizes_status', 'disabled']]);
    const { store } = makeStore({ trackSizes: true });
    set(store, 'a:1', 'hello');
    set(store, 'b', 'x', 7);
    set(store, 'c', 'y'.repeat(100));
    expect(store.statsSizes()).toEqual([
      ['96', 2],
      ['160', 1], // 48 + 8 + 2 + 102
    ]);
    store.delete(k('c'));
    expect(store.statsSizes()).toEqual([['96', 2]]);
  });

  it('reports evicted_time, evicted_nonzero and crawler counters', () => {
    const { store, clock } = makeStore({ memoryLimitBytes: MB });
    const v = 'v'.repeat(1000);
    for (let i = 0; i < 885; i++) set(store, `k${String(i).padStart(3, '0')}`, v, 0, i === 0 ? 1000 : 0);
    clock.advance(30);
    set(store, 'new', v);
    const cls = store.slabClassSizes.indexOf(1184);
    const items = store.statsItems();
    expect(stat(items, `items:${cls}:evicted_time`)).toBe(30);
    expect(stat(items, `items:${cls}:evicted_nonzero`)).toBe(1);
    expect(stat(items, `items:${cls}:age`)).toBe(30);
    set(store, 'short', 'x', 0, 5);
    clock.advance(5);
    expect(store.reclaimExpired(10_000)).toBe(1);
    const general = store.statsGeneral();
    expect(stat(general, 'crawler_reclaimed')).toBe(1);
    expect(stat(general, 'crawler_items_checked')).toBe(886);
  });
});

describe('flush_all sweep', () => {
  it('frees flushed items in steps, counted as reclaimed, and keeps what was stored after', () => {
    const { store, clock } = makeStore();
    for (let i = 0; i < 1000; i++) set(store, `k${i}`, 'v');
    getValue(store, 'k0');
    clock.advance(1);
    store.flushAll(0);
    expect(store.flushSweepDue()).toBe(true);
    set(store, 'after', 'v');
    let steps = 0;
    while (store.sweepFlushed(100)) steps++;
    expect(steps).toBeGreaterThan(3);
    expect(store.flushSweepDue()).toBe(false);
    const general = store.statsGeneral();
    expect([stat(general, 'curr_items'), stat(general, 'bytes')]).toEqual([1, 40 + 5 + 1]);
    expect([stat(general, 'reclaimed'), stat(general, 'expired_unfetched'), stat(general, 'crawler_reclaimed')]).toEqual([1000, 999, 0]);
    expect(getValue(store, 'after')).toBe('v');
    expect(store.cachedump(1, 0)).toEqual(['ITEM after [1 b; 0 s]']);
  });

  it('waits for a delayed flush to take effect', () => {
    const { store, clock } = makeStore();
    set(store, 'a', 'v');
    store.flushAll(2);
    expect(store.flushSweepDue()).toBe(false);
    expect(store.sweepFlushed(100)).toBe(true);
    expect(stat(store.statsGeneral(), 'curr_items')).toBe(1);
    expect(store.cachedump(1, 0)).toEqual(['ITEM a [1 b; 0 s]']);
    clock.advance(2);
    expect(store.cachedump(1, 0)).toEqual([]);
    expect(store.flushSweepDue()).toBe(true);
    while (store.sweepFlushed(100));
    expect(store.flushSweepDue()).toBe(false);
    expect(stat(store.statsGeneral(), 'curr_items')).toBe(0);
  });

  it('sees every item when the hash table doubles during the sweep', () => {
    const { store } = makeStore();
    for (let i = 0; i < 5000; i++) set(store, `old${i}`, 'v');
    store.flushAll(0);
    store.sweepFlushed(10);
    // A write after the flush in the same second is live (CAS watermark); enough of them double the table.
    for (let i = 0; i < 200_000; i++) set(store, `new${i}`, 'v');
    while (store.sweepFlushed(1000));
    expect(stat(store.statsGeneral(), 'curr_items')).toBe(200_000);
  });
});

describe('cachedump', () => {
  it('lists a class most recent first with value bytes and absolute exptime', () => {
    const { store } = makeStore();
    set(store, 'mk', 'ab');
    set(store, 'ttl', 'xyz', 0, 100);
    expect(store.cachedump(1, 0)).toEqual([`ITEM ttl [3 b; ${STARTED + CACHE_CLOCK_ORIGIN + 100} s]`, 'ITEM mk [2 b; 0 s]']);
    expect(store.cachedump(1, 1)).toEqual([`ITEM ttl [3 b; ${STARTED + CACHE_CLOCK_ORIGIN + 100} s]`]);
    expect(store.cachedump(2, 10)).toEqual([]);
    expect(store.cachedump(63, 10)).toEqual([]);
  });

  it('rejects illegal class ids', () => {
    const { store } = makeStore();
    for (const id of [0, -1, 64, 1.5]) expect(store.cachedump(id, 1)).toBe('BAD_CLASS');
  });
});
