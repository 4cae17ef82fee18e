import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../support/fake-clock.ts';
import { Supervisor, type RestartPolicy, type SupervisorState } from '../../../src/supervisor/supervisor.ts';

const policy: RestartPolicy = {
  backoffInitialMs: 100,
  backoffMaxMs: 800,
  stableAfterMs: 5_000,
  maxRestarts: 4,
  windowMs: 10_000,
  stopTimeoutMs: 1_000,
};

function setup(p = policy) {
  const clock = new FakeClock();
  const log: string[] = [];
  const states: SupervisorState[] = [];
  let pid = 100;
  const sup: Supervisor = new Supervisor(p, clock, {
    spawn: () => {
      log.push(`spawn@${clock.now()}`);
    },
    kill: (sig) => log.push(`kill ${sig}@${clock.now()}`),
    changed: (s) => states.push(s),
  });
  const crash = () => sup.exited('exited with code 1');
  const up = () => sup.spawned(pid++);
  return { clock, log, states, sup, crash, up };
}

describe('Supervisor', () => {
  it('starts the process and reports running', () => {
    const { sup, log, states, up } = setup();
    sup.start();
    up();
    expect(log).toEqual(['spawn@0']);
    expect(states).toEqual(['starting', 'running']);
    expect(sup.status()).toMatchObject({ state: 'running', starts: 1, failures: 0 });
  });

  it('restarts with exponential backoff capped at the maximum', () => {
    const { sup, clock, log, crash, up } = setup({ ...policy, maxRestarts: 100 });
    sup.start();
    up();
    const delays: number[] = [];
    for (let i = 0; i < 6; i++) {
      const at = clock.now();
      crash();
      clock.advance(policy.backoffMaxMs);
      const spawnedAt = Number(log.at(-1)!.split('@')[1]);
      delays.push(spawnedAt - at);
      up();
    }
    expect(delays).toEqual([100, 200, 400, 800, 800, 800]);
  });

  it('resets the backoff after a stable run', () => {
    const { sup, clock, log, crash, up } = setup({ ...policy, maxRestarts: 100 });
    sup.start();
    up();
    crash();
    clock.advance(100);
    up();
    crash();
    clock.advance(200);
    up();
    clock.advance(policy.stableAfterMs);
    const at = clock.now();
    crash();
    clock.advance(100);
    expect(log.at(-1)).toBe(`spawn@${at + 100}`);
  });

  it('limits starts per window and resumes when the window frees a slot', () => {
    const { sup, clock, log, crash, up, states } = setup();
    sup.start();
    up();
    for (let i = 0; i < 3; i++) {
      crash();
      clock.advance(policy.backoffMaxMs);
      up();
    }
    expect(log.filter((l) => l.startsWith('spawn'))).toHaveLength(4);
    crash();
    clock.advance(5_000);
    expect(log.filter((l) => l.startsWith('spawn'))).toHaveLength(4);
    expect(sup.state).toBe('backoff');
    clock.advance(5_000);
    expect(log.filter((l) => l.startsWith('spawn'))).toHaveLength(5);
    expect(log.at(-1)).toBe('spawn@10000');
    expect(states.at(-1)).toBe('starting');
  });

  it('treats a failed spawn like an exit', () => {
    const { sup, clock, log } = setup();
    sup.start();
    sup.exited('failed to start: ENOENT');
    expect(sup.status()).toMatchObject({ state: 'backoff', failures: 1, lastExit: 'failed to start: ENOENT' });
    clock.advance(100);
    expect(log).toEqual(['spawn@0', 'spawn@100']);
  });

  it('stops with SIGTERM, escalates to SIGKILL, and does not restart', () => {
    const { sup, clock, log, up } = setup();
    sup.start();
    up();
    sup.stop();
    expect(sup.state).toBe('stopping');
    clock.advance(policy.stopTimeoutMs);
    sup.exited('killed by SIGKILL');
    clock.advance(60_000);
    expect(log).toEqual(['spawn@0', 'kill SIGTERM@0', `kill SIGKILL@${policy.stopTimeoutMs}`]);
    expect(sup.state).toBe('stopped');
  });

  it('stops with the stop signal of the policy (SIGUSR1: a cache that saves its memory file on it)', () => {
    const { sup, clock, log, up } = setup({ ...policy, stopSignal: 'SIGUSR1' });
    sup.start();
    up();
    sup.stop();
    clock.advance(10);
    sup.exited('exited with code 0');
    clock.advance(60_000);
    expect(log).toEqual(['spawn@0', 'kill SIGUSR1@0']);
    expect(sup.state).toBe('stopped');
  });

  it('stop during backoff cancels the pending restart', () => {
    const { sup, clock, log, crash, up } = setup();
    sup.start();
    up();
    crash();
    sup.stop();
    clock.advance(60_000);
    expect(log).toEqual(['spawn@0']);
    expect(sup.state).toBe('stopped');
  });

  it('reports the time until the next start', () => {
    const { sup, clock, crash, up } = setup();
    sup.start();
    up();
    crash();
    clock.advance(40);
    expect(sup.status().nextStartInMs).toBe(60);
  });
});
