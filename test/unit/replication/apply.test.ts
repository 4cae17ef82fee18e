import { describe, expect, it } from 'vitest';
import pino from 'pino';
import { RemoteApplier } from '../../../src/replication/apply.ts';
import { HybridClock, encodeVersion } from '../../../src/replication/hlc.ts';
import { Tombstones } from '../../../src/replication/tombstones.ts';
import { FakeClock } from '../../support/fake-clock.ts';
import { MapStore } from './map-store.ts';
import { getValue, makeStore } from '../cache/helpers.ts';

const v = (ms: number, node = 2) => encodeVersion(ms, 0, node);

function setup() {
  const clock = new FakeClock();
  const hlc = new HybridClock(1);
  const store = new MapStore(() => hlc.now());
  const apply = new RemoteApplier(store, hlc, new Tombstones(100, 60_000), pino({ level: 'silent' }), clock);
  const set = (k: string, value: string, version: bigint) => apply.set(Buffer.from(k), 0, 0, Buffer.from(value), version);
  return { clock, store, apply, set };
}

describe('RemoteApplier: delayed flush_all', () => {
  it('a flush from a peer removes older items only once its delay has passed', () => {
    const { clock, store, apply, set } = setup();
    set('old', '1', v(100));
    apply.flush(v(200), 5);
    set('before', '2', v(150));
    clock.advance(4_999);
    expect(store.value('old')).toBe('1');
    expect(store.value('before')).toBe('2');
    expect(apply.flushEpoch).toBe(0n);
    clock.advance(1);
    expect(store.value('old')).toBeUndefined();
    expect(store.value('before')).toBeUndefined();
    expect(apply.flushEpoch).toBe(v(200));
    set('late', '3', v(150));
    expect(store.value('late')).toBeUndefined();
    expect(clock.pending).toBe(0);
  });

  it('a delayed flush already overtaken by a newer one does nothing when it falls due', () => {
    const { clock, store, apply, set } = setup();
    apply.flush(v(200), 5);
    apply.flush(v(300), 0);
    set('k', '1', v(250));
    expect(store.value('k')).toBeUndefined();
    set('k', '2', v(350));
    clock.advance(5_000);
    expect(store.value('k')).toBe('2');
    expect(apply.flushEpoch).toBe(v(300));
  });

  it('a delayed local flush refuses older remote writes only from its due time on', () => {
    const { clock, store, apply, set } = setup();
    apply.localFlush(v(200), 3);
    set('a', '1', v(150));
    expect(store.value('a')).toBe('1');
    clock.advance(3_000);
    expect(apply.flushEpoch).toBe(v(200));
    set('b', '2', v(150));
    expect(store.value('b')).toBeUndefined();
  });
});

describe('RemoteApplier: a flush_all from a peer on the slab store (a version floor)', () => {
  it('removes what is older, a counter by its base though its latest increment is newer, and keeps what is newer', () => {
    const hlc = new HybridClock(1);
    const { store } = makeStore({ versions: hlc });
    const apply = new RemoteApplier(store.replica, hlc, new Tombstones(100, 60_000), pino({ level: 'silent' }), new FakeClock());
    const put = (k: string, value: string, version: bigint) => apply.set(Buffer.from(k), 0, 0, Buffer.from(value), version);
    const value = (k: string) => getValue(store, k);
    put('old', '1', v(100));
    put('newer', '2', v(300));
    put('count', '5', v(100));
    apply.counter(Buffer.from('count'), v(100), v(150), 2n); // a peer's increments on base v(100)
    expect(value('count')).toBe('7');
    expect(store.itemCas(store.peek(Buffer.from('count')))).toBeGreaterThan(v(200)); // written now, by this node
    apply.flush(v(200), 0);
    expect([value('old'), value('newer'), value('count')]).toEqual([null, '2', null]);
    put('late', '3', v(150)); // older than the flush, arriving after it
    expect(value('late')).toBeNull();
    expect(apply.flushEpoch).toBe(v(200));
  });
});
