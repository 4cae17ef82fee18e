import { describe, expect, it } from 'vitest';
import type { SlabStore } from '../../../src/cache/store.ts';
import { HybridClock } from '../../../src/replication/hlc.ts';
import { getValue, k, makeStore, set } from './helpers.ts';

const stillAt = (store: SlabStore, h: number, key: Buffer, high: number, low: number) => store.replica.itemStillAtFrom(h, key, 0, key.length, high, low);

describe('peek', () => {
  it('finds live items without counting or bumping, misses expired ones', () => {
    const { store, clock } = makeStore();
    set(store, 'a', '1', 0, 10);
    expect(store.peek(k('a'))).not.toBe(-1);
    expect(store.peek(k('b'))).toBe(-1);
    expect(Object.fromEntries(store.statsGeneral()).cmd_get).toBe(0);
    clock.advance(10);
    expect(store.peek(k('a'))).toBe(-1);
  });
});

describe('write hints (lastWritten, itemStillAtFrom)', () => {
  const still = (store: ReturnType<typeof makeStore>['store'], h: number, key: string) =>
    stillAt(store, h, k(key), store.replica.itemVersionHigh(h), store.replica.itemVersionLow(h));

  it('names the item each successful write left, and checks it cheaply until it changes', () => {
    const { store, clock } = makeStore();
    set(store, 'a', '1', 0, 10);
    const h = store.lastWritten;
    expect(h).toBe(store.peek(k('a')));
    const [high, low] = [store.replica.itemVersionHigh(h), store.replica.itemVersionLow(h)];
    expect(still(store, h, 'a')).toBe(h);
    expect(stillAt(store, h, k('b'), high, low)).toBe(-1); // another key
    set(store, 'a', '2', 0, 10); // rewritten in place: a new version
    expect(store.lastWritten).toBe(h);
    expect(stillAt(store, h, k('a'), high, low)).toBe(-1);
    expect(still(store, h, 'a')).toBe(h);
    clock.advance(10); // expired
    expect(still(store, h, 'a')).toBe(-1);
  });

  it('fails for deleted items and follows incr and append to their items', () => {
    const { store } = makeStore();
    set(store, 'n', '9');
    const h = store.lastWritten;
    expect(store.arith(k('n'), true, 1n)).toBe(10n); // one more digit: a new item
    expect(store.lastWritten).not.toBe(h);
    expect(still(store, store.lastWritten, 'n')).toBe(store.peek(k('n')));
    expect(store.store('append', k('n'), 0, 0, k('0'), 0n)).toBe('STORED');
    expect(store.lastWritten).toBe(store.peek(k('n')));
    const last = store.lastWritten;
    const [high, low] = [store.replica.itemVersionHigh(last), store.replica.itemVersionLow(last)];
    store.delete(k('n'));
    expect(stillAt(store, last, k('n'), high, low)).toBe(-1);
  });
});

