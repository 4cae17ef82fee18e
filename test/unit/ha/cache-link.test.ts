import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { CacheLink, type SupervisedProcess } from '../../../src/ha/daemon/cache-link.ts';
import type { ProcessSupervisorOptions } from '../../../src/supervisor/process.ts';
import type { SupervisorState } from '../../../src/supervisor/supervisor.ts';
import { CACHE_DAEMON_DEFAULTS } from '../../../src/config/cache-daemon.ts';
import { Net } from './harness.ts';

/** A process driven by hand: the test says when it runs and when it dies. */
class FakeProcess implements SupervisedProcess {
  state: SupervisorState = 'stopped';
  starts = 0;
  readonly opts: ProcessSupervisorOptions;
  constructor(opts: ProcessSupervisorOptions) {
    this.opts = opts;
  }
  #go(state: SupervisorState, why: string) {
    this.state = state;
    this.opts.onState?.(state, why);
  }
  start() { this.starts++; this.#go('starting', 'start requested'); }
  running() { this.#go('running', 'process 42 started'); }
  die() { this.#go('backoff', 'process killed by SIGKILL; restart in 100 ms'); }
  async stop() { this.#go('stopped', 'stop requested'); }
  status() {
    return { state: this.state, starts: this.starts, failures: 0, nextStartInMs: null, lastExit: null, pid: this.state === 'running' ? 42 : null };
  }
}

const config = {
  argv: ['repcache', '-p', '11211'],
  user: null,
  restart: { ...CACHE_DAEMON_DEFAULTS },
  checkPort: 11211,
  where: 'haved.conf:1',
};

const flush = () => new Promise<void>((r) => setImmediate(r));

/** A(150) and B(100), each with a cache link whose `stats` answer is set by the test. */
async function pair() {
  const net = new Net();
  const lines: string[] = [];
  const log = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s).msg) });
  const node = (id: string, priority: number, address: string) => {
    const n = net.add(id, priority, address, { helloIntervalMs: 1000 });
    let proc!: FakeProcess;
    const cache = { state: 'streaming' as string | null };
    const link = new CacheLink(config, {
      log,
      clock: net.clock,
      changed: () => {},
      makeProcess: (o) => (proc = new FakeProcess(o)),
      fetch: async () => {
        if (proc.state !== 'running' || cache.state === null) throw new Error('ECONNREFUSED');
        return { replicationState: cache.state } as never;
      },
      pollIntervalMs: 100,
    });
    link.bind([n.inst]);
    return { n, link, cache, proc: () => proc };
  };
  const a = node('A', 150, '198.18.0.1');
  const b = node('B', 100, '198.18.0.2');
  for (const x of [a, b]) {
    x.link.start();
    x.proc().running();
    x.n.inst.start();
  }
  await run(net, 6000);
  expect(net.masters()).toEqual(['A']);
  return { net, a, b, lines };
}

/** Advances the fake clock in small steps, letting the stats promises settle in between. */
async function run(net: Net, ms: number) {
  for (let t = 0; t < ms; t += 20) {
    net.clock.advance(20);
    await flush();
  }
}

describe('CacheLink: the cache daemon drives the election', () => {
  it('starts in FAULT until the cache runs', () => {
    const net = new Net();
    const n = net.add('A', 150, '198.18.0.1');
    let proc!: FakeProcess;
    const link = new CacheLink(config, { log: pino({ level: 'silent' }), clock: net.clock, changed: () => {}, makeProcess: (o) => (proc = new FakeProcess(o)), fetch: async () => { throw new Error('down'); } });
    link.bind([n.inst]);
    n.inst.start();
    expect(n.inst.state).toBe('FAULT');
    link.start();
    proc.running();
    expect(n.inst.state).toBe('BACKUP');
    link.roleChanged(false);
    expect(link.status()).toMatchObject({ state: 'running', pid: 42, restarts: 0, warmth: 'unknown', holding: true });
  });

  it('the cache exit puts the MASTER in FAULT at once and its named successor takes over (no skew wait)', async () => {
    const { net, a } = await pair();
    const t0 = net.clock.now();
    a.proc().die();
    expect(a.n.inst.state).toBe('FAULT');
    expect(net.log.at(-2)).toMatch(/A advert 0 -> B$/);
    net.clock.advance(2);
    expect(net.masters()).toEqual(['B']);
    expect(net.when('B', 'MASTER', t0)! - t0).toBeLessThanOrEqual(1);
  });

  it('a restarted cache that is syncing stays BACKUP and does not preempt; it takes the VIP back once warm', async () => {
    const { net, a, lines } = await pair();
    a.proc().die();
    a.cache.state = null; // repcache keeps its client port closed while it copies
    await run(net, 200);
    a.proc().running();
    await run(net, 10_000);
    expect(a.n.inst.state).toBe('BACKUP');
    expect(a.n.inst.effectivePriority).toBe(1);
    expect(net.masters()).toEqual(['B']);
    a.cache.state = 'syncing';
    await run(net, 5000);
    expect(net.masters()).toEqual(['B']);
    expect(lines.some((l) => l.startsWith('cache is cold (replication_state syncing)'))).toBe(true);
    const warm = net.clock.now();
    a.cache.state = 'streaming';
    await run(net, 5000);
    expect(net.masters()).toEqual(['A']);
    expect(net.when('A', 'MASTER', warm)! - warm).toBeLessThan(3800);
    expect(a.link.status().lastWarmUpMs).toBeGreaterThan(10_000);
  });

  it('alone, a node whose cache is not warm still becomes MASTER and logs the cold serve', async () => {
    const { net, b, lines } = await pair();
    net.crash('A');
    b.cache.state = 'syncing';
    await run(net, 5000);
    expect(net.masters()).toEqual(['B']);
    b.link.roleChanged(true);
    expect(lines.some((l) => /MASTER with a cache that is not warm/.test(l))).toBe(true);
  });
});
