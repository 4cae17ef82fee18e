/**
 * Checks a chaos run's history (pure: records in, findings out). The invariants:
 *
 * - convergence: after the heal both nodes hold the same keys with the same values and versions (cas);
 * - no acknowledged write lost and nothing resurrected: for each key, the final value must come from a write that
 *   no acknowledged mutation of that key started after (an acknowledged write or delete issued after the final
 *   value's writer had been answered is lost). In sync mode a loss of a write acknowledged while both nodes
 *   streamed to each other is a violation; writes acknowledged while the link was down or a sync wait timed out
 *   are outside the promise (`degraded`), and in async mode every loss is the documented window: both are
 *   reported, with the time from the lost write's answer to the next kill;
 * - no stale read: a read must not miss an acknowledged write or delete answered before it was sent (staleReads);
 *   the same promise and the same known classes as a lost write, checked on every read and not only on the
 *   final contents, where a key's later writes hide a lost one;
 * - no phantom: no read returns, and no node holds, a value nobody wrote; no counter is above what was added;
 * - counters: increments replicate as operations, so a counter's acknowledged increments are lost only as
 *   acknowledged writes are: in sync mode, a counter below its increments acknowledged while both nodes streamed
 *   is a violation; other lost increments (async window, sync while degraded) are known classes, which
 *   `strictCounters` makes violations; counters converge to the same number (their cas is each node's own);
 * - the VIP: after each heal exactly one holder within 2 x the master-down interval; two holders outside a fault
 *   that splits the pair (and its 2 x master-down grace), or none outside any fault, for no longer than that
 *   (a handover overlaps by design: the old master keeps the VIP until the new one's advert plus 100 ms);
 *   exactly one at the end.
 */
import { KILLS, SPLIT, type Dump, type Episode, type MonSample, type Op, type VipEvent } from './history.ts';

export interface CheckInput {
  mode: 'sync' | 'async';
  ops: Op[];
  mon: MonSample[];
  /** Node 0's and node 1's contents at the end. */
  dumps: [Dump, Dump];
  episodes: Episode[];
  vip: { initial: [boolean, boolean]; events: VipEvent[]; end: number };
  masterDownMs: number;
  strictCounters?: boolean;
}

export interface Finding {
  kind: string;
  detail: string;
}

export interface EpisodeResult extends Episode {
  /** ms from the heal until exactly one node held the VIP for good (null: never within the run). */
  oneHolderMs: number | null;
}

export interface CheckResult {
  violations: Finding[];
  /** Documented classes, reported but not failing: async loss window, sync loss while degraded, lost increments. */
  known: Finding[];
  episodes: EpisodeResult[];
  figures: {
    requests: number;
    acked: number;
    unknown: number;
    keysCompared: number;
    lostAcked: number;
    lostProtected: number;
    /** ms from each lost write's answer to the next kill. */
    lossWindowMs: number[];
    /** Answered reads; those that missed an acknowledged mutation, the mutations they missed, and in sync mode those reads whose missed mutation was in the promise. */
    reads: number;
    staleReads: number;
    staleMissed: number;
    staleProtected: number;
    lostIncrements: number;
    twoHolderMs: number;
    twoHolderOutsideMs: number;
    maxTwoHolderOutsideMs: number;
    noHolderMs: number;
    maxOneHolderAfterHealMs: number;
  };
}

/** The filler items' value (client.ts fill). */
const FILLER = 'f'.repeat(1000);

const isWrite = (o: Op) => o.k === 'set' || o.k === 'cas' || o.k === 'init';

/** Whether each node streamed to the other, with the same process and no sync timeout, all through [t0, t1]. */
export function healthyThrough(mon: MonSample[][], t0: number, t1: number): boolean {
  for (const samples of mon) {
    let i = samples.findIndex((s) => s.t > t0) - 1;
    if (i < 0) return false;
    const first = samples[i]!;
    for (; i < samples.length; i++) {
      const s = samples[i]!;
      const fine = s.ok && s.state === 'streaming' && s.peer === 'streaming' && s.in === 'streaming'
        && s.pid === first.pid && s.syncTimeouts === first.syncTimeouts;
      if (!fine) return false;
      if (s.t > t1) break;
    }
    if (i >= samples.length) return false; // no sample after t1: unknown
  }
  return true;
}

