import { describe, expect, it } from 'vitest';
import { HybridClock, HLC_EPOCH_MS, versionMs, versionNode } from '../../../src/replication/hlc.ts';
import { Tombstones } from '../../../src/replication/tombstones.ts';
import { AuthError, Handshake, HandshakeError, NodeIdCollisionError } from '../../../src/replication/handshake.ts';

describe('hybrid logical clock', () => {
  it('is strictly increasing even when the wall clock stands still or goes back', () => {
    let t = HLC_EPOCH_MS + 1000;
    const c = new HybridClock(3, () => t);
    const a = c.now();
    const b = c.now();
    t -= 500;
    const d = c.now();
    expect(b > a && d > b).toBe(true);
    expect(versionNode(d)).toBe(3);
  });

  it('orders after an observed remote version even with a slower clock', () => {
    const slow = new HybridClock(1, () => HLC_EPOCH_MS + 1000);
    const fast = new HybridClock(2, () => HLC_EPOCH_MS + 90_000);
    const remote = fast.now();
    slow.observe(remote);
    expect(slow.now() > remote).toBe(true);
  });

  it('versions of different nodes never collide', () => {
    const t = () => HLC_EPOCH_MS + 5;
    expect(new HybridClock(1, t).now()).not.toBe(new HybridClock(2, t).now());
  });

  it('counter overflow moves to the next millisecond', () => {
    const c = new HybridClock(1, () => HLC_EPOCH_MS + 10);
    let v = 0n;
    for (let i = 0; i < 5000; i++) v = c.now();
    expect(versionMs(v)).toBe(11);
  });

  it('at(delay) is in the future by delay', () => {
    const c = new HybridClock(1, () => HLC_EPOCH_MS + 10);
    expect(versionMs(c.at(10_000))).toBe(10_010);
  });

  it('rejects node ids out of range', () => {
    expect(() => new HybridClock(1024)).toThrow(RangeError);
  });

  it('observeWords merges a version given as words exactly as observe does', () => {
    for (const [mine, theirs] of [[1000, 5000], [5000, 1000], [HLC_EPOCH_MS + 2 ** 41, HLC_EPOCH_MS + 2 ** 41]]) {
      const remote = new HybridClock(9, () => HLC_EPOCH_MS + theirs);
      for (let i = 0; i < 7; i++) remote.now();
      const v = remote.now();
      const a = new HybridClock(1, () => HLC_EPOCH_MS + mine);
      const b = new HybridClock(1, () => HLC_EPOCH_MS + mine);
      a.now();
      b.now();
      a.observe(v);
      b.observeWords(Number(v >> 32n), Number(v & 0xffffffffn));
      expect(b.now()).toBe(a.now());
    }
  });

  it('writeNow writes the version now() would give, as u32 words low then high', () => {
    // Today's milliseconds need more than 32 bits, and the counter and node id share the low word with them.
    let t = HLC_EPOCH_MS + 2 ** 41 + 1023;
    const a = new HybridClock(1023, () => t);
    const b = new HybridClock(1023, () => t);
    const u32 = new Uint32Array(2);
    const u64 = new BigUint64Array(u32.buffer);
    for (let i = 0; i < 5000; i++) {
      if (i === 4000) t += 3;
      a.writeNow(u32, 0);
      expect(u64[0]).toBe(b.now());
    }
  });
});

describe('hybrid logical clock shared by threads', () => {
  it('clocks on one buffer are one clock: versions rise across them, an observation seen by all', () => {
    const t = { ms: HLC_EPOCH_MS + 5000 };
    const a = new HybridClock(7, () => t.ms);
    const b = new HybridClock(9, () => t.ms, a.buffer);
    expect(b.nodeId).toBe(7);
    const seen: bigint[] = [];
    for (let i = 0; i < 10; i++) seen.push(i % 2 ? a.now() : b.now());
    const words = new Uint32Array(2);
    b.writeNow(words, 0);
    seen.push((BigInt(words[1]) << 32n) | BigInt(words[0]));
    for (let i = 1; i < seen.length; i++) expect(seen[i]).toBeGreaterThan(seen[i - 1]);
    a.observe(seen.at(-1)! + (1000n << 22n));
    expect(versionMs(b.now())).toBe(5000 + 1000);
    b.setNodeId(3);
    expect(versionNode(a.now())).toBe(3);
  });
});

