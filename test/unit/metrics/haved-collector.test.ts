import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../support/fake-clock.ts';
import { NotifyQueue } from '../../../src/ha/core/notify-queue.ts';
import { PROBE_DURATION_BOUNDS_S, ProbeStats } from '../../../src/ha/core/probe-stats.ts';
import { Tracker } from '../../../src/ha/core/tracker.ts';
import { HavedMetrics, type HavedStatusView } from '../../../src/metrics/haved.ts';
import { parseExposition } from '../../support/exposition.ts';

const flush = async () => {
  for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
};

function status(over: Partial<HavedStatusView> = {}): HavedStatusView {
  const probes = new ProbeStats();
  probes.record('ok', 0.8);
  probes.record('ok', 30);
  probes.record('timeout', 3000);
  const s = probes.snapshot();
  return {
    maintenanceSince: null,
    instances: [
      {
        name: 'VI_1', state: 'MASTER', priority: 148, basePriority: 150, vipsInstalled: true, faults: [],
        counters: { advertsSent: 40, advertsReceived: 12, discardedLower: 1, announcements: 2, pausesDetected: 0 },
        dropped: { BAD_AUTH: 3, NOT_A_PEER: 1 }, transitions: { BACKUP: 1, MASTER: 1 }, notifyOutcomes: { ok: 2, failed: 1 },
      },
    ],
    checks: [{ name: 'MEMCACHE_CHECK 198.18.0.1:11211', kind: 'check', state: 'UP', results: s.results, duration: s.duration }],
    syncGroups: [{ name: 'G1', state: 'MASTER', notifyOutcomes: { timeout: 1 } }],
    realServerNotifyOutcomes: { ok: 0, failed: 0, timeout: 0, error: 2 },
    cache: { state: 'running', starts: 3, restarts: 2, failures: 2, warmth: 'warm', holding: false },
    proxy: null,
    ...over,
  };
}

describe('HavedMetrics (read from the daemon status at scrape time)', () => {
  it('exposes state, priority, transitions, adverts by reason, checks, notify scripts and the cache daemon', async () => {
    const m = new HavedMetrics({ status: () => status() });
    const v = parseExposition(await m.scrape());
    const I = 'instance="VI_1"';
    expect(v.get(`haved_vrrp_state{${I},state="MASTER"}`)).toBe(1);
    expect(v.get(`haved_vrrp_state{${I},state="BACKUP"}`)).toBe(0);
    expect(v.get(`haved_vrrp_priority{${I}}`)).toBe(148);
    expect(v.get(`haved_vrrp_base_priority{${I}}`)).toBe(150);
    expect(v.get(`haved_vrrp_vips_installed{${I}}`)).toBe(1);
    expect(v.get(`haved_vrrp_transitions_total{${I},to="MASTER"}`)).toBe(1);
    expect(v.get(`haved_vrrp_transitions_total{${I},to="FAULT"}`)).toBe(0);
    expect(v.get(`haved_vrrp_adverts_sent_total{${I}}`)).toBe(40);
    expect(v.get(`haved_vrrp_adverts_received_total{${I}}`)).toBe(12);
    expect(v.get(`haved_vrrp_adverts_rejected_total{${I},reason="BAD_AUTH"}`)).toBe(3);
    expect(v.get(`haved_vrrp_adverts_rejected_total{${I},reason="NOT_A_PEER"}`)).toBe(1);
    expect(v.get(`haved_vrrp_adverts_rejected_total{${I},reason="REPLAYED"}`)).toBe(0);
    expect(v.get(`haved_vrrp_adverts_lower_priority_total{${I}}`)).toBe(1);
    const C = 'check="MEMCACHE_CHECK 198.18.0.1:11211",kind="check"';
    expect(v.get(`haved_check_state{${C},state="UP"}`)).toBe(1);
    expect(v.get(`haved_check_results_total{${C},result="ok"}`)).toBe(2);
    expect(v.get(`haved_check_results_total{${C},result="timeout"}`)).toBe(1);
    expect(v.get(`haved_check_duration_seconds_bucket{${C},le="0.001"}`)).toBe(1);
    expect(v.get(`haved_check_duration_seconds_bucket{${C},le="0.05"}`)).toBe(2);
    expect(v.get(`haved_check_duration_seconds_bucket{${C},le="5"}`)).toBe(3);
    expect(v.get(`haved_check_duration_seconds_bucket{${C},le="+Inf"}`)).toBe(3);
    expect(v.get(`haved_check_duration_seconds_count{${C}}`)).toBe(3);
    expect(v.get(`haved_check_duration_seconds_sum{${C}}`)).toBeCloseTo(3.0308, 6);
    expect(v.get('haved_notify_scripts_total{scope="instance",name="VI_1",outcome="ok"}')).toBe(2);
    expect(v.get('haved_notify_scripts_total{scope="instance",name="VI_1",outcome="failed"}')).toBe(1);
    expect(v.get('haved_notify_scripts_total{scope="group",name="G1",outcome="timeout"}')).toBe(1);
    expect(v.get('haved_notify_scripts_total{scope="real_server",name="",outcome="error"}')).toBe(2);
    expect(v.get('haved_cache_daemon_state{state="running"}')).toBe(1);
    expect(v.get('haved_cache_daemon_restarts_total')).toBe(2);
    expect(v.get('haved_cache_daemon_failures_total')).toBe(2);
    expect(v.get('haved_cache_warm')).toBe(1);
    expect(v.get('haved_cache_replication_current')).toBe(1);
    expect(v.get('haved_maintenance')).toBe(0);
    // no proxy_daemon: no proxy series at all
    expect([...v.keys()].some((k) => k.startsWith('haved_proxy_daemon'))).toBe(false);
  });

  it('follows the state from one scrape to the next (a removed instance and check disappear)', async () => {
    let s = status();
    const m = new HavedMetrics({ status: () => s });
    await m.scrape();
    s = status({ instances: [], checks: [], cache: null, maintenanceSince: '2026-01-01T00:00:00Z' });
    const v = parseExposition(await m.scrape());
    expect([...v.keys()].some((k) => k.includes('VI_1') && !k.startsWith('haved_notify'))).toBe(false);
    expect([...v.keys()].some((k) => k.startsWith('haved_check') || k.startsWith('haved_cache'))).toBe(false);
    expect(v.get('haved_maintenance')).toBe(1);
  });
});

