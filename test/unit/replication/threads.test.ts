import { describe, expect, it } from 'vitest';
import { StoreLock } from '../../../src/cache/store-lock.ts';
import { ReplicationShare, StoreSections } from '../../../src/replication/threads.ts';

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
