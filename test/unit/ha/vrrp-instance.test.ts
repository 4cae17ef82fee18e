import { describe, expect, it } from 'vitest';
import { advert, hello, solo } from './harness.ts';
import { effectivePriority, masterDownMs, outranks, skewMs } from '../../../src/ha/core/priority.ts';
import { VrrpInstance } from '../../../src/ha/core/vrrp-instance.ts';
import { FakeClock } from '../../support/fake-clock.ts';

describe('timer formulas', () => {
  it('uses the VRRPv3 skew and master-down interval', () => {
    expect(skewMs(100, 1000)).toBe(609.375);
    expect(masterDownMs(100, 1000)).toBe(3609.375);
    expect(masterDownMs(150, 1000)).toBe(3414.0625);
    expect(masterDownMs(100, 100)).toBeCloseTo(360.9375, 9);
    expect(skewMs(255, 1000)).toBe(3.90625);
  });

  it('clamps effective priority to 1..254 and never moves 255', () => {
    expect(effectivePriority(100, [50, -20])).toBe(130);
    expect(effectivePriority(250, [10])).toBe(254);
    expect(effectivePriority(10, [-50])).toBe(1);
    expect(effectivePriority(255, [-100])).toBe(255);
    expect(effectivePriority(200, [-100, 100])).toBe(200);
  });

  it('orders candidates by priority, then address, then node id', () => {
    const a = { priority: 100, primaryAddress: '198.18.0.2', nodeId: 'a' };
    expect(outranks({ ...a, priority: 101 }, a)).toBe(true);
    expect(outranks({ ...a, primaryAddress: '198.18.0.10' }, a)).toBe(true); // numeric, not lexical
    expect(outranks(a, { ...a, primaryAddress: '198.18.0.10' })).toBe(false);
    expect(outranks({ ...a, nodeId: 'b' }, a)).toBe(true);
    expect(outranks(a, a)).toBe(false);
  });
});

