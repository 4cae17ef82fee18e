/**
 * Counters replicate as operations (PROTOCOL.md, Counters): each node's running sum per base, applied by the
 * RemoteApplier as a peer's COUNTER frames would be, in every order the links allow.
 */
import { describe, expect, it } from 'vitest';
import pino from 'pino';
import { RemoteApplier } from '../../../src/replication/apply.ts';
import { ChangeKind } from '../../../src/cache/changes.ts';
import { HybridClock, versionNode } from '../../../src/replication/hlc.ts';
import { Tombstones } from '../../../src/replication/tombstones.ts';
import { U64_MAX } from '../../../src/cache/numeric.ts';
import { FakeClock } from '../../support/fake-clock.ts';
import { MapStore } from './map-store.ts';

interface Part { base: bigint; version: bigint; sum: bigint }

/** One node: a store whose incr/decr feed its counters, as the Replicator does from the change stream. */
function node(id: number, now: () => number) {
  const hlc = new HybridClock(id, now);
  const store = new MapStore(() => hlc.now());
  const apply = new RemoteApplier(store, hlc, new Tombstones(100, 60_000), pino({ level: 'silent' }), new FakeClock());
  const changes = store.changes;
  changes.subscribe({
    appended: (seq, kind) => {
      if (kind === ChangeKind.DELETE) apply.tombstones.record(changes.keyAt(seq)!, changes.versionAt(seq));
      if (kind === ChangeKind.ARITH) apply.counters.local(changes.keyAt(seq)!, changes.isIncrAt(seq), changes.priorVersionAt(seq), changes.priorValueAt(seq), changes.versionAt(seq), changes.valueAt(seq));
    },
    settled: () => null,
  }, 1024);
  const k = (key: string) => Buffer.from(key);
  return {
    id, hlc, store, apply,
    value: (key: string) => store.value(key)?.trimEnd(),
    cas: (key: string) => store.itemVersion(store.peek(k(key))),
    /** This node's part of the counter `key`, as its sender would ship it now. */
    part(key: string): Part {
      const h = store.peek(k(key));
      const c = apply.counters.of(h)!;
      const p = c.parts.get(id)!;
      return { base: c.base, version: p.version, sum: p.sum };
    },
    /** The item as its sender ships it: a counter's base (version and value), else the item itself. */
    item(key: string): { version: bigint; value: string } {
      const h = store.peek(k(key));
      const c = apply.counters.of(h);
      return c ? { version: c.base, value: c.baseValue.toString() } : { version: store.itemVersion(h), value: store.value(key)! };
    },
    receive(key: string, p: Part) {
      apply.counter(k(key), p.base, p.version, p.sum);
    },
    receiveSet(key: string, s: { version: bigint; value: string }) {
      apply.set(k(key), 0, 0, Buffer.from(s.value), s.version);
    },
  };
}

function pair() {
  let ms = Date.UTC(2026, 0, 1);
  const now = () => ms;
  const a = node(1, now);
  const b = node(2, now);
  return { a, b, tick: () => ms++ };
}

