import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { ChangeKind, ChangeStream } from '../../../src/cache/changes.ts';
import { StoreLock } from '../../../src/cache/store-lock.ts';

// Each worker attaches to the same ring and appends `rounds` records under the lock, keys `w<worker>:<i>`.
const WORKER = `
const { workerData, parentPort } = require('node:worker_threads');
const { changesUrl, lockUrl, buffers, lock, worker, rounds } = workerData;
Promise.all([import(changesUrl), import(lockUrl)]).then(([{ ChangeStream, ChangeKind }, { StoreLock }]) => {
  const s = new ChangeStream(() => 0);
  s.attach(buffers);
  s.keepRecords();
  const l = new StoreLock(lock);
  const own = [];
  for (let i = 0; i < rounds; i++) {
    const key = Buffer.from('w' + worker + ':' + i);
    l.acquire();
    own.push(s.item(ChangeKind.SET, key, 0, key.length, i + 1, worker, i, 0));
    l.release();
  }
  parentPort.postMessage(own);
});
`;
const changesUrl = new URL('../../../src/cache/changes.ts', import.meta.url).href;
const lockUrl = new URL('../../../src/cache/store-lock.ts', import.meta.url).href;

describe('a change stream shared by threads', () => {
  it('numbers the records of every writer once, in one sequence, each record whole', async () => {
    const s = new ChangeStream(() => 0);
    const capacity = 8192;
    const buffers = s.share(capacity);
    const lock = new StoreLock();
    const rounds = 2000;
    const writers = 3;
    const workers = Array.from({ length: writers }, (_, worker) => new Worker(WORKER, { eval: true, workerData: { changesUrl, lockUrl, buffers, lock: lock.buffer, worker, rounds } }));
    const owns = await Promise.all(workers.map((w) => new Promise<number[]>((resolve, reject) => { w.once('message', resolve); w.once('error', reject); })));
    await Promise.all(workers.map((w) => w.terminate()));
    expect(s.nextSeq).toBe(writers * rounds + 1);
    const all = owns.flat().sort((a, b) => a - b);
    expect(all).toEqual(Array.from({ length: writers * rounds }, (_, i) => i + 1));
    // each writer's sequences rise; each record holds its writer's key and fields
    for (const own of owns) for (let i = 1; i < own.length; i++) expect(own[i]).toBeGreaterThan(own[i - 1]);
    expect(s.holds(1)).toBe(true);
    for (let seq = 1; seq < s.nextSeq; seq++) {
      const worker = s.versionHighAt(seq);
      const i = s.versionLowAt(seq);
      expect(s.kindAt(seq)).toBe(ChangeKind.SET);
      expect(s.keyAt(seq)!.toString()).toBe(`w${worker}:${i}`);
      expect(s.itemAt(seq, 0)).toBe(i + 1);
      expect(owns[worker][i]).toBe(seq);
    }
    expect(Atomics.load(s.bellWords, 0)).toBe(writers * rounds);
  });

  it('a writer on another thread wakes a reader waiting on the bell', async () => {
    const s = new ChangeStream(() => 0);
    const buffers = s.share(64);
    const lock = new StoreLock();
    const rung = s.armBell();
    const r = Atomics.waitAsync(s.bellWords, 0, rung, 10_000);
    expect(r.async).toBe(true);
    const w = new Worker(WORKER, { eval: true, workerData: { changesUrl, lockUrl, buffers, lock: lock.buffer, worker: 0, rounds: 1 } });
    const woke = await r.value;
    await w.terminate();
    expect(woke).toBe('ok');
    expect(s.nextSeq).toBe(2);
    // the writer cleared the request: the next record rings without a notify
    expect(Atomics.load(s.bellWords, 1)).toBe(0);
  });

  it('forgets the oldest records for every thread alike past capacity', () => {
    const a = new ChangeStream(() => 0);
    const b = new ChangeStream(() => 0);
    b.attach(a.share(4));
    a.keepRecords();
    b.keepRecords();
    const put = (s: ChangeStream, k: string) => s.item(ChangeKind.SET, Buffer.from(k), 0, k.length, 1, 0, 0, 0);
    for (let i = 0; i < 6; i++) put(i % 2 ? b : a, `k${i}`);
    expect(a.nextSeq).toBe(7);
    expect(b.firstSeq).toBe(3);
    expect(a.holds(2)).toBe(false);
    expect(b.keyAt(6)!.toString()).toBe('k5');
    expect(a.lastOwnSeq).toBe(5);
    expect(b.lastOwnSeq).toBe(6);
  });

  it('a writer has room until the reader is a quarter of the ring (at most 64 records) from being overrun unnoted; notedUpTo wakes a writer waiting for room', async () => {
    const reader = new ChangeStream(() => 0);
    const writer = new ChangeStream(() => 0);
    writer.attach(reader.share(16));
    writer.keepRecords();
    const put = (k: string) => writer.deleted(Buffer.from(k), 0, k.length, 0, 1);
    reader.notedUpTo(1);
    for (let i = 0; i < 12; i++) {
      expect(writer.hasRoom()).toBe(true);
      put(`k${i}`);
    }
    // 12 records unnoted: 16 - 16/4 = 12 is the most a command may start with
    expect(writer.hasRoom()).toBe(true);
    put('k12');
    expect(writer.hasRoom()).toBe(false);
    const t0 = performance.now();
    writer.waitForRoom(30);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(25);
    // another thread waits; the reader notes, and it wakes at once
    const lock = new StoreLock();
    const w = new Worker(`
      const { workerData, parentPort } = require('node:worker_threads');
      import(workerData.changesUrl).then(({ ChangeStream }) => {
        const s = new ChangeStream(() => 0);
        s.attach(workerData.buffers);
        s.keepRecords();
        parentPort.postMessage('waiting');
        const t0 = performance.now();
        s.waitForRoom(10_000);
        parentPort.postMessage({ room: s.hasRoom(), ms: performance.now() - t0 });
      });
    `, { eval: true, workerData: { changesUrl, buffers: reader.buffers } });
    const said: unknown[] = [];
    const woke = new Promise<void>((resolve, reject) => { w.on('message', (m) => { said.push(m); if (said.length === 2) resolve(); }); w.once('error', reject); });
    while (said.length === 0) await new Promise((r) => setTimeout(r, 5));
    await new Promise((r) => setTimeout(r, 50));
    lock.acquire();
    reader.notedUpTo(writer.nextSeq);
    lock.release();
    await woke;
    await w.terminate();
    expect(said[1]).toMatchObject({ room: true });
    expect((said[1] as { ms: number }).ms).toBeLessThan(5000);
    // a stream nobody reads on another thread (-t 1, or no replication) always has room
    const alone = new ChangeStream(() => 0);
    alone.subscribe({ appended: () => {}, settled: () => null }, 4);
    for (let i = 0; i < 10; i++) alone.deleted(Buffer.from('k'), 0, 1, 0, 1);
    expect(alone.hasRoom()).toBe(true);
  });
});

