// Micro-benchmark of the slab store: ns/op for set and get of small items.
// Usage: node scripts/bench-store.ts [items=200000] [rounds=5]
import { SystemClock } from '../src/cache/clock.ts';
import { SlabStore } from '../src/cache/store.ts';

const items = Number(process.argv[2] ?? 200_000);
const rounds = Number(process.argv[3] ?? 5);
const MB = 1024 * 1024;

const store = new SlabStore({
  memoryLimitBytes: 1024 * MB,
  pageSize: MB,
  growthFactor: 1.25,
  minChunk: 48,
  slabChunkMax: MB / 2,
  evictions: true,
  casEnabled: true,
  hashPower: 0,
  trackSizes: false,
  clock: new SystemClock(),
});

const keys = Array.from({ length: items }, (_, i) => Buffer.from(`key:${i.toString().padStart(8, '0')}`));
const value = Buffer.alloc(100, 'v');
const out = Buffer.alloc(1024);
const missKey = Buffer.from('missing:0000');

function time(label: string, fn: () => void, ops: number): number {
  const start = process.hrtime.bigint();
  fn();
  const ns = Number(process.hrtime.bigint() - start) / ops;
  console.log(`${label.padEnd(28)} ${ns.toFixed(0).padStart(6)} ns/op`);
  return ns;
}

for (let r = 0; r < rounds; r++) {
  console.log(`round ${r + 1}`);
  time('set (100 B value, 12 B key)', () => {
    for (let i = 0; i < items; i++) store.store('set', keys[i], 0, 0, value, 0n);
  }, items);
  time('get hit + copyValue', () => {
    for (let i = 0; i < items; i++) {
      const h = store.get(keys[i]);
      if (h !== -1) store.copyValue(h, out, 0);
    }
  }, items);
  time('get hit (handle only)', () => {
    let n = 0;
    for (let i = 0; i < items; i++) if (store.get(keys[i]) !== -1) n++;
    if (n !== items) throw new Error(`lost items: ${n}`);
  }, items);
  time('get miss', () => {
    for (let i = 0; i < items; i++) store.get(missKey);
  }, items);
}
const mem = process.memoryUsage();
console.log(`items ${store.itemCount}, rss ${(mem.rss / MB).toFixed(0)} MB, heap ${(mem.heapUsed / MB).toFixed(0)} MB`);
