import { describe, expect, it } from 'vitest';
import { check, lostOps, staleReads, type CheckInput } from '../../../scripts/chaos/checker.ts';
import type { Dump, MonSample, Op } from '../../../scripts/chaos/history.ts';

const set = (key: string, value: string, t0: number, t1: number, r: Op['r'] = 'ok'): Op => ({ k: 'set', c: 0, key, value, t0, t1, r });
const del = (key: string, t0: number, t1: number, r: Op['r'] = 'ok'): Op => ({ k: 'delete', c: 0, key, t0, t1, r });
const get = (key: string, value: string | null, t0: number, t1: number): Op => ({ k: 'get', c: 0, key, value, t0, t1, r: 'ok' });
const incr = (key: string, t: number, r: Op['r'] = 'ok'): Op => ({ k: 'incr', c: 0, key, t0: t, t1: t + 1, r });
const dump = (entries: Record<string, string>): Dump => Object.fromEntries(Object.entries(entries).map(([k, v]) => [k, [v, '1']]));

/** Both nodes streaming every 250 ms from 0 to 10 s (or, with `down`, node b unreachable in that span). */
function mon(down?: [number, number]): MonSample[] {
  const out: MonSample[] = [];
  for (let t = 0; t <= 10_000; t += 250) {
    for (const node of [0, 1]) {
      const ok = !(node === 1 && down && t >= down[0] && t <= down[1]);
      out.push(ok ? { k: 'mon', t, node, ok, state: 'streaming', peer: 'streaming', in: 'streaming', syncTimeouts: 0, pid: 10 + node } : { k: 'mon', t, node, ok });
    }
  }
  return out;
}

function input(o: Partial<CheckInput> & { final?: Dump }): CheckInput {
  const d = o.final ?? {};
  return {
    mode: 'sync', ops: [], mon: mon(), dumps: [d, d], episodes: [],
    vip: { initial: [true, false], events: [], end: 10_000 }, masterDownMs: 1000, ...o,
  };
}

describe('chaos checker: lost and resurrected writes', () => {
  it('a final value from a write answered before another acknowledged write began: that write is lost', () => {
    const ops = [set('k1', 'old', 1000, 1010), set('k1', 'new', 2000, 2010)];
    expect(lostOps(ops, 'old')).toEqual([ops[1]]);
    const r = check(input({ ops, final: dump({ k1: 'old' }) }));
    expect(r.violations.map((v) => v.kind)).toEqual(['lost acknowledged write']);
    expect(r.figures.lostProtected).toBe(1);
  });

  it('concurrent writes may end either way, and an unanswered write may or may not have happened', () => {
    const ops = [set('k1', 'a', 1000, 1050), set('k1', 'b', 1020, 1030), set('k1', 'c', 2000, 5000, 'unknown')];
    for (const final of ['a', 'b', 'c']) expect(lostOps(ops, final)).toEqual([]);
  });

  it('an unanswered write may land after its client gave up, even after a later acknowledged write', () => {
    // the client timed out at 4000 and moved on; TCP still delivered the set, after the acknowledged one
    const ops = [set('k1', 'late', 2000, 4000, 'unknown'), set('k1', 'next', 5000, 5001)];
    expect(lostOps(ops, 'late')).toEqual([]);
    expect(check(input({ ops, final: dump({ k1: 'late' }) })).violations).toEqual([]);
    // an answered write has no such excuse
    const answered = [set('k1', 'early', 2000, 2001), set('k1', 'next', 5000, 5001)];
    expect(lostOps(answered, 'early')).toEqual([answered[1]]);
  });

  it('a delete acknowledged after the write was answered, yet the value is back: resurrected', () => {
    const ops = [set('k1', 'v', 1000, 1010), del('k1', 2000, 2010)];
    expect(check(input({ ops, final: dump({ k1: 'v' }) })).violations.map((v) => v.kind)).toEqual(['resurrected after delete']);
    expect(check(input({ ops, final: {} })).violations).toEqual([]);
  });

  it('absent at the end: fine after an unanswered delete that no acknowledged write followed, a loss otherwise', () => {
    const ops = [set('k1', 'v', 1000, 1010), del('k1', 2000, 4000, 'unknown')];
    expect(lostOps(ops, null)).toEqual([]);
    const later = [...ops, set('k1', 'w', 5000, 5010)];
    expect(lostOps(later, null)).toEqual([later[2]]);
  });

  it('sync mode: a loss while the peer was unreachable is the documented degraded window, not a violation', () => {
    const ops = [set('k1', 'old', 1000, 1010), set('k1', 'new', 2000, 2010)];
    const r = check(input({ ops, mon: mon([1500, 3000]), final: dump({ k1: 'old' }) }));
    expect(r.violations).toEqual([]);
    expect(r.known.map((k) => k.kind)).toEqual(['lost acknowledged write (sync mode, while degraded)']);
  });

  it('async mode: every loss is reported with the time from its answer to the next kill', () => {
    const ops = [set('k1', 'old', 1000, 1010), set('k1', 'new', 2000, 2010)];
    const r = check(input({ mode: 'async', ops, final: dump({ k1: 'old' }), episodes: [{ kind: 'kill-cache', node: 0, start: 2010.4, heal: 2500 }] }));
    expect(r.violations).toEqual([]);
    expect(r.known[0]).toMatchObject({ kind: 'lost acknowledged write (async window)' });
    expect(r.figures.lossWindowMs).toEqual([0.4]);
  });
});

