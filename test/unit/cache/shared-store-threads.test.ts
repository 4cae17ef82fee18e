/**
 * repcache -t N's store, without the server: real worker threads attached to one SlabStore's shared buffers, each
 * running random commands under the store lock (cache/LOCKING.md) on a hot key set, counters, appends, cas, a few
 * values spanning several chunks, and a cold set that keeps -m 16 evicting and the hash table (hashpower 6) growing
 * while the others look keys up through their own views of it. Then the invariants: every value read was whole (a
 * checksum), each cas token won at most once, incr totals exact, each thread's appends whole and in its order.
 */
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { StoreLock } from '../../../src/cache/store-lock.ts';
import { SlabStore } from '../../../src/cache/store.ts';
import { CacheClock } from '../../../src/clock.ts';
import { defaultServerConfig, storeOptionsFor, type ServerConfig } from '../../../src/server/config.ts';

const THREADS = 3;
const ROUNDS = 1200;
const HOT = 6;
const BIG = 2;
const config: ServerConfig = { ...defaultServerConfig, listen: [], extended: {}, memoryLimitMB: 16, hashPower: 6 };
const url = (p: string) => new URL(`../../../src/${p}`, import.meta.url).href;

const WORKER = `
const { workerData, parentPort } = require('node:worker_threads');
const { urls, buffers, lock, config, me, rounds, hot, big } = workerData;
Promise.all([import(urls.store), import(urls.lock), import(urls.config), import(urls.clock)]).then(([{ SlabStore }, { StoreLock }, { storeOptionsFor }, { CacheClock }]) => {
  const store = new SlabStore({ ...storeOptionsFor(config, new CacheClock()), attach: buffers });
  const l = new StoreLock(lock);
  const k = (s) => Buffer.from(s);
  const fnv = (b, n) => { let h = 0x811c9dc5; for (let i = 0; i < n; i++) h = Math.imul(h ^ b[i], 0x01000193); return h >>> 0; };
  // body, then the 4-byte checksum of the body
  const valueOf = (tag, n) => { const v = Buffer.alloc(n + 4, tag); v.write(tag); v.writeUInt32LE(fnv(v, n), n); return v; };
  const whole = (v) => v.length >= 4 && fnv(v, v.length - 4) === v.readUInt32LE(v.length - 4);
  const read = (h) => { const v = Buffer.alloc(store.itemValueLength(h)); store.copyValue(h, v, 0); return v; };
  const pick = (n) => Math.floor(Math.random() * n);
  const out = { torn: [], casWins: [], incr: 0n, incrMissing: 0, appended: 0, cold: 0, chunkedReads: 0, errors: [] };
  let pendingCas = null;
  for (let i = 0; i < rounds; i++) {
    const op = pick(12);
    l.acquire();
    try {
      if (pendingCas !== null) {
        // the cas of a gets made in an earlier hold: other threads ran in between
        const r = store.store('cas', k(pendingCas.key), 0, 0, valueOf('cas' + me + '.' + i, 40 + pick(200)), pendingCas.cas);
        if (r === 'STORED') out.casWins.push(pendingCas.key + '@' + pendingCas.cas);
        pendingCas = null;
      } else if (op === 0) store.store('set', k('hot:' + pick(hot)), 0, 0, valueOf('w' + me + '.' + i, pick(400)), 0n);
      else if (op === 1) store.delete(k('hot:' + pick(hot)));
      else if (op === 2) {
        const by = BigInt(1 + pick(9));
        const r = store.arith(k('ctr'), true, by);
        if (typeof r === 'bigint') out.incr += by; else out.incrMissing++;
      } else if (op === 3) {
        const r = store.store('append', k('app:' + me), 0, 0, k('<' + i + '>'), 0n);
        if (r === 'STORED') out.appended++; else out.errors.push('append ' + r);
      } else if (op === 4) {
        const key = 'cas:' + pick(2);
        const h = store.get(k(key));
        if (h !== -1) { if (!whole(read(h))) out.torn.push(key); pendingCas = { key, cas: store.itemCas(h) }; }
      } else if (op === 5) {
        // past slab_chunk_max (512 KB) now and then: an item of several chunks
        if (pick(4) === 0) store.store('set', k('big:' + pick(big)), 0, 0, valueOf('b' + me + '.' + i, 520000 + pick(200000)), 0n);
      }
      else if (op === 6) store.touch(k('hot:' + pick(hot)), pick(2) === 0 ? 0 : 3600);
      else if (op <= 8) {
        for (let j = 0; j < 8; j++) store.store('set', k('cold:' + me + ':' + out.cold++), 0, 0, valueOf('c', 1000 + pick(3000)), 0n);
      } else {
        for (const key of ['hot:' + pick(hot), 'big:' + pick(big), 'cas:' + pick(2)]) {
          const h = store.get(k(key));
          if (h === -1) continue;
          const v = read(h);
          if (!whole(v)) out.torn.push(key + ' ' + v.subarray(0, 20).toString('latin1'));
          if (v.length > 512 * 1024) out.chunkedReads++;
        }
      }
    } catch (err) {
      out.errors.push(String(err && err.stack || err));
    } finally {
      l.release();
    }
  }
  parentPort.postMessage(out);
});
`;

