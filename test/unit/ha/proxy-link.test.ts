import pino from 'pino';
import { describe, expect, it } from 'vitest';
import type { SupervisedProcess } from '../../../src/ha/daemon/cache-link.ts';
import { ProxyLink } from '../../../src/ha/daemon/proxy-link.ts';
import { CACHE_DAEMON_DEFAULTS } from '../../../src/config/cache-daemon.ts';
import type { ProcessSupervisorOptions } from '../../../src/supervisor/process.ts';
import type { SupervisorState } from '../../../src/supervisor/supervisor.ts';
import { Net } from './harness.ts';

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
  running() { this.#go('running', 'process 7 started'); }
  die() { this.#go('backoff', 'process killed by SIGKILL; restart in 100 ms'); }
  async stop() { this.#go('stopped', 'stop requested'); }
  status() {
    return { state: this.state, starts: this.starts, failures: 0, nextStartInMs: null, lastExit: null, pid: this.state === 'running' ? 7 : null };
  }
}

const config = { argv: ['repcache-proxy', '-p', '12000', '-s', '198.18.0.1'], user: null, restart: { ...CACHE_DAEMON_DEFAULTS }, checkPort: 12000, where: 'haved.conf:20' };

describe('ProxyLink: the supervised proxy drives the election', () => {
  it('FAULT until the proxy runs; its exit hands the VIP to the peer at once; back, it is BACKUP (no warm-up to wait for)', () => {
    const net = new Net();
    const nodes = [['A', 150, '198.18.0.1'], ['B', 100, '198.18.0.2']] as const;
    const links = nodes.map(([id, prio, addr]) => {
      const n = net.add(id, prio, addr, { helloIntervalMs: 1000 });
      let proc!: FakeProcess;
      const link = new ProxyLink(config, { log: pino({ level: 'silent' }), clock: net.clock, changed: () => {}, makeProcess: (o) => (proc = new FakeProcess(o)) });
      link.bind([n.inst]);
      n.inst.start();
      return { n, link, proc: () => proc };
    });
    const [a, b] = links;
    expect(a!.n.inst.state).toBe('FAULT');
    for (const x of links) {
      x.link.start();
      x.proc().running();
    }
    expect(a!.proc().opts).toMatchObject({ component: 'proxy', label: 'proxy daemon' });
    net.clock.advance(6000);
    expect(net.masters()).toEqual(['A']);
    const t0 = net.clock.now();
    a!.proc().die();
    expect(a!.n.inst.state).toBe('FAULT');
    expect(a!.n.inst.status().faults).toEqual(['proxy: proxy daemon backoff: process killed by SIGKILL; restart in 100 ms']);
    net.clock.advance(2);
    expect(net.masters()).toEqual(['B']);
    expect(net.when('B', 'MASTER', t0)! - t0).toBeLessThanOrEqual(1);
    a!.proc().running();
    net.clock.advance(6000);
    expect(net.masters()).toEqual(['A']); // preempts: the proxy has nothing to warm up
    expect(b!.link.status()).toMatchObject({ state: 'running', pid: 7, restarts: 0, port: 12000 });
    a!.link.unbind();
    expect(a!.n.inst.status().faults).toEqual([]);
  });
});
