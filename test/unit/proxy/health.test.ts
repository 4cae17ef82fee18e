import { describe, expect, it } from 'vitest';
import { ServerHealth } from '../../../src/proxy/health.ts';
import { FakeClock } from '../../support/fake-clock.ts';

function rig(failureLimit = 3) {
  const clock = new FakeClock(0);
  const events: string[] = [];
  const h = new ServerHealth({ failureLimit, retryInitialMs: 100, retryMaxMs: 350 }, clock, {
    changed: (state, reason) => events.push(`${clock.now()} ${state}: ${reason}`),
    retry: () => events.push(`${clock.now()} retry`),
  });
  return { clock, events, h };
}

describe('ServerHealth', () => {
  it('stays up below the failure limit; a success resets the count', () => {
    const { h, events } = rig(3);
    h.failure('refused');
    h.failure('refused');
    h.success();
    h.failure('refused');
    h.failure('refused');
    expect(h.state).toBe('up');
    expect(h.status().failures).toBe(2);
    expect(events).toEqual([]);
  });

  it('goes down at the limit, retries with a doubling delay up to the maximum, comes back up on a success', () => {
    const { h, events, clock } = rig(2);
    h.failure('refused');
    h.failure('timeout');
    expect(h.up).toBe(false);
    expect(h.status()).toMatchObject({ state: 'down', failures: 2, lastFailure: 'timeout', retryInMs: 100, downs: 1 });
    clock.advance(100);
    h.failure('refused'); // the retry failed
    clock.advance(200);
    h.failure('refused');
    expect(h.status().retryInMs).toBe(350); // 400, capped
    clock.advance(350);
    h.success();
    expect(h.up).toBe(true);
    clock.advance(10_000);
    expect(events).toEqual([
      '0 down: 2 consecutive failures, the last: timeout',
      '100 retry',
      '300 retry',
      '650 retry',
      '650 up: a retry connected',
    ]);
    // the next outage starts from the initial delay again
    h.failure('x');
    h.failure('x');
    expect(h.status().retryInMs).toBe(100);
    h.stop();
    clock.advance(1000);
    expect(events.at(-1)).toBe('10650 down: 2 consecutive failures, the last: x');
  });
});