/** The ops of one key that the final value `v` (null: absent) leaves unexplained: acknowledged, and lost. */
export function lostOps(ops: Op[], final: string | null): Op[] {
  const acked = ops.filter((o) => o.r === 'ok' && (isWrite(o) || o.k === 'delete'));
  if (final !== null) {
    const writer = ops.find((o) => isWrite(o) && o.value === final);
    if (!writer) return []; // a phantom: reported by the caller
    // an unanswered write may reach a node after its client gave up (TCP still delivers it): any later time
    const writerDone = writer.r === 'unknown' ? Infinity : writer.t1;
    const later = acked.filter((o) => o.t0 > writerDone && o.value !== final);
    return later.length ? [later.reduce((a, b) => (b.t0 > a.t0 ? b : a))] : [];
  }
  // absent: fine if some delete (answered or not) has no acknowledged write issued after it was answered
  const writes = acked.filter(isWrite);
  if (writes.length === 0) return [];
  const deletes = ops.filter((o) => o.k === 'delete' && (o.r === 'ok' || o.r === 'unknown'));
  if (deletes.some((d) => !writes.some((w) => w.t0 > d.t1))) return [];
  return [writes.reduce((a, b) => (b.t0 > a.t0 ? b : a))];
}

/**
 * Reads that missed an acknowledged mutation (ops of one key): a read that returned the value of a write answered
 * before another acknowledged write or delete of the key began, itself answered before the read was sent (or a miss
 * after an acknowledged write that no delete could have followed). The final contents show a lost write only if it
 * was the key's last; a stale read shows every loss that a client saw. A value from an unanswered write proves
 * nothing (it may have been applied late), so such reads are skipped.
 */
export function staleReads(ops: Op[]): Array<{ read: Op; missed: Op }> {
  const acked = ops.filter((o) => o.r === 'ok' && (isWrite(o) || o.k === 'delete')).sort((a, b) => a.t1 - b.t1);
  const deletes = ops.filter((o) => o.k === 'delete' && (o.r === 'ok' || o.r === 'unknown'));
  const writers = new Map<string, Op>();
  for (const o of ops) if (isWrite(o) && o.value != null) writers.set(o.value, o);
  // the acknowledged mutation begun last among those answered before a time: latest[i] over acked[0..i]
  const latest: Op[] = [];
  const latestWrite: Array<Op | undefined> = [];
  for (const [i, o] of acked.entries()) {
    latest[i] = i > 0 && latest[i - 1]!.t0 > o.t0 ? latest[i - 1]! : o;
    const w = i > 0 ? latestWrite[i - 1] : undefined;
    latestWrite[i] = isWrite(o) && (!w || o.t0 > w.t0) ? o : w;
  }
  const before = (t: number) => {
    let lo = 0;
    let hi = acked.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (acked[mid]!.t1 < t) lo = mid + 1;
      else hi = mid;
    }
    return lo - 1;
  };
  const out: Array<{ read: Op; missed: Op }> = [];
  for (const r of ops) {
    if (r.k !== 'get' || r.r !== 'ok') continue;
    const i = before(r.t0);
    if (i < 0) continue;
    if (r.value != null) {
      const w = writers.get(r.value);
      if (!w || w.r !== 'ok') continue;
      const x = latest[i]!;
      if (x.t0 > w.t1) out.push({ read: r, missed: x });
    } else {
      const x = latestWrite[i];
      if (x && !deletes.some((d) => d.t1 > x.t0 && d.t0 < r.t1)) out.push({ read: r, missed: x });
    }
  }
  return out;
}