describe('counters replicate as operations', () => {
  it('concurrent increments on both nodes add up on both, in either order of arrival', () => {
    const { a, b, tick } = pair();
    a.store.set('c', '10');
    b.receiveSet('c', a.item('c'));
    tick();
    for (let i = 0; i < 5; i++) a.store.incr('c', 1n);
    for (let i = 0; i < 7; i++) b.store.incr('c', 2n);
    expect(a.value('c')).toBe('15');
    expect(b.value('c')).toBe('24');
    b.receive('c', a.part('c'));
    a.receive('c', b.part('c'));
    expect(a.value('c')).toBe('29');
    expect(b.value('c')).toBe('29');
  });

  it('a part is a running sum: a duplicate or an older part changes nothing; a later one replaces it', () => {
    const { a, b } = pair();
    a.store.set('c', '0');
    b.receiveSet('c', a.item('c'));
    a.store.incr('c', 1n);
    const first = a.part('c');
    a.store.incr('c', 1n);
    const second = a.part('c');
    b.receive('c', second);
    b.receive('c', second);
    b.receive('c', first);
    expect(b.value('c')).toBe('2');
    a.store.incr('c', 3n);
    b.receive('c', a.part('c'));
    expect(b.value('c')).toBe('5');
  });

  it('every applied part gives the item a new cas, and the counter keeps its flags and TTL', () => {
    const { a, b } = pair();
    a.store.set('c', '1', 100);
    b.apply.set(Buffer.from('c'), 7, 100, Buffer.from('1'), a.item('c').version);
    const before = b.cas('c');
    a.store.incr('c', 1n);
    b.receive('c', a.part('c'));
    const after = b.cas('c');
    expect(after).not.toBe(before);
    a.store.incr('c', 1n);
    b.receive('c', a.part('c'));
    expect(b.cas('c')).not.toBe(after);
    const h = b.store.peek(Buffer.from('c'));
    expect(b.store.itemFlags(h)).toBe(7);
    expect(b.store.itemTtl(h)).toBeGreaterThan(90);
    expect(b.value('c')).toBe('3');
  });

  it('a set issued after the increments wins over them on both nodes, and drops later parts of the old base', () => {
    const { a, b, tick } = pair();
    a.store.set('c', '0');
    b.receiveSet('c', a.item('c'));
    tick();
    a.store.incr('c', 5n);
    b.store.incr('c', 5n);
    const stalePart = a.part('c');
    tick();
    b.store.set('c', '100'); // b has not seen a's part yet: its set is newer than the base, not than every increment
    a.receiveSet('c', b.item('c'));
    expect(a.value('c')).toBe('100');
    b.receive('c', stalePart);
    expect(b.value('c')).toBe('100');
    a.store.incr('c', 1n);
    b.receive('c', a.part('c'));
    expect(a.value('c')).toBe('101');
    expect(b.value('c')).toBe('101');
  });

  it('a set older than the base loses even though it is newer than nothing else there', () => {
    const { a, b, tick } = pair();
    b.store.set('c', 'old');
    const older = b.item('c');
    tick();
    a.store.set('c', '0');
    a.store.incr('c', 1n);
    a.receiveSet('c', older);
    expect(a.value('c')).toBe('1');
  });

  it('a part that outruns its base (a third node\'s set) waits for the base, then applies', () => {
    const { a, b, tick } = pair();
    const c = node(3, () => Date.UTC(2026, 0, 1) + 5);
    c.store.set('k', '40');
    const base = c.item('k');
    a.receiveSet('k', base);
    tick();
    a.store.incr('k', 2n);
    b.receive('k', a.part('k')); // b has no item yet
    expect(b.value('k')).toBeUndefined();
    b.receiveSet('k', base);
    expect(b.value('k')).toBe('42');
    expect(a.value('k')).toBe('42');
  });

  it('parts of an older base waiting for it are dropped when a newer set arrives first', () => {
    const { a, b, tick } = pair();
    a.store.set('k', '1');
    const base = a.item('k');
    a.store.incr('k', 1n);
    b.receive('k', a.part('k'));
    tick();
    b.store.set('k', '9');
    b.receiveSet('k', base);
    expect(b.value('k')).toBe('9');
  });

  it('a delete newer than the base removes the counter, even after a later increment; an older one does not', () => {
    const { a, b, tick } = pair();
    a.store.set('k', '0');
    b.receiveSet('k', a.item('k'));
    tick();
    b.store.del('k');
    const deleted = b.apply.tombstones.versionOf(Buffer.from('k'));
    tick();
    a.store.incr('k', 1n); // concurrent: a has not seen the delete
    const part = a.part('k');
    a.apply.delete(Buffer.from('k'), deleted);
    b.receive('k', part);
    expect(a.value('k')).toBeUndefined();
    expect(b.value('k')).toBeUndefined();

    a.store.set('n', '0');
    b.receiveSet('n', a.item('n'));
    a.store.incr('n', 1n);
    tick();
    a.apply.delete(Buffer.from('n'), a.item('n').version - 1n);
    expect(a.value('n')).toBe('1');
  });

  it('decr clamps at 0 where it runs; concurrent decrements below 0 read 0 on both, and a later incr counts from 0', () => {
    const { a, b } = pair();
    a.store.set('c', '3');
    b.receiveSet('c', a.item('c'));
    expect(a.store.incr('c', 3n, false)).toBe(0n);
    expect(b.store.incr('c', 2n, false)).toBe(1n);
    b.receive('c', a.part('c'));
    a.receive('c', b.part('c'));
    expect(a.value('c')).toBe('0');
    expect(b.value('c')).toBe('0');
    expect(a.store.incr('c', 5n)).toBe(5n);
    b.receive('c', a.part('c'));
    expect(b.value('c')).toBe('5');
  });

  it('incr wraps at 2^64 as memcached does, and increments on both nodes still add up (modulo 2^64)', () => {
    const { a, b } = pair();
    a.store.set('c', U64_MAX.toString());
    b.receiveSet('c', a.item('c'));
    expect(a.store.incr('c', 1n)).toBe(0n);
    expect(b.store.incr('c', 2n)).toBe(1n);
    b.receive('c', a.part('c'));
    a.receive('c', b.part('c'));
    expect(a.value('c')).toBe('2');
    expect(b.value('c')).toBe('2');
  });

  it('incr on a value that is not a number changes nothing and ships nothing', () => {
    const { a, b } = pair();
    a.store.set('c', 'abc');
    b.receiveSet('c', a.item('c'));
    expect(a.store.incr('c', 1n)).toBeNull();
    expect(a.apply.counters.size).toBe(0);
    b.receive('c', { base: a.item('c').version, version: a.hlc.now(), sum: 1n });
    expect(b.value('c')).toBe('abc');
  });

  it('a full copy of a counter (its base and every part) merges with the receiver\'s own parts, whatever it already had', () => {
    const { a, b, tick } = pair();
    a.store.set('c', '0');
    b.receiveSet('c', a.item('c'));
    tick();
    a.store.incr('c', 1n);
    b.store.incr('c', 10n);
    a.receive('c', b.part('c'));
    a.store.incr('c', 1n);
    // b gets a copy of a: the base, then every part a holds (b's own, older, among them)
    b.receiveSet('c', a.item('c'));
    const h = a.store.peek(Buffer.from('c'));
    for (const [node, p] of a.apply.counters.of(h)!.parts) {
      expect(versionNode(p.version)).toBe(node);
      b.receive('c', { base: a.apply.counters.of(h)!.base, version: p.version, sum: p.sum });
    }
    expect(b.value('c')).toBe('12');
    expect(a.value('c')).toBe('12');
    // a copy applied twice (the log after a copy repeats changes the copy held) counts once
    b.receive('c', a.part('c'));
    expect(b.value('c')).toBe('12');
  });

  it('a touch names a counter by its base: the peer whose item has another version still applies it', () => {
    const { a, b } = pair();
    a.store.set('c', '0');
    b.receiveSet('c', a.item('c'));
    a.store.incr('c', 1n);
    b.receive('c', a.part('c'));
    b.apply.touch(Buffer.from('c'), 50, a.item('c').version);
    const h = b.store.peek(Buffer.from('c'));
    expect(b.store.itemTtl(h)).toBeGreaterThan(40);
    expect(b.store.itemTtl(h)).toBeLessThanOrEqual(50);
  });
});

describe('counters are forgotten with their items', () => {
  it('counters whose items were overwritten or deleted are pruned as new ones come, on the node that increments and on its peer', () => {
    const { a, b } = pair();
    for (let i = 0; i < 3000; i++) {
      const key = `c${i}`;
      a.store.set(key, '0');
      b.receiveSet(key, a.item(key));
      a.store.incr(key, 1n);
      b.receive(key, a.part(key));
      a.store.del(key);
      b.apply.delete(Buffer.from(key), a.apply.tombstones.versionOf(Buffer.from(key)) || a.hlc.now());
    }
    expect(a.apply.counters.size).toBeLessThan(2100);
    expect(b.apply.counters.size).toBeLessThan(2100);
  });
});
