/**
 * Replication links over an in-memory network on fake time: cuts, resets and delays, without sockets or root.
 * The same Replicator, Sender and Receiver as production; only the transport is the test network's. The real
 * TCP/TLS adapter is proven by the integration tests (replication-links, replication-tls, the namespace pair).
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import pino from 'pino';
import { HybridClock, versionNode } from '../../../src/replication/hlc.ts';
import { Replicator, type ReplicationOptions, type ReplicatorThreads } from '../../../src/replication/replicator.ts';
import { StoreLock } from '../../../src/cache/store-lock.ts';
import { setImmediate as realSetImmediate } from 'node:timers';
import { ReplicationShare } from '../../../src/replication/threads.ts';
import { MapStore } from './map-store.ts';
import { ReplicationNet, timersClock } from '../../support/replication-net.ts';
import { LAZY_ACK_MS, STREAM_ACK_MS } from '../../../src/replication/receiver.ts';
import { encode } from '../../../src/proto/replication/codec.ts';
import { COALESCE_MS } from '../../../src/replication/flush-pacer.ts';

const realTurn = () => new Promise((r) => realSetImmediate(r));
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

interface Node { host: string; store: MapStore; repl: Replicator; lines: string[] }

async function node(net: ReplicationNet, nodeId: number, host: string, peers: string[], extra: Partial<ReplicationOptions> = {}, threads?: ReplicatorThreads): Promise<Node> {
  const hlc = new HybridClock(nodeId);
  const store = new MapStore(() => hlc.now());
  if (threads !== undefined) {
    store.changes.share(1024);
    store.changes.keepRecords(); // as a client worker does: the replication thread reads the ring
  }
  const lines: string[] = [];
  const logger = pino({ level: 'info' }, { write: (s: string) => lines.push(s) });
  const repl = new Replicator(store, hlc, {
    peers: peers.map((p) => ({ host: p, port: PORT })), port: PORT, listenHost: host, timing, joinTimeoutMs: 5000, transport: net.transport(host), clock: timersClock, ...extra,
  }, logger, threads);
  await repl.start();
  cleanup.push(() => repl.stop(0));
  return { host, store, repl, lines };
}

/** Advances fake time in small steps until cond holds; fails after `ms` of fake time. Returns the time taken. */
async function until(cond: () => boolean, what: string, ms = 10_000, step = 5): Promise<number> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > ms) throw new Error(`timed out waiting for ${what}`);
    await vi.advanceTimersByTimeAsync(step);
  }
  return Date.now() - start;
}

const streaming = (...ns: Node[]) => ns.every((n) => n.repl.state === 'streaming' && n.repl.senders.every((s) => s.machine.state === 'streaming'));

async function pair(net: ReplicationNet, extra: Partial<ReplicationOptions> = {}) {
  const a = await node(net, 1, '198.18.0.1', ['198.18.0.2'], extra);
  const b = await node(net, 2, '198.18.0.2', ['198.18.0.1'], extra);
  await until(() => streaming(a, b), 'links up');
  return { a, b };
}

