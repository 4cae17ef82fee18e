import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../support/fake-clock.ts';
import { NotifyQueue, genericNotifyArgv, notifyJobs } from '../../../src/ha/core/notify-queue.ts';
import type { NotifyConfig, NotifyJob, NotifyOutcome } from '../../../src/ha/core/notify-queue.ts';
import type { NotifyCommand } from '../../../src/config/model.ts';

const flush = () => new Promise<void>((r) => setImmediate(r));

function controlled() {
  const clock = new FakeClock();
  const started: { job: NotifyJob; signal: AbortSignal; finish: (code: number) => void; fail: (e: Error) => void }[] = [];
  const outcomes: NotifyOutcome[] = [];
  const q = new NotifyQueue({
    clock,
    timeoutMs: 5000,
    spawn: (job, signal) =>
      new Promise((resolve, reject) => {
        started.push({ job, signal, finish: (code) => resolve({ code }), fail: reject });
      }),
    onOutcome: (o) => outcomes.push(o),
  });
  return { clock, q, started, outcomes };
}

const job = (label: string, timeoutMs?: number): NotifyJob => ({ argv: ['/bin/true', label], user: null, label, ...(timeoutMs ? { timeoutMs } : {}) });

describe('NotifyQueue', () => {
  it('runs jobs one at a time in enqueue order without blocking the caller', async () => {
    const h = controlled();
    h.q.enqueue(job('backup'), job('notify BACKUP'));
    h.q.enqueue(job('master'));
    expect(h.started.map((s) => s.job.label)).toEqual(['backup']); // started synchronously, enqueue returned
    expect(h.q.pending).toBe(3);
    h.clock.advance(20);
    h.started[0].finish(0);
    await flush();
    expect(h.started.map((s) => s.job.label)).toEqual(['backup', 'notify BACKUP']);
    h.started[1].finish(3);
    await flush();
    h.started[2].finish(0);
    await h.q.idle();
    expect(h.outcomes.map((o) => [o.job.label, o.kind, o.code])).toEqual([
      ['backup', 'exit', 0],
      ['notify BACKUP', 'exit', 3],
      ['master', 'exit', 0],
    ]);
    expect(h.outcomes[0].durationMs).toBe(20);
  });

  it('a hung script is abandoned after its timeout (the spawner is told to kill it) and the queue moves on', async () => {
    const h = controlled();
    h.q.enqueue(job('hangs'), job('next'));
    h.clock.advance(4999);
    await flush();
    expect(h.started).toHaveLength(1);
    h.clock.advance(1);
    expect(h.started[0].signal.aborted).toBe(true);
    await flush();
    expect(h.outcomes[0]).toMatchObject({ kind: 'timeout', detail: 'no exit after 5000 ms, killed' });
    expect(h.started.map((s) => s.job.label)).toEqual(['hangs', 'next']);
    h.started[0].finish(0); // exit after the kill: ignored
    h.started[1].finish(0);
    await h.q.idle();
    expect(h.outcomes.map((o) => o.kind)).toEqual(['timeout', 'exit']);
  });

  it('honours a per-job timeout', async () => {
    const h = controlled();
    h.q.enqueue(job('stop', 1000));
    h.clock.advance(1000);
    await h.q.idle();
    expect(h.outcomes[0].kind).toBe('timeout');
  });

  it('a spawn failure (thrown or rejected) is reported and does not stop the queue', async () => {
    const clock = new FakeClock();
    const outcomes: NotifyOutcome[] = [];
    let n = 0;
    const q = new NotifyQueue({
      clock,
      spawn: async (j) => {
        n++;
        if (j.label === 'throws') throw new Error('EACCES');
        if (j.label === 'rejects') return Promise.reject(new Error('ENOENT'));
        return { code: 0 };
      },
      onOutcome: (o) => outcomes.push(o),
    });
    q.enqueue(job('throws'), job('rejects'), job('ok'));
    await q.idle();
    expect(n).toBe(3);
    expect(outcomes.map((o) => [o.kind, o.detail])).toEqual([
      ['error', 'EACCES'],
      ['error', 'ENOENT'],
      ['exit', 'exit 0'],
    ]);
    await q.idle(); // idle when empty resolves at once
  });

  it('a synchronously throwing spawner is an error outcome', async () => {
    const clock = new FakeClock();
    const outcomes: NotifyOutcome[] = [];
    const q = new NotifyQueue({
      clock,
      spawn: () => {
        throw new Error('boom');
      },
      onOutcome: (o) => outcomes.push(o),
    });
    q.enqueue(job('a'));
    await q.idle();
    expect(outcomes[0]).toMatchObject({ kind: 'error', detail: 'boom' });
    expect(clock.pending).toBe(0);
  });
});

describe('notify arguments', () => {
  const cmd = (...argv: string[]): NotifyCommand => ({ argv, user: null, where: 'haved.conf:1' });
  const cfg: NotifyConfig = {
    notify: cmd('/etc/haved/notify.sh', 'extra'),
    notifyMaster: cmd('/etc/haved/master.sh', 'up'),
    notifyBackup: cmd('/etc/haved/backup.sh'),
    notifyFault: null,
    notifyStop: cmd('/etc/haved/stop.sh'),
  };

  it('appends INSTANCE|GROUP name STATE priority to the generic notify', () => {
    expect(genericNotifyArgv(cfg.notify!, 'INSTANCE', 'VI_1', 'MASTER', 150)).toEqual([
      '/etc/haved/notify.sh',
      'extra',
      'INSTANCE',
      'VI_1',
      'MASTER',
      '150',
    ]);
    expect(genericNotifyArgv(cfg.notify!, 'GROUP', 'cluster', 'FAULT', 150).slice(-4)).toEqual(['GROUP', 'cluster', 'FAULT', '0']);
  });

  it('runs notify_<state> (own arguments only) before the generic notify', () => {
    expect(notifyJobs(cfg, 'INSTANCE', 'VI_1', 'MASTER', 100)).toEqual([
      { argv: ['/etc/haved/master.sh', 'up'], user: null, label: 'notify_master of instance VI_1' },
      { argv: ['/etc/haved/notify.sh', 'extra', 'INSTANCE', 'VI_1', 'MASTER', '100'], user: null, label: 'notify of instance VI_1' },
    ]);
    expect(notifyJobs(cfg, 'INSTANCE', 'VI_1', 'FAULT', 100).map((j) => j.label)).toEqual(['notify of instance VI_1']);
    expect(notifyJobs(cfg, 'INSTANCE', 'VI_1', 'INIT', 100)).toEqual([]);
  });

  it('STOP notifies get keepalived\'s 1 s limit', () => {
    const jobs = notifyJobs(cfg, 'GROUP', 'cluster', 'STOP', 100);
    expect(jobs.map((j) => [j.label, j.timeoutMs])).toEqual([
      ['notify_stop of group cluster', 1000],
      ['notify of group cluster', 1000],
    ]);
    expect(jobs[1].argv.slice(-1)).toEqual(['0']);
  });
});
