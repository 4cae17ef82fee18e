import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../support/fake-clock.ts';
import { collectAllGarbage, IDLE_MS, IdleMemoryReducer } from '../../../src/server/idle-memory.ts';

describe('IdleMemoryReducer', () => {
  it('collects once at start, then once after each busy spell that is followed by IDLE_MS of quiet', () => {
    const clock = new FakeClock();
    let activity = 0;
    let collections = 0;
    const r = new IdleMemoryReducer(() => activity, clock, () => collections++);
    r.start();
    expect(collections).toBe(1);
    clock.advance(5 * IDLE_MS); // quiet since start: nothing new to give back
    expect(collections).toBe(1);
    // busy: the count moves at every check, no collection
    for (let i = 0; i < 5; i++) {
      activity += 100;
      clock.advance(IDLE_MS);
    }
    expect(collections).toBe(1);
    clock.advance(IDLE_MS); // one quiet interval after the spell
    expect(collections).toBe(2);
    clock.advance(10 * IDLE_MS); // still quiet: once per spell
    expect(collections).toBe(2);
    activity++;
    clock.advance(2 * IDLE_MS);
    expect(collections).toBe(3);
    r.stop();
    activity++;
    clock.advance(5 * IDLE_MS);
    expect(collections).toBe(3);
    expect(clock.nextDeadline()).toBe(null);
  });
});

describe('collectAllGarbage', () => {
  it('does nothing where V8 does not expose gc (bin/run-node does)', () => {
    expect((globalThis as { gc?: unknown }).gc).toBe(undefined);
    expect(collectAllGarbage()).toBe(false);
  });
});