describe('start-up', () => {
  it('starts in BACKUP and becomes MASTER after 3 x advert_int + skew without adverts', () => {
    const h = solo();
    h.inst.start();
    expect(h.transitions[0]).toMatchObject({ from: 'INIT', to: 'BACKUP', reason: 'start-up' });
    h.clock.advance(3609);
    expect(h.inst.state).toBe('BACKUP');
    h.clock.advance(1);
    expect(h.inst.state).toBe('MASTER');
    expect(h.transitions[1]).toMatchObject({ from: 'BACKUP', to: 'MASTER', priority: 100 });
    expect(h.transitions[1].at).toBe(3609.375);
    expect(h.transitions[1].reason).toMatch(/master down timer expired \(3609 ms/);
  });

  it('sends its first advert before announcing MASTER, then one per advert_int', () => {
    const h = solo();
    h.inst.start();
    h.clock.advance(3609.375);
    expect(h.order).toEqual(['INIT->BACKUP', 'send ADVERT 100', 'BACKUP->MASTER']);
    h.clock.advance(3000);
    expect(h.adverts().map((a) => a.at)).toEqual([3609.375, 4609.375, 5609.375, 6609.375]);
  });

  it('keeps the advert cadence after a late tick; more than an interval late starts afresh', () => {
    const h = solo();
    h.inst.start();
    h.clock.advance(3609.375 + 950);
    h.clock.stall(90); // the event loop was busy: the advert due at 4609.375 runs 40 ms late
    h.clock.advance(2000);
    expect(h.adverts().map((a) => a.at)).toEqual([3609.375, 4649.375, 5609.375, 6609.375]);
    h.clock.stall(1500); // due at 7609.375, runs at 8149.375: the next one still at 8609.375
    h.clock.advance(1000);
    expect(h.adverts().map((a) => a.at).slice(4)).toEqual([8149.375, 8609.375]);
    h.clock.stall(1800); // due at 9609.375, runs at 10949.375: no burst to catch up
    h.clock.advance(1000);
    expect(h.adverts().map((a) => a.at).slice(6)).toEqual([10949.375, 11949.375]);
  });

  it('state MASTER below 255 still waits the master-down interval', () => {
    const h = solo({ initialState: 'MASTER', priority: 150 });
    h.inst.start();
    expect(h.inst.state).toBe('BACKUP');
    h.clock.advance(3414);
    expect(h.inst.state).toBe('BACKUP');
    h.clock.advance(0.1);
    expect(h.inst.state).toBe('MASTER');
  });

  it('a 255 owner with state MASTER becomes MASTER at once', () => {
    const h = solo({ initialState: 'MASTER', priority: 255 });
    h.inst.start();
    expect(h.transitions).toMatchObject([{ from: 'INIT', to: 'MASTER', priority: 255 }]);
    expect(h.order[0]).toBe('send ADVERT 255');
  });

  it('a 255 owner with state BACKUP waits 3 x advert_int + 1/256', () => {
    const h = solo({ priority: 255 });
    h.inst.start();
    h.clock.advance(3003.9);
    expect(h.inst.state).toBe('BACKUP');
    h.clock.advance(0.01);
    expect(h.inst.state).toBe('MASTER');
  });

  it('supports sub-second advert intervals', () => {
    const h = solo({ advertIntMs: 100 });
    h.inst.start();
    h.clock.advance(360.9);
    expect(h.inst.state).toBe('BACKUP');
    h.clock.advance(0.1);
    expect(h.inst.state).toBe('MASTER');
    h.clock.advance(300);
    expect(h.adverts()).toHaveLength(4);
  });

  it('rejects a priority outside 1..255', () => {
    const clock = new FakeClock();
    const actions = { sendAdvert() {}, transition() {} };
    expect(() => new VrrpInstance({ name: 'x', nodeId: 'n', primaryAddress: '198.18.0.1', priority: 0, advertIntMs: 1000, clock, actions })).toThrow(RangeError);
    expect(() => new VrrpInstance({ name: 'x', nodeId: 'n', primaryAddress: '198.18.0.1', priority: 256, advertIntMs: 1000, clock, actions })).toThrow(RangeError);
  });
});

describe('BACKUP receiving adverts', () => {
  it('accepts higher and equal priority adverts and resets the master-down timer', () => {
    const h = solo();
    h.inst.start();
    for (let t = 0; t < 10; t++) {
      h.clock.advance(1000);
      h.inst.receive(advert('peer', t % 2 ? 100 : 150));
    }
    expect(h.inst.state).toBe('BACKUP');
    expect(h.inst.status().master).toMatchObject({ nodeId: 'peer', priority: 100 });
    h.clock.advance(3609);
    expect(h.inst.state).toBe('BACKUP');
    h.clock.advance(0.5);
    expect(h.inst.state).toBe('MASTER');
    expect(h.transitions.at(-1)!.at).toBe(10_000 + 3609.375);
  });

  it('discards lower priority adverts and preempts when the timer fires', () => {
    const h = solo({ priority: 150 });
    h.inst.start();
    for (let t = 1; t <= 3; t++) {
      h.clock.advance(1000);
      h.inst.receive(advert('peer', 100));
    }
    expect(h.events.filter((e) => e.kind === 'discard-lower-priority')).toHaveLength(3);
    expect(h.events[0].message).toBe('received lower priority (100) advert from peer - discarding');
    h.clock.advance(414.0625);
    expect(h.inst.state).toBe('MASTER');
    expect(h.transitions.at(-1)!.at).toBe(3414.0625);
    expect(h.inst.status().counters.discardedLower).toBe(3);
  });

  it('nopreempt accepts lower priority adverts and stays BACKUP', () => {
    const h = solo({ priority: 150, nopreempt: true });
    h.inst.start();
    for (let t = 1; t <= 20; t++) {
      h.clock.advance(1000);
      h.inst.receive(advert('peer', 50));
    }
    expect(h.inst.state).toBe('BACKUP');
    h.clock.advance(3414.0625);
    expect(h.inst.state).toBe('MASTER'); // the lower master vanished
  });

  it('preempt_delay accepts lower adverts until the delay has passed', () => {
    const h = solo({ priority: 150, preemptDelayMs: 2000 });
    h.inst.start();
    h.clock.advance(1000);
    h.inst.receive(advert('peer', 100)); // accepted: delay pending, timer now 1000 + 3414
    expect(h.inst.status().timers.preemptUntil).toBe(1000);
    h.clock.advance(1000);
    h.inst.receive(advert('peer', 100)); // t=2000: delay over, discarded
    h.clock.advance(1000);
    h.inst.receive(advert('peer', 100));
    expect(h.events.filter((e) => e.kind === 'discard-lower-priority')).toHaveLength(2);
    h.clock.advanceTo(4414);
    expect(h.inst.state).toBe('BACKUP');
    h.clock.advanceTo(4414.0625);
    expect(h.inst.state).toBe('MASTER');
  });

  it('preempt_delay restarts when a lower master appears after a higher one', () => {
    const h = solo({ priority: 150, preemptDelayMs: 2000 });
    h.inst.start();
    h.clock.advanceTo(5000);
    h.inst.receive(hello('high', 200)); // MASTER by now: it yields to a node it has heard from
    h.inst.receive(advert('high', 200)); // clears the start-up delay
    h.clock.advanceTo(6000);
    h.inst.receive(advert('low', 100)); // a lower master: delay starts now, accepted
    h.clock.advanceTo(7000);
    h.inst.receive(advert('low', 100));
    h.clock.advanceTo(8000);
    h.inst.receive(advert('low', 100)); // discarded
    expect(h.events.filter((e) => e.kind === 'discard-lower-priority')).toHaveLength(1);
    h.clock.advanceTo(7000 + 3414.0625);
    expect(h.inst.state).toBe('MASTER');
  });

  it('adopts the master advert interval (v3) and logs the mismatch once', () => {
    const h = solo();
    h.inst.start();
    h.inst.receive(advert('peer', 200, { advertIntMs: 2000 }));
    h.inst.receive(advert('peer', 200, { advertIntMs: 2000 }));
    expect(h.events.filter((e) => e.kind === 'interval-mismatch')).toHaveLength(1);
    h.clock.advance(6000 + 1218.74);
    expect(h.inst.state).toBe('BACKUP');
    h.clock.advance(0.01);
    expect(h.inst.state).toBe('MASTER');
  });

  it('logs a VIP list mismatch but keeps the advert', () => {
    const h = solo({ vips: [{ address: '198.18.0.100', prefix: 32 }] });
    h.inst.start();
    h.inst.receive(advert('peer', 200, { vips: [{ address: '198.18.0.101', prefix: 32 }] }));
    expect(h.events.find((e) => e.kind === 'vip-mismatch')?.message).toMatch(/198\.18\.0\.101\/32.*198\.18\.0\.100\/32/);
    expect(h.inst.status().master?.nodeId).toBe('peer');
  });

  it('ignores its own adverts looped back', () => {
    const h = solo({ priority: 150 });
    h.inst.start();
    h.inst.receive(advert('self', 10));
    expect(h.events).toHaveLength(0);
  });

  it('takes over one skew time after the master sends priority 0', () => {
    const h = solo();
    h.inst.start();
    h.clock.advance(1000);
    h.inst.receive(advert('peer', 150));
    h.clock.advance(500);
    h.inst.receive(advert('peer', 0));
    h.clock.advance(609);
    expect(h.inst.state).toBe('BACKUP');
    h.clock.advance(0.375);
    expect(h.inst.state).toBe('MASTER');
  });

  it('recomputes the master-down timer when its priority changes', () => {
    const h = solo();
    h.inst.start();
    h.inst.receive(advert('peer', 200)); // t=0
    h.inst.setPriorityAdjustment('chk', 50); // 150: MDI 3414.0625 from t=0
    expect(h.inst.status().timers.masterDown).toBe(3414.0625);
    h.clock.advance(3414.0625);
    expect(h.inst.state).toBe('MASTER');
  });
});

describe('MASTER receiving adverts', () => {
  function master(opts = {}) {
    const h = solo({ priority: 100, primaryAddress: '198.18.0.10', ...opts });
    h.inst.start();
    h.clock.advance(3609.375);
    expect(h.inst.state).toBe('MASTER');
    h.sent.length = 0;
    h.order.length = 0;
    return h;
  }

  it('yields to a higher priority from a live peer at once, after one advert of its own', () => {
    const h = master();
    h.inst.receive(hello('peer', 90));
    h.inst.receive(advert('peer', 101));
    expect(h.inst.state).toBe('BACKUP');
    expect(h.transitions.at(-1)!.reason).toBe('higher priority 101 advert from peer');
    // our priority, so that the winner sees a lower advert and re-announces the VIPs
    expect(h.order).toEqual(['send ADVERT 100', 'MASTER->BACKUP']);
    h.clock.advance(3609.375);
    expect(h.inst.state).toBe('MASTER'); // the winner went silent
  });

  it('yields to an equal priority from a higher address', () => {
    const h = master();
    h.inst.receive(hello('peer', 100, { primaryAddress: '198.18.0.11' }));
    h.inst.receive(advert('peer', 100, { primaryAddress: '198.18.0.11' }));
    expect(h.inst.state).toBe('BACKUP');
    expect(h.transitions.at(-1)!.reason).toMatch(/same priority 100 .* higher address 198\.18\.0\.11/);
  });

  it('re-advertises at once on an equal priority from a lower address', () => {
    const h = master();
    h.inst.receive(advert('peer', 100, { primaryAddress: '198.18.0.9' }));
    expect(h.inst.state).toBe('MASTER');
    expect(h.order).toEqual(['send ADVERT 100', 'announce conflict']);
    expect(h.events.at(-1)!.kind).toBe('forcing-election');
  });

  it('re-advertises at once on a lower priority and on priority 0', () => {
    const h = master();
    h.inst.receive(advert('peer', 50));
    h.inst.receive(advert('peer', 0));
    expect(h.inst.state).toBe('MASTER');
    expect(h.adverts().map((a) => a.priority)).toEqual([100, 100]);
  });

  it('warns about an equal priority advert carrying our own address', () => {
    const h = master();
    h.inst.receive(advert('imposter', 100, { primaryAddress: '198.18.0.10' }));
    expect(h.events.some((e) => e.kind === 'same-address')).toBe(true);
  });

  it('advertises its effective priority after a weight change', () => {
    const h = master();
    h.inst.setPriorityAdjustment('chk', -30);
    h.clock.advance(1000);
    expect(h.adverts().at(-1)!.priority).toBe(70);
  });
});

describe('FAULT', () => {
  it('MASTER -> FAULT sends priority 0 before the transition, ignores adverts, and returns to BACKUP', () => {
    const h = solo();
    h.inst.start();
    h.clock.advance(3609.375);
    h.order.length = 0;
    h.inst.setFault('script chk', 'chk failed 3 times');
    expect(h.order).toEqual(['send ADVERT 0', 'MASTER->FAULT']);
    expect(h.transitions.at(-1)!.reason).toBe('script chk: chk failed 3 times');
    h.clock.advance(10_000);
    h.inst.receive(advert('peer', 200));
    expect(h.inst.status().master).toBeNull();
    expect(h.sent.filter((s) => s.at > 3609.375)).toHaveLength(0);
    h.inst.setFault('script chk', null);
    expect(h.transitions.at(-1)).toMatchObject({ from: 'FAULT', to: 'BACKUP', reason: 'fault cleared (script chk)' });
    h.clock.advance(3609.375);
    expect(h.inst.state).toBe('MASTER');
  });

  it('stays in FAULT until every source has cleared', () => {
    const h = solo();
    h.inst.start();
    h.inst.setFault('a', 'down');
    h.inst.setFault('b', 'down');
    h.inst.setFault('a', null);
    expect(h.inst.state).toBe('FAULT');
    expect(h.inst.status().faults).toEqual(['b: down']);
    h.inst.setFault('b', null);
    expect(h.inst.state).toBe('BACKUP');
    expect(h.transitions.map((t) => t.to)).toEqual(['BACKUP', 'FAULT', 'BACKUP']);
  });

  it('starts in FAULT when a fault is already set', () => {
    const h = solo();
    h.inst.setFault('interface eth0', 'down');
    h.inst.start();
    expect(h.transitions).toMatchObject([{ from: 'INIT', to: 'FAULT' }]);
  });

  it('a 255 owner with state MASTER leaves FAULT straight to MASTER', () => {
    const h = solo({ priority: 255, initialState: 'MASTER' });
    h.inst.start();
    h.inst.setFault('vip', 'ip addr add failed: Cannot find device');
    h.inst.setFault('vip', null);
    expect(h.transitions.map((t) => t.to)).toEqual(['MASTER', 'FAULT', 'MASTER']);
  });

  it('a BACKUP entering FAULT withdraws its hello', () => {
    const h = solo({ helloIntervalMs: 1000 });
    h.inst.start();
    h.inst.setFault('x', 'down');
    expect(h.hellos().map((s) => s.priority)).toEqual([100, 0]);
    h.clock.advance(5000);
    expect(h.hellos()).toHaveLength(2);
  });
});

describe('stop', () => {
  it('a MASTER stopping sends priority 0, then STOP', () => {
    const h = solo();
    h.inst.start();
    h.clock.advance(3609.375);
    h.order.length = 0;
    h.inst.stop('SIGTERM');
    expect(h.order).toEqual(['send ADVERT 0', 'MASTER->STOP']);
    expect(h.transitions.at(-1)!.reason).toBe('SIGTERM');
    h.clock.advance(10_000);
    expect(h.sent.filter((s) => s.at > 3609.375)).toHaveLength(0);
  });

  it('a BACKUP stopping sends no advert', () => {
    const h = solo();
    h.inst.start();
    h.inst.stop();
    expect(h.adverts()).toHaveLength(0);
    expect(h.inst.state).toBe('STOP');
    h.clock.advance(10_000);
    expect(h.inst.state).toBe('STOP');
  });
});

describe('weights', () => {
  it('adds and removes tracker adjustments, clamped, with an event', () => {
    const h = solo({ priority: 100 });
    h.inst.setPriorityAdjustment('a', 100);
    h.inst.setPriorityAdjustment('b', 100);
    expect(h.inst.effectivePriority).toBe(254);
    h.inst.setPriorityAdjustment('a', 0);
    h.inst.setPriorityAdjustment('b', -200);
    expect(h.inst.effectivePriority).toBe(1);
    expect(h.inst.status().priorityAdjustments).toEqual({ b: -200 });
    expect(h.events.map((e) => e.message)).toContain('effective priority 100 -> 200 (a +100)');
  });

  it('never changes an owner', () => {
    const h = solo({ priority: 255 });
    h.inst.setPriorityAdjustment('a', -100);
    expect(h.inst.effectivePriority).toBe(255);
    expect(h.events).toHaveLength(0);
  });
});

describe('status', () => {
  it('reports state, priorities, master and timers', () => {
    const h = solo({ priority: 120, helloIntervalMs: 1000 });
    h.inst.start();
    h.clock.advance(200);
    h.inst.receive(advert('peer', 150));
    h.clock.advance(300);
    const s = h.inst.status();
    expect(s).toMatchObject({
      name: 'VI_1',
      state: 'BACKUP',
      basePriority: 120,
      effectivePriority: 120,
      master: { nodeId: 'peer', priority: 150, at: 200 },
      faults: [],
      wantsMaster: false,
    });
    expect(s.timers.masterDown).toBeCloseTo(3000 + (136 * 1000) / 256 - 300, 6);
    expect(s.timers.hello).toBe(500);
    expect(s.timers.advert).toBeNull();
    expect(JSON.parse(JSON.stringify(s))).toEqual(s);
  });
});

describe('reconfigure (reload in place)', () => {
  const master = () => {
    const s = solo({ priority: 150, advertIntMs: 100 });
    s.inst.start();
    s.clock.advance(1000);
    expect(s.inst.state).toBe('MASTER');
    return s;
  };
  const gapsFrom = (s: ReturnType<typeof solo>, t0: number) => {
    const at = s.adverts().filter((a) => a.at >= t0).map((a) => a.at);
    return at.slice(1).map((t, i) => t - at[i]!);
  };

  it('a MASTER with a longer interval advertises at once, then three at the old cadence, then the new one', () => {
    const s = master();
    s.clock.advance(30);
    const t0 = s.clock.now();
    s.inst.reconfigure({ advertIntMs: 1000 });
    expect(s.adverts().at(-1)!.at).toBe(t0);
    s.clock.advance(3000);
    expect(gapsFrom(s, t0)).toEqual([100, 100, 100, 1000, 1000]);
  });

  it('a MASTER with a shorter interval advertises at once and is not taken for paused', () => {
    const s = solo({ priority: 150, advertIntMs: 1000 });
    s.inst.start();
    s.clock.advance(5000);
    s.clock.advance(900);
    const t0 = s.clock.now();
    s.inst.reconfigure({ advertIntMs: 100 });
    s.clock.advance(1000);
    expect(gapsFrom(s, t0).every((g) => g === 100)).toBe(true);
    expect(s.inst.status().counters.pausesDetected).toBe(0);
  });

  it('the same settings change nothing: no advert, no hello, no timer moved', () => {
    const s = master();
    const sent = s.sent.length;
    const timers = s.inst.status().timers;
    s.inst.reconfigure({ priority: 150, advertIntMs: 100, nopreempt: false, preemptDelayMs: 0, garpRefreshMs: 0 });
    expect(s.sent.length).toBe(sent);
    expect(s.inst.status().timers).toEqual(timers);
  });

  it('a BACKUP raised: one hello with the new priority and the master-down wait shortened to the new skew', () => {
    const s = solo({ priority: 100, advertIntMs: 1000, helloIntervalMs: 1000 });
    s.inst.start();
    s.inst.receive(advert('m', 150));
    const before = s.inst.status().timers.masterDown!;
    s.inst.reconfigure({ priority: 200 });
    expect(s.hellos().at(-1)!.priority).toBe(200);
    expect(s.inst.status().timers.masterDown).toBe(masterDownMs(200, 1000));
    expect(s.inst.status().timers.masterDown!).toBeLessThan(before);
    expect(() => s.inst.reconfigure({ priority: 256 })).toThrow(RangeError);
  });
});
