/**
 * Counters over real links (the same Replicator, Sender and Receiver as production) on an in-memory network and
 * fake time: increments on both nodes add up exactly through concurrent streams, a cut healed by a resume, and
 * full copies made while both nodes increment.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import pino from 'pino';
import { HybridClock } from '../../../src/replication/hlc.ts';
import { Replicator, type ReplicationOptions } from '../../../src/replication/replicator.ts';
import { MapStore } from './map-store.ts';
import { ReplicationNet, timersClock } from '../../support/replication-net.ts';

const timing = { heartbeatMs: 100, deadAfterMs: 1000, backoffMinMs: 20, backoffMaxMs: 200, connectTimeoutMs: 1000 };
const PORT = 11212;
const cleanup: Array<() => Promise<void>> = [];

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'setImmediate', 'clearImmediate', 'Date'] });
});
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
  vi.useRealTimers();
});

interface Node { host: string; store: MapStore; repl: Replicator }

async function node(net: ReplicationNet, nodeId: number, host: string, peers: string[], extra: Partial<ReplicationOptions> = {}): Promise<Node> {
  const hlc = new HybridClock(nodeId);
  const store = new MapStore(() => hlc.now());
  const repl = new Replicator(store, hlc, {
    peers: peers.map((p) => ({ host: p, port: PORT })), port: PORT, listenHost: host, timing, joinTimeoutMs: 5000, transport: net.transport(host), clock: timersClock, ...extra,
  }, pino({ level: 'silent' }));
  await repl.start();
  cleanup.push(() => repl.stop(0));
  return { host, store, repl };
}

async function until(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > ms) throw new Error(`timed out waiting for ${what}`);
    await vi.advanceTimersByTimeAsync(5);
  }
}

const streaming = (...ns: Node[]) => ns.every((n) => n.repl.state === 'streaming' && n.repl.senders.every((s) => s.machine.state === 'streaming'));
const drained = (...ns: Node[]) => ns.every((n) => n.repl.senders.every((s) => s.machine.state === 'streaming' && s.queueDepth === 0));
const num = (n: Node, key: string) => n.store.value(key)?.trimEnd();

async function pair(net: ReplicationNet, extra: Partial<ReplicationOptions> = {}) {
  const a = await node(net, 1, '198.18.0.1', ['198.18.0.2'], extra);
  const b = await node(net, 2, '198.18.0.2', ['198.18.0.1'], extra);
  await until(() => streaming(a, b), 'links up');
  return { a, b };
}

describe('counters over replication links', () => {
  it('1,000 increments on each node, interleaved with the streams in flight, read exactly +2,000 on both', async () => {
    const net = new ReplicationNet();
    net.delayMs = 5;
    const { a, b } = await pair(net);
    a.store.set('hits', '0');
    await until(() => num(b, 'hits') === '0', 'base on B');
    for (let i = 0; i < 1000; i++) {
      a.store.incr('hits', 1n);
      b.store.incr('hits', 1n);
      if (i % 50 === 0) await vi.advanceTimersByTimeAsync(1);
    }
    await until(() => drained(a, b) && num(a, 'hits') === num(b, 'hits'), 'converged');
    expect(num(a, 'hits')).toBe('2000');
    expect(num(b, 'hits')).toBe('2000');
  });

  it('a set after the increments wins on both nodes; increments after it count from it', async () => {
    const net = new ReplicationNet();
    const { a, b } = await pair(net);
    a.store.set('c', '5');
    await until(() => num(b, 'c') === '5', 'base on B');
    for (let i = 0; i < 10; i++) b.store.incr('c', 1n);
    await until(() => num(a, 'c') === '15', 'increments on A');
    b.store.set('c', '100');
    await until(() => num(a, 'c') === '100', 'set on A');
    a.store.incr('c', 1n);
    b.store.incr('c', 1n, false);
    await until(() => drained(a, b), 'drained');
    expect(num(a, 'c')).toBe('100');
    expect(num(b, 'c')).toBe('100');
  });

  it('increments on both sides of a cut add up once the link resumes', async () => {
    const net = new ReplicationNet();
    const { a, b } = await pair(net);
    a.store.set('c', '0');
    await until(() => num(b, 'c') === '0', 'base on B');
    net.cut(a.host, b.host);
    for (let i = 0; i < 300; i++) {
      a.store.incr('c', 1n);
      b.store.incr('c', 2n);
    }
    await vi.advanceTimersByTimeAsync(1500);
    net.heal();
    await until(() => streaming(a, b) && drained(a, b) && num(a, 'c') === '900' && num(b, 'c') === '900', 'converged to 900', 20_000);
  });

  it('full copies made while both nodes increment (the log overflowed during a cut) still add up exactly', async () => {
    const net = new ReplicationNet();
    const { a, b } = await pair(net, { logCapacity: 64 });
    a.store.set('c', '0');
    b.store.set('other', '0');
    await until(() => num(b, 'c') === '0' && num(a, 'other') === '0', 'bases');
    net.cut(a.host, b.host);
    for (let i = 0; i < 200; i++) {
      a.store.incr('c', 1n);
      b.store.incr('c', 1n);
      a.store.incr('other', 3n);
    }
    await vi.advanceTimersByTimeAsync(1500);
    net.heal();
    // the copies are under way while the nodes keep incrementing
    for (let i = 0; i < 100; i++) {
      a.store.incr('c', 1n);
      b.store.incr('c', 1n);
      await vi.advanceTimersByTimeAsync(1);
    }
    await until(() => streaming(a, b) && drained(a, b) && num(a, 'c') === '600' && num(b, 'c') === '600', 'converged to 600', 20_000);
    expect(a.repl.senders[0].machine.fullSyncs + b.repl.senders[0].machine.fullSyncs).toBeGreaterThan(0);
    expect(num(b, 'other')).toBe('600');
  });

  it('sync mode: an increment is settled (its reply released) only once the peer applied it', async () => {
    const net = new ReplicationNet();
    net.delayMs = 20;
    const { a, b } = await pair(net, { syncMode: true, syncTimeoutMs: 5000 });
    a.store.set('c', '0');
    await until(() => num(b, 'c') === '0', 'base on B');
    for (let i = 1; i <= 5; i++) {
      a.store.incr('c', 1n);
      const settled = a.store.changes.settled(a.store.changes.nextSeq - 1);
      expect(settled).not.toBeNull();
      let done = false;
      void settled!.then(() => { done = true; });
      await vi.advanceTimersByTimeAsync(5);
      expect(done).toBe(false);
      await until(() => done, 'settled');
      expect(num(b, 'c')).toBe(String(i));
    }
    expect(a.repl.syncTimeouts).toBe(0);
  });

  it('a node restarted empty gets the counters by a full copy and its increments still add up', async () => {
    const net = new ReplicationNet();
    const a = await node(net, 1, '198.18.0.1', ['198.18.0.2']);
    await until(() => a.repl.isReady, 'A alone serves');
    a.store.set('c', '0');
    for (let i = 0; i < 50; i++) a.store.incr('c', 1n);
    const b = await node(net, 2, '198.18.0.2', ['198.18.0.1']);
    await until(() => b.repl.isReady && streaming(a, b), 'B joined');
    expect(num(b, 'c')).toBe('50');
    for (let i = 0; i < 25; i++) {
      a.store.incr('c', 1n);
      b.store.incr('c', 1n);
    }
    await until(() => drained(a, b) && num(a, 'c') === '100' && num(b, 'c') === '100', 'converged to 100');
  });
});
