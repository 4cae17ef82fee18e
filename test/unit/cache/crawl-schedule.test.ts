import { describe, expect, it } from 'vitest';
import { CrawlSchedule, MAX_CRAWL_INTERVAL } from '../../../src/cache/crawl-schedule.ts';

/** Runs the schedule second by second; `found(now)` is what a step at `now` reclaims. Returns the step times. */
function steps(seconds: number, found: (now: number) => number): number[] {
  const s = new CrawlSchedule();
  const at: number[] = [];
  for (let now = 2; now < 2 + seconds; now++) {
    if (!s.due(now)) continue;
    at.push(now);
    s.ran(now, found(now));
  }
  return at;
}

describe('CrawlSchedule', () => {
  it('crawls every second while steps reclaim items', () => {
    expect(steps(10, () => 5)).toEqual([2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
  });

  it('doubles the wait after each empty step, up to the maximum', () => {
    const at = steps(400, () => 0);
    expect(at.slice(0, 7)).toEqual([2, 4, 8, 16, 32, 64, 124]);
    const gaps = at.slice(1).map((t, i) => t - at[i]);
    expect(Math.max(...gaps)).toBe(MAX_CRAWL_INTERVAL);
    expect(gaps.slice(-3)).toEqual([MAX_CRAWL_INTERVAL, MAX_CRAWL_INTERVAL, MAX_CRAWL_INTERVAL]);
  });

  it('is back to every second as soon as a step finds expired items', () => {
    // nothing expires until second 100, then items expire for a while
    const at = steps(140, (now) => (now >= 100 && now < 120 ? 3 : 0));
    const first = at.find((t) => t >= 100)!;
    expect(first - 100).toBeLessThanOrEqual(MAX_CRAWL_INTERVAL);
    expect(at.filter((t) => t > first && t <= 120)).toEqual(Array.from({ length: 120 - first }, (_, i) => first + 1 + i));
  });
});
