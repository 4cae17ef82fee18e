import { describe, expect, it } from 'vitest';
import { StoreKeyError } from '../../../src/cache/store.ts';
import { getValue, k, makeStore, set } from './helpers.ts';

describe('storage commands', () => {
  it('set/get round-trips flags and value; set overwrites', () => {
    const { store } = makeStore();
    expect(set(store, 'a', 'hello', 123)).toBe('STORED');
    const h = store.get(k('a'));
    expect(store.itemFlags(h)).toBe(123);
    expect(store.itemValueLength(h)).toBe(5);
    expect(store.itemKey(h).toString()).toBe('a');
    expect(set(store, 'a', 'bye', 2 ** 32 - 1)).toBe('STORED');
    expect(getValue(store, 'a')).toBe('bye');
    expect(store.itemFlags(store.get(k('a')))).toBe(2 ** 32 - 1);
    expect(store.itemCount).toBe(1);
  });

  it('stores empty values and binary keys', () => {
    const { store } = makeStore();
    expect(set(store, 'empty', '')).toBe('STORED');
    expect(getValue(store, 'empty')).toBe('');
    const key = Buffer.from([0xff, 0x00, 0x80]);
    expect(store.store('set', key, 0, 0, k('bin'), 0n)).toBe('STORED');
    expect(store.itemKey(store.get(key)).equals(key)).toBe(true);
  });

  it('finds keys that are views at any offset of one buffer, of several buffers in turn, and of a large one', () => {
    const { store } = makeStore();
    // a connection's keys are views of its read buffer, one command after another; other buffers come between
    const read = Buffer.alloc(16 * 1024, 0x2e);
    const large = Buffer.alloc(128 * 1024, 0x2e);
    const at = (b: Buffer, offset: number, key: string): Buffer => {
      b.write(key, offset, 'latin1');
      return b.subarray(offset, offset + key.length);
    };
    expect(store.store('set', at(read, 3, 'alpha'), 0, 0, k('1'), 0n)).toBe('STORED');
    expect(store.store('set', at(read, 100, 'beta'), 0, 0, k('2'), 0n)).toBe('STORED');
    expect(store.store('set', at(large, 70_001, 'gamma'), 0, 0, k('3'), 0n)).toBe('STORED');
    expect(store.store('set', k('delta'), 0, 0, k('4'), 0n)).toBe('STORED');
    read.fill(0x2e);
    for (const [key, value] of [['alpha', '1'], ['beta', '2'], ['gamma', '3'], ['delta', '4']]) {
      expect(getValue(store, key)).toBe(value);
      expect(store.itemKey(store.get(at(read, 7, key))).toString()).toBe(key);
      expect(store.itemKey(store.get(at(large, 99_999, key))).toString()).toBe(key);
    }
    // the bytes at the offset the last lookup used are not the key
    expect(store.get(at(read, 7, 'alphx'))).toBe(-1);
    expect(store.delete(at(large, 5, 'gamma'))).toBe(true);
    expect(store.delete(at(read, 9, 'beta'))).toBe(true);
    expect(getValue(store, 'gamma')).toBe(null);
    expect(getValue(store, 'beta')).toBe(null);
    expect(store.arith(at(read, 11, 'alpha'), true, 4n)).toBe(5n);
    expect(store.touch(at(large, 1, 'delta'), 100)).toBe(true);
    expect(store.itemCount).toBe(2);
  });

  it('add only stores a missing key', () => {
    const { store } = makeStore();
    expect(store.store('add', k('a'), 0, 0, k('1'), 0n)).toBe('STORED');
    expect(store.store('add', k('a'), 0, 0, k('2'), 0n)).toBe('NOT_STORED');
    expect(getValue(store, 'a')).toBe('1');
  });

  it('replace only stores an existing key', () => {
    const { store } = makeStore();
    expect(store.store('replace', k('a'), 0, 0, k('1'), 0n)).toBe('NOT_STORED');
    set(store, 'a', '0');
    expect(store.store('replace', k('a'), 5, 0, k('1'), 0n)).toBe('STORED');
    expect(getValue(store, 'a')).toBe('1');
  });

  it('append/prepend keep the flags and exptime of the existing item', () => {
    const { store, clock } = makeStore();
    expect(store.store('append', k('a'), 0, 0, k('x'), 0n)).toBe('NOT_STORED');
    expect(store.store('prepend', k('a'), 0, 0, k('x'), 0n)).toBe('NOT_STORED');
    set(store, 'a', 'mid', 42, 100);
    expect(store.store('append', k('a'), 7, 0, k('>>'), 0n)).toBe('STORED');
    expect(store.store('prepend', k('a'), 9, 5000, k('<<'), 0n)).toBe('STORED');
    expect(getValue(store, 'a')).toBe('<<mid>>');
    const h = store.get(k('a'));
    expect(store.itemFlags(h)).toBe(42);
    expect(store.itemTtl(h)).toBe(100);
    clock.advance(100);
    expect(getValue(store, 'a')).toBeNull();
  });

  it('cas: NOT_FOUND, EXISTS, STORED with a fresh CAS', () => {
    const { store } = makeStore();
    expect(store.store('cas', k('a'), 0, 0, k('x'), 1n)).toBe('NOT_FOUND');
    set(store, 'a', 'v1');
    const cas = store.itemCas(store.get(k('a')));
    expect(store.store('cas', k('a'), 0, 0, k('v2'), cas + 1n)).toBe('EXISTS');
    expect(store.store('cas', k('a'), 0, 0, k('v2'), cas)).toBe('STORED');
    expect(store.store('cas', k('a'), 0, 0, k('v3'), cas)).toBe('EXISTS');
    expect(getValue(store, 'a')).toBe('v2');
    expect(store.itemCas(store.get(k('a')))).toBeGreaterThan(cas);
  });

  it('CAS values come from a counter 1, 2, 3 by default, or the injected version source', () => {
    const { store } = makeStore();
    set(store, 'a', '1');
    set(store, 'b', '1');
    expect(store.itemCas(store.get(k('a')))).toBe(1n);
    expect(store.itemCas(store.get(k('b')))).toBe(2n);
    let next = (1n << 63n) + 5n;
    const versions = {
      now: () => next++,
      at: () => next++,
      writeNow(u32: Uint32Array, i: number) {
        const v = next++;
        u32[i] = Number(v & 0xffffffffn);
        u32[i + 1] = Number(v >> 32n);
      },
    };
    const custom = makeStore({ versions }).store;
    set(custom, 'a', '1');
    expect(custom.itemCas(custom.get(k('a')))).toBe((1n << 63n) + 5n);
  });

  it('with CAS disabled gets reports 0 and cas compares against 0', () => {
    const { store } = makeStore({ casEnabled: false });
    set(store, 'a', '1');
    expect(store.itemCas(store.get(k('a')))).toBe(0n);
    expect(store.store('cas', k('a'), 0, 0, k('2'), 5n)).toBe('EXISTS');
    expect(store.store('cas', k('a'), 0, 0, k('2'), 0n)).toBe('STORED');
  });

  it('rejects empty and over-long keys as a programming error', () => {
    const { store } = makeStore();
    expect(() => set(store, '', 'x')).toThrow(StoreKeyError);
    expect(() => set(store, 'k'.repeat(251), 'x')).toThrow(/1\.\.250/);
    expect(set(store, 'k'.repeat(250), 'x')).toBe('STORED');
  });
});

