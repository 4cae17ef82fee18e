import { describe, expect, it } from 'vitest';
import { ChangeKind, ChangeStream, ringSlot, type ChangeSubscriber } from '../../../src/cache/changes.ts';
import { HybridClock, HLC_EPOCH_MS, versionMs } from '../../../src/replication/hlc.ts';
import { k, makeStore, set } from './helpers.ts';

/** A subscriber that notes every record. */
function recorder(settled: ChangeSubscriber['settled'] = () => null) {
  const seen: Array<[number, ChangeKind]> = [];
  return { seen, appended: (seq: number, kind: ChangeKind) => void seen.push([seq, kind]), settled };
}

/** A stream of `capacity` records whose clock reads `t.ms`. */
function stream(capacity: number) {
  const t = { ms: 0 };
  const s = new ChangeStream(() => t.ms);
  const r = recorder();
  s.subscribe(r, capacity);
  return { s, t, r };
}

const key = (x: string | Buffer) => (typeof x === 'string' ? Buffer.from(x) : x);
const put = (s: ChangeStream, x: string | Buffer, h = 0) => s.item(ChangeKind.SET, key(x), 0, key(x).length, h, 0, 0, 0);

describe('change stream ring', () => {
  it('numbers records and forgets the oldest past capacity', () => {
    const { s, t, r } = stream(4);
    for (let i = 0; i < 6; i++) {
      t.ms = i;
      put(s, `k${i}`);
    }
    t.ms = 6;
    s.flushed(3, 0, 99);
    expect(s.nextSeq).toBe(8);
    expect(s.firstSeq).toBe(4);
    expect(s.keyAt(4)!.toString()).toBe('k3');
    expect(s.holds(4)).toBe(true);
    expect(s.holds(3)).toBe(false);
    expect(s.holds(8)).toBe(true); // caught up
    expect(s.timeOf(6)).toBe(5);
    expect(s.timeOf(3)).toBeNaN();
    expect(s.kindAt(7)).toBe(ChangeKind.FLUSH);
    expect([s.versionAt(7), s.delayAt(7)]).toEqual([99n, 3]);
    expect(s.keyAt(7)).toBeNull();
    expect(r.seen.map(([, kind]) => kind)).toEqual([1, 1, 1, 1, 1, 1, ChangeKind.FLUSH]);
  });

  it('keeps the item written per record, valid under the layout version it was noted with', () => {
    const { s } = stream(2);
    const a = s.item(ChangeKind.SET, key('a'), 0, 1, 77, 5, 6, 1);
    expect([s.itemAt(a, 1), s.versionHighAt(a), s.versionLowAt(a)]).toEqual([77, 5, 6]);
    expect(s.itemAt(a, 2)).toBe(0); // a slab page moved since
    const b = s.item(ChangeKind.SET, key('b'), 0, 1, 0, 0, 0, 1);
    expect(s.itemAt(b, 1)).toBe(0);
    const c = s.deleted(key('c'), 0, 1, 0, 9); // reuses a's slot
    expect(s.itemAt(c, 1)).toBe(0);
    expect(s.versionAt(c)).toBe(9n);
  });

  it('copies keys, and forgets records whose key bytes were reused', () => {
    const { s } = stream(4); // 256 key bytes
    const kb = Buffer.from('abc');
    put(s, kb);
    kb.write('xyz');
    expect(s.keyAt(1)!.toString()).toBe('abc');
    put(s, Buffer.alloc(200, 1));
    expect(s.firstSeq).toBe(1);
    put(s, Buffer.alloc(100, 2)); // does not fit in the tail: wraps, overwriting 1 and 2
    expect(s.firstSeq).toBe(3);
    expect(s.holds(2)).toBe(false);
    expect(s.keyAt(3)!.equals(Buffer.alloc(100, 2))).toBe(true);
  });

  it('keyBytes/keyOffsetAt/keyLengthAt locate the same bytes keyAt views', () => {
    const { s } = stream(4);
    put(s, 'abc');
    const seq = put(s, 'hello');
    const at = s.keyOffsetAt(seq);
    expect(s.keyBytes.subarray(at, at + s.keyLengthAt(seq)).toString()).toBe('hello');
  });

  it('maps sequences to ring slots exactly up to 2^53, past where % leaves integer arithmetic', () => {
    for (const capacity of [1, 3, 4, 1000, 1 << 18, 1_000_003]) {
      for (const seq of [0, 1, capacity - 1, capacity, 2 ** 31 - 1, 2 ** 31, 2 ** 32 + 5, 2 ** 52 + 7, 2 ** 53 - 1]) {
        expect(ringSlot(seq, capacity), `${seq} mod ${capacity}`).toBe(Number(BigInt(seq) % BigInt(capacity)));
      }
    }
  });

  it('keeps nothing until subscribed, has one subscriber at a time, and asks it whether a reply waits', async () => {
    const s = new ChangeStream();
    expect(s.active).toBe(false);
    expect(s.settled(1)).toBeNull();
    const acked = Promise.resolve();
    const r = recorder((seq) => (seq === 1 ? acked : null));
    s.subscribe(r, 8);
    expect(() => s.subscribe(recorder(), 8)).toThrow(/already has a subscriber/);
    expect(s.active).toBe(true);
    put(s, 'a');
    expect(s.settled(1)).toBe(acked);
    expect(s.settled(2)).toBeNull();
    s.unsubscribe();
    expect(s.active).toBe(false);
    expect(s.settled(1)).toBeNull();
  });
});

