import { describe, expect, it } from 'vitest';
import type { SlabStore } from '../../../src/cache/store.ts';
import { getValue, k, MB, makeStore, set, stat } from './helpers.ts';

const SMALL = 'a'.repeat(1000); // 1184-byte class, 885 per page
const LARGE = 'b'.repeat(2000); // 2320-byte class, 451 per page

/** Every class's used chunks match its item count and every scanned item reads back intact. */
function checkConsistent(store: SlabStore): void {
  const slabs = Object.fromEntries(store.statsSlabs());
  const items = Object.fromEntries(store.statsItems());
  let total = 0;
  for (let cls = 1; cls < store.slabClassSizes.length - 1; cls++) {
    const used = Number(slabs[`${cls}:used_chunks`] ?? 0);
    expect([cls, used]).toEqual([cls, Number(items[`items:${cls}:number`] ?? 0)]);
    total += used;
  }
  expect(total).toBe(store.itemCount);
  let scanned = 0;
  let cursor = 0;
  do {
    cursor = store.scan(cursor, 1000, (h) => {
      const key = store.itemKey(h).toString();
      const out = Buffer.alloc(store.itemValueLength(h));
      store.copyValue(h, out, 0);
      expect(out.toString()).toBe(key.startsWith('s') ? SMALL : LARGE);
      scanned++;
    });
  } while (cursor !== 0);
  expect(scanned).toBe(store.itemCount);
}

describe('slab page rebalancing (automove)', () => {
  it('moves pages from a class with old items to a class that evicts young ones', () => {
    const { store, clock } = makeStore({ memoryLimitBytes: 4 * MB });
    for (let i = 0; i < 4 * 885; i++) set(store, `s${i}`, SMALL);
    const smallCls = store.slabClassSizes.indexOf(1184);
    const largeCls = store.slabClassSizes.indexOf(2320);
    expect(stat(store.statsSlabs(), `${smallCls}:total_pages`)).toBe(4);
    clock.advance(100);
    for (let second = 0; second < 3; second++) {
      for (let i = 0; i < 500; i++) set(store, `l${second}:${i}`, LARGE);
      clock.advance(1);
    }
    const slabs = store.statsSlabs();
    // One move per second while the large class evicts; the small class keeps its last page.
    expect(stat(slabs, `${smallCls}:total_pages`)).toBe(1);
    expect(stat(slabs, `${largeCls}:total_pages`)).toBe(4); // its own first page + 3 moved
    expect(stat(slabs, 'total_malloced')).toBe(5 * MB);
    const general = store.statsGeneral();
    expect(stat(general, 'slabs_moved')).toBe(3);
    expect(store.replica.layoutVersion).toBe(3); // write hints from before a move are not trusted after it
    expect(stat(general, 'slab_reassign_evictions_nomem')).toBe(3 * 885);
    expect(stat(general, 'evictions')).toBe(0);
    expect(getValue(store, 'l2:499')).toBe(LARGE);
    checkConsistent(store);
  });

  it('takes a page of free chunks without evicting anything', () => {
    const { store, clock } = makeStore({ memoryLimitBytes: 3 * MB });
    for (let i = 0; i < 3 * 885; i++) set(store, `s${i}`, SMALL);
    for (let i = 0; i < 2 * 885; i++) store.delete(k(`s${i}`));
    for (let i = 0; i < 452; i++) set(store, `l${i}`, LARGE);
    clock.advance(1);
    set(store, 'l452', LARGE);
    const general = store.statsGeneral();
    expect(stat(general, 'slabs_moved')).toBe(1);
    expect(stat(general, 'slab_reassign_evictions_nomem')).toBe(0);
    expect(stat(general, 'evictions')).toBe(0);
    expect(store.itemCount).toBe(885 + 453);
    checkConsistent(store);
  });

  it('does not move pages when ages are alike, or with -M', () => {
    for (const evictions of [true, false]) {
      const { store, clock } = makeStore({ memoryLimitBytes: 2 * MB, evictions });
      for (let i = 0; i < 2 * 885; i++) set(store, `s${i}`, SMALL);
      for (let i = 0; i < 460; i++) set(store, `l${i}`, LARGE);
      clock.advance(evictions ? 0 : 100);
      for (let i = 460; i < 470; i++) set(store, `l${i}`, LARGE);
      expect(stat(store.statsGeneral(), 'slabs_moved')).toBe(0);
      checkConsistent(store);
    }
  });

  it('reuses a moved page for chunked items of the largest class', () => {
    const { store, clock } = makeStore({ memoryLimitBytes: 4 * MB });
    for (let i = 0; i < 4 * 885; i++) set(store, `s${i}`, SMALL);
    clock.advance(100);
    const big = Buffer.alloc(900_000, 'z');
    for (let i = 0; i < 4; i++) {
      expect(set(store, `big${i}`, big)).toBe('STORED');
      clock.advance(1);
    }
    expect(stat(store.statsGeneral(), 'slabs_moved')).toBeGreaterThan(0);
    expect(getValue(store, 'big3')).toBe(big.toString());
  });
});

