import { describe, expect, it } from 'vitest';
import { getValue, k, MB, makeStore, set, stat } from './helpers.ts';

/** Items with a 4-byte key and 1000-byte value: 1044 bytes -> the 1184-byte class, 885 per 1 MB page. */
const V1000 = 'v'.repeat(1000);
const PER_PAGE_1184 = Math.floor(MB / 1184);
const keyOf = (i: number) => `k${String(i).padStart(3, '0')}`;

describe('eviction', () => {
  it('evicts from the LRU tail of the class that needs a chunk, counting evictions', () => {
    const { store } = makeStore({ memoryLimitBytes: MB });
    for (let i = 0; i < PER_PAGE_1184; i++) expect(set(store, keyOf(i), V1000)).toBe('STORED');
    expect(store.itemCount).toBe(PER_PAGE_1184);
    expect(set(store, 'k999', V1000)).toBe('STORED');
    expect(store.itemCount).toBe(PER_PAGE_1184);
    expect(getValue(store, keyOf(0))).toBeNull();
    expect(getValue(store, keyOf(1))).toBe(V1000);
    const general = store.statsGeneral();
    expect(stat(general, 'evictions')).toBe(1);
    expect(stat(general, 'evicted_unfetched')).toBe(1);
    const items = store.statsItems();
    const cls = store.slabClassSizes.indexOf(1184);
    expect(stat(items, `items:${cls}:evicted`)).toBe(1);
  });

  it('tells its eviction listener of each eviction only while it wants them, then with the evicted key', () => {
    const { store } = makeStore({ memoryLimitBytes: MB });
    let wanted = false;
    let asked = 0;
    const heard: string[] = [];
    store.onEviction = {
      wanted: () => (asked++, wanted),
      evicted: (key, fetched, ttl, _lastAccess, _clsid, size) => heard.push(`${key.toString()} ${fetched} ${ttl} ${size}`),
    };
    for (let i = 0; i < PER_PAGE_1184; i++) set(store, keyOf(i), V1000);
    expect(set(store, 'k998', V1000)).toBe('STORED');
    expect([asked, heard]).toEqual([1, []]);
    wanted = true;
    expect(set(store, 'k999', V1000)).toBe('STORED');
    expect([asked, heard]).toEqual([2, [`${keyOf(1)} false -1 1000`]]);
    expect(stat(store.statsGeneral(), 'evictions')).toBe(2);
  });

  it('keeps recently fetched items (second chance) and evicts in LRU order', () => {
    const { store } = makeStore({ memoryLimitBytes: MB });
    for (let i = 0; i < PER_PAGE_1184; i++) set(store, keyOf(i), V1000);
    expect(getValue(store, keyOf(0))).toBe(V1000);
    expect(getValue(store, keyOf(1))).toBe(V1000);
    for (let i = 0; i < 3; i++) set(store, `new${i}`, V1000);
    expect(getValue(store, keyOf(0))).toBe(V1000);
    expect(getValue(store, keyOf(1))).toBe(V1000);
    expect(getValue(store, keyOf(2))).toBeNull();
    expect(getValue(store, keyOf(3))).toBeNull();
    expect(getValue(store, keyOf(4))).toBeNull();
    expect(getValue(store, keyOf(5))).toBe(V1000);
    // the two second chances are memcached's COLD -> WARM moves
    expect(stat(store.statsGeneral(), 'moves_to_warm')).toBe(2);
    expect(stat(store.statsItems(), `items:${store.slabClassSizes.indexOf(1184)}:moves_to_warm`)).toBe(2);
  });

  it('is per class: other classes keep their items, each class gets a first page', () => {
    const { store } = makeStore({ memoryLimitBytes: MB });
    for (let i = 0; i < PER_PAGE_1184; i++) set(store, keyOf(i), V1000);
    let stored = 0;
    for (let i = 0; i < 20_000; i++) if (set(store, `s${i}`, 'x') === 'STORED') stored++;
    expect(stored).toBe(20_000);
    expect(store.itemCount).toBeLessThan(PER_PAGE_1184 + 20_000);
    for (let i = 0; i < PER_PAGE_1184; i++) expect(getValue(store, keyOf(i))).toBe(V1000);
    expect(getValue(store, 's19999')).toBe('x');
    expect(getValue(store, 's0')).toBeNull();
    expect(stat(store.statsSlabs(), 'active_slabs')).toBe(2);
    expect(stat(store.statsSlabs(), 'total_malloced')).toBe(2 * MB);
  });

  it('reclaims expired tail items instead of evicting', () => {
    const { store, clock } = makeStore({ memoryLimitBytes: MB });
    for (let i = 0; i < PER_PAGE_1184; i++) set(store, keyOf(i), V1000, 0, i < 2 ? 10 : 0);
    clock.advance(10);
    set(store, 'fresh', V1000);
    const general = store.statsGeneral();
    expect(stat(general, 'evictions')).toBe(0);
    expect(stat(general, 'reclaimed')).toBe(1);
    expect(stat(general, 'expired_unfetched')).toBe(1);
  });

  it('with evictions disabled (-M) answers NO_MEMORY, still reclaims expired items', () => {
    const { store, clock } = makeStore({ memoryLimitBytes: MB, evictions: false });
    for (let i = 0; i < PER_PAGE_1184; i++) set(store, keyOf(i), V1000, 0, i < 2 ? 5 : 0);
    expect(set(store, 'more', V1000)).toBe('NO_MEMORY');
    clock.advance(5);
    expect(set(store, 'more', V1000)).toBe('STORED');
    expect(set(store, 'more2', V1000)).toBe('STORED');
    expect(store.itemCount).toBe(PER_PAGE_1184);
    // A same-class overwrite reuses the item's own chunk.
    expect(set(store, keyOf(5), V1000.slice(0, 990))).toBe('STORED');
    expect(store.store('add', k('another'), 0, 0, k(V1000), 0n)).toBe('NO_MEMORY');
    expect(stat(store.statsGeneral(), 'store_no_memory')).toBe(2);
    expect(stat(store.statsGeneral(), 'evictions')).toBe(0);
    const cls = store.slabClassSizes.indexOf(1184);
    expect(stat(store.statsItems(), `items:${cls}:outofmemory`)).toBe(2);
  });

  it('drops the old value when a set fails for lack of memory (like memcached)', () => {
    const { store } = makeStore({ memoryLimitBytes: MB, evictions: false });
    const a = Buffer.alloc(300_000, 'a'); // 315872-byte class, 3 per page
    const b = Buffer.alloc(380_000, 'b'); // 394840-byte class, 2 per page
    for (const key of ['a1', 'a2', 'a3']) expect(set(store, key, a)).toBe('STORED');
    for (const key of ['b1', 'b2']) expect(set(store, key, b)).toBe('STORED'); // first page of a class is always granted
    expect(set(store, 'b3', b)).toBe('NO_MEMORY');
    expect(set(store, 'a1', b)).toBe('NO_MEMORY');
    expect(getValue(store, 'a1')).toBeNull();
    expect(set(store, 'a1', a)).toBe('STORED');
    expect(stat(store.statsSlabs(), 'total_malloced')).toBe(2 * MB);
  });
});

