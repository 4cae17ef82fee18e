/**
 * Replication links in one process over loopback TCP: Replicators with Map-backed stores. What needs real sockets
 * is here (the TCP adapter, a cut by a forwarding proxy, raw bytes from a stranger, the one-sided configuration's
 * address checks); the other link scenarios run on fake time in test/unit/replication/links.test.ts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import pino from 'pino';
import { encode } from '../../src/proto/replication/codec.ts';
import { HybridClock } from '../../src/replication/hlc.ts';
import { Replicator, type ReplicationOptions } from '../../src/replication/replicator.ts';
import { freePort } from '../support/ports.ts';
import { MapStore } from '../unit/replication/map-store.ts';
import { CuttableProxy } from './replication-proxy.ts';
import { readFor } from './replication-stranger.ts';

const timing = { heartbeatMs: 100, deadAfterMs: 1000, backoffMinMs: 20, backoffMaxMs: 200, connectTimeoutMs: 1000 };
const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

interface Node { store: MapStore; repl: Replicator; port: number; lines: string[] }

async function node(nodeId: number, port: number, peers: number[], extra: Partial<ReplicationOptions> = {}): Promise<Node> {
  const hlc = new HybridClock(nodeId);
  const store = new MapStore(() => hlc.now());
  const lines: string[] = [];
  const logger = pino({ level: 'info' }, { write: (s: string) => lines.push(s) });
  const repl = new Replicator(store, hlc, { peers: peers.map((p) => ({ host: '127.0.0.1', port: p })), port, listenHost: '127.0.0.1', timing, joinTimeoutMs: 5000, ...extra }, logger);
  await repl.start();
  cleanup.push(() => repl.stop(0));
  return { store, repl, port, lines };
}

/** A local write: the store publishes it to its change stream, which the node's replicator follows. */
function write(n: Node, key: string, value: string, ttl = 0): bigint {
  return n.store.set(key, value, ttl);
}

function del(n: Node, key: string): void {
  n.store.del(key);
}

/** What a synchronous-mode reply waits for: the ack of the latest change. */
const settled = (n: Node) => n.store.changes.settled(n.store.changes.nextSeq - 1);

async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function pair(extra: Partial<ReplicationOptions> = {}) {
  const [pa, pb] = [await freePort(), await freePort()];
  const toB = new CuttableProxy(pb);
  const toA = new CuttableProxy(pa);
  await toB.start();
  await toA.start();
  cleanup.push(() => toB.stop(), () => toA.stop());
  const a = await node(1, pa, [toB.port], extra);
  const b = await node(2, pb, [toA.port], extra);
  await until(() => a.repl.state === 'streaming' && b.repl.state === 'streaming' && a.repl.senders[0].machine.state === 'streaming' && b.repl.senders[0].machine.state === 'streaming', 'links up');
  return { a, b, toA, toB };
}

describe('replication links (in process)', () => {
  it('replicates both ways, deletes, and keeps a cas valid across nodes', async () => {
    const { a, b } = await pair();
    const cas = write(a, 'k1', 'from-a');
    write(b, 'k2', 'from-b');
    await until(() => b.store.value('k1') === 'from-a' && a.store.value('k2') === 'from-b', 'values on both');
    expect(b.store.itemCas(b.store.peek(Buffer.from('k1')))).toBe(cas);
    del(b, 'k1');
    await until(() => a.store.value('k1') === undefined, 'delete on A');
  });

  it('a short cut resumes without a full copy and nothing deleted comes back', async () => {
    const { a, b, toA, toB } = await pair();
    write(a, 'gone', 'x');
    await until(() => b.store.value('gone') === 'x', 'initial');
    const copies = a.repl.senders[0].machine.fullSyncs;
    toA.cut();
    toB.cut();
    await until(() => a.repl.senders[0].machine.state !== 'streaming' && b.repl.senders[0].machine.state !== 'streaming', 'links down');
    write(a, 'during', 'cut');
    del(a, 'gone');
    write(b, 'b-during', 'cut');
    await new Promise((r) => setTimeout(r, 200));
    toA.heal();
    toB.heal();
    await until(() => b.store.value('during') === 'cut' && a.store.value('b-during') === 'cut' && b.store.value('gone') === undefined, 'converged after heal', 8000);
    expect(a.repl.senders[0].machine.fullSyncs).toBe(copies);
    expect(a.repl.senders[0].machine.resumes).toBeGreaterThanOrEqual(1);
    expect(a.lines.join('')).toMatch(/streaming -> backoff/);
  });

  it('refuses item frames out of turn: first, before authentication, outside a full copy', async () => {
    const a = await node(1, await freePort(), []);
    const set = encode({ type: 'set', seq: 1n, version: 5n, flags: 0, ttl: 0, key: Buffer.from('k'), value: Buffer.from('v') });
    const syncItem = encode({ type: 'sync_item', version: 5n, flags: 0, ttl: 0, key: Buffer.from('k'), value: Buffer.from('v') });
    const first = await readFor({ port: a.port, send: set, ms: 500 });
    expect(first).toMatchObject({ bytes: 0, closed: true });
    const early = await readFor({ port: a.port, role: 'sender', afterHello: set, ms: 1000 });
    expect(early.frames.map((f) => f.type)).toEqual(['hello', 'error']);
    expect(a.repl.stats()).toEqual(expect.arrayContaining([['repl_refused_garbage', 1], ['repl_refused_handshake', 1]]));
    expect(a.lines.join('')).toMatch(/refused a connection from 127\.0\.0\.1:\d+: SET before authentication/);
    // No secret here (loopback only): a peer proving the empty secret is a member, yet a copy's item outside a copy is refused.
    const member = await readFor({ port: a.port, role: 'sender', secret: '', afterAuth: syncItem, ms: 1000 });
    expect(member.frames.map((f) => f.type)).toEqual(['hello', 'auth', 'resume', 'error']);
    await until(() => a.lines.some((l) => l.includes('SYNC_ITEM outside a full copy') && l.includes('refused peer')), 'refusal logged');
    expect(a.store.peek(Buffer.from('k'))).toBe(-1);
  });

  it('synchronous mode waits for the ack, and times out boundedly when the peer is gone', async () => {
    const { a, toB } = await pair({ syncMode: true, syncTimeoutMs: 300 });
    a.store.set('s', '1');
    await settled(a);
    expect(a.repl.syncAcked).toBeGreaterThanOrEqual(1);
    toB.cut();
    // Until the link is seen down, writes wait at most syncTimeoutMs.
    const t0 = Date.now();
    a.store.set('s', '2');
    await settled(a);
    expect(Date.now() - t0).toBeLessThan(1000);
  });
});

describe('replication links: one-sided configuration', () => {
  it('a node without -x links back to a peer that dials it (repcached style)', async () => {
    const pa = await freePort();
    const a = await node(1, pa, []);
    const b = await node(2, await freePort(), [pa]);
    await until(() => a.repl.senders.length === 1 && a.repl.senders[0].machine.state === 'streaming', 'link back');
    write(a, 'x', 'from-a');
    write(b, 'y', 'from-b');
    await until(() => b.store.value('x') === 'from-a' && a.store.value('y') === 'from-b', 'both ways');
  });
});
