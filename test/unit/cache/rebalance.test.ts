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