describe('tombstones', () => {
  it('shadow older writes, expire, and stay bounded', () => {
    let now = 0;
    const t = new Tombstones(2, 1000, () => now);
    const k = Buffer.from('a');
    t.record(k, 10n);
    expect(t.shadows(k, 9n)).toBe(true);
    expect(t.shadows(k, 11n)).toBe(false);
    t.record(k, 5n); // older delete does not lower it
    expect(t.versionOf(k)).toBe(10n);
    t.record(Buffer.from('b'), 1n);
    t.record(Buffer.from('c'), 1n);
    expect(t.size).toBe(2);
    expect(t.versionOf(k)).toBe(0n); // evicted as the oldest
    now = 2000;
    expect(t.versionOf(Buffer.from('c'))).toBe(0n);
  });
});

const st = { completeness: 'complete', holdsData: false, items: 0 } as const;

describe('handshake', () => {
  const id = (nodeId: number, secret = 's3cret') => ({ nodeId, runId: BigInt(nodeId), listenPort: 1, itemSizeMax: 1024, syncMode: false, secret });

  it('authenticates both ways with the same secret', () => {
    const a = new Handshake('sender', id(1));
    const b = new Handshake('receiver', id(2));
    const authA = a.onHello(b.hello(st));
    const authB = b.onHello(a.hello(st));
    b.onAuth(authA);
    a.onAuth(authB);
    expect(a.authed && b.authed).toBe(true);
  });

  it('refuses a wrong secret, a replayed proof, itself and a version mismatch', () => {
    const a = new Handshake('sender', id(1, 'x'));
    const b = new Handshake('receiver', id(2, 'y'));
    b.onHello(a.hello(st));
    expect(() => b.onAuth(a.onHello(b.hello(st)))).toThrow(/wrong or missing replication secret/);

    const a1 = new Handshake('sender', id(1));
    const b1 = new Handshake('receiver', id(2));
    const proof = a1.onHello(b1.hello(st));
    const b2 = new Handshake('receiver', id(2)); // new nonce
    b2.onHello(a1.hello(st));
    expect(() => b2.onAuth(proof)).toThrow(HandshakeError);

    const self = new Handshake('receiver', id(1));
    expect(() => self.onHello(new Handshake('sender', id(1)).hello(st))).toThrow(/itself/);
    expect(() => new Handshake('receiver', id(2)).onHello({ ...a.hello(st), version: 9 })).toThrow(/protocol version 9/);
  });

  it('a wrong proof is an AuthError (counted as such for strangers)', () => {
    const a = new Handshake('sender', id(1, 'x'));
    const b = new Handshake('receiver', id(2, 'y'));
    b.onHello(a.hello(st));
    expect(() => b.onAuth(a.onHello(b.hello(st)))).toThrow(AuthError);
  });

  it('a node id collision counts only once the peer proved membership: a stranger cannot move our id', () => {
    const me = new Handshake('receiver', id(7));
    const stranger = new Handshake('sender', { ...id(7, 'guess'), runId: 99n });
    me.onHello(stranger.hello(st)); // no throw yet
    expect(() => me.onAuth(stranger.onHello(me.hello(st)))).toThrow(AuthError);

    const b = new Handshake('receiver', id(7));
    const member = new Handshake('sender', { ...id(7), runId: 99n });
    const proofB = b.onHello(member.hello(st));
    b.onAuth(member.onHello(b.hello(st)));
    expect(() => b.checkNodeId()).toThrow(NodeIdCollisionError);
    member.onAuth(proofB);
    expect(() => member.checkNodeId()).toThrow(expect.objectContaining({ peerRunId: 7n }));
  });
});

describe('cluster-wide options', () => {
  it('differences are reported as warnings', () => {
    const base = { nodeId: 1, runId: 1n, listenPort: 1, itemSizeMax: 1024, syncMode: false, secret: '' };
    const a = new Handshake('sender', base);
    a.onHello(new Handshake('receiver', { ...base, nodeId: 2, runId: 2n, itemSizeMax: 2048, syncMode: true }).hello(st));
    expect(a.mismatches()).toEqual([
      'item size limit differs (peer 2048, here 1024): larger items will not replicate',
      'synchronous mode differs (peer on, here off)',
    ]);
  });
});
