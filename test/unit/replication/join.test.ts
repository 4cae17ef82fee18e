import { describe, expect, it } from 'vitest';
import { JoinPolicy, type ConfiguredPeer } from '../../../src/replication/join.ts';
import type { Completeness, NodeStatus } from '../../../src/proto/replication/codec.ts';

const empty = (completeness: Completeness = 'joining'): NodeStatus => ({ completeness, holdsData: false, items: 0 });
const holding = (completeness: Completeness, items: number): NodeStatus => ({ completeness, holdsData: true, items });
const unreachable: ConfiguredPeer = { unreachable: true, heard: null };
const undecided: ConfiguredPeer = { unreachable: false, heard: null };
const heard = (nodeId: number, runId = 1n): ConfiguredPeer => ({ unreachable: false, heard: { nodeId, runId } });

function setup(initial: 'joining' | 'complete' = 'joining') {
  let now = 1000;
  const changes: string[] = [];
  const j = new JoinPolicy({
    now: () => now,
    initial,
    joinTimeoutMs: 15_000,
    coldWindowMs: 500,
    changed: (from, to, reason) => changes.push(`${from}->${to}: ${reason}`),
  });
  /** Ticks every 50 ms for ms. */
  const run = (ms: number, peers: ConfiguredPeer[]) => {
    for (let t = 0; t < ms; t += 50) {
      now += 50;
      j.tick(peers);
    }
  };
  return { j, changes, run };
}

describe('join policy: the cold-cluster rule', () => {
  it('the first node of a cold cluster: no peer reachable for the cold window, so complete and empty', () => {
    const { j, changes, run } = setup();
    run(450, [unreachable, unreachable]);
    expect(j.completeness).toBe('joining');
    run(100, [unreachable, unreachable]);
    expect(changes).toEqual(['joining->complete: no peer reachable: first node of a cold cluster, complete and empty']);
  });

  it('nodes started together: every peer says it is empty and not complete, so all are complete', () => {
    const { j, changes, run } = setup();
    j.peer(2, 1n, empty());
    j.peer(3, 1n, empty('partial')); // opened empty after its join timeout: it has nothing either
    run(600, [heard(2), heard(3)]);
    expect(changes).toEqual(['joining->complete: every peer is empty and not complete: cold cluster, complete and empty']);
  });

  it('never while a complete peer is heard of, even an empty one: it waits for its copy, then times out as partial', () => {
    const { j, changes, run } = setup();
    j.peer(2, 1n, empty('complete'));
    j.peer(3, 1n, empty());
    run(14_900, [heard(2), heard(3)]);
    expect(j.completeness).toBe('joining');
    run(200, [heard(2), heard(3)]);
    expect(changes).toEqual(['joining->partial: no complete copy after 15000 ms (a complete peer holds 0 items)']);
  });

  it('a complete peer that dies stays in mind; when it comes back empty (a new run) the cluster is cold', () => {
    const { j, changes, run } = setup();
    j.peer(2, 1n, holding('complete', 400_000));
    run(1000, [heard(2, 1n)]); // then its link fails: it is neither unreachable (it connected once) nor heard anew
    run(1000, [heard(2, 1n)]);
    expect(j.completeness).toBe('joining');
    j.peer(2, 2n, empty()); // restarted empty
    run(600, [heard(2, 2n)]);
    expect(changes).toEqual(['joining->complete: every peer is empty and not complete: cold cluster, complete and empty']);
  });

  it('a peer holding data (a partial copy, even while joining) blocks it', () => {
    const { j, run } = setup();
    j.peer(2, 1n, holding('joining', 199_400));
    run(5000, [heard(2)]);
    expect(j.completeness).toBe('joining');
  });

  it('a peer connected but not yet heard from (handshaking, frozen, refusing us) blocks it', () => {
    const { j, run } = setup();
    run(5000, [unreachable, undecided]);
    expect(j.completeness).toBe('joining');
  });

  it('a node holding data itself never declares itself complete by the rule; it times out as partial', () => {
    const { j, changes, run } = setup();
    j.sawData();
    run(15_050, [unreachable]);
    expect(changes).toEqual(['joining->partial: no complete copy after 15000 ms']);
  });

  it('the condition must hold for the whole window: a peer turning non-empty restarts it', () => {
    const { j, run } = setup();
    j.peer(2, 1n, empty());
    run(400, [heard(2)]);
    j.peer(2, 1n, holding('joining', 10));
    run(400, [heard(2)]);
    expect(j.completeness).toBe('joining');
    // and a node's own first data ends the rule for it
    const b = setup();
    b.run(400, [unreachable]);
    b.j.sawData();
    b.run(400, [unreachable]);
    expect(b.j.completeness).toBe('joining');
  });

  it('a join timeout shorter than the cold window lets the window finish', () => {
    let now = 0;
    const changes: string[] = [];
    const j = new JoinPolicy({ now: () => now, initial: 'joining', joinTimeoutMs: 0, coldWindowMs: 500, changed: (f, t) => changes.push(`${f}->${t}`) });
    for (; now <= 600; now += 50) j.tick([unreachable]);
    expect(changes).toEqual(['joining->complete']);
  });
});