describe('too large and chunked items', () => {
  it('rejects items over -I by memcached size and unlinks the old value of a set', () => {
    const { store } = makeStore();
    const limit = MB - (48 + 8 + 3 + 2); // largest value for a 2-byte key with flags 0
    set(store, 'ok', 'old');
    expect(set(store, 'ok', Buffer.alloc(limit + 1))).toBe('TOO_LARGE');
    expect(getValue(store, 'ok')).toBeNull();
    expect(set(store, 'ok', Buffer.alloc(limit))).toBe('STORED');
    expect(set(store, 'fl', Buffer.alloc(limit), 1)).toBe('TOO_LARGE');
    expect(store.store('append', k('ok'), 0, 0, k('x'), 0n)).toBe('TOO_LARGE');
    expect(stat(store.statsGeneral(), 'store_too_large')).toBe(3);
  });

  it('stores chunked values byte-exact, appends across chunk borders, frees every chunk', () => {
    const { store } = makeStore();
    const big = Buffer.alloc(1_000_000);
    for (let i = 0; i < big.length; i++) big[i] = (i * 31 + 7) & 0xff;
    expect(set(store, 'big', big)).toBe('STORED');
    const h = store.get(k('big'));
    const out = Buffer.alloc(big.length + 8, 0xee);
    expect(store.copyValue(h, out, 8)).toBe(big.length);
    expect(out.subarray(8).equals(big)).toBe(true);
    const small = Buffer.alloc(600_000, 'a');
    set(store, 'mid', small);
    expect(store.store('append', k('mid'), 0, 0, Buffer.alloc(1000, 'b'), 0n)).toBe('STORED');
    expect(store.store('prepend', k('mid'), 0, 0, Buffer.alloc(1000, 'c'), 0n)).toBe('STORED');
    expect(getValue(store, 'mid')).toBe('c'.repeat(1000) + 'a'.repeat(600_000) + 'b'.repeat(1000));
    // A chunked value built by appending to a small one.
    set(store, 'grow', 'x'.repeat(500_000));
    store.store('append', k('grow'), 0, 0, Buffer.alloc(100_000, 'y'), 0n);
    expect(getValue(store, 'grow')).toBe('x'.repeat(500_000) + 'y'.repeat(100_000));
    for (const key of ['big', 'mid', 'grow']) expect(store.delete(k(key))).toBe(true);
    const largest = store.slabClassSizes.length - 1;
    expect(stat(store.statsSlabs(), `${largest}:used_chunks`)).toBe(0);
  });

  it('copies an item\'s key then its value, chunked or not, the way a replication frame carries them', () => {
    const { store } = makeStore();
    const big = Buffer.alloc(1_000_000);
    for (let i = 0; i < big.length; i++) big[i] = (i * 31 + 7) & 0xff;
    for (const [key, value] of [['small', Buffer.from('value')], ['big-one', big]] as const) {
      expect(set(store, key, value)).toBe('STORED');
      const h = store.get(k(key));
      expect(store.replica.itemKeyLength(h)).toBe(key.length);
      const out = Buffer.alloc(3 + key.length + value.length + 2, 0xee);
      expect(store.replica.copyKeyAndValue(h, out, 3)).toBe(3 + key.length + value.length);
      expect(out.subarray(3, 3 + key.length).toString()).toBe(key);
      expect(out.subarray(3 + key.length, 3 + key.length + value.length).equals(value)).toBe(true);
      expect([...out.subarray(0, 3), ...out.subarray(-2)]).toEqual([0xee, 0xee, 0xee, 0xee, 0xee]);
    }
  });

  it('handles -I 2m with 1 MB chunks', () => {
    const { store } = makeStore({ pageSize: 2 * MB, slabChunkMax: MB });
    const big = Buffer.alloc(2 * MB - 100, 'q');
    expect(set(store, 'b', big)).toBe('STORED');
    expect(getValue(store, 'b')).toBe(big.toString('latin1'));
    expect(store.slabClassSizes.at(-1)).toBe(MB);
  });

  it('chunks across many small chunks with a low slab_chunk_max', () => {
    const { store } = makeStore({ slabChunkMax: 16 * 1024 });
    const big = Buffer.alloc(MB - 100);
    for (let i = 0; i < big.length; i++) big[i] = i % 251;
    expect(set(store, 'b', big)).toBe('STORED');
    const out = Buffer.alloc(big.length);
    store.copyValue(store.get(k('b')), out, 0);
    expect(out.equals(big)).toBe(true);
    const largest = store.slabClassSizes.length - 1;
    expect(store.slabClassSizes[largest]).toBe(16 * 1024);
    expect(stat(store.statsSlabs(), `${largest}:used_chunks`)).toBe(Math.ceil((MB - 100 + 48) / (16 * 1024 - 4)));
    store.delete(k('b'));
    expect(stat(store.statsSlabs(), `${largest}:used_chunks`)).toBe(0);
  });

  it('evicts chunked items when the largest class is full', () => {
    const { store } = makeStore({ memoryLimitBytes: 4 * MB });
    for (let i = 0; i < 20; i++) expect(set(store, `b${i}`, Buffer.alloc(900_000, i))).toBe('STORED');
    expect(getValue(store, 'b19')).toBe(Buffer.alloc(900_000, 19).toString('latin1'));
    expect(getValue(store, 'b0')).toBeNull();
    expect(stat(store.statsGeneral(), 'evictions')).toBeGreaterThan(0);
  });
});

