import { describe, expect, it } from 'vitest';
import { FakeClock } from '../support/fake-clock.ts';
import { CacheClock, CACHE_CLOCK_ORIGIN, TimerSlot, backgroundClock, systemClock } from '../../src/clock.ts';

describe('FakeClock', () => {
  it('runs due timers in deadline order, ties in creation order, each at its own time', () => {
    const c = new FakeClock(100);
    const seen: string[] = [];
    c.setTimer(50, () => seen.push(`b@${c.now()}`));
    c.setTimer(10, () => seen.push(`a@${c.now()}`));
    c.setTimer(50, () => seen.push(`c@${c.now()}`));
    const gone = c.setTimer(20, () => seen.push('never'));
    c.clearTimer(gone);
    c.advance(49);
    expect(seen).toEqual(['a@110']);
    c.advance(1);
    expect(seen).toEqual(['a@110', 'b@150', 'c@150']);
    expect(c.now()).toBe(150);
  });

  it('stall() moves time without running timers; the overdue ones run late at the next advance', () => {
    const c = new FakeClock();
    const seen: string[] = [];
    c.setTimer(100, () => seen.push(`a@${c.now()}`));
    c.setTimer(300, () => seen.push(`b@${c.now()}`));
    c.setTimer(5000, () => seen.push(`c@${c.now()}`));
    c.stall(1000);
    expect(seen).toEqual([]);
    expect(c.now()).toBe(1000);
    c.advance(0);
    expect(seen).toEqual(['a@1000', 'b@1000']);
    c.advance(4000);
    expect(seen).toEqual(['a@1000', 'b@1000', 'c@5000']);
  });

  it('runs timers created while advancing when they fall due in the same advance', () => {
    const c = new FakeClock();
    const seen: number[] = [];
    const tick = () => {
      seen.push(c.now());
      if (seen.length < 5) c.setTimer(100, tick);
    };
    c.setTimer(100, tick);
    c.advance(350);
    expect(seen).toEqual([100, 200, 300]);
    expect(c.nextDeadline()).toBe(400);
    expect(c.runAll()).toBe(150);
    expect(seen).toEqual([100, 200, 300, 400, 500]);
    expect(c.pending).toBe(0);
  });
});

describe('TimerSlot', () => {
  it('re-arming replaces the pending timer and reports its deadline', () => {
    const c = new FakeClock();
    const slot = new TimerSlot(c);
    const seen: string[] = [];
    slot.arm(100, () => seen.push('first'));
    slot.arm(300, () => seen.push('second'));
    expect(slot.deadline).toBe(300);
    c.advance(1000);
    expect(seen).toEqual(['second']);
    expect(slot.armed).toBe(false);
    slot.arm(10, () => seen.push('third'));
    slot.cancel();
    c.advance(100);
    expect(seen).toEqual(['second']);
  });

  it('works on the system clock', async () => {
    const slot = new TimerSlot(systemClock);
    const t0 = systemClock.now();
    await new Promise<void>((resolve) => slot.arm(5, resolve));
    expect(systemClock.now() - t0).toBeGreaterThanOrEqual(4);
    const id = systemClock.setTimer(1, () => expect.fail('cleared'));
    systemClock.clearTimer(id);
    await new Promise((r) => setTimeout(r, 5));
  });
});

describe('backgroundClock', () => {
  it('runs timers like the system clock, but a pending one does not keep the process alive', async () => {
    const timeouts = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = timeouts();
    const id = backgroundClock.setTimer(60_000, () => expect.fail('cleared'));
    expect(timeouts()).toBe(before);
    backgroundClock.clearTimer(id);
    await new Promise<void>((resolve) => backgroundClock.setTimer(1, resolve));
  });
});

describe('CacheClock shared by threads', () => {
  it('clocks sharing a second read the newest any of them ticked to, never going back', () => {
    const c = new FakeClock(0);
    const second = CacheClock.sharedSecond();
    const a = new CacheClock(c, 0, 0);
    const b = new CacheClock(c, 0, 0);
    a.share(second);
    b.share(second);
    expect(b.now()).toBe(CACHE_CLOCK_ORIGIN);
    c.advance(1500);
    expect(a.tick()).toBe(CACHE_CLOCK_ORIGIN + 1);
    // b has not ticked since: it reads a's second all the same
    expect(b.now()).toBe(CACHE_CLOCK_ORIGIN + 1);
    const late = new CacheClock(c, 0, 1000); // a clock a second behind, ticking: the shared second stays
    late.share(second);
    expect(late.tick()).toBe(CACHE_CLOCK_ORIGIN + 1);
    const alone = new CacheClock(c, 0, 1000);
    expect(alone.tick()).toBe(CACHE_CLOCK_ORIGIN);
  });
});
