import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../support/fake-clock.ts';
import { Tracker, applyTrack, promiseProber, tcpCheckTiming, trackEffect } from '../../../src/ha/core/tracker.ts';
import type { ProbeResult, TrackerChange, TrackerOptions } from '../../../src/ha/core/tracker.ts';
import { solo } from './harness.ts';

/** A prober answering from a script of results, each after `latencyMs`; 'hang' never answers. */
function scripted(clock: FakeClock, results: (ProbeResult | 'hang')[], latencyMs = 10) {
  const calls: number[] = [];
  let aborted = 0;
  const probe: TrackerOptions['probe'] = (done) => {
    calls.push(clock.now());
    const r = results.shift() ?? 'ok';
    if (r === 'hang') return () => aborted++;
    clock.setTimer(latencyMs, () => done(r, `probe ${r}`));
    return () => aborted++;
  };
  return { probe, calls, aborted: () => aborted };
}

function tracker(results: (ProbeResult | 'hang')[], opts: Partial<TrackerOptions> = {}, latencyMs = 10) {
  const clock = new FakeClock();
  const p = scripted(clock, results, latencyMs);
  const changes: (TrackerChange & { at: number })[] = [];
  const t = new Tracker({
    name: 'chk',
    intervalMs: 1000,
    timeoutMs: 500,
    clock,
    probe: p.probe,
    onChange: (c) => changes.push({ ...c, at: clock.now() }),
    ...opts,
  });
  return { clock, t, changes, ...p };
}

describe('Tracker (vrrp_script rise/fall)', () => {
  it('the first result decides, then fall consecutive failures go DOWN and rise successes go UP', () => {
    const h = tracker(['ok', 'fail', 'ok', 'fail', 'fail', 'fail', 'ok', 'ok'], { rise: 2, fall: 3 });
    h.t.start();
    h.clock.advance(10);
    expect(h.changes).toMatchObject([{ from: 'UNKNOWN', to: 'UP', reason: 'first check succeeded', at: 10 }]);
    h.clock.advanceTo(5059);
    expect(h.t.state).toBe('UP');
    h.clock.advanceTo(5060);
    expect(h.t.state).toBe('DOWN');
    expect(h.changes[1]).toMatchObject({ from: 'UP', to: 'DOWN', at: 5060, reason: '3 consecutive failures (last: probe fail)' });
    expect(h.calls).toEqual([0, 1010, 2020, 3030, 4040, 5050]);
    h.clock.advanceTo(7100);
    expect(h.changes[2]).toMatchObject({ from: 'DOWN', to: 'UP', at: 7080, reason: '2 consecutive successes' });
  });

  it('a first failure goes DOWN at once', () => {
    const h = tracker(['fail'], { fall: 3 });
    h.t.start();
    h.clock.advance(10);
    expect(h.changes[0]).toMatchObject({ to: 'DOWN', reason: 'first check failed (last: probe fail)' });
  });

  it('a probe that does not finish within the timeout is aborted and counts as a failure', () => {
    const h = tracker(['ok', 'hang', 'ok'], { timeoutMs: 300 });
    h.t.start();
    h.clock.advanceTo(1010 + 300);
    expect(h.t.state).toBe('DOWN');
    expect(h.changes[1].reason).toBe('1 consecutive failures (last: timed out after 300 ms)');
    expect(h.aborted()).toBe(1);
    expect(h.calls).toEqual([0, 1010]);
    h.clock.advanceTo(2310 + 10);
    expect(h.t.state).toBe('UP');
  });

  it('a timeout that fires a whole timeout late (the process was stopped) is not counted: a fresh probe decides', () => {
    const h = tracker(['ok', 'hang', 'ok'], { initial: 'UP', fall: 1 });
    h.t.start();
    h.clock.advance(1010); // probe 2 in flight
    h.clock.stall(10_000); // SIGSTOP: its timeout is overdue when we wake
    h.clock.advance(0);
    expect(h.aborted()).toBe(1);
    expect(h.calls).toEqual([0, 1010, 11_010]);
    h.clock.advance(10);
    expect(h.t.state).toBe('UP');
    expect(h.changes).toEqual([]);
  });

  it('the fresh probe after a stall counts its own timeout', () => {
    const h = tracker(['ok', 'hang', 'hang'], { initial: 'UP', fall: 1 });
    h.t.start();
    h.clock.advance(1010);
    h.clock.stall(10_000);
    h.clock.advance(500);
    expect(h.t.state).toBe('DOWN');
    expect(h.changes).toMatchObject([{ from: 'UP', to: 'DOWN', at: 11_510 }]);
  });

  it('ignores a late or duplicate answer', () => {
    const clock = new FakeClock();
    const dones: ((r: ProbeResult) => void)[] = [];
    const changes: string[] = [];
    const t = new Tracker({
      name: 'x',
      intervalMs: 1000,
      timeoutMs: 100,
      clock,
      probe: (done) => void dones.push(done),
      onChange: (c) => changes.push(c.to),
    });
    t.start();
    clock.advance(100); // timeout -> DOWN
    dones[0]('ok'); // late
    dones[0]('ok');
    expect(changes).toEqual(['DOWN']);
    expect(t.status().probes).toBe(1);
  });

  it('stop() cancels the pending probe and schedules nothing more', () => {
    const h = tracker(['hang']);
    h.t.start();
    h.t.stop();
    expect(h.aborted()).toBe(1);
    h.clock.advance(10_000);
    expect(h.calls).toHaveLength(1);
    expect(h.changes).toHaveLength(0);
  });

  it('report() feeds push-style results (track_interface)', () => {
    const h = tracker([]);
    h.t.report('fail', 'link down');
    h.t.report('ok');
    expect(h.changes.map((c) => c.to)).toEqual(['DOWN', 'UP']);
  });
});