describe('delete / unlink / touch / gat', () => {
  it('delete reports hits and misses', () => {
    const { store } = makeStore();
    set(store, 'a', '1');
    expect(store.delete(k('a'))).toBe(true);
    expect(store.delete(k('a'))).toBe(false);
    expect(getValue(store, 'a')).toBeNull();
  });

  it('unlink removes silently', () => {
    const { store } = makeStore();
    set(store, 'a', '1');
    store.unlink(k('a'));
    store.unlink(k('missing'));
    expect(store.itemCount).toBe(0);
  });

  it('touch and gat update the exptime', () => {
    const { store, clock } = makeStore();
    set(store, 'a', '1', 0, 10);
    expect(store.touch(k('a'), 100)).toBe(true);
    expect(store.touch(k('nope'), 100)).toBe(false);
    clock.advance(50);
    expect(getValue(store, 'a')).toBe('1');
    const h = store.getAndTouch(k('a'), 0);
    expect(h).not.toBe(-1);
    expect(store.itemTtl(h)).toBe(0);
    expect(store.getAndTouch(k('nope'), 0)).toBe(-1);
    clock.advance(1000);
    expect(getValue(store, 'a')).toBe('1');
    expect(store.touch(k('a'), -1)).toBe(true);
    expect(getValue(store, 'a')).toBeNull();
  });
});

