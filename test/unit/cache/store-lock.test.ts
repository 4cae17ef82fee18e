import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { StoreLock } from '../../../src/cache/store-lock.ts';

// Each worker adds 1 to a shared non-atomic counter many times under the lock: a lost update shows as a short total.
const WORKER = `
const { workerData, parentPort } = require('node:worker_threads');
const { lockUrl, lock, counter, rounds } = workerData;
import(lockUrl).then(({ StoreLock }) => {
  const l = new StoreLock(lock);
  const c = new Float64Array(counter);
  for (let i = 0; i < rounds; i++) { l.acquire(); const v = c[0]; c[0] = v + 1; l.release(); }
  parentPort.postMessage('done');
});
`;
// One acquisition of a lock another thread holds, then its counts.
const WAITER = `
const { workerData, parentPort } = require('node:worker_threads');
import(workerData.lockUrl).then(({ StoreLock }) => {
  const counts = { storeLockContended: 0, storeLockWaits: 0 };
  const l = new StoreLock(workerData.lock, 0, counts);
  l.acquire();
  l.release();
  parentPort.postMessage(counts);
});
`;
const lockUrl = new URL('../../../src/cache/store-lock.ts', import.meta.url).href;

describe('StoreLock', () => {
  it('excludes other threads', async () => {
    const lock = new StoreLock();
    const counter = new SharedArrayBuffer(8);
    const rounds = 300_000;
    const workers = Array.from({ length: 3 }, () => new Worker(WORKER, { eval: true, workerData: { lockUrl, lock: lock.buffer, counter, rounds } }));
    await Promise.all(workers.map((w) => new Promise((resolve, reject) => { w.once('message', resolve); w.once('error', reject); })));
    await Promise.all(workers.map((w) => w.terminate()));
    expect(new Float64Array(counter)[0]).toBe(3 * rounds);
  });

  it('counts an acquisition that found the lock held, and that slept on it; an uncontended one counts nothing', async () => {
    const free = { storeLockContended: 0, storeLockWaits: 0 };
    const lock = new StoreLock(undefined, 0, free);
    lock.acquire();
    lock.release();
    expect(free).toEqual({ storeLockContended: 0, storeLockWaits: 0 });
    // held here while a worker asks for it: it spins, then sleeps until the release
    lock.acquire();
    const worker = new Worker(WAITER, { eval: true, workerData: { lockUrl, lock: lock.buffer } });
    const counted = new Promise<unknown>((resolve, reject) => { worker.once('message', resolve); worker.once('error', reject); });
    const asleep = Date.now() + 5000;
    while (Date.now() < asleep && Atomics.load(new Int32Array(lock.buffer), 0) !== 2) await new Promise((r) => setTimeout(r, 5));
    lock.release();
    expect(await counted).toEqual({ storeLockContended: 1, storeLockWaits: 1 });
    await worker.terminate();
  });

  it('is free after release and taken after acquire', () => {
    const lock = new StoreLock();
    const word = new Int32Array(lock.buffer);
    lock.acquire();
    expect(word[0]).toBe(1);
    lock.release();
    expect(word[0]).toBe(0);
  });

  it('tryAcquire takes a free lock and never waits for a held one', () => {
    const lock = new StoreLock();
    const other = new StoreLock(lock.buffer);
    expect(lock.tryAcquire()).toBe(true);
    expect(other.tryAcquire()).toBe(false);
    lock.release();
    expect(other.tryAcquire()).toBe(true);
    expect(new Int32Array(lock.buffer)[0]).toBe(1);
  });

  it('acquireWithin takes a free lock, gives up on one held past its time, and takes one released in time', async () => {
    const lock = new StoreLock();
    const word = new Int32Array(lock.buffer);
    expect(lock.acquireWithin(0)).toBe(true);
    lock.release();
    // held by another thread for 300 ms: this thread (the main one, which Node lets Atomics.wait) waits, then gives up
    const holder = new Worker(`
      const { workerData, parentPort } = require('node:worker_threads');
      const a = new Int32Array(workerData);
      Atomics.store(a, 0, 1);
      parentPort.postMessage('held');
      setTimeout(() => { if (Atomics.sub(a, 0, 1) !== 1) { Atomics.store(a, 0, 0); Atomics.notify(a, 0, 1); } parentPort.postMessage('released'); }, 300);
    `, { eval: true, workerData: lock.buffer });
    const said = (what: string) => new Promise<void>((resolve) => holder.on('message', (m) => m === what && resolve()));
    const released = said('released');
    await said('held');
    const t0 = performance.now();
    expect(lock.acquireWithin(50)).toBe(false);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(49);
    // a thread that gave up leaves the lock marked contended: the holder's release wakes whoever waits next
    expect(word[0]).toBe(2);
    expect(lock.acquireWithin(10_000)).toBe(true);
    expect(performance.now() - t0).toBeLessThan(10_000);
    await released;
    await holder.terminate();
    lock.release();
    expect(word[0]).toBe(0);
  });
});