describe('Tracker (TCP_CHECK retry / delay_before_retry)', () => {
  // delay_loop 6 s, connect_timeout 3 s, retry 2, delay_before_retry 3 s
  const timing = tcpCheckTiming({ delayLoopMs: 6000, connectTimeoutMs: 3000, retry: 2, delayBeforeRetryMs: 3000 });

  it('starts UP, retries after delay_before_retry, and goes DOWN after retry extra failures', () => {
    const h = tracker(['ok', 'fail', 'fail', 'fail', 'fail', 'ok'], timing);
    h.t.start();
    expect(h.t.state).toBe('UP');
    h.clock.advanceTo(20_000);
    // 0 ok; 6010 fail; +3000 retry fail; +3000 retry fail -> DOWN at 12_050; then delay_loop probes
    expect(h.calls).toEqual([0, 6010, 9020, 12_030, 18_040]);
    expect(h.changes[0]).toMatchObject({ from: 'UP', to: 'DOWN', at: 12_040, reason: '3 consecutive failures (last: probe fail)' });
    h.clock.advanceTo(30_000);
    expect(h.changes[1]).toMatchObject({ from: 'DOWN', to: 'UP', at: 24_060 });
  });

  it('a success during the retries keeps it UP', () => {
    const h = tracker(['fail', 'fail', 'ok', 'fail'], timing);
    h.t.start();
    h.clock.advanceTo(30_000);
    expect(h.changes).toHaveLength(0);
    expect(h.calls).toEqual([0, 3010, 6020, 12_030, 15_040, 21_050, 27_060]);
  });

  it('connect timeouts count as failures', () => {
    const h = tracker(['hang', 'hang', 'hang'], timing);
    h.t.start();
    h.clock.advanceTo(20_000);
    expect(h.changes[0]).toMatchObject({ to: 'DOWN', at: 3000 + 3000 + 3000 + 3000 + 3000 });
  });
});