describe('incr / decr', () => {
  it('adds and subtracts', () => {
    const { store } = makeStore();
    expect(store.arith(k('n'), true, 1n)).toBe('NOT_FOUND');
    expect(store.arith(k('n'), false, 1n)).toBe('NOT_FOUND');
    set(store, 'n', '10', 5);
    expect(store.arith(k('n'), true, 5n)).toBe(15n);
    expect(store.arith(k('n'), false, 3n)).toBe(12n);
    expect(getValue(store, 'n')).toBe('12');
    expect(store.itemFlags(store.get(k('n')))).toBe(5);
  });

  it('incr wraps at 2^64, decr floors at 0', () => {
    const { store } = makeStore();
    set(store, 'n', '18446744073709551615');
    expect(store.arith(k('n'), true, 1n)).toBe(0n);
    expect(getValue(store, 'n')).toBe('0' + ' '.repeat(19));
    set(store, 'm', '5');
    expect(store.arith(k('m'), false, 10n)).toBe(0n);
    expect(store.arith(k('m'), true, 18446744073709551615n)).toBe(18446744073709551615n);
  });

  it('updates in place padded with spaces, or grows into a new item keeping flags and exptime', () => {
    const { store, clock } = makeStore();
    set(store, 'd', '100', 3, 50);
    expect(store.arith(k('d'), false, 1n)).toBe(99n);
    expect(getValue(store, 'd')).toBe('99 ');
    set(store, 'i', '99', 3, 50);
    expect(store.arith(k('i'), true, 1n)).toBe(100n);
    expect(getValue(store, 'i')).toBe('100');
    const h = store.get(k('i'));
    expect(store.itemFlags(h)).toBe(3);
    expect(store.itemTtl(h)).toBe(50);
    clock.advance(50);
    expect(getValue(store, 'i')).toBeNull();
  });

  it('assigns a new CAS each time', () => {
    const { store } = makeStore();
    set(store, 'n', '1');
    const c1 = store.itemCas(store.get(k('n')));
    store.arith(k('n'), true, 1n);
    const c2 = store.itemCas(store.get(k('n')));
    store.arith(k('n'), true, 100n);
    const c3 = store.itemCas(store.get(k('n')));
    expect(c2).toBeGreaterThan(c1);
    expect(c3).toBeGreaterThan(c2);
  });

  it('rejects non-numeric, empty and chunked values', () => {
    const { store } = makeStore();
    for (const v of ['abc', '12abc', '', '-1', '18446744073709551616']) {
      set(store, 'x', v);
      expect(store.arith(k('x'), true, 1n)).toBe('NON_NUMERIC');
    }
    set(store, 'big', Buffer.alloc(600_000, '1'));
    expect(store.arith(k('big'), true, 1n)).toBe('NON_NUMERIC');
  });
});