describe('the store publishes its changes', () => {
  it('records nothing while no one subscribes', () => {
    const { store } = makeStore();
    set(store, 'a', '1');
    expect(store.changes.nextSeq).toBe(1);
  });

  it('a SET carries the item and its version, so a reader need not look the key up', () => {
    const { store } = makeStore();
    const r = recorder();
    store.changes.subscribe(r, 16);
    set(store, 'a', '1');
    const h = store.lastWritten;
    const c = store.changes;
    expect(r.seen).toEqual([[1, ChangeKind.SET]]);
    expect(c.keyAt(1)!.toString()).toBe('a');
    expect(c.itemAt(1, store.replica.layoutVersion)).toBe(h);
    expect(c.versionAt(1)).toBe(store.itemCas(h));
  });

  it('a delete carries a fresh version from the version source (its tombstone), 0 without one', () => {
    let t = HLC_EPOCH_MS + 5000;
    const hlc = new HybridClock(7, () => t);
    const { store } = makeStore({ versions: hlc });
    store.changes.subscribe(recorder(), 16);
    set(store, 'a', '1');
    const written = store.itemCas(store.lastWritten);
    t += 10;
    expect(store.delete(k('a'))).toBe(true);
    expect(store.changes.kindAt(2)).toBe(ChangeKind.DELETE);
    expect(store.changes.versionAt(2)).toBeGreaterThan(written);
    const plain = makeStore().store;
    plain.changes.subscribe(recorder(), 16);
    set(plain, 'a', '1');
    plain.delete(k('a'));
    expect(plain.changes.versionAt(2)).toBe(0n);
  });

  it("flush_all's delay is read like memcached (relative, or absolute past 30 days); a delayed flush's version lies that far ahead", () => {
    const t = HLC_EPOCH_MS + 5000;
    const hlc = new HybridClock(7, () => t);
    const { store, clock } = makeStore({ versions: hlc });
    store.changes.subscribe(recorder(), 16);
    store.flushAll(0);
    store.flushAll(10);
    store.flushAll(clock.started + clock.now() + 100);
    const c = store.changes;
    expect([1, 2, 3].map((s) => c.kindAt(s))).toEqual([ChangeKind.FLUSH, ChangeKind.FLUSH, ChangeKind.FLUSH]);
    expect([1, 2, 3].map((s) => c.delayAt(s))).toEqual([0, 10, 100]);
    expect(versionMs(c.versionAt(1))).toBe(5000);
    expect(versionMs(c.versionAt(2))).toBe(5000 + 10_000);
  });
});