describe('weights', () => {
  it.each([
    ['UP', 0, false, { fault: false, delta: 0 }],
    ['DOWN', 0, false, { fault: true, delta: 0 }],
    ['UP', 0, true, { fault: true, delta: 0 }],
    ['UP', 20, false, { fault: false, delta: 20 }],
    ['DOWN', 20, false, { fault: false, delta: 0 }],
    ['DOWN', 20, true, { fault: false, delta: 20 }],
    ['UP', -60, false, { fault: false, delta: 0 }],
    ['DOWN', -60, false, { fault: false, delta: -60 }],
    ['UP', -60, true, { fault: false, delta: -60 }],
    ['UNKNOWN', 0, false, { fault: false, delta: 0 }],
    ['UNKNOWN', -60, false, { fault: false, delta: 0 }],
  ] as const)('%s weight %d reverse %s', (state, weight, reverse, effect) => {
    expect(trackEffect(state, weight, reverse)).toEqual(effect);
  });

  it('drives an instance: weight 0 failing -> FAULT, negative weight -> lower priority', () => {
    const h = solo({ priority: 100 });
    h.inst.start();
    applyTrack(h.inst, 'script chk_down', 'DOWN', 0, false, 'chk_down failed 3 times');
    expect(h.inst.state).toBe('FAULT');
    expect(h.transitions.at(-1)!.reason).toBe('script chk_down: chk_down failed 3 times');
    applyTrack(h.inst, 'script chk_down', 'UP', 0);
    expect(h.inst.state).toBe('BACKUP');
    applyTrack(h.inst, 'script chk_w', 'DOWN', -60);
    expect(h.inst.effectivePriority).toBe(40);
    applyTrack(h.inst, 'script chk_w', 'UP', -60);
    expect(h.inst.effectivePriority).toBe(100);
  });
});

describe('promiseProber', () => {
  it('maps null to ok, a reason to fail, a rejection to fail, and aborts on timeout', async () => {
    const clock = new FakeClock();
    const changes: string[] = [];
    let signal: AbortSignal | null = null;
    const answers: (() => Promise<string | null>)[] = [
      async () => null,
      async () => 'ECONNREFUSED',
      async () => null,
      async () => Promise.reject(new Error('boom')),
      () => new Promise(() => {}),
    ];
    const t = new Tracker({
      name: 'p',
      intervalMs: 100,
      timeoutMs: 50,
      clock,
      probe: promiseProber((s) => {
        signal = s;
        return answers.shift()!();
      }),
      onChange: (c) => changes.push(`${c.to} ${c.reason}`),
    });
    t.start();
    for (let i = 0; i < 4; i++) {
      await new Promise((r) => setImmediate(r));
      clock.advance(100);
    }
    await new Promise((r) => setImmediate(r));
    clock.advance(50);
    expect(changes).toEqual([
      'UP first check succeeded',
      'DOWN 1 consecutive failures (last: ECONNREFUSED)',
      'UP 1 consecutive successes',
      'DOWN 1 consecutive failures (last: boom)',
    ]);
    expect(signal!.aborted).toBe(true);
  });
});

describe('start-up hold', () => {
  it('an UNKNOWN tracker keeps the instance in INIT; a first failure goes straight to FAULT', () => {
    const h = solo();
    applyTrack(h.inst, 'script chk', 'UNKNOWN', 0);
    h.inst.start();
    expect(h.inst.state).toBe('INIT');
    expect(h.inst.status().holds).toEqual(['script chk']);
    h.clock.advance(10_000);
    expect(h.inst.state).toBe('INIT');
    applyTrack(h.inst, 'script chk', 'DOWN', 0, false, 'exit 1');
    expect(h.transitions.map((t) => `${t.from}->${t.to}`)).toEqual(['INIT->FAULT']);
  });

  it('a first success starts the election normally', () => {
    const h = solo();
    applyTrack(h.inst, 'a', 'UNKNOWN', 0);
    applyTrack(h.inst, 'b', 'UNKNOWN', -50);
    h.inst.start();
    applyTrack(h.inst, 'a', 'UP', 0);
    expect(h.inst.state).toBe('INIT');
    applyTrack(h.inst, 'b', 'DOWN', -50);
    expect(h.inst.state).toBe('BACKUP');
    expect(h.transitions[0].priority).toBe(50);
  });
});
