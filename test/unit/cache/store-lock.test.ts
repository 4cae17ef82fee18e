import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { HeldStoreLock, StoreLock, StoreLockAbandonedError } from '../../../src/cache/store-lock.ts';
import { abandonedLockPolicy, EX_SOFTWARE, STORE_LOCK_STUCK_MS } from '../../../src/cli/abandoned-lock.ts';

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
const abandonUrl = new URL('../../../src/cli/abandoned-lock.ts', import.meta.url).href;

// Takes the lock, says so, then ends without releasing it: by process.exit, or by an uncaught exception inside a
// section that would release it in a microtask (as the replication thread's do), with abandonOnUncaughtException.
const DIES_HOLDING = `
const { workerData, parentPort } = require('node:worker_threads');
Promise.all([import(workerData.lockUrl), import(workerData.abandonUrl)]).then(([{ HeldStoreLock }, { abandonOnUncaughtException }]) => {
  const l = new HeldStoreLock(workerData.lock);
  if (workerData.how === 'throw') abandonOnUncaughtException(l);
  // an event-loop callback (a timer, a socket's data), as the replication thread's sections run in
  setTimeout(() => {
    l.acquire();
    queueMicrotask(() => l.release());
    parentPort.postMessage('held');
    // (still in the callback, holding the lock) until the test says go
    const go = new Int32Array(workerData.go);
    Atomics.wait(go, 0, 0, 10_000);
    if (workerData.how === 'exit') process.exit(3);
    throw new Error('a bug inside a section');
  }, 1);
});
`;
// Waits for the lock under a policy that says 'abandoned' and ends the thread (a policy must not return).
const WAITS = `
const { workerData, parentPort } = require('node:worker_threads');
import(workerData.lockUrl).then(({ StoreLock }) => {
  const l = new StoreLock(workerData.lock, 0, null, { stuckAfterMs: workerData.stuckAfterMs, abandoned: () => { parentPort.postMessage('abandoned'); process.exit(0); } });
  parentPort.postMessage('waiting');
  l.acquire();
  parentPort.postMessage('acquired');
});
`;

function said(w: Worker, what: string, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    w.on('message', (m) => { if (m === what) { clearTimeout(t); resolve(true); } });
    w.on('exit', () => { clearTimeout(t); resolve(false); });
  });
}

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

  describe('a thread that dies holding it (cache/LOCKING.md)', () => {
    const workers: Worker[] = [];
    const start = (code: string, data: object) => {
      const w = new Worker(code, { eval: true, workerData: { lockUrl, abandonUrl, ...data } });
      w.on('error', () => {});
      workers.push(w);
      return w;
    };
    afterEach(async () => {
      await Promise.all(workers.splice(0).map((w) => w.terminate()));
    });

    const go = () => {
      const word = new Int32Array(new SharedArrayBuffer(4));
      return { go: word.buffer, now: () => { Atomics.store(word, 0, 1); Atomics.notify(word, 0); } };
    };

    it('a holder that ended (out of memory, terminated: nothing it can catch) is taken for dead after the waiter\'s stuck time', async () => {
      const lock = new StoreLock();
      const g = go();
      const holder = start(DIES_HOLDING, { lock: lock.buffer, how: 'exit', go: g.go });
      const exited = new Promise((r) => holder.once('exit', r));
      expect(await said(holder, 'held', 10_000)).toBe(true);
      g.now();
      await exited;
      // the holder is gone and the word still says held: without a policy every thread waits for ever
      expect(new Int32Array(lock.buffer)[0]).not.toBe(0);
      const waiter = start(WAITS, { lock: lock.buffer, stuckAfterMs: 1500 });
      const abandoned = said(waiter, 'abandoned', 15_000);
      expect(await said(waiter, 'waiting', 10_000)).toBe(true);
      expect(await abandoned).toBe(true);
      expect(lock.abandoned).toBe(true);
    }, 30_000);

    it('an uncaught exception inside a section held into a microtask abandons the lock: a waiter follows its policy at once', async () => {
      const lock = new StoreLock();
      const g = go();
      const holder = start(DIES_HOLDING, { lock: lock.buffer, how: 'throw', go: g.go });
      expect(await said(holder, 'held', 10_000)).toBe(true);
      // no stuck time: only the dying thread's abandon() can end the wait; it dies once the waiter sleeps on the lock
      const waiter = start(WAITS, { lock: lock.buffer, stuckAfterMs: 0 });
      const abandoned = said(waiter, 'abandoned', 10_000);
      expect(await said(waiter, 'waiting', 10_000)).toBe(true);
      for (const until = Date.now() + 5000; Atomics.load(new Int32Array(lock.buffer), 0) !== 2 && Date.now() < until;) await new Promise((r) => setTimeout(r, 5));
      expect(Atomics.load(new Int32Array(lock.buffer), 0)).toBe(2);
      g.now();
      expect(await abandoned).toBe(true);
      expect(lock.abandoned).toBe(true);
    }, 30_000);

    it('abandoned stays abandoned: acquireWithin and tryAcquire give up, a late release by a holder taken for dead changes nothing, acquire() throws by default', () => {
      const lock = new StoreLock();
      const holder = new HeldStoreLock(lock.buffer);
      holder.acquire();
      expect(holder.held).toBe(true);
      lock.abandon();
      expect(lock.acquireWithin(10)).toBe(false);
      expect(lock.tryAcquire()).toBe(false);
      holder.release();
      expect(holder.held).toBe(false);
      expect(lock.abandoned).toBe(true);
      expect(() => lock.acquire()).toThrow(StoreLockAbandonedError);
      expect(lock.abandoned).toBe(true);
    });

    it('the main thread\'s policy logs and ends the process with EX_SOFTWARE (the store may be half changed); it takes a minute for dead', () => {
      const lines: string[] = [];
      const logger = { fatal: (m: string) => lines.push(m), flush: () => {} } as unknown as Parameters<typeof abandonedLockPolicy>[0];
      const exit = vi.fn((code: number) => { throw new Error(`exit ${code}`); }) as unknown as (code: number) => never;
      const lock = new StoreLock();
      const policy = abandonedLockPolicy(logger, lock.buffer, true, exit);
      expect(policy.stuckAfterMs).toBe(STORE_LOCK_STUCK_MS);
      const waiter = new StoreLock(lock.buffer, 0, null, policy);
      lock.acquire();
      lock.abandon();
      expect(() => waiter.acquire()).toThrow(`exit ${EX_SOFTWARE}`);
      expect(lines).toEqual([expect.stringContaining('a thread died holding the store lock')]);
      // a worker thread's waits for ever: the main thread ends the process
      expect(abandonedLockPolicy(logger, lock.buffer, false, exit).stuckAfterMs).toBe(0);
    });
  });
});