describe('chaos checker: stale reads', () => {
  it('a read of a value written before an acknowledged write that was answered before the read: stale', () => {
    const ops = [set('k1', 'old', 1000, 1010), set('k1', 'new', 2000, 2010), get('k1', 'old', 3000, 3001), set('k1', 'newer', 4000, 4010)];
    expect(staleReads(ops)).toEqual([{ read: ops[2], missed: ops[1] }]);
    // the final contents are right: only the read shows the lost write
    const r = check(input({ ops, final: dump({ k1: 'newer' }) }));
    expect(r.violations.map((v) => v.kind)).toEqual(['stale read']);
    expect(r.figures).toMatchObject({ reads: 1, staleReads: 1, staleMissed: 1, staleProtected: 1, lostAcked: 0 });
  });

  it('concurrent writes, a write answered after the read began, or a value from an unanswered write: not stale', () => {
    const concurrent = [set('k1', 'a', 1000, 1050), set('k1', 'b', 1020, 1030), get('k1', 'a', 2000, 2001)];
    expect(staleReads(concurrent)).toEqual([]);
    const overlapping = [set('k1', 'a', 1000, 1010), set('k1', 'b', 2000, 2500), get('k1', 'a', 2400, 2401)];
    expect(staleReads(overlapping)).toEqual([]);
    // a value whose write went unanswered may have been applied late (a paused process)
    const late = [set('k1', 'a', 1000, 4000, 'unknown'), set('k1', 'b', 2000, 2010), get('k1', 'a', 5000, 5001)];
    expect(staleReads(late)).toEqual([]);
  });

  it('a miss after an acknowledged write: stale unless a delete may have come after it', () => {
    const ops = [set('k1', 'a', 1000, 1010), get('k1', null, 2000, 2001)];
    expect(staleReads(ops)).toEqual([{ read: ops[1], missed: ops[0] }]);
    expect(staleReads([...ops.slice(0, 1), del('k1', 1500, 1600, 'unknown'), ops[1]!])).toEqual([]);
    expect(staleReads([...ops.slice(0, 1), del('k1', 1005, 1600), ops[1]!])).toEqual([]);
    // a delete answered before the write began does not explain the miss
    expect(staleReads([del('k1', 500, 600), ...ops])).toEqual([{ read: ops[1], missed: ops[0] }]);
    // and a value read after an acknowledged delete is stale too
    const resurrected = [set('k1', 'a', 1000, 1010), del('k1', 2000, 2010), get('k1', 'a', 3000, 3001)];
    expect(staleReads(resurrected)).toEqual([{ read: resurrected[2], missed: resurrected[1] }]);
  });

  it('sync mode while degraded, and async mode: stale reads are a known class, counted', () => {
    const ops = [set('k1', 'old', 1000, 1010), set('k1', 'new', 2000, 2010), get('k1', 'old', 3000, 3001), get('k1', 'old', 3100, 3101)];
    const degraded = check(input({ ops, mon: mon([1500, 3000]), final: dump({ k1: 'old' }) }));
    expect(degraded.violations).toEqual([]);
    expect(degraded.known.map((k) => k.kind)).toContain('stale reads (sync mode, writes acknowledged while degraded)');
    const async = check(input({ mode: 'async', ops, final: dump({ k1: 'old' }) }));
    expect(async.violations).toEqual([]);
    expect(async.known).toContainEqual({ kind: 'stale reads (async window)', detail: '2 reads missed one of 1 acknowledged writes or deletes' });
    expect(async.figures).toMatchObject({ reads: 2, staleReads: 2, staleMissed: 1, staleProtected: 0 });
  });
});