describe('applyRemote (last writer wins by CAS)', () => {
  it('stores absent keys with the given CAS, flags and TTL', () => {
    const { store, clock } = makeStore();
    expect(store.replica.applyRemote(k('a'), 9, 30, k('remote'), 1000n)).toBe('APPLIED');
    const h = store.peek(k('a'));
    expect(store.itemCas(h)).toBe(1000n);
    expect(store.itemFlags(h)).toBe(9);
    expect(store.itemTtl(h)).toBe(30);
    clock.advance(30);
    expect(store.peek(k('a'))).toBe(-1);
  });

  it('applies only newer versions', () => {
    const { store } = makeStore();
    store.replica.applyRemote(k('a'), 0, 0, k('v5'), 5n);
    expect(store.replica.applyRemote(k('a'), 0, 0, k('v4'), 4n)).toBe('STALE');
    expect(store.replica.applyRemote(k('a'), 0, 0, k('v5b'), 5n)).toBe('STALE');
    expect(store.replica.applyRemote(k('a'), 0, 0, k('v6'), 6n)).toBe('APPLIED');
    expect(getValue(store, 'a')).toBe('v6');
    expect(store.itemCount).toBe(1);
  });

  it('keeps full 64-bit versions and moves the local counter past them', () => {
    const { store } = makeStore();
    const big = (1n << 64n) - 2n;
    store.replica.applyRemote(k('a'), 0, 0, k('x'), big);
    expect(store.itemCas(store.peek(k('a')))).toBe(big);
    expect(store.replica.applyRemote(k('a'), 0, 0, k('y'), big - 1n)).toBe('STALE');
    store.replica.applyRemote(k('b'), 0, 0, k('x'), 500n);
    set(store, 'c', 'local');
    expect(store.itemCas(store.peek(k('c')))).toBe(501n);
  });

  it('treats an expired local item as absent and negative TTL as expired', () => {
    const { store, clock } = makeStore();
    set(store, 'a', 'local', 0, 1);
    clock.advance(1);
    expect(store.replica.applyRemote(k('a'), 0, 0, k('r'), 0n)).toBe('APPLIED');
    expect(store.replica.applyRemote(k('gone'), 0, -1, k('r'), 10n)).toBe('APPLIED');
    expect(store.peek(k('gone'))).toBe(-1);
  });

  it('keeps versions when CAS is disabled (-C): itemCas reports 0, itemVersion the version', () => {
    const { store } = makeStore({ casEnabled: false });
    store.replica.applyRemote(k('a'), 0, 0, k('v'), 77n);
    const h = store.peek(k('a'));
    expect(store.itemCas(h)).toBe(0n);
    expect(store.replica.itemVersion(h)).toBe(77n);
    expect(store.replica.applyRemote(k('a'), 0, 0, k('w'), 76n)).toBe('STALE');
  });

  it('applies a key and value given as ranges of a larger buffer, small and chunked, new and in place', () => {
    const { store } = makeStore();
    const frame = (key: string, value: Buffer) => Buffer.concat([Buffer.from('<hdr>'), k(key), value, Buffer.from('<next>')]);
    const apply = (key: string, value: Buffer, version: bigint) => {
      const b = frame(key, value);
      return store.replica.applyRemoteFrom(b, 5, key.length, b, 5 + key.length, value.length, 3, 0, Number(version >> 32n), Number(version & 0xffffffffn));
    };
    const big = Buffer.alloc(700 * 1024, 'b'); // past the largest class: a chained item
    expect(apply('small', k('v1'), 1n)).toBe('APPLIED');
    expect(apply('small', k('v2'), 2n)).toBe('APPLIED'); // same size: rewritten in place
    expect(apply('small', k('older'), 1n)).toBe('STALE');
    expect(apply('big', big, 3n)).toBe('APPLIED');
    expect(getValue(store, 'small')).toBe('v2');
    expect(getValue(store, 'big')).toBe(big.toString());
    expect(store.itemFlags(store.peek(k('big')))).toBe(3);
    expect(store.replica.itemVersion(store.peek(k('small')))).toBe(2n);
    expect(store.replica.itemStillAtFrom(store.peek(k('small')), frame('small', k('')), 5, 5, 0, 2)).toBe(store.peek(k('small')));
  });

  it('reports too large', () => {
    const { store } = makeStore();
    expect(store.replica.applyRemote(k('a'), 0, 0, Buffer.alloc(1024 * 1024), 1n)).toBe('TOO_LARGE');
  });

  it('touches only the touched version, with a remaining TTL, counting no client stats', () => {
    const { store, clock } = makeStore();
    store.replica.applyRemote(k('a'), 0, 10, k('v'), 10n);
    expect(store.replica.applyRemoteTouch(k('a'), 0, 9n)).toBe(false);
    expect(store.itemTtl(store.peek(k('a')))).toBe(10);
    expect(store.replica.applyRemoteTouch(k('a'), 3_000_000, 10n)).toBe(true);
    expect(store.itemTtl(store.peek(k('a')))).toBe(3_000_000);
    expect(store.replica.applyRemoteTouch(k('a'), 0, 10n)).toBe(true);
    clock.advance(100);
    expect(store.peek(k('a'))).not.toBe(-1);
    expect(store.replica.applyRemoteTouch(k('missing'), 0, 10n)).toBe(false);
    const stats = Object.fromEntries(store.statsGeneral());
    expect([stats.cmd_touch, stats.touch_hits, stats.touch_misses]).toEqual([0, 0, 0]);
  });

  it('deletes only when the local version is not newer', () => {
    const { store } = makeStore();
    store.replica.applyRemote(k('a'), 0, 0, k('v'), 10n);
    expect(store.replica.applyRemoteDelete(k('a'), 9n)).toBe(false);
    expect(store.peek(k('a'))).not.toBe(-1);
    expect(store.replica.applyRemoteDelete(k('a'), 10n)).toBe(true);
    expect(store.peek(k('a'))).toBe(-1);
    expect(store.replica.applyRemoteDelete(k('missing'), 10n)).toBe(false);
  });
});