describe('slabs reassign', () => {
  it('answers memcached\'s outcomes for the same, bad and spare-less classes', () => {
    const { store } = makeStore();
    const largest = store.slabClassSizes.length - 1;
    expect(store.reassignSlabPage(3, 3)).toBe('SAME');
    expect(store.reassignSlabPage(largest + 1, 3)).toBe('BADCLASS');
    expect(store.reassignSlabPage(3, largest + 1)).toBe('BADCLASS');
    expect(store.reassignSlabPage(-2, 3)).toBe('BADCLASS');
    expect(store.reassignSlabPage(-1, 3)).toBe('BADCLASS'); // no class has a spare page
    expect(store.reassignSlabPage(1, 2)).toBe('NOSPARE');
    expect(store.reassignSlabPage(0, 2)).toBe('NOSPARE');
    set(store, 'one', SMALL);
    expect(store.reassignSlabPage(store.slabClassSizes.indexOf(1184), 2)).toBe('NOSPARE'); // one page is not spare
  });

  it('moves a page to another class, its items evicted, and the rest stay intact', () => {
    const { store } = makeStore({ memoryLimitBytes: 8 * MB });
    for (let i = 0; i < 3 * 885; i++) set(store, `s${i}`, SMALL);
    for (let i = 0; i < 10; i++) set(store, `l${i}`, LARGE);
    const smallCls = store.slabClassSizes.indexOf(1184);
    const largeCls = store.slabClassSizes.indexOf(2320);
    expect(store.reassignSlabPage(smallCls, largeCls)).toBe('OK');
    const slabs = store.statsSlabs();
    expect(stat(slabs, `${smallCls}:total_pages`)).toBe(2);
    expect(stat(slabs, `${largeCls}:total_pages`)).toBe(2);
    expect(stat(store.statsGeneral(), 'slabs_moved')).toBe(1);
    expect(stat(store.statsGeneral(), 'slab_reassign_evictions_nomem')).toBe(885);
    expect(store.itemCount).toBe(2 * 885 + 10);
    // the large class's own page still has room to carve: the moved page's chunks join its free list
    expect(stat(slabs, `${largeCls}:free_chunks`)).toBe(2 * 451 - 10);
    for (let i = 10; i < 900; i++) set(store, `l${i}`, LARGE);
    expect(stat(store.statsGeneral(), 'evictions')).toBe(0);
    expect(getValue(store, 'l899')).toBe(LARGE);
    checkConsistent(store);
  });

  it('rescues a moved page\'s items into free chunks of their class while there are some, as memcached', () => {
    const { store } = makeStore({ memoryLimitBytes: 8 * MB });
    for (let i = 0; i < 2 * 885 + 400; i++) set(store, `s${i}`, SMALL);
    const smallCls = store.slabClassSizes.indexOf(1184);
    expect(store.reassignSlabPage(smallCls, 0)).toBe('OK');
    const general = store.statsGeneral();
    expect(stat(general, 'slab_reassign_rescues')).toBe(885 - 400);
    expect(stat(general, 'slab_reassign_evictions_nomem')).toBe(400);
    expect(store.itemCount).toBe(2 * 885);
    expect(stat(store.statsSlabs(), `${smallCls}:total_pages`)).toBe(2);
    expect(stat(store.statsSlabs(), `${smallCls}:free_chunks`)).toBe(0);
    // the first page held s0..s884, rescued in page order while free chunks lasted
    expect(getValue(store, 's0')).toBe(SMALL);
    expect(getValue(store, 's484')).toBe(SMALL);
    expect(getValue(store, 's485')).toBeNull();
    expect(getValue(store, 's884')).toBeNull();
    checkConsistent(store);
    // the class goes on: a new item evicts, nothing is corrupt
    for (let i = 0; i < 100; i++) set(store, `s-new${i}`, SMALL);
    checkConsistent(store);
  });

  it('gives pages to the global pool (class 0), which a class that needs a page draws from', () => {
    const { store } = makeStore({ memoryLimitBytes: 3 * MB });
    for (let i = 0; i < 3 * 885; i++) set(store, `s${i}`, SMALL);
    const smallCls = store.slabClassSizes.indexOf(1184);
    const largeCls = store.slabClassSizes.indexOf(2320);
    expect(store.reassignSlabPage(smallCls, 0)).toBe('OK');
    expect(store.reassignSlabPage(0, largeCls)).toBe('NOSPARE'); // the pool needs two pages to spare one, as in memcached
    expect(store.reassignSlabPage(-1, 0)).toBe('OK'); // picks the small class
    expect(stat(store.statsSlabs(), `${smallCls}:total_pages`)).toBe(1);
    expect(stat(store.statsGeneral(), 'slab_global_page_pool')).toBe(2);
    // the memory limit is reached: the large class gets its pages from the pool
    for (let i = 0; i < 2 * 451; i++) set(store, `l${i}`, LARGE);
    expect(stat(store.statsSlabs(), `${largeCls}:total_pages`)).toBe(2);
    expect(stat(store.statsSlabs(), 'total_malloced')).toBe(3 * MB);
    expect(stat(store.statsGeneral(), 'slab_global_page_pool')).toBe(0);
    expect(stat(store.statsGeneral(), 'evictions')).toBe(0);
    checkConsistent(store);
  });

  it('slabs automove 0 stops the page moves of a class that runs out of chunks', () => {
    const { store, clock } = makeStore({ memoryLimitBytes: 4 * MB });
    store.setSlabAutomove(0);
    for (let i = 0; i < 4 * 885; i++) set(store, `s${i}`, SMALL);
    clock.advance(100);
    for (let second = 0; second < 3; second++) {
      for (let i = 0; i < 500; i++) set(store, `l${second}:${i}`, LARGE);
      clock.advance(1);
    }
    expect(stat(store.statsGeneral(), 'slabs_moved')).toBe(0);
    expect(stat(store.statsSlabs(), `${store.slabClassSizes.indexOf(1184)}:total_pages`)).toBe(4);
  });

  it('cache_memlimit: a lower limit stops new pages; above the start-up limit it is refused', () => {
    const { store } = makeStore({ memoryLimitBytes: 8 * MB });
    expect(store.setMemoryLimit(16 * MB)).toBe(false);
    expect(store.setMemoryLimit(2 * MB)).toBe(true);
    for (let i = 0; i < 3 * 885; i++) set(store, `s${i}`, SMALL);
    expect(stat(store.statsSlabs(), 'total_malloced')).toBe(2 * MB);
    expect(stat(store.statsItems(), `items:${store.slabClassSizes.indexOf(1184)}:evicted`)).toBeGreaterThan(0);
    expect(store.setMemoryLimit(8 * MB)).toBe(true);
  });
});
