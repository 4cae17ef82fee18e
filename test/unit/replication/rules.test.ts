import { describe, expect, it, vi } from 'vitest';
import pino from 'pino';
import { HybridClock, encodeVersion } from '../../../src/replication/hlc.ts';
import { Replicator } from '../../../src/replication/replicator.ts';
import { MapStore } from './map-store.ts';

const v = (ms: number, node = 2) => encodeVersion(ms, 0, node);
const key = (k: string) => Buffer.from(k);

function setup() {
  const hlc = new HybridClock(1);
  const store = new MapStore(() => hlc.now());
  const repl = new Replicator(store, hlc, { peers: [], port: 0 }, pino({ level: 'silent' }));
  const set = (k: string, value: string, version: bigint, ttl = 0) => repl.applyRemote({ type: 'set', key: key(k), flags: 0, ttl, value: Buffer.from(value), version });
  return { hlc, store, repl, set };
}

describe('newest version wins', () => {
  it('in any arrival order', () => {
    const a = setup();
    const b = setup();
    a.set('k', 'old', v(100));
    a.set('k', 'new', v(200));
    b.set('k', 'new', v(200));
    b.set('k', 'old', v(100));
    expect(a.store.value('k')).toBe('new');
    expect(b.store.value('k')).toBe('new');
    expect(b.repl.staleRemote).toBe(1);
  });

  it('a delete leaves a tombstone: an older set arriving later does not resurrect the key', () => {
    const { store, repl, set } = setup();
    set('k', 'x', v(100));
    repl.applyRemote({ type: 'delete', key: key('k'), version: v(150) });
    expect(store.value('k')).toBeUndefined();
    set('k', 'late', v(120));
    expect(store.value('k')).toBeUndefined();
    set('k', 'newer', v(160));
    expect(store.value('k')).toBe('newer');
  });

  it('a delete older than the item does not remove it', () => {
    const { store, repl, set } = setup();
    set('k', 'x', v(200));
    repl.applyRemote({ type: 'delete', key: key('k'), version: v(150) });
    expect(store.value('k')).toBe('x');
  });

  it('flush removes older items, keeps newer ones, and refuses older sets afterwards', () => {
    const { store, repl, set } = setup();
    set('old', '1', v(100));
    set('new', '2', v(300));
    repl.applyRemote({ type: 'flush', version: v(200), delay: 0 });
    expect(store.value('old')).toBeUndefined();
    expect(store.value('new')).toBe('2');
    set('late', '3', v(150));
    expect(store.value('late')).toBeUndefined();
  });

  it('a delayed flush from a peer removes older items only when its delay has passed', () => {
    vi.useFakeTimers({ toFake: ['setTimeout'] });
    try {
      const { store, repl, set } = setup();
      set('old', '1', v(100));
      repl.applyRemote({ type: 'flush', version: v(200), delay: 5 });
      set('before', '2', v(150));
      expect(store.value('old')).toBe('1');
      vi.advanceTimersByTime(4_999);
      expect(store.value('before')).toBe('2');
      vi.advanceTimersByTime(1);
      expect(store.value('old')).toBeUndefined();
      expect(store.value('before')).toBeUndefined();
      set('late', '3', v(150));
      expect(store.value('late')).toBeUndefined();
    } finally {
      vi.useRealTimers();
    }
  });

  it('touch applies only to the version that was touched', () => {
    const { store, repl, set } = setup();
    set('k', 'x', v(100), 100);
    repl.applyRemote({ type: 'touch', key: key('k'), ttl: 0, version: v(99) });
    expect(store.itemTtl(store.peek(key('k')))).toBeGreaterThan(0);
    repl.applyRemote({ type: 'touch', key: key('k'), ttl: 0, version: v(100) });
    expect(store.itemTtl(store.peek(key('k')))).toBe(0);
  });

  it('local writes after seeing a remote version sort after it, even with a slower clock', () => {
    const { hlc, store, set } = setup();
    const future = v(Date.now() - 1_577_836_800_000 + 60_000);
    set('k', 'remote', future);
    expect(store.set('k', 'local')).toBeGreaterThan(future);
    expect(hlc.now()).toBeGreaterThan(future);
  });
});
