import { describe, expect, it } from 'vitest';
import { ServerCounters } from '../../../src/server/stats.ts';
import { WorkerCounterTable } from '../../../src/server/worker-counters.ts';

function filled(base: number): ServerCounters {
  const c = new ServerCounters();
  const fields = Object.keys(c) as Array<keyof ServerCounters>;
  fields.forEach((k, i) => ((c as unknown as Record<string, number>)[k] = base + i));
  return c;
}

describe('WorkerCounterTable', () => {
  it('sums every ServerCounters field over the workers', () => {
    const buffer = WorkerCounterTable.allocate(3);
    const tables = [0, 1, 2].map((w) => new WorkerCounterTable(3, w, buffer));
    tables.forEach((t, w) => t.publish(filled(100 * (w + 1)), w + 1));
    const { counters, currConnections } = tables[1].sums();
    const expected = filled(0);
    for (const k of Object.keys(expected) as Array<keyof ServerCounters>) {
      (expected as unknown as Record<string, number>)[k] = (filled(100)[k] as number) + (filled(200)[k] as number) + (filled(300)[k] as number);
    }
    expect(counters).toEqual(expected);
    expect(currConnections).toBe(6);
  });

  it('a reset asked on one worker resets every worker at its next publish', () => {
    const buffer = WorkerCounterTable.allocate(2);
    const [a, b] = [0, 1].map((w) => new WorkerCounterTable(2, w, buffer));
    const ca = filled(10);
    const cb = filled(20);
    a.publish(ca, 0);
    b.publish(cb, 0);
    a.requestReset();
    a.publish(ca, 0);
    b.publish(cb, 0);
    expect(a.sums().counters.bytesRead).toBe(0);
    expect(cb.cmdMeta).toBe(0);
  });

  it('a worker that has not published since a reset counts as reset already (what reset() keeps, kept); then as it publishes', () => {
    const buffer = WorkerCounterTable.allocate(2);
    const [a, b] = [0, 1].map((w) => new WorkerCounterTable(2, w, buffer));
    const cb = filled(20);
    b.publish(cb, 3);
    a.publish(new ServerCounters(), 1);
    a.requestReset();
    // b is idle: its row still holds what it counted before the reset
    const { counters, currConnections } = a.sums();
    expect(counters.bytesRead).toBe(0);
    expect(counters.totalConnections).toBe(0);
    expect(counters.connectionStructures).toBe(cb.connectionStructures);
    expect(counters.logWatcherSent).toBe(cb.logWatcherSent);
    expect(currConnections).toBe(4);
    cb.bytesRead += 7; // (reset at its publish, below: counted from the reset on)
    b.publish(cb, 3);
    expect(a.sums().counters.bytesRead).toBe(0);
    cb.bytesRead += 5;
    b.publish(cb, 3);
    expect(a.sums().counters.bytesRead).toBe(5);
  });
});

