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
});