describe('SlabStore shared by worker threads under the store lock (repcache -t N)', () => {
  const workers: Worker[] = [];
  afterEach(async () => {
    await Promise.all(workers.splice(0).map((w) => w.terminate()));
  });

  it('keeps every invariant while the hash table grows, the cold set evicts and big values span chunks', async () => {
    const store = new SlabStore(storeOptionsFor(config, new CacheClock()));
    store.setSlabAutomove(0); // the hot classes keep the pages they take first: only the cold set is evicted
    const lock = new StoreLock();
    expect(store.store('set', Buffer.from('ctr'), 0, 0, Buffer.from('0'), 0n)).toBe('STORED');
    for (let w = 0; w < THREADS; w++) expect(store.store('set', Buffer.from(`app:${w}`), 0, 0, Buffer.from('|'), 0n)).toBe('STORED');
    // (a value with its checksum, as the workers write them)
    const seed = Buffer.alloc(8, 's');
    let h = 0x811c9dc5;
    for (let i = 0; i < 4; i++) h = Math.imul(h ^ seed[i], 0x01000193);
    seed.writeUInt32LE(h >>> 0, 4);
    for (let c = 0; c < 2; c++) expect(store.store('set', Buffer.from(`cas:${c}`), 0, 0, seed, 0n)).toBe('STORED');
    const powerBefore = Number(store.statsGeneral().find(([n]) => n === 'hash_power_level')![1]);
    const urls = { store: url('cache/store.ts'), lock: url('cache/store-lock.ts'), config: url('server/config.ts'), clock: url('clock.ts') };
    for (let me = 0; me < THREADS; me++) {
      workers.push(new Worker(WORKER, { eval: true, workerData: { urls, buffers: store.buffers, lock: lock.buffer, config, me, rounds: ROUNDS, hot: HOT, big: BIG } }));
    }
    type Out = { chunkedReads: number; torn: string[]; casWins: string[]; incr: bigint; incrMissing: number; appended: number; cold: number; errors: string[] };
    const outs = await Promise.all(workers.map((w) => new Promise<Out>((resolve, reject) => { w.once('message', resolve); w.once('error', reject); })));
    expect(outs.flatMap((o) => o.errors)).toEqual([]);
    expect(outs.flatMap((o) => o.torn)).toEqual([]);
    const wins = outs.flatMap((o) => o.casWins);
    expect(wins.length).toBeGreaterThan(0);
    expect(new Set(wins).size).toBe(wins.length);
    // what was exercised: growth of the table, evictions, values of several chunks
    const general = new Map(store.statsGeneral());
    expect(Number(general.get('hash_power_level'))).toBeGreaterThan(powerBefore);
    expect(Number(general.get('evictions'))).toBeGreaterThan(0);
    expect(outs.reduce((n, o) => n + o.chunkedReads, 0)).toBeGreaterThan(0);
    const read = (key: string) => {
      const h = store.get(Buffer.from(key));
      if (h === -1) return null;
      const v = Buffer.alloc(store.itemValueLength(h));
      store.copyValue(h, v, 0);
      return v.toString('latin1');
    };
    expect(outs.reduce((n, o) => n + o.incrMissing, 0)).toBe(0);
    expect(BigInt(read('ctr')!)).toBe(outs.reduce((n, o) => n + o.incr, 0n));
    for (const [w, o] of outs.entries()) {
      const app = read(`app:${w}`)!;
      const parts = app.slice(1).match(/<(\d+)>/g) ?? [];
      expect(parts.length).toBe(o.appended);
      expect(parts.join('')).toBe(app.slice(1));
      const seqs = parts.map((p) => Number(p.slice(1, -1)));
      for (let i = 1; i < seqs.length; i++) expect(seqs[i]).toBeGreaterThan(seqs[i - 1]);
    }
    // every item the table holds is found by key, from this thread's view of the grown table
    let items = 0;
    let cursor = 0;
    do {
      cursor = store.scan(cursor, 1000, (h) => {
        items++;
        expect(store.peek(store.itemKey(h))).toBe(h);
      });
    } while (cursor !== 0);
    expect(items).toBe(Number(general.get('curr_items')));
  }, 30_000);
});