describe('capacity and hash table', () => {
  it('holds at least as many small items as memcached at -m 64', () => {
    const { store } = makeStore({ evictions: false });
    // memcached: 48 + 8 + (10 + 1) + (100 + 2) = 169 -> 192-byte chunks, 5461 per page, 64 pages.
    const memcachedCount = 64 * Math.floor(MB / 192);
    const value = Buffer.alloc(100, 'v');
    const key = Buffer.from('key:000000');
    let stored = 0;
    for (let i = 0; ; i++) {
      key.write(String(i).padStart(6, '0'), 4, 'latin1');
      const r = store.store('set', key, 0, 0, value, 0n);
      if (r !== 'STORED') break;
      stored++;
    }
    expect(stored).toBeGreaterThanOrEqual(memcachedCount);
    // bytes is what the items take here (40 + 10 + 100), so a full cache stays within limit_maxbytes; memcached's
    // ITEM_ntotal (169) times the items held would be past it.
    expect(stat(store.statsGeneral(), 'bytes')).toBe(stored * 150);
    expect(stored * 169).toBeGreaterThan(64 * MB);
    expect(stat(store.statsGeneral(), 'bytes')).toBeLessThanOrEqual(stat(store.statsGeneral(), 'limit_maxbytes') as number);
  }, 30_000);

  it('grows the hash table with 200k keys and finds them all', () => {
    const { store } = makeStore();
    const v = k('v');
    const keys = Array.from({ length: 200_000 }, (_, i) => k(`key${i}`));
    for (const key of keys) store.store('set', key, 0, 0, v, 0n);
    const general = store.statsGeneral();
    expect(stat(general, 'hash_power_level')).toBe(18);
    expect(stat(general, 'curr_items')).toBe(200_000);
    for (let i = 0; i < 200_000; i += 997) expect(store.peek(k(`key${i}`))).not.toBe(-1);
    for (let i = 1; i < 200_000; i += 2) store.delete(keys[i]);
    expect(store.itemCount).toBe(100_000);
    expect(store.peek(k('key100000'))).not.toBe(-1);
    expect(store.peek(k('key100001'))).toBe(-1);
  }, 30_000);
});

describe('memory outside the slabs', () => {
  it('keeps no change ring while nothing subscribes (a node without replication)', () => {
    const { store } = makeStore();
    for (let i = 0; i < 1000; i++) set(store, keyOf(i), 'v');
    store.delete(k(keyOf(0)));
    expect(store.changes.active).toBe(false);
    expect(store.changes.capacity).toBe(0);
    const held = Object.values(store.changes.buffers).reduce((n, b) => n + (typeof b === 'number' ? 0 : b.byteLength), 0);
    // the cursors' header only
    expect(held).toBeLessThan(64);
  });

  it('starts the hash index at memcached\'s 2^16 buckets and grows it only with the items', () => {
    const { store } = makeStore();
    expect(stat(store.statsGeneral(), 'hash_power_level')).toBe(16);
    expect(stat(store.statsGeneral(), 'hash_bytes')).toBe(4 * 2 ** 16);
    for (let i = 0; i < 1.5 * 2 ** 16 + 1; i++) set(store, `key${i}`, 'v');
    expect(stat(store.statsGeneral(), 'hash_power_level')).toBe(17);
    expect(stat(store.statsGeneral(), 'hash_bytes')).toBe(4 * 2 ** 17);
  });
});