export function check(input: CheckInput): CheckResult {
  const violations: Finding[] = [];
  const known: Finding[] = [];
  const byKey = new Map<string, Op[]>();
  for (const o of input.ops) {
    const list = byKey.get(o.key) ?? [];
    list.push(o);
    byKey.set(o.key, list);
  }
  const mon: MonSample[][] = [0, 1].map((n) => input.mon.filter((s) => s.node === n).sort((a, b) => a.t - b.t));
  const kills = input.episodes.filter((e) => KILLS.includes(e.kind)).map((e) => e.start).sort((a, b) => a - b);
  const [da, db] = input.dumps;

  // convergence
  const keys = new Set([...Object.keys(da), ...Object.keys(db)]);
  for (const k of keys) {
    const [x, y] = [da[k], db[k]];
    // A counter converges to the same number; its cas is each node's own, and memcached's space padding may differ.
    const same = k.startsWith('n') ? x && y && x[0].trimEnd() === y[0].trimEnd() : x && y && x[0] === y[0] && x[1] === y[1];
    if (!same) {
      violations.push({ kind: 'diverged', detail: `${k}: node a ${x ? `"${x[0].slice(0, 20)}" cas ${x[1]}` : 'absent'}, node b ${y ? `"${y[0].slice(0, 20)}" cas ${y[1]}` : 'absent'}` });
    }
  }

  // lost and resurrected writes, phantoms
  const written = new Map<string, Op>();
  for (const o of input.ops) if (isWrite(o) && o.value != null) written.set(`${o.key}=${o.value}`, o);
  const lost = new Set<Op>();
  let lossWindowMs: number[] = [];
  let lostProtected = 0;
  for (const key of new Set([...byKey.keys(), ...keys])) {
    if (key.startsWith('n')) continue;
    const ops = byKey.get(key) ?? [];
    for (const [node, dump] of [[0, da], [1, db]] as const) {
      const final = dump[key]?.[0] ?? null;
      if (key.startsWith('f')) {
        if (final !== null && final !== FILLER) violations.push({ kind: 'phantom value', detail: `node ${'ab'[node]} holds filler ${key}="${final.slice(0, 40)}"` });
        continue;
      }
      if (final !== null && !written.has(`${key}=${final}`)) {
        violations.push({ kind: 'phantom value', detail: `node ${'ab'[node]} holds ${key}="${final.slice(0, 40)}", which no request wrote` });
        continue;
      }
      for (const o of lostOps(ops, final)) lost.add(o);
    }
  }
  for (const o of lost) {
    const what = o.k === 'delete' ? 'resurrected after delete' : 'lost acknowledged write';
    const nextKill = kills.find((t) => t >= o.t1);
    const window = nextKill === undefined ? null : nextKill - o.t1;
    if (window !== null) lossWindowMs.push(Math.round(window * 10) / 10);
    const detail = `${o.k} ${o.key}${o.value ? `=${o.value}` : ''} answered at +${Math.round(o.t1 - (input.ops[0]?.t0 ?? 0))} ms${window === null ? '' : `, ${window.toFixed(1)} ms before a kill`}`;
    if (input.mode === 'sync' && healthyThrough(mon, o.t0, o.t1)) {
      lostProtected++;
      violations.push({ kind: what, detail: `${detail} (sync mode, acknowledged while both nodes streamed)` });
    } else {
      known.push({ kind: input.mode === 'sync' ? `${what} (sync mode, while degraded)` : `${what} (async window)`, detail });
    }
  }
  lossWindowMs = lossWindowMs.sort((a, b) => a - b);

  // stale reads: every write a client saw go missing, not only a key's last
  let stale = 0;
  const staleMissed = new Set<Op>();
  const staleMissedKnown = new Set<Op>();
  let staleProtected = 0;
  for (const [key, ops] of byKey) {
    if (key.startsWith('n') || key.startsWith('f')) continue;
    for (const { read, missed } of staleReads(ops)) {
      stale++;
      staleMissed.add(missed);
      if (input.mode === 'sync' && healthyThrough(mon, missed.t0, missed.t1)) {
        staleProtected++;
        const t0 = input.ops[0]!.t0;
        violations.push({
          kind: 'stale read',
          detail: `get ${key} at +${Math.round(read.t0 - t0)} ms returned ${read.value == null ? 'a miss' : `"${read.value.slice(0, 40)}"`}, missing the ${missed.k}${missed.value ? ` of "${missed.value}"` : ''} answered at +${Math.round(missed.t1 - t0)} ms (sync mode, acknowledged while both nodes streamed)`,
        });
      } else {
        staleMissedKnown.add(missed);
      }
    }
  }
  if (stale > staleProtected) {
    known.push({
      kind: input.mode === 'sync' ? 'stale reads (sync mode, writes acknowledged while degraded)' : 'stale reads (async window)',
      detail: `${stale - staleProtected} reads missed one of ${staleMissedKnown.size} acknowledged writes or deletes`,
    });
  }
  for (const o of input.ops) {
    if (o.k === 'get' && o.r === 'ok' && o.value != null) {
      const w = written.get(`${o.key}=${o.value}`);
      if (!w || w.t0 > o.t1) violations.push({ kind: 'phantom read', detail: `get ${o.key} returned "${o.value.slice(0, 40)}" at +${Math.round(o.t1 - input.ops[0]!.t0)} ms, written by no request sent before` });
    }
  }

  // counters: increments replicate as operations, so they are lost only as acknowledged writes are: in sync mode a
  // counter below the increments acknowledged while both nodes streamed is a violation
  let lostIncrements = 0;
  for (const [key, ops] of byKey) {
    if (!key.startsWith('n')) continue;
    const ackedOps = ops.filter((o) => o.k === 'incr' && o.r === 'ok');
    const acked = ackedOps.length;
    const unknown = ops.filter((o) => o.k === 'incr' && o.r === 'unknown').length;
    const promised = input.mode === 'sync' ? ackedOps.filter((o) => healthyThrough(mon, o.t0, o.t1)).length : 0;
    for (const [node, dump] of [[0, da], [1, db]] as const) {
      const v = dump[key] ? Number(dump[key]![0]) : 0;
      if (v > acked + unknown) violations.push({ kind: 'phantom increments', detail: `${key} on node ${'ab'[node]} is ${v}, more than the ${acked + unknown} increments sent` });
      if (node === 0 && v < acked) {
        lostIncrements += acked - v;
        const detail = `${key} is ${v} after ${acked} acknowledged increments (${unknown} unanswered)`;
        if (v < promised) violations.push({ kind: 'lost increments', detail: `${detail}, ${promised} of them acknowledged while both nodes streamed (sync mode)` });
        else if (input.strictCounters) violations.push({ kind: 'lost increments', detail });
        else known.push({ kind: input.mode === 'sync' ? 'lost increments (sync mode, while degraded)' : 'lost increments (async window)', detail });
      }
    }
  }

  // the VIP
  const vip = vipTimeline(input);
  const t0 = input.ops[0]?.t0 ?? input.vip.end;
  const graceMs = 2 * input.masterDownMs;
  const episodes: EpisodeResult[] = input.episodes.map((e, i) => {
    const next = input.episodes[i + 1]?.start ?? input.vip.end;
    const one = vip.oneHolderFrom(e.heal, Math.min(next, input.vip.end));
    const oneHolderMs = one === null ? null : Math.max(0, Math.round(one - e.heal));
    if (oneHolderMs === null || oneHolderMs > graceMs) {
      violations.push({ kind: 'VIP not settled', detail: `${e.kind} on node ${'ab'[e.node]}: ${oneHolderMs === null ? 'never exactly one holder' : `exactly one holder only ${oneHolderMs} ms`} after the heal (bound ${graceMs} ms)` });
    }
    return { ...e, oneHolderMs };
  });
  const excused = input.episodes.filter((e) => SPLIT.includes(e.kind)).map((e) => [e.start, e.heal + graceMs] as const);
  for (const [from, to] of vip.twoHolderSpans) {
    const outside = subtract([from, to], excused);
    for (const [a, b] of outside) if (b - a > graceMs) violations.push({ kind: 'two VIP holders', detail: `both nodes held the VIP for ${Math.round(b - a)} ms outside a split (from +${Math.round(a - t0)} ms)` });
  }
  // no holder: clients cannot reach the cache; outside a fault (and its grace) for no longer than the grace
  const faultWindows = input.episodes.map((e) => [e.start, e.heal + graceMs] as const);
  for (const span of vip.noHolderSpans) {
    for (const [a, b] of subtract(span, faultWindows)) if (b - a > graceMs) violations.push({ kind: 'no VIP holder', detail: `no node held the VIP for ${Math.round(b - a)} ms outside a fault (from +${Math.round(a - t0)} ms)` });
  }
  const holdersAtEnd = vip.holdersAt(input.vip.end);
  if (holdersAtEnd !== 1) violations.push({ kind: 'VIP at the end', detail: `${holdersAtEnd} nodes hold the VIP at the end of the run` });
  const outsideSpans = vip.twoHolderSpans.flatMap((s) => subtract(s, excused));

  return {
    violations,
    known,
    episodes,
    figures: {
      requests: input.ops.length,
      acked: input.ops.filter((o) => o.r === 'ok' && o.k !== 'get').length,
      unknown: input.ops.filter((o) => o.r === 'unknown').length,
      keysCompared: keys.size,
      lostAcked: lost.size,
      lostProtected,
      lossWindowMs,
      reads: input.ops.filter((o) => o.k === 'get' && o.r === 'ok' && !o.key.startsWith('n')).length,
      staleReads: stale,
      staleMissed: staleMissed.size,
      staleProtected,
      lostIncrements,
      twoHolderMs: Math.round(vip.twoHolderSpans.reduce((s, [a, b]) => s + b - a, 0)),
      twoHolderOutsideMs: Math.round(outsideSpans.reduce((s, [a, b]) => s + b - a, 0)),
      maxTwoHolderOutsideMs: Math.round(Math.max(0, ...outsideSpans.map(([a, b]) => b - a))),
      noHolderMs: Math.round(vip.noHolderSpans.reduce((s, [a, b]) => s + b - a, 0)),
      maxOneHolderAfterHealMs: Math.max(0, ...episodes.map((e) => e.oneHolderMs ?? Infinity)),
    },
  };
}

