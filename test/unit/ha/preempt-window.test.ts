import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../support/fake-clock.ts';
import { PreemptWindow, type Scheduler } from '../../../src/ha/core/preempt-window.ts';
import { cronLogger } from '../../../src/ha/adapters/cron-scheduler.ts';
import { Net } from './harness.ts';
import pino from 'pino';

/** A scheduler fired by hand. */
function manualScheduler() {
  const tasks: { expr: string; fire: () => void; stopped: boolean }[] = [];
  const scheduler: Scheduler = {
    schedule(expr, fire) {
      const t = { expr, fire, stopped: false };
      tasks.push(t);
      return { stop: () => void (t.stopped = true) };
    },
  };
  return { scheduler, fire: () => tasks.filter((t) => !t.stopped).forEach((t) => t.fire()), tasks };
}

describe('PreemptWindow', () => {
  it('blocks preemption until the cron fires, then allows it for one window', () => {
    const clock = new FakeClock();
    const { scheduler, fire, tasks } = manualScheduler();
    const events: string[] = [];
    const blocked: (string | null)[] = [];
    const w = new PreemptWindow({ expr: '0 3 * * *', clock, scheduler, windowMs: 60_000, event: (e) => events.push(e.kind) });
    w.bind({ setPreemptBlocked: (r) => blocked.push(r) });
    w.start();
    expect(tasks.map((t) => t.expr)).toEqual(['0 3 * * *']);
    expect(blocked).toEqual(['outside the preempt_schedule window "0 3 * * *"']);
    fire();
    expect(w.open).toBe(true);
    expect(blocked.at(-1)).toBeNull();
    clock.advance(30_000);
    fire(); // a firing inside the window extends it
    clock.advance(59_999);
    expect(w.open).toBe(true);
    clock.advance(1);
    expect(w.open).toBe(false);
    expect(blocked.at(-1)).toMatch(/outside the preempt_schedule window/);
    expect(events).toEqual(['open', 'closed']);
    w.stop();
    expect(tasks[0]!.stopped).toBe(true);
  });

  it('routes node-cron log lines into pino', () => {
    const lines: string[] = [];
    const log = pino({ level: 'debug' }, { write: (s: string) => void lines.push(s) });
    const l = cronLogger(log);
    l.warn('task still running');
    l.error('boom', new Error('why'));
    expect(lines.map((s) => JSON.parse(s).msg)).toEqual(['task still running', 'boom']);
    expect(JSON.parse(lines[1]!).err).toBe('why');
  });
});

describe('preempt_schedule in the election', () => {
  /** A(150) returns while B(100) is MASTER; A's failback waits for the window. */
  function returning() {
    const net = new Net();
    const { scheduler, fire } = manualScheduler();
    net.add('A', 150, '198.18.0.1');
    net.add('B', 100, '198.18.0.2');
    const events: string[] = [];
    const w = new PreemptWindow({ expr: '*/5 * * * * *', clock: net.clock, scheduler });
    w.bind(net.get('A').inst);
    w.start();
    net.get('B').inst.start();
    net.clock.advanceTo(5000);
    expect(net.masters()).toEqual(['B']);
    net.get('A').inst.start();
    return { net, fire, events };
  }

  it('outside the window a higher-priority node follows the live lower-priority master (nopreempt)', () => {
    const { net } = returning();
    net.clock.advance(60_000);
    expect(net.masters()).toEqual(['B']);
    expect(net.get('A').inst.state).toBe('BACKUP');
  });

  it('takes the VIP back the moment the window opens', () => {
    const { net, fire } = returning();
    net.clock.advance(20_000);
    const opened = net.clock.now();
    fire();
    net.clock.advance(5000);
    expect(net.masters()).toEqual(['A']);
    expect(net.when('A', 'MASTER', opened)).toBe(opened);
    expect(net.get('B').inst.state).toBe('BACKUP');
  });

  it('a cron with seconds opens a one-second window', () => {
    const clock = new FakeClock();
    const w = new PreemptWindow({ expr: '*/20 * * * * *', clock, scheduler: manualScheduler().scheduler });
    w.fired();
    clock.advance(999);
    expect(w.open).toBe(true);
    clock.advance(1);
    expect(w.open).toBe(false);
  });

  it('another block (a cache not current) keeps the failback waiting when the window opens; it goes once both allow', () => {
    const { net, fire } = returning();
    const a = net.get('A').inst;
    a.setPreemptBlocked('the cache is behind', 'cache replication');
    net.clock.advance(20_000);
    fire();
    net.clock.advance(500);
    expect(net.masters()).toEqual(['B']);
    expect(a.preemptBlocked).toBe('the cache is behind');
    const allowed = net.clock.now();
    a.setPreemptBlocked(null, 'cache replication');
    expect(a.preemptBlocked).toBeNull();
    net.clock.advance(100);
    expect(net.masters()).toEqual(['A']);
    expect(net.when('A', 'MASTER', allowed)).toBe(allowed);
  });

  it('never defers an election without a live master', () => {
    const { net } = returning();
    net.crash('B');
    net.clock.advance(5000);
    expect(net.masters()).toEqual(['A']);
  });
});