describe('expiry', () => {
  it('relative exptime expires lazily on access', () => {
    const { store, clock } = makeStore();
    set(store, 'a', '1', 0, 10);
    clock.advance(9);
    expect(getValue(store, 'a')).toBe('1');
    clock.advance(1);
    expect(getValue(store, 'a')).toBeNull();
    expect(store.itemCount).toBe(0);
  });

  it('30 days is still relative, one more second is an absolute time in the past', () => {
    const { store, clock } = makeStore();
    set(store, 'rel', '1', 0, 2592000);
    set(store, 'abs', '1', 0, 2592001);
    expect(getValue(store, 'abs')).toBeNull();
    clock.advance(2591999);
    expect(getValue(store, 'rel')).toBe('1');
    clock.advance(1);
    expect(getValue(store, 'rel')).toBeNull();
  });

  it('absolute unix times count from the clock start', () => {
    const { store, clock } = makeStore();
    const started = clock.started;
    set(store, 'past', '1', 0, started - 10);
    // the clock reads 62 at the start, as memcached's does
    set(store, 'future', '1', 0, started + 160);
    expect(getValue(store, 'past')).toBeNull();
    expect(store.itemTtl(store.get(k('future')))).toBe(98);
    clock.set(160);
    expect(getValue(store, 'future')).toBeNull();
  });

  it('negative exptime is expired immediately; 0 never expires', () => {
    const { store, clock } = makeStore();
    expect(set(store, 'neg', '1', 0, -1)).toBe('STORED');
    expect(getValue(store, 'neg')).toBeNull();
    set(store, 'forever', '1', 0, 0);
    clock.advance(10 * 365 * 86400);
    expect(getValue(store, 'forever')).toBe('1');
  });

  it('expired items count as missing for add/replace/incr/touch', () => {
    const { store, clock } = makeStore();
    set(store, 'a', '1', 0, 1);
    clock.advance(1);
    expect(store.store('replace', k('a'), 0, 0, k('2'), 0n)).toBe('NOT_STORED');
    expect(store.arith(k('a'), true, 1n)).toBe('NOT_FOUND');
    expect(store.touch(k('a'), 0)).toBe(false);
    expect(store.store('add', k('a'), 0, 0, k('3'), 0n)).toBe('STORED');
  });

  it('reclaimExpired frees expired items in budgeted steps', () => {
    const { store, clock } = makeStore();
    for (let i = 0; i < 1000; i++) set(store, `e${i}`, 'v', 0, 5);
    for (let i = 0; i < 500; i++) set(store, `l${i}`, 'v');
    clock.advance(5);
    let total = 0;
    for (let step = 0; step < 200 && store.itemCount > 500; step++) total += store.reclaimExpired(100);
    expect(total).toBe(1000);
    expect(store.itemCount).toBe(500);
    expect(getValue(store, 'l499')).toBe('v');
  });
});

describe('flush_all', () => {
  it('invalidates everything stored until now, not later stores', () => {
    const { store } = makeStore();
    set(store, 'a', '1');
    set(store, 'b', '1');
    store.flushAll(0);
    expect(getValue(store, 'a')).toBeNull();
    set(store, 'c', '1');
    expect(getValue(store, 'c')).toBe('1');
    expect(getValue(store, 'b')).toBeNull();
  });

  it('treats negative as now', () => {
    const { store } = makeStore();
    set(store, 'a', '1');
    store.flushAll(-1);
    expect(getValue(store, 'a')).toBeNull();
  });

  it('with CAS disabled, stores in the same second are flushed too (like memcached)', () => {
    const { store, clock } = makeStore({ casEnabled: false });
    set(store, 'a', '1');
    store.flushAll(0);
    set(store, 'b', '1');
    expect(getValue(store, 'b')).toBeNull();
    clock.advance(1);
    set(store, 'c', '1');
    expect(getValue(store, 'c')).toBe('1');
  });

  it('delayed: takes effect at the given time for items updated before it', () => {
    const { store, clock } = makeStore();
    set(store, 'a', '1');
    store.flushAll(10);
    clock.advance(5);
    set(store, 'b', '1');
    expect(getValue(store, 'a')).toBe('1');
    clock.advance(5);
    expect(getValue(store, 'a')).toBeNull();
    expect(getValue(store, 'b')).toBeNull();
    set(store, 'c', '1');
    clock.advance(1);
    expect(getValue(store, 'c')).toBe('1');
  });
});