describe('join policy: copies and completeness', () => {
  it('only a complete copy completes a node; a partial one is merged and changes nothing', () => {
    const { j, changes } = setup();
    j.copyReceived(2, false, 4491);
    expect(j.completeness).toBe('joining');
    j.copyReceived(3, true, 400_000);
    j.copyReceived(2, false, 0);
    expect(changes).toEqual(['joining->complete: full copy of 400000 items received from node 3']);
  });

  it('partial until a complete copy arrives, then complete for good', () => {
    const { j, changes, run } = setup();
    j.sawData();
    run(15_050, []);
    j.copyReceived(2, false, 10);
    expect(j.completeness).toBe('partial');
    j.copyReceived(2, true, 10);
    run(100, []);
    expect(changes).toEqual(['joining->partial: no complete copy after 15000 ms', 'partial->complete: full copy of 10 items received from node 2']);
  });

  it('the operator makes it complete; started complete, it never changes', () => {
    const a = setup();
    a.j.declareComplete('operator');
    expect(a.changes).toEqual(['joining->complete: operator']);
    const b = setup('complete');
    b.run(20_000, [undecided]);
    b.j.copyReceived(2, false, 1);
    expect([b.j.completeness, b.changes]).toEqual(['complete', []]);
  });

  it('what a peer says is merged per run: completeness only grows, holding data is sticky', () => {
    const { j } = setup();
    j.peer(2, 1n, holding('complete', 5));
    j.peer(2, 1n, empty()); // an older HELLO arriving on another link after a STATE
    expect(j.peerCompleteness(2, 1n)).toBe('complete');
    expect(j.expectedItems()).toBe(0);
    j.peer(2, 2n, empty()); // a new run replaces it
    expect([j.peerCompleteness(2, 2n), j.peerCompleteness(2, 1n), j.expectedItems()]).toEqual(['joining', null, null]);
    j.peer(3, 1n, holding('complete', 400_000));
    expect(j.expectedItems()).toBe(400_000);
  });
});

describe('join policy: what to ask a sending peer for (RESUME)', () => {
  it('a node that is not complete asks a complete peer for a full copy, whatever it holds from it', () => {
    const { j } = setup();
    j.peer(2, 1n, holding('complete', 10));
    expect(j.wantsCopyFrom(2, 1n)).toBe(true);
    expect(j.resumeFor(2, 1n, 77n)).toBe(0n);
    j.copyReceived(2, true, 10);
    expect(j.wantsCopyFrom(2, 1n)).toBe(false);
    expect(j.resumeFor(2, 1n, 77n)).toBe(77n);
  });

  it('a peer whose run began as a copy of our store sends only its own changes, from its first sequence', () => {
    const { j } = setup('complete');
    j.peer(2, 5n, empty());
    expect(j.resumeFor(2, 5n, 0n)).toBe(0n);
    j.copyStarted(2, 5n);
    j.peer(2, 5n, holding('complete', 10)); // it joined with our copy
    expect(j.resumeFor(2, 5n, 0n)).toBe(1n);
    expect(j.resumeFor(2, 6n, 0n)).toBe(0n); // another run of that node: a full copy
    expect(j.resumeFor(2, 5n, 40n)).toBe(40n);
  });

  it('a copy to a peer already holding data (a partial node, a joiner with part of a copy) does not excuse its copy', () => {
    const { j } = setup('complete');
    j.peer(2, 1n, holding('partial', 196_071));
    j.copyStarted(2, 1n);
    j.peer(3, 1n, holding('joining', 5));
    j.copyStarted(3, 1n);
    j.copyStarted(4, 1n); // never heard of
    expect([j.resumeFor(2, 1n, 0n), j.resumeFor(3, 1n, 0n), j.resumeFor(4, 1n, 0n)]).toEqual([0n, 0n, 0n]);
  });

  it('partial peers and joining peers are asked for a full copy (their data may be nowhere else)', () => {
    const { j } = setup();
    j.peer(2, 1n, holding('partial', 199_400));
    j.peer(3, 1n, empty());
    expect([j.resumeFor(2, 1n, 0n), j.resumeFor(3, 1n, 0n), j.wantsCopyFrom(2, 1n)]).toEqual([0n, 0n, false]);
  });
});
