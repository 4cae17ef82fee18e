// Micro-benchmark of the slab store (not a test): ns/op for set and get of small items, and how
// many items fit in -m 64 compared with memcached's chunk arithmetic.
// Usage: node scripts/bench-store.ts [items=200000] [rounds=5]
import { CacheClock } from '../src/clock.ts';
import { SlabStore, type StoreOptions } from '../src/cache/store.ts';
import { defaultServerConfig, storeOptionsFor } from '../src/server/config.ts';

const items = Number(process.argv[2] ?? 200_000);
const rounds = Number(process.argv[3] ?? 5);
const MB = 1024 * 1024;

// repcache's defaults, with room for every key of the speed run.
const defaults: StoreOptions = { ...storeOptionsFor(defaultServerConfig, new CacheClock()), memoryLimitBytes: 1024 * MB };

function time(label: string, ops: number, fn: () => void): void {
  const start = process.hrtime.bigint();
  fn();
  const ns = Number(process.hrtime.bigint() - start) / ops;
  console.log(`  ${label.padEnd(30)} ${ns.toFixed(0).padStart(6)} ns/op`);
}

function speed(): void {
  const clock = new CacheClock();
  const store = new SlabStore({ ...defaults, clock });
  const keys = Array.from({ length: items }, (_, i) => Buffer.from(`key:${i.toString().padStart(8, '0')}`));
  const value = Buffer.alloc(100, 'v');
  const out = Buffer.alloc(1024);
  const missKey = Buffer.from('missing:0000');
  console.log(`${items} keys of 12 bytes, 100-byte values`);
  time('set (insert)', items, () => {
    for (let i = 0; i < items; i++) store.store('set', keys[i], 0, 0, value, 0n);
  });
  for (let r = 0; r < rounds; r++) {
    console.log(`round ${r + 1}`);
    time('set (overwrite)', items, () => {
      for (let i = 0; i < items; i++) store.store('set', keys[i], 0, 0, value, 0n);
    });
    time('get hit + copyValue', items, () => {
      for (let i = 0; i < items; i++) {
        const h = store.get(keys[i]);
        if (h !== -1) store.copyValue(h, out, 0);
      }
    });
    time('get hit (handle only)', items, () => {
      let n = 0;
      for (let i = 0; i < items; i++) if (store.get(keys[i]) !== -1) n++;
      if (n !== items) throw new Error(`lost items: ${n}`);
    });
    time('get miss', items, () => {
      for (let i = 0; i < items; i++) store.get(missKey);
    });
  }
  const mem = process.memoryUsage();
  console.log(`items ${store.itemCount}, rss ${(mem.rss / MB).toFixed(0)} MB, heap ${(mem.heapUsed / MB).toFixed(0)} MB`);
}

function capacity(): void {
  const store = new SlabStore({ ...defaults, memoryLimitBytes: 64 * MB, evictions: false });
  const key = Buffer.from('key:000000');
  const value = Buffer.alloc(100, 'v');
  let stored = 0;
  while (stored < 10_000_000) {
    key.write(String(stored).padStart(6, '0'), 4, 'latin1');
    if (store.store('set', key, 0, 0, value, 0n) !== 'STORED') break;
    stored++;
  }
  // memcached: 48 + 8 + (10 + 1) + (100 + 2) = 169 bytes -> 192-byte chunks, 5461 per 1 MB page.
  const memcached = 64 * Math.floor(MB / 192);
  console.log(`capacity at -m 64, 10-byte keys, 100-byte values: ${stored} items (memcached: ${memcached})`);
}

capacity();
speed();