/** [from, to] minus the union of `cuts`. */
function subtract(span: readonly [number, number], cuts: ReadonlyArray<readonly [number, number]>): Array<[number, number]> {
  let parts: Array<[number, number]> = [[span[0], span[1]]];
  for (const [c0, c1] of cuts) {
    parts = parts.flatMap(([a, b]): Array<[number, number]> => {
      if (c1 <= a || c0 >= b) return [[a, b]];
      const out: Array<[number, number]> = [];
      if (c0 > a) out.push([a, c0]);
      if (c1 < b) out.push([c1, b]);
      return out;
    });
  }
  return parts;
}

/** Who held the VIP when, from the initial holders and the changes seen. */
function vipTimeline(input: CheckInput) {
  const events = [...input.vip.events].sort((a, b) => a.t - b.t);
  const start = Math.min(input.vip.end, ...events.map((e) => e.t), ...input.ops.slice(0, 1).map((o) => o.t0));
  // change points: [t, count of holders from t on]
  const holds: [boolean, boolean] = [...input.vip.initial];
  const points: Array<[number, number]> = [[start, holds.filter(Boolean).length]];
  for (const e of events) {
    holds[e.node] = e.holds;
    points.push([e.t, holds.filter(Boolean).length]);
  }
  const holdersAt = (t: number) => {
    let n = points[0]![1];
    for (const [pt, c] of points) if (pt <= t) n = c;
    return n;
  };
  /** Maximal spans during which the holder count satisfies `when`. */
  const spans = (when: (count: number) => boolean): Array<[number, number]> => {
    const out: Array<[number, number]> = [];
    for (let i = 0; i < points.length; i++) {
      if (!when(points[i]![1]) || (out.length && out.at(-1)![1] >= points[i]![0])) continue;
      const end = points.slice(i + 1).find(([, c]) => !when(c))?.[0] ?? input.vip.end;
      out.push([points[i]![0], end]);
    }
    return out;
  };
  const twoHolderSpans = spans((c) => c >= 2);
  const noHolderSpans = spans((c) => c === 0);
  /** The first time at or after `from`, before `until`, when exactly one node holds the VIP. */
  const oneHolderFrom = (from: number, until: number): number | null => {
    if (holdersAt(from) === 1) return from;
    return points.find(([pt, c]) => pt > from && pt < until && c === 1)?.[0] ?? null;
  };
  return { holdersAt, twoHolderSpans, noHolderSpans, oneHolderFrom };
}
