import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../support/fake-clock.ts';
import { COALESCE_MS, FlushPacer } from '../../../src/replication/flush-pacer.ts';

/** A pacer on fake time; `endTurn()` runs what setImmediate would at the end of the current turn. */
function pacer(holdMs: number) {
  const clock = new FakeClock(1000);
  let immediates: Array<() => void> = [];
  const flushedAt: number[] = [];
  const p = new FlushPacer({ clock, soon: (fn) => immediates.push(fn), flush: () => flushedAt.push(clock.now()), holdMs });
  const endTurn = () => {
    const run = immediates;
    immediates = [];
    for (const fn of run) fn();
  };
  return { clock, p, flushedAt, endTurn };
}

describe('FlushPacer', () => {
  it('ships an isolated change at the end of the same turn, once however many changes the turn made', () => {
    const { clock, p, flushedAt, endTurn } = pacer(COALESCE_MS);
    p.request();
    p.request();
    expect(flushedAt).toEqual([]);
    endTurn();
    expect(flushedAt).toEqual([1000]);
    // a quiet link: the next change, COALESCE_MS or more later, is not held either
    clock.advance(5);
    p.request();
    endTurn();
    expect(flushedAt).toEqual([1000, 1005]);
    expect(p.held).toBe(0);
  });

  it('holds a burst within COALESCE_MS of the last flush and ships it in one flush COALESCE_MS after that one', () => {
    const { clock, p, flushedAt, endTurn } = pacer(COALESCE_MS);
    p.request();
    endTurn();
    expect(flushedAt).toEqual([1000]);
    for (let i = 0; i < 10; i++) {
      clock.advance(0.05);
      p.request();
      endTurn();
    }
    expect(flushedAt).toEqual([1000]);
    expect(p.holding).toBe(true);
    clock.advanceTo(1000 + COALESCE_MS - 0.01);
    expect(flushedAt).toEqual([1000]);
    clock.advanceTo(1000 + COALESCE_MS);
    expect(flushedAt).toEqual([1000, 1000 + COALESCE_MS]);
    expect(p.held).toBe(1);
    expect(p.pending).toBe(false);
  });

  it('under a steady load flushes once per COALESCE_MS, never more often', () => {
    const { clock, p, flushedAt, endTurn } = pacer(COALESCE_MS);
    for (let t = 0; t < 20; t += 0.1) {
      clock.advanceTo(1000 + t);
      p.request();
      endTurn();
    }
    clock.advance(COALESCE_MS);
    const gaps = flushedAt.slice(1).map((t, i) => t - flushedAt[i]);
    expect(gaps.every((g) => g >= COALESCE_MS - 1e-9)).toBe(true);
    expect(flushedAt.length).toBeGreaterThanOrEqual(19);
    expect(flushedAt.length).toBeLessThanOrEqual(21);
  });

  it('holds nothing with holdMs 0 (sync mode): every turn that wrote flushes at its end', () => {
    const { clock, p, flushedAt, endTurn } = pacer(0);
    for (let i = 0; i < 5; i++) {
      p.request();
      endTurn();
      clock.advance(0.1);
    }
    expect(flushedAt).toHaveLength(5);
    expect(p.held).toBe(0);
    expect(clock.pending).toBe(0);
  });

  it('release() (a graceful stop begins) cancels a held flush and holds nothing after it', () => {
    const { clock, p, flushedAt, endTurn } = pacer(COALESCE_MS);
    p.request();
    endTurn();
    p.request();
    expect(p.holding).toBe(true);
    p.release();
    expect(p.pending).toBe(false);
    expect(clock.pending).toBe(0);
    for (let i = 0; i < 3; i++) {
      clock.advance(0.1);
      p.request();
      endTurn();
    }
    expect(flushedAt).toEqual([1000, 1000.1, 1000.2, 1000.3].map((t) => expect.closeTo(t, 9)));
  });

  it('stop() cancels a held flush (the owner ships what is queued itself) and ends pacing', () => {
    const { clock, p, flushedAt, endTurn } = pacer(COALESCE_MS);
    p.request();
    endTurn();
    p.request();
    expect(p.holding).toBe(true);
    p.stop();
    expect(p.pending).toBe(false);
    expect(clock.pending).toBe(0);
    clock.advance(10);
    p.request();
    endTurn();
    expect(flushedAt).toEqual([1000]);
  });
});
