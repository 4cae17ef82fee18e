import { afterEach, describe, expect, it, vi } from 'vitest';
import pino from 'pino';
import { StoreLock } from '../../../src/cache/store-lock.ts';
import { HybridClock } from '../../../src/replication/hlc.ts';
import { Replicator } from '../../../src/replication/replicator.ts';
import { ReplicationShare, StoreSections } from '../../../src/replication/threads.ts';
import { encode } from '../../../src/proto/replication/codec.ts';
import { ReplicationNet } from '../../support/replication-net.ts';
import { helloFrame } from '../../integration/replication-stranger.ts';
import { MapStore } from './map-store.ts';

const realSetImmediate = setImmediate;

afterEach(() => {
  vi.useRealTimers();
});

class Thing {
  #n = 0;
  bump(by = 1): number {
    return (this.#n += by);
  }
  get n(): number {
    return this.#n;
  }
}

describe('the replication thread takes the store lock per callback (StoreSections)', () => {
  it('the first use of a guarded object takes the lock, notes the records once, and a microtask releases it', async () => {
    const lock = new StoreLock();
    const word = new Int32Array(lock.buffer);
    let entered = 0;
    const sections = new StoreSections(lock, () => entered++);
    const t = sections.guard(new Thing());
    expect(word[0]).toBe(0);
    expect(t.bump()).toBe(1);
    expect(t.bump(2)).toBe(3);
    expect(t.n).toBe(3);
    expect([word[0], entered, sections.held]).toEqual([1, 1, true]);
    await Promise.resolve();
    expect([word[0], sections.held]).toEqual([0, false]);
    expect(t.n).toBe(3);
    expect([word[0], entered, sections.taken]).toEqual([1, 2, 2]);
    await new Promise((r) => setImmediate(r));
    expect(word[0]).toBe(0);
  });

  it('afterRelease runs its callbacks in order just after the lock is released; without a section it takes none', async () => {
    const lock = new StoreLock();
    const word = new Int32Array(lock.buffer);
    const sections = new StoreSections(lock, () => {});
    const t = sections.guard(new Thing());
    expect(sections.afterRelease(() => {})).toBe(false);
    const ran: Array<[string, number]> = [];
    t.bump();
    expect(sections.afterRelease(() => ran.push(['first', word[0]]))).toBe(true);
    expect(sections.afterRelease(() => ran.push(['second', word[0]]))).toBe(true);
    expect(ran).toEqual([]);
    await Promise.resolve();
    expect(ran).toEqual([['first', 0], ['second', 0]]);
    t.bump();
    await Promise.resolve();
    expect(ran.length).toBe(2);
  });

  it('releases the lock even when the callback throws', async () => {
    const lock = new StoreLock();
    const sections = new StoreSections(lock, () => {});
    const t = sections.guard(new Thing());
    expect(() => {
      t.bump();
      throw new Error('boom');
    }).toThrow('boom');
    await Promise.resolve();
    expect(new Int32Array(lock.buffer)[0]).toBe(0);
  });
});

describe('ReplicationShare', () => {
  it('stats published by the replication thread are read back, with the workers\' sync counts', () => {
    const share = new ReplicationShare();
    expect(share.stats()).toEqual([['replication', 'MASTER'], ['replication_state', 'syncing']]);
    share.publishStats([['replication', 'MASTER'], ['repl_peer_0_state', 'streaming'], ['repl_sync_acked', 0], ['repl_sync_timeouts', 0]]);
    const worker = new ReplicationShare(share.buffer);
    expect(worker.stats()).toEqual([['replication', 'MASTER'], ['repl_peer_0_state', 'streaming'], ['repl_sync_acked', 0], ['repl_sync_timeouts', 0]]);
    expect(worker.view()).toBeNull();
    // what the metrics endpoint reads: live objects' getters as plain data
    const machine = { get state() { return 'streaming'; }, fullSyncs: 1, resumes: 2, failures: 3 };
    const sender = { host: 'h', port: 1, inbound: false, machine, get lagMs() { return 4; }, queueDepth: 5, bytesSent: 6, bytesReceived: 7 };
    share.publishStats([], { state: 'streaming', senders: [sender], receivers: new Set([{ remote: 'r', bytesReceived: 8, machine: { state: 'waiting' } }]) });
    expect(worker.view()).toEqual({
      state: 'streaming',
      senders: [{ host: 'h', port: 1, inbound: false, lagMs: 4, queueDepth: 5, bytesSent: 6, bytesReceived: 7, machine: { state: 'streaming', fullSyncs: 1, resumes: 2, failures: 3 } }],
      receivers: [{ remote: 'r', bytesReceived: 8, machine: { state: 'waiting' } }],
    });
  });

  it('sync mode: a reply waits for the acknowledgement of its record, or for the bound; none without a peer up', async () => {
    const share = new ReplicationShare();
    const worker = new ReplicationShare(share.buffer);
    const waits = worker.syncWaits(200);
    expect(waits.settled(1)).toBeNull(); // no peer up
    share.peerUp = true;
    let done = 0;
    const first = waits.settled(2)!.then(() => done++);
    const second = waits.settled(5)!.then(() => done++);
    share.acked(3);
    await first;
    expect(done).toBe(1);
    expect(waits.settled(3)).toBeNull(); // acknowledged already
    const t0 = performance.now();
    await second; // 5 is never acknowledged: the bound
    expect(performance.now() - t0).toBeGreaterThanOrEqual(150);
    share.publishStats([['repl_sync_acked', 0], ['repl_sync_timeouts', 0]]);
    expect(worker.stats()).toEqual([['repl_sync_acked', 2], ['repl_sync_timeouts', 1]]);
    share.acked(2); // never backwards
    expect(worker.ackedSeq).toBe(3n);
  });
});

describe('the replication thread\'s refusal counters (repcache -t N)', () => {
  it('every kind of refusal is in a worker\'s stats as soon as it is counted, with no publication in between', async () => {
    vi.useFakeTimers();
    const net = new ReplicationNet();
    const hlc = new HybridClock(1);
    const store = new MapStore(() => hlc.now());
    store.changes.share(1024);
    const share = new ReplicationShare();
    const port = 11212;
    const repl = new Replicator(store, hlc, {
      peers: [{ host: '198.18.0.2', port }], port, listenHost: '198.18.0.1', secret: 'right', transport: net.transport('198.18.0.1'),
      timing: { connectTimeoutMs: 1000 }, joinTimeoutMs: 1000,
    }, pino({ level: 'silent' }), { lock: new StoreLock(), share });
    await repl.start();
    await vi.advanceTimersByTimeAsync(10);
    const worker = new ReplicationShare(share.buffer);
    const refused = () => Object.fromEntries(worker.stats().filter(([k]) => k.startsWith('repl_refused_')).map(([k, v]) => [k.slice(13), v]));
    expect(refused()).toEqual({ address: 0, busy: 0, tls: 0, garbage: 0, timeout: 0, auth: 0, handshake: 0 });
    // from now on nothing is published: what the worker reads of the refusals comes from the shared counters
    share.publishStats = () => {};
    const stranger = (from: string, bytes: Buffer, afterReply?: Buffer) => {
      const { socket } = net.transport(from).dial('198.18.0.1', port);
      socket.on('connect', () => socket.write(bytes));
      socket.once('data', () => afterReply && socket.write(afterReply));
      socket.on('error', () => {});
    };
    stranger('198.18.0.9', helloFrame('receiver')); // not a peer
    stranger('198.18.0.2', Buffer.from('get precious\r\n')); // garbage
    const v1Hello = Buffer.concat([Buffer.from([0, 0, 0, 41, 1]), Buffer.from('48565250', 'hex'), Buffer.from([0, 1]), Buffer.alloc(34)]);
    stranger('198.18.0.2', v1Hello); // another protocol version
    stranger('198.18.0.2', helloFrame('receiver'), encode({ type: 'auth', proof: Buffer.alloc(32) })); // wrong secret
    stranger('198.18.0.2', Buffer.alloc(0)); // silent
    await vi.advanceTimersByTimeAsync(1500);
    expect(refused()).toEqual({ address: 1, busy: 0, tls: 0, garbage: 1, timeout: 1, auth: 1, handshake: 1 });
    await repl.stop(0);
  });
});

describe('the replication thread\'s stats (repcache -t N)', () => {
  it('what a section changed is in a worker\'s stats as soon as the section ends; in a run of sections, once a worker read them or at the next tick', async () => {
    vi.useFakeTimers();
    const hlc = new HybridClock(1);
    const store = new MapStore(() => hlc.now());
    store.changes.share(1024);
    const share = new ReplicationShare();
    const lock = new StoreLock();
    const repl = new Replicator(store, hlc, { peers: [], port: 11212, listenHost: '198.18.0.1', transport: new ReplicationNet().transport('198.18.0.1') },
      pino({ level: 'silent' }), { lock, share });
    await repl.start();
    await vi.advanceTimersByTimeAsync(0);
    const set = async (key: string) => {
      repl.applyRemote({ type: 'set', key: Buffer.from(key), flags: 0, ttl: 0, value: Buffer.from('v'), version: hlc.now() });
      await Promise.resolve(); // the section ends with the callback's synchronous run
    };
    const worker = new ReplicationShare(share.buffer);
    /** A worker's read of `stats` (it rings the replication thread). */
    const read = (name: string) => worker.stats().find(([k]) => k === name)?.[1];
    /** What a read would find, without ringing (the test looks; no worker asked). */
    const published = (name = 'repl_applied') => share.published().find(([k]) => k === name)?.[1];
    expect(read('repl_applied')).toBe(0);
    /** The replication thread hears a worker's ring in a task of the real event loop (an Atomics.waitAsync). */
    const ringHeard = async () => {
      for (let k = 0; k < 3; k++) await new Promise((r) => realSetImmediate(r));
    };
    await ringHeard();
    // the 50 ms tick publishes too: every step below is placed between two ticks (at 50 and 100 ms)
    await vi.advanceTimersByTimeAsync(25);
    repl.applyRemote({ type: 'set', key: Buffer.from('k'), flags: 0, ttl: 0, value: Buffer.from('v'), version: hlc.now() });
    repl.applyRemote({ type: 'delete', key: Buffer.from('gone'), version: hlc.now() });
    await Promise.resolve(); // no timer ran
    expect(new Int32Array(lock.buffer)[0]).toBe(0);
    expect([published('repl_applied'), published('repl_tombstones')]).toEqual([1, 1]);
    // a run of sections (closer than 20 ms to each other): not published as they end, nor by a timer
    await vi.advanceTimersByTimeAsync(5);
    await set('k2');
    await set('k3');
    await vi.advanceTimersByTimeAsync(15);
    expect(published()).toBe(1);
    // a worker reads them: it gets what was published, and the replication thread publishes again for the next read
    expect(read('repl_applied')).toBe(1);
    await ringHeard();
    expect(published()).toBe(3);
    // another run and no reader: the tick (at 50 ms) publishes it
    await vi.advanceTimersByTimeAsync(1);
    await set('k4');
    await set('k5');
    await vi.advanceTimersByTimeAsync(3);
    expect(published()).toBe(3);
    await vi.advanceTimersByTimeAsync(2);
    expect(published()).toBe(5);
    // after a quiet spell, a lone section publishes as it ends; the next one in a run, when a worker reads the stats
    await vi.advanceTimersByTimeAsync(30);
    await set('k6');
    expect(published()).toBe(6);
    await set('k7');
    expect(published()).toBe(6);
    expect(read('repl_applied')).toBe(6);
    await ringHeard(); // (at most one publication a millisecond: k6's was just now)
    expect(published()).toBe(6);
    await vi.advanceTimersByTimeAsync(1);
    expect(published()).toBe(7);
    await repl.stop(0);
  });
});