describe('scan', () => {
  const collect = (store: ReturnType<typeof makeStore>['store'], limit: number, between?: (step: number) => void) => {
    const seen: string[] = [];
    let cursor = 0;
    let step = 0;
    do {
      cursor = store.scan(cursor, limit, (h) => seen.push(store.itemKey(h).toString()));
      between?.(step++);
    } while (cursor !== 0 && step < 1_000_000);
    return seen;
  };

  it('visits every live item exactly once', () => {
    const { store, clock } = makeStore();
    for (let i = 0; i < 5000; i++) set(store, `k${i}`, 'v');
    set(store, 'dies', 'v', 0, 1);
    clock.advance(1);
    const seen = collect(store, 100);
    expect(seen.length).toBe(5000);
    expect(new Set(seen).size).toBe(5000);
    expect(seen).not.toContain('dies');
  });

  it('visits items present throughout exactly once while the table grows', () => {
    const { store } = makeStore({ hashPower: 10 });
    for (let i = 0; i < 1000; i++) set(store, `old${i}`, 'v');
    let added = 0;
    const seen = collect(store, 50, () => {
      for (let j = 0; j < 200; j++) set(store, `new${added++}`, 'v');
    });
    expect(Number(Object.fromEntries(store.statsGeneral()).hash_power_level)).toBeGreaterThan(12);
    const old = seen.filter((key) => key.startsWith('old'));
    expect(old.length).toBe(1000);
    expect(new Set(old).size).toBe(1000);
    expect(new Set(seen).size).toBe(seen.length);
  });

  it('returns 0 on an empty store', () => {
    const { store } = makeStore();
    expect(store.scan(0, 10, () => {
      throw new Error('no items');
    })).toBe(0);
  });
});

describe("a peer's flush_all (Replica.flushOlderThan): a version floor, no scan", () => {
  it('older items are dead at once for every reader, newer ones live; the sweep frees them; a later delayed flush_all does not bring them back', () => {
    let t = 1_800_000_000_000;
    const hlc = new HybridClock(7, () => t);
    const { store, clock } = makeStore({ versions: hlc });
    for (let i = 0; i < 100; i++) set(store, `old${i}`, 'x');
    t += 10;
    const version = hlc.now();
    t += 10;
    set(store, 'newer', 'y');
    expect(store.replica.flushOlderThan(version)).toBe(true);
    expect(getValue(store, 'old0')).toBeNull();
    expect(store.peek(k('old99'))).toBe(-1);
    expect(getValue(store, 'newer')).toBe('y');
    let copied = 0;
    let cursor = 0;
    do cursor = store.replica.scan(cursor, 1000, () => copied++);
    while (cursor !== 0);
    expect(copied).toBe(1); // a full copy to a peer sends only what survived
    // a lower floor later changes nothing
    store.replica.flushOlderThan(version - 1000n);
    expect(getValue(store, 'newer')).toBe('y');
    // freed in steps, as after a local flush_all
    expect(store.flushSweepDue()).toBe(true);
    while (store.sweepFlushed(10));
    expect(store.itemCount).toBe(1);
    // a delayed local flush_all moves flush_all's own marks into the future: the peer's flush stays in force
    for (let i = 0; i < 5; i++) set(store, `again${i}`, 'z');
    store.replica.flushOlderThan(hlc.now());
    set(store, 'after', 'w');
    store.flushAll(60);
    expect(getValue(store, 'again0')).toBeNull();
    expect(getValue(store, 'after')).toBe('w');
    clock.advance(61);
    expect(getValue(store, 'after')).toBeNull();
  });

  it('refuses without versions (-C): the caller removes the items itself', () => {
    const { store } = makeStore({ casEnabled: false });
    set(store, 'a', '1');
    expect(store.replica.flushOlderThan(1n << 40n)).toBe(false);
    expect(getValue(store, 'a')).toBe('1');
  });
});