describe('replication links on an in-memory network', () => {
  it('replicate both ways and keep a cas valid across nodes', async () => {
    const net = new ReplicationNet();
    const { a, b } = await pair(net);
    const cas = a.store.set('k1', 'from-a');
    b.store.set('k2', 'from-b');
    await until(() => b.store.value('k1') === 'from-a' && a.store.value('k2') === 'from-b', 'values on both');
    expect(b.store.itemCas(b.store.peek(Buffer.from('k1')))).toBe(cas);
    b.store.del('k1');
    await until(() => a.store.value('k1') === undefined, 'delete on A');
  });

  it('-t N: the replication thread writes to its sockets once the store lock is released, every frame in order', async () => {
    const net = new ReplicationNet();
    const lock = new StoreLock();
    const held: boolean[] = [];
    const deliver = net.deliver.bind(net);
    vi.spyOn(net, 'deliver').mockImplementation((from, data) => {
      if (from.localHost === '198.18.0.1') held.push(new Int32Array(lock.buffer)[0] !== 0);
      deliver(from, data);
    });
    const a = await node(net, 1, '198.18.0.1', ['198.18.0.2'], {}, { lock, share: new ReplicationShare() });
    const b = await node(net, 2, '198.18.0.2', ['198.18.0.1']);
    await until(() => streaming(a, b), 'links up');
    held.length = 0; // from here on A writes only what its sender ships (and the acks of an idle link)
    for (let i = 0; i < 300; i++) a.store.set(`k${i % 50}`, `v${i}-${'x'.repeat(i * 40)}`);
    // the stream's bell wakes the replication thread through the event loop (Atomics.waitAsync): real turns too
    for (let t = 0; t < 2000 && b.store.value('k49') !== `v299-${'x'.repeat(299 * 40)}`; t++) {
      await realTurn();
      await vi.advanceTimersByTimeAsync(1);
    }
    for (let k = 0; k < 50; k++) expect(b.store.value(`k${k}`)).toBe(a.store.value(`k${k}`));
    expect(held.length).toBeGreaterThan(0);
    expect(held.filter((h) => h)).toEqual([]);
  });

  it('a partition: the links see the silence, redial, and resume from the change stream without a full copy', async () => {
    const net = new ReplicationNet();
    const { a, b } = await pair(net);
    a.store.set('gone', 'x');
    await until(() => b.store.value('gone') === 'x', 'initial');
    const { fullSyncs: copies, resumes } = a.repl.senders[0].machine;
    net.cut(a.host, b.host);
    const noticed = await until(() => a.repl.senders[0].machine.state !== 'streaming' && b.repl.senders[0].machine.state !== 'streaming', 'links down');
    expect(noticed).toBeGreaterThanOrEqual(timing.deadAfterMs - timing.heartbeatMs);
    a.store.set('during', 'cut');
    a.store.del('gone');
    b.store.set('b-during', 'cut');
    await vi.advanceTimersByTimeAsync(3000); // redials across the cut time out and back off
    expect(b.store.value('during')).toBeUndefined();
    net.heal();
    await until(() => b.store.value('during') === 'cut' && a.store.value('b-during') === 'cut' && b.store.value('gone') === undefined, 'converged after heal');
    expect(a.repl.senders[0].machine.fullSyncs).toBe(copies);
    expect(a.repl.senders[0].machine.resumes).toBe(resumes + 1);
    expect(a.lines.join('')).toMatch(/streaming -> backoff \(peer silent for \d+ ms/);
  });

  it("a peer's stream counts as heard only while it streams and has caught up; a cut makes it age, then vanish", async () => {
    const net = new ReplicationNet();
    const { a, b } = await pair(net);
    await until(() => a.repl.peersHeardMs() !== null && b.repl.peersHeardMs() !== null, 'both current');
    let worst = 0;
    for (let t = 0; t < 2000; t += 10) {
      await vi.advanceTimersByTimeAsync(10);
      worst = Math.max(worst, a.repl.peersHeardMs() ?? Infinity);
    }
    // Idle: a heartbeat every heartbeatMs (checked every 50 ms).
    expect(worst).toBeLessThanOrEqual(timing.heartbeatMs + 60);
    const stat = (n: Node, name: string) => n.repl.stats().find(([k]) => k === name)?.[1];
    expect(stat(a, 'repl_peers_heard_ms')).toEqual(expect.any(Number));
    expect(stat(a, 'repl_peer_0_heard_ms')).toEqual(expect.any(Number));

    net.cut(a.host, b.host);
    await vi.advanceTimersByTimeAsync(500);
    expect(a.repl.peersHeardMs()).toBeGreaterThanOrEqual(500 - timing.heartbeatMs - 60);
    expect(a.repl.state).toBe('streaming'); // not yet found dead
    for (let i = 0; i < 3000; i++) b.store.set(`during${i}`, `v${i}`);
    await until(() => a.repl.peersHeardMs() === null, 'the silent stream found dead');
    expect(stat(a, 'repl_peers_heard_ms')).toBe('-');
    expect(stat(a, 'repl_peer_0_heard_ms')).toBe('-');

    net.heal();
    // The first moment A calls B's stream current again, it holds everything B wrote during the cut.
    await until(() => a.repl.peersHeardMs() !== null, 'current again', 20_000);
    expect(a.store.itemCount).toBe(3000);
    expect(a.store.value('during2999')).toBe('v2999');
  });

  it('a reset connection is redialed after the backoff and resumes', async () => {
    const net = new ReplicationNet();
    const { a, b } = await pair(net);
    const s = a.repl.senders[0].machine;
    const [failures, copies] = [s.failures, s.fullSyncs];
    net.reset(a.host, b.host);
    a.store.set('after-reset', 'v');
    await until(() => b.store.value('after-reset') === 'v' && streaming(a, b), 'resumed');
    expect(s.failures).toBe(failures + 1);
    expect(s.fullSyncs).toBe(copies);
    expect(a.lines.join('')).toMatch(/connection closed by peer/);
  });

  it('a reader that fell out of the ring gets a full copy, never a silent loss', async () => {
    const net = new ReplicationNet();
    const { a, b } = await pair(net, { logCapacity: 8 });
    const copies = a.repl.senders[0].machine.fullSyncs;
    net.cut(a.host, b.host);
    await until(() => a.repl.senders[0].machine.state !== 'streaming', 'link down');
    for (let i = 0; i < 100; i++) a.store.set(`k${i}`, `v${i}`);
    net.heal();
    await until(() => b.store.itemCount === 100, 'all 100 keys on B');
    expect(a.repl.senders[0].machine.fullSyncs).toBe(copies + 1);
    expect(a.lines.join('')).toMatch(/no longer in the log/);
  });

  it('a delayed link still converges, and its lag shows in the queue until the ack comes back', async () => {
    const net = new ReplicationNet();
    net.delayMs = 40;
    const { a, b } = await pair(net);
    a.store.set('slow', '1');
    expect(a.repl.senders[0].queueDepth).toBe(1);
    const took = await until(() => a.repl.senders[0].queueDepth === 0, 'acked');
    expect(b.store.value('slow')).toBe('1');
    expect(took).toBeGreaterThanOrEqual(2 * net.delayMs);
  });

  it('acks are cumulative: one per LAZY_ACK_MS for a sender not in sync mode, however many messages came in', async () => {
    const net = new ReplicationNet();
    const { a, b } = await pair(net);
    const receiver = [...b.repl.receivers][0];
    const ackBytes = encode({ type: 'ack', seq: 1n }).length;
    // Start right after B's idle heartbeat (which also carries its applied sequence): the next is 100 ms away.
    const before = receiver.bytesSent;
    await until(() => receiver.bytesSent > before, 'a heartbeat', 1000, 1);
    // (or an ack: then quiet for STREAM_ACK_MS, so the next write is acked LAZY_ACK_MS after it)
    await vi.advanceTimersByTimeAsync(STREAM_ACK_MS);
    const sent0 = receiver.bytesSent;
    const start = Date.now();
    // One write per millisecond: each reaches B in a message of its own.
    for (let i = 0; i < LAZY_ACK_MS - 1; i++) {
      a.store.set(`lazy${i}`, String(i));
      await vi.advanceTimersByTimeAsync(1);
    }
    expect(Date.now() - start).toBeLessThan(LAZY_ACK_MS);
    expect(b.store.value(`lazy${LAZY_ACK_MS - 2}`)).toBe(String(LAZY_ACK_MS - 2));
    expect(receiver.bytesSent).toBe(sent0);
    expect(a.repl.senders[0].queueDepth).toBe(LAZY_ACK_MS - 1);
    await vi.advanceTimersByTimeAsync(LAZY_ACK_MS);
    expect(receiver.bytesSent - sent0).toBe(ackBytes);
    expect(a.repl.senders[0].queueDepth).toBe(0);
  });

  it('under a steady stream a sender not in sync mode gets one ack per STREAM_ACK_MS; after a quiet spell, LAZY_ACK_MS after a write', async () => {
    const net = new ReplicationNet();
    const { a, b } = await pair(net);
    const receiver = [...b.repl.receivers][0];
    const ackBytes = encode({ type: 'ack', seq: 1n }).length;
    const before = receiver.bytesSent;
    await until(() => receiver.bytesSent > before, 'a heartbeat', 1000, 1);
    await vi.advanceTimersByTimeAsync(STREAM_ACK_MS);
    const sent0 = receiver.bytesSent;
    // one write per millisecond for 4 x STREAM_ACK_MS: the first ack LAZY_ACK_MS in, then one per STREAM_ACK_MS
    const depths: number[] = [];
    for (let i = 0; i < 4 * STREAM_ACK_MS; i++) {
      a.store.set(`s${i}`, String(i));
      await vi.advanceTimersByTimeAsync(1);
      depths.push(a.repl.senders[0].queueDepth);
    }
    const acks = (receiver.bytesSent - sent0) / ackBytes;
    expect(acks).toBeGreaterThanOrEqual(4);
    expect(acks).toBeLessThanOrEqual(5);
    // the queue is never more than one interval (and the network's delay) deep
    expect(Math.max(...depths)).toBeLessThanOrEqual(STREAM_ACK_MS + 3);
    await vi.advanceTimersByTimeAsync(STREAM_ACK_MS + LAZY_ACK_MS);
    expect(a.repl.senders[0].queueDepth).toBe(0);
    // quiet for more than STREAM_ACK_MS: a lone write is acknowledged LAZY_ACK_MS after it arrived
    await vi.advanceTimersByTimeAsync(STREAM_ACK_MS);
    a.store.set('lone', '1');
    const took = await until(() => a.repl.senders[0].queueDepth === 0, 'acked', 100, 1);
    expect(took).toBeLessThanOrEqual(LAZY_ACK_MS + 3);
  });

  it('sync mode: the ack leaves in the turn after the apply, not LAZY_ACK_MS later', async () => {
    const net = new ReplicationNet();
    const { a } = await pair(net, { syncMode: true, syncTimeoutMs: 300 });
    for (let i = 0; i < 3; i++) {
      a.store.set(`now${i}`, '1');
      let done = false;
      void a.store.changes.settled(a.store.changes.nextSeq - 1)?.then(() => (done = true));
      // The only time that passes is the test network's delivery (1 ms each way) and the fake timer steps.
      const took = await until(() => done, 'acked', 100, 1);
      expect(took).toBeLessThan(LAZY_ACK_MS);
    }
  });

  it('sync mode: a write waits for the peer\'s ack, and at most syncTimeoutMs when the peer is cut off', async () => {
    const net = new ReplicationNet();
    net.delayMs = 30;
    const { a, b } = await pair(net, { syncMode: true, syncTimeoutMs: 300 });
    const settled = () => {
      const p = a.store.changes.settled(a.store.changes.nextSeq - 1);
      let done = false;
      void p?.then(() => (done = true));
      return { waits: p !== null, done: () => done };
    };
    a.store.set('s', '1');
    const first = settled();
    expect(first.waits).toBe(true);
    const acked = await until(first.done, 'acked');
    expect(acked).toBeGreaterThanOrEqual(2 * net.delayMs);
    expect(acked).toBeLessThan(300);
    expect(b.store.value('s')).toBe('1');
    expect(a.repl.syncAcked).toBeGreaterThanOrEqual(1);

    net.cut(a.host, b.host);
    a.store.set('s', '2');
    const second = settled();
    expect(second.waits).toBe(true);
    const bounded = await until(second.done, 'timed out');
    expect(bounded).toBeGreaterThanOrEqual(300);
    expect(bounded).toBeLessThan(300 + 20);
    expect(a.repl.syncTimeouts).toBe(1);
  });

  it('three nodes in a full mesh converge, and one cut off catches up on heal', async () => {
    const net = new ReplicationNet();
    const hosts = ['198.18.0.1', '198.18.0.2', '198.18.0.3'];
    const ns: Node[] = [];
    for (let i = 0; i < 3; i++) ns.push(await node(net, i + 1, hosts[i], hosts.filter((_, j) => j !== i)));
    await until(() => streaming(...ns), 'mesh up');
    net.cut(hosts[2], hosts[0]);
    net.cut(hosts[2], hosts[1]);
    ns.forEach((n, i) => n.store.set(`from${i}`, `v${i}`));
    await until(() => ns[0].store.value('from1') === 'v1' && ns[1].store.value('from0') === 'v0', 'the two connected');
    expect(ns[2].store.value('from0')).toBeUndefined();
    net.heal();
    await until(() => ns.every((n) => [0, 1, 2].every((i) => n.store.value(`from${i}`) === `v${i}`)), 'all keys everywhere');
  });

  it('a restarted node gets a full copy before it is ready', async () => {
    const net = new ReplicationNet();
    const a = await node(net, 1, '198.18.0.1', ['198.18.0.2']);
    await until(() => a.repl.isReady, 'A alone serves');
    for (let i = 0; i < 1000; i++) a.store.set(`k${i}`, `v${i}`);
    const b = await node(net, 2, '198.18.0.2', ['198.18.0.1']);
    expect(b.repl.isReady).toBe(false);
    await until(() => b.repl.isReady, 'B ready');
    expect(b.lines.join('')).toMatch(/full copy of 1000 items/);
    expect(b.store.itemCount).toBe(1000);
  });

  it('concurrent writes of one key converge on the newest version', async () => {
    const net = new ReplicationNet();
    net.delayMs = 5;
    const { a, b } = await pair(net);
    for (let i = 0; i < 50; i++) {
      a.store.set('hot', `a${i}`);
      b.store.set('hot', `b${i}`);
    }
    await until(() => a.repl.senders[0].queueDepth === 0 && b.repl.senders[0].queueDepth === 0, 'queues drained');
    expect(a.store.value('hot')).toBe(b.store.value('hot'));
  });

  it('a first node with no reachable peer serves at once and says so', async () => {
    const net = new ReplicationNet();
    const a = await node(net, 1, '198.18.0.1', ['198.18.0.2']);
    await until(() => a.repl.isReady, 'ready');
    expect(await a.repl.ready).toMatch(/no peer reachable/);
  });

  it('two nodes that drew the same node id sort it out and replicate', async () => {
    const net = new ReplicationNet();
    const a = await node(net, 7, '198.18.0.1', ['198.18.0.2']);
    const b = await node(net, 7, '198.18.0.2', ['198.18.0.1']);
    await until(() => a.repl.nodeId !== b.repl.nodeId, 'one node moved');
    expect(a.lines.join('') + b.lines.join('')).toMatch(/node id 7 is also used by a peer/);
    await until(() => a.repl.isReady && b.repl.isReady, 'both serving', 3000);
    expect([a.repl.completeness, b.repl.completeness]).toEqual(['complete', 'complete']);
    a.store.set('k', 'v');
    await until(() => b.store.value('k') === 'v', 'replicated');
    expect(versionNode(b.store.itemVersion(b.store.peek(Buffer.from('k'))))).toBe(a.repl.nodeId);
  });

  it('partial nodes: one that becomes complete makes the others complete over the links they already have', async () => {
    const net = new ReplicationNet();
    const [h1, h2, h3] = ['198.18.0.1', '198.18.0.2', '198.18.0.3'];
    // C is not up yet: its address accepts and hangs up, so neither can call the cluster cold. Both open partial.
    const hangUp = await net.transport(h3).listen(PORT, h3, (s) => s.destroy());
    const a = await node(net, 1, h1, [h2, h3], { joinTimeoutMs: 300 });
    const b = await node(net, 2, h2, [h1, h3], { joinTimeoutMs: 300 });
    await until(() => a.repl.completeness === 'partial' && b.repl.completeness === 'partial', 'both partial');
    expect(b.repl.state).toBe('partial');
    a.store.set('k', 'v');
    await until(() => b.store.value('k') === 'v', 'replicated between the partial nodes');
    await hangUp.close();
    // C, complete by its operator's word, links with A only: A completes from C, then B from A, on their live link.
    const c = await node(net, 3, h3, [h1], { startComplete: true });
    await until(() => a.repl.completeness === 'complete', 'A complete from C');
    await until(() => b.repl.completeness === 'complete', 'B complete from A');
    expect(b.lines.join('')).toMatch(/the peer is complete now; asking it for a full copy/);
    await until(() => c.store.value('k') === 'v', "A's partial copy merged into C");
    expect(b.repl.state).toBe('streaming');
  });

  it('a wrong secret is refused with a logged reason, and nothing replicates', async () => {
    const net = new ReplicationNet();
    const a = await node(net, 1, '198.18.0.1', ['198.18.0.2'], { secret: 'one' });
    const b = await node(net, 2, '198.18.0.2', ['198.18.0.1'], { secret: 'two' });
    await until(() => /wrong or missing replication secret/.test(b.lines.join('') + a.lines.join('')), 'refusal logged');
    a.store.set('k', 'v');
    await vi.advanceTimersByTimeAsync(1000);
    expect(b.store.value('k')).toBeUndefined();
  });
});

describe('flush pacing: async mode coalesces writes under load, sync mode and a stop never hold them', () => {
  /** The data writes of A's sender (on the link A dialed to B), as the fake times they left at. */
  function senderWrites(net: ReplicationNet, a: Node): number[] {
    const at: number[] = [];
    const deliver = net.deliver.bind(net);
    vi.spyOn(net, 'deliver').mockImplementation((from, what) => {
      if (from.localHost === a.host && from.remotePort === PORT && what !== 'close') at.push(Date.now());
      deliver(from, what);
    });
    return at;
  }

  /** Right after an idle heartbeat of A's sender, so the next is 100 ms away. */
  async function quiet(net: ReplicationNet, a: Node): Promise<number[]> {
    const sent = a.repl.senders[0].bytesSent;
    await until(() => a.repl.senders[0].bytesSent > sent, 'a heartbeat', 1000, 1);
    return senderWrites(net, a);
  }

  it('an isolated write ships in the same turn; a burst within COALESCE_MS goes out as one write COALESCE_MS after', async () => {
    const net = new ReplicationNet();
    const { a, b } = await pair(net);
    const writes = await quiet(net, a);
    const t0 = Date.now();
    a.store.set('alone', '1');
    await vi.advanceTimersByTimeAsync(0); // the turn's immediates
    expect(writes).toEqual([t0]);
    for (let i = 0; i < 20; i++) a.store.set(`burst${i}`, String(i));
    await vi.advanceTimersByTimeAsync(0);
    expect(writes).toEqual([t0]); // held
    await vi.advanceTimersByTimeAsync(COALESCE_MS);
    expect(writes).toEqual([t0, t0 + COALESCE_MS]);
    await until(() => b.store.value('burst19') === '19', 'the burst on B');
    expect(b.store.value('alone')).toBe('1');
  });

  it('sync mode never holds: every turn that wrote ships at its end', async () => {
    const net = new ReplicationNet();
    const { a, b } = await pair(net, { syncMode: true, syncTimeoutMs: 300 });
    const writes = await quiet(net, a);
    const t0 = Date.now();
    for (let i = 0; i < 3; i++) {
      a.store.set(`sync${i}`, '1');
      await vi.advanceTimersByTimeAsync(0);
    }
    expect(writes).toEqual([t0, t0, t0]);
    await until(() => b.store.value('sync2') === '1', 'the writes on B');
  });

  it('a graceful stop ships a held batch at once', async () => {
    const net = new ReplicationNet();
    const { a, b } = await pair(net);
    const writes = await quiet(net, a);
    const t0 = Date.now();
    a.store.set('first', '1');
    await vi.advanceTimersByTimeAsync(0);
    a.store.set('held', '2');
    await vi.advanceTimersByTimeAsync(0);
    expect(writes).toEqual([t0]);
    const stopping = a.repl.stop(1000);
    expect(writes).toEqual([t0, t0]);
    // while the peer drains, a write still goes at the end of its turn
    a.store.set('draining', '3');
    await vi.advanceTimersByTimeAsync(0);
    expect(writes).toEqual([t0, t0, t0]);
    await vi.advanceTimersByTimeAsync(1000);
    await stopping;
    expect(b.store.value('held')).toBe('2');
    expect(b.store.value('draining')).toBe('3');
  });
});