describe('the counters the collector reads', () => {
  it('ProbeStats keeps results and cumulative duration buckets', () => {
    const p = new ProbeStats();
    p.record('ok', 1);
    p.record('fail', 7);
    p.record('timeout', 60_000);
    const s = p.snapshot();
    expect(s.results).toEqual({ ok: 1, fail: 1, timeout: 1 });
    expect(s.duration.count).toBe(3);
    expect(s.duration.le[0]).toBe(1); // <= 1 ms
    expect(s.duration.le[PROBE_DURATION_BOUNDS_S.indexOf(0.01)]).toBe(2);
    expect(s.duration.le.at(-1)).toBe(2); // 60 s is above the last bound: only +Inf (count) has it
  });

  it('a Tracker records each probe result with its duration on its clock', async () => {
    const clock = new FakeClock();
    const answers: Array<(r: 'ok' | 'fail') => void> = [];
    const t = new Tracker({ name: 't', intervalMs: 100, timeoutMs: 50, clock, probe: (done) => void answers.push((r) => done(r)) });
    t.start();
    clock.advance(20);
    answers.shift()!('ok');
    clock.advance(100); // next probe
    clock.advance(50); // it times out
    await flush();
    const s = t.status();
    expect(s.results).toEqual({ ok: 1, fail: 0, timeout: 1 });
    expect(s.duration.count).toBe(2);
    expect(s.duration.sumSeconds).toBeCloseTo(0.07, 6);
    t.stop();
  });

  it('a NotifyQueue counts scripts by outcome', async () => {
    const clock = new FakeClock();
    const codes = [0, 1, 'throw', 0];
    const q = new NotifyQueue({
      clock,
      spawn: async () => {
        const c = codes.shift();
        if (c === 'throw') throw new Error('ENOENT');
        return { code: c as number };
      },
    });
    q.enqueue(...Array.from({ length: 4 }, (_, i) => ({ argv: [`/s${i}`], user: null, label: `s${i}` })));
    await q.idle();
    expect(q.outcomes).toEqual({ ok: 2, failed: 1, timeout: 0, error: 1 });
  });
});

describe('HavedMetrics: the witness', () => {
  it('lease, requests, refusals and step-downs for an instance with a witness; nothing for one without', async () => {
    const base = status().instances[0]!;
    const m = new HavedMetrics({
      status: () =>
        status({
          instances: [
            { ...base, witness: { lease: 'held', counters: { requests: 9, granted: 7, refused: 2, stepDowns: 1 } } },
            { ...base, name: 'VI_2', witness: null },
          ],
        }),
    });
    const v = parseExposition(await m.scrape());
    expect(v.get('haved_witness_lease{instance="VI_1"}')).toBe(1);
    expect(v.get('haved_witness_requests_total{instance="VI_1"}')).toBe(9);
    expect(v.get('haved_witness_refused_total{instance="VI_1"}')).toBe(2);
    expect(v.get('haved_witness_step_downs_total{instance="VI_1"}')).toBe(1);
    expect(v.has('haved_witness_lease{instance="VI_2"}')).toBe(false);
  });
});