describe('chaos checker: phantoms, convergence, counters', () => {
  it('a value nobody wrote, held or read, is a violation', () => {
    const r = check(input({ ops: [get('k1', 'ghost', 100, 110)], final: dump({ k2: 'ghost2', f1: 'not-filler' }) }));
    expect(r.violations.map((v) => v.kind).sort()).toEqual(['phantom read', 'phantom value', 'phantom value', 'phantom value', 'phantom value']);
  });

  it('nodes that differ at the end have diverged', () => {
    const ops = [set('k1', 'a', 100, 110), set('k1', 'b', 200, 210)];
    const r = check(input({ ops, dumps: [dump({ k1: 'b' }), dump({ k1: 'a' })] }));
    expect(r.violations.map((v) => v.kind)).toContain('diverged');
  });

  it('counters converge to the same number: their cas is each node\'s own and their padding may differ', () => {
    const ops = [incr('n0', 100)];
    const same = check(input({ ops, dumps: [{ n0: ['1', '11'] }, { n0: ['1 ', '22'] }] }));
    expect(same.violations).toEqual([]);
    const differ = check(input({ ops, dumps: [{ n0: ['1', '11'] }, { n0: ['0', '11'] }] }));
    expect(differ.violations.map((v) => v.kind)).toContain('diverged');
  });

  it('sync mode: increments acknowledged while both nodes streamed are never lost; others are a known class', () => {
    const ops = [incr('n0', 100), incr('n0', 200), incr('n0', 300)];
    const lost = check(input({ ops, final: dump({ n0: '2' }) }));
    expect(lost.violations.map((v) => v.kind)).toEqual(['lost increments']);
    expect(lost.figures.lostIncrements).toBe(1);
    const degraded = check(input({ ops, mon: mon([50, 250]), final: dump({ n0: '2' }) }));
    expect(degraded.violations).toEqual([]);
    expect(degraded.known.map((k) => k.kind)).toEqual(['lost increments (sync mode, while degraded)']);
    expect(check(input({ ops, mon: mon([50, 250]), final: dump({ n0: '2' }), strictCounters: true })).violations.map((v) => v.kind)).toEqual(['lost increments']);
  });

  it('async mode: lost increments are the documented window (violations with strictCounters); a counter above what was sent never is', () => {
    const ops = [incr('n0', 100), incr('n0', 200), incr('n0', 300)];
    const lost = check(input({ mode: 'async', ops, final: dump({ n0: '2' }) }));
    expect(lost.violations).toEqual([]);
    expect(lost.known.map((k) => k.kind)).toEqual(['lost increments (async window)']);
    expect(lost.figures.lostIncrements).toBe(1);
    expect(check(input({ mode: 'async', ops, final: dump({ n0: '2' }), strictCounters: true })).violations.map((v) => v.kind)).toEqual(['lost increments']);
    expect(check(input({ ops, final: dump({ n0: '4' }) })).violations.map((v) => v.detail)).toEqual(['n0 on node a is 4, more than the 3 increments sent', 'n0 on node b is 4, more than the 3 increments sent']);
  });
});

describe('chaos checker: the VIP', () => {
  it('two holders during a partition and its grace are expected; outside, longer than the grace, a violation', () => {
    const events = [{ t: 2000, node: 1, holds: true }, { t: 3500, node: 1, holds: false }];
    const partition = check(input({ episodes: [{ kind: 'partition-pair', node: 1, start: 1900, heal: 3000 }], vip: { initial: [true, false], events, end: 10_000 } }));
    expect(partition.violations).toEqual([]);
    expect(partition.episodes[0]!.oneHolderMs).toBe(500);
    const noFault = check(input({ vip: { initial: [true, false], events: [{ t: 2000, node: 1, holds: true }, { t: 5000, node: 1, holds: false }], end: 10_000 } }));
    expect(noFault.violations.map((v) => v.kind)).toEqual(['two VIP holders']);
  });

  it('not one holder within 2 x the master-down interval of a heal, or none at the end, is a violation', () => {
    const events = [{ t: 2000, node: 0, holds: false }, { t: 7000, node: 1, holds: true }];
    const r = check(input({ episodes: [{ kind: 'kill-cache', node: 0, start: 2000, heal: 2100 }], vip: { initial: [true, false], events, end: 10_000 } }));
    expect(r.violations.map((v) => v.kind).sort()).toEqual(['VIP not settled', 'no VIP holder']);
    const none = check(input({ vip: { initial: [true, false], events: [{ t: 9000, node: 0, holds: false }], end: 10_000 } }));
    expect(none.violations.map((v) => v.kind)).toEqual(['VIP at the end']);
  });
});
