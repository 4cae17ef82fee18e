import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../support/fake-clock.ts';
import { Net, type NetNode } from '../ha/harness.ts';
import { REPLICATION_SILENCE_MS, WarmGate, warmthOf, type WarmGateEvent } from '../../../src/supervisor/warmth.ts';

describe('warmthOf', () => {
  it.each([
    ['syncing', 'cold'],
    ['partial', 'cold'],
    ['streaming', 'warm'],
    ['disconnected', 'warm'],
    ['standalone', 'warm'],
    ['alone', 'warm'],
  ])('%s is %s', (state, warmth) => {
    expect(warmthOf(state)).toBe(warmth);
  });
});

function gate(clock = new FakeClock()) {
  const events: WarmGateEvent[] = [];
  const changes: boolean[] = [];
  const g = new WarmGate({ clock, event: (e) => events.push(e), changed: (h) => changes.push(h) });
  return { clock, g, events, changes, kinds: () => events.map((e) => e.kind) };
}

describe('WarmGate', () => {
  it('holds until the cache reports warm, then reports how long the warm-up took', () => {
    const { clock, g, changes, kinds, events } = gate();
    expect(g.holding).toBe(true);
    expect(g.warmth).toBe('unknown');
    expect(g.priorityAdjustment(150)).toBe(-149);
    g.observe('syncing');
    expect(g.holding).toBe(true);
    clock.advance(2500);
    expect(g.status()).toMatchObject({ warmth: 'cold', holding: true, coldForMs: 2500, replicationState: 'syncing' });
    g.observe('streaming');
    expect(g.holding).toBe(false);
    expect(g.priorityAdjustment(150)).toBe(0);
    expect(g.status()).toMatchObject({ warmth: 'warm', holding: false, coldForMs: null, lastWarmUpMs: 2500 });
    expect(changes).toEqual([false]);
    expect(kinds()).toEqual(['cold', 'warm']);
    expect(events[1].message).toBe('cache is warm (replication_state streaming) after 2500 ms: preemption allowed');
  });

  it('a partial cache (serving without a complete copy) holds, with a warning, until a complete copy arrives', () => {
    const { clock, g, changes, events } = gate();
    g.observe('syncing');
    clock.advance(15_000);
    g.observe('partial');
    g.observe('partial');
    expect(g.holding).toBe(true);
    expect(g.priorityAdjustment(150)).toBe(-149);
    clock.advance(5000);
    g.roleChanged('MASTER');
    g.roleChanged('BACKUP');
    g.observe('streaming');
    expect(events.map((e) => [e.kind, e.level, e.message])).toEqual([
      ['cold', 'info', 'cache is cold (replication_state syncing): staying BACKUP, no preemption while it syncs'],
      ['cold', 'warn', 'cache is cold (replication_state partial): staying BACKUP, no preemption while it serves without a complete copy'],
      ['serve-cold', 'warn', 'MASTER with a cache that is not warm (partial copy, cold for 20000 ms): no peer is serving, so it serves anyway (availability first)'],
      ['warm', 'info', 'cache is warm (replication_state streaming) after 20000 ms: preemption allowed'],
    ]);
    expect(changes).toEqual([false]);
    // straight to partial (a restart that found its source gone): cold at once, at warn level
    const b = gate();
    b.g.observe('partial');
    expect(b.events.map((e) => [e.kind, e.level])).toEqual([['cold', 'warn']]);
  });

  it('a cache without replication is warm at its first answer', () => {
    const { g, changes } = gate();
    g.observe('standalone');
    expect(g.holding).toBe(false);
    expect(changes).toEqual([false]);
  });

  it('repeated observations change nothing', () => {
    const { g, events, changes } = gate();
    for (let i = 0; i < 3; i++) g.observe('syncing');
    for (let i = 0; i < 3; i++) g.observe('streaming');
    expect(events).toHaveLength(2);
    expect(changes).toEqual([false]);
  });

  it('a failed probe after warm holds again until the next warm answer', () => {
    const { clock, g, changes, kinds } = gate();
    g.observe('streaming');
    clock.advance(1000);
    g.probeFailed('connect ECONNREFUSED');
    expect(g.holding).toBe(true);
    expect(g.warmth).toBe('unknown');
    g.probeFailed('connect ECONNREFUSED'); // logged once
    clock.advance(300);
    g.observe('syncing');
    clock.advance(700);
    g.observe('streaming');
    expect(changes).toEqual([false, true, false]);
    expect(kinds()).toEqual(['warm', 'probe-failed', 'cold', 'warm']);
    expect(g.status().lastWarmUpMs).toBe(1000);
  });

  it('logs a cold serve when it becomes MASTER while not warm, once per MASTER term', () => {
    const { clock, g, events } = gate();
    g.observe('syncing');
    clock.advance(4000);
    g.roleChanged('MASTER');
    g.roleChanged('MASTER');
    expect(events.filter((e) => e.kind === 'serve-cold')).toEqual([
      {
        kind: 'serve-cold',
        level: 'warn',
        message: 'MASTER with a cache that is not warm (still syncing for 4000 ms): no peer is serving, so it serves anyway (availability first)',
      },
    ]);
    g.observe('streaming');
    g.roleChanged('BACKUP');
    g.roleChanged('MASTER');
    expect(events.filter((e) => e.kind === 'serve-cold')).toHaveLength(1);
  });

  it('a MASTER whose cache turns cold logs the cold serve', () => {
    const { g, kinds } = gate();
    g.observe('streaming');
    g.roleChanged('MASTER');
    g.probeFailed('timeout');
    expect(kinds()).toEqual(['warm', 'probe-failed', 'serve-cold']);
  });
});

/** The gate wired to a real election core as the daemon would: bind() for the hold, transitions for the role. */
function withGate(node: NetNode, clock: FakeClock) {
  const events: WarmGateEvent[] = [];
  const g = new WarmGate({ clock, event: (e) => events.push(e) });
  g.bind(node.inst);
  const role = () => g.roleChanged(node.inst.state);
  return { g, events, role };
}

describe('WarmGate with the election', () => {
  it('a returning higher-priority node does not preempt while syncing; it preempts once warm', () => {
    const net = new Net();
    const a = net.add('A', 100, '198.18.0.1');
    a.inst.start();
    net.clock.advanceTo(5000);
    expect(net.masters()).toEqual(['A']);

    const b = net.add('B', 150, '198.18.0.2');
    const { g } = withGate(b, net.clock);
    b.inst.start();
    g.observe('syncing');
    net.clock.advance(30_000);
    expect(net.masters()).toEqual(['A']);
    expect(b.inst.state).toBe('BACKUP');
    expect(b.inst.effectivePriority).toBe(1);

    g.observe('streaming');
    const warmAt = net.clock.now();
    net.clock.advance(5000);
    expect(net.masters()).toEqual(['B']);
    // keepalived preemption: B discards A's lower-priority adverts and takes over when its master-down timer runs out
    expect(net.when('B', 'MASTER', warmAt)! - warmAt).toBeLessThanOrEqual(3 * 1000 + ((256 - 150) * 1000) / 256);
    net.finish();
    expect(net.maxDualMs).toBeLessThanOrEqual(2);
  });

  it('a higher-priority node with a partial cache never preempts the master; a complete copy lets it', () => {
    const net = new Net();
    const a = net.add('A', 100, '198.18.0.1');
    a.inst.start();
    net.clock.advanceTo(5000);
    const b = net.add('B', 150, '198.18.0.2');
    const { g } = withGate(b, net.clock);
    b.inst.start();
    g.observe('syncing');
    net.clock.advance(15_000);
    g.observe('partial');
    net.clock.advance(60_000);
    expect(net.masters()).toEqual(['A']);
    expect(b.inst.effectivePriority).toBe(1);
    g.observe('streaming');
    net.clock.advance(5000);
    expect(net.masters()).toEqual(['B']);
    net.finish();
  });

  it('with nobody else alive, a cold node becomes MASTER and the gate logs the cold serve', () => {
    const net = new Net();
    const b = net.add('B', 150, '198.18.0.2');
    const { g, events, role } = withGate(b, net.clock);
    b.inst.start();
    g.observe('syncing');
    net.clock.advance(4000);
    role();
    expect(net.masters()).toEqual(['B']);
    expect(events.map((e) => e.kind)).toEqual(['cold', 'serve-cold']);
  });

  it('the master failing while the backup syncs: the cold backup takes over (availability first)', () => {
    const net = new Net();
    const a = net.add('A', 100, '198.18.0.1');
    a.inst.start();
    net.clock.advanceTo(5000);
    const b = net.add('B', 150, '198.18.0.2');
    const { g, events, role } = withGate(b, net.clock);
    b.inst.start();
    g.observe('syncing');
    net.clock.advance(5000);
    a.inst.setFault('cache daemon', 'exited with code 1');
    net.clock.advance(10);
    role();
    expect(net.masters()).toEqual(['B']);
    expect(events.map((e) => e.kind)).toEqual(['cold', 'serve-cold']);
  });
});

describe('WarmGate: replication currency', () => {
  it('reported heard times age on its own clock: past the bound it is not current, until a fresh answer', () => {
    const { clock, g, events } = gate();
    expect(REPLICATION_SILENCE_MS).toBe(500);
    g.observe('streaming', 100);
    expect(g.replicationCurrent).toBe(true);
    expect(g.status()).toMatchObject({ warmth: 'warm', replicationCurrent: true, peersHeardMsAgo: 100 });
    clock.advance(400); // heard 500 ms ago: still within the bound
    expect(g.replicationCurrent).toBe(true);
    clock.advance(1); // no newer answer (a cut link, or a stalled poll): the timer decides
    expect(g.replicationCurrent).toBe(false);
    expect(g.holding).toBe(false); // warmth is untouched: only failback waits
    expect(events.at(-1)).toEqual({
      kind: 'replication-stale',
      level: 'info',
      message: "the cache's replication is not current (a peer not heard for 501 ms, bound 500 ms): no failback (preemption) until it is; taking over from a master that is gone is not affected",
    });
    g.observe('streaming', 700); // the cache agrees: silent for longer
    expect(g.replicationCurrent).toBe(false);
    g.observe('streaming', 20);
    expect(g.replicationCurrent).toBe(true);
    expect(events.at(-1)).toMatchObject({ kind: 'replication-current', level: 'info', message: 'cache replication is current (every peer heard 20 ms ago): failback allowed' });
    g.observe('streaming', null); // a peer's stream down, copying or catching up
    expect(g.replicationCurrent).toBe(false);
    expect(g.status().peersHeardMsAgo).toBeNull();
    g.observe('streaming', 0);
    g.probeFailed('connect ECONNREFUSED'); // nothing known: not current either (and held: not warm)
    expect([g.replicationCurrent, g.holding]).toEqual([false, true]);
    expect(events.filter((e) => e.kind.startsWith('replication')).length).toBe(5);
  });

  it('a cache that does not report it (memcached, an older repcache) leaves failback to warmth alone', () => {
    const { clock, g, events } = gate();
    g.observe('standalone');
    clock.advance(60_000);
    expect(g.replicationCurrent).toBe(true);
    g.probeFailed('timeout');
    g.observe('standalone');
    expect(g.replicationCurrent).toBe(true);
    expect(events.some((e) => e.kind.startsWith('replication'))).toBe(false);
  });

  it('the bound is configurable', () => {
    const clock = new FakeClock();
    const g = new WarmGate({ clock, replicationSilenceMs: 300 });
    g.observe('streaming', 0);
    clock.advance(301);
    expect(g.replicationCurrent).toBe(false);
  });
});

/**
 * A poller on fake time, as the daemon's WarmPoller: every 200 ms the cache reports how long ago its peer was
 * heard. The link can be cut (nothing heard from then on) and healed.
 */
function pollLink(g: WarmGate, clock: FakeClock) {
  const link = { cutAt: null as number | null, lastHeard: clock.now() };
  const poll = () => {
    const now = clock.now();
    if (link.cutAt === null) link.lastHeard = now - (now % 150); // idle heartbeats, at most 150 ms apart
    // The dead-peer timer (3 s): then the stream is down and the cache says '-'.
    const heard = link.cutAt !== null && now - link.cutAt >= 3000 ? null : now - link.lastHeard;
    g.observe('streaming', heard);
    clock.setTimer(200, poll);
  };
  poll();
  return link;
}

describe('WarmGate: replication currency with the election', () => {
  function restarted() {
    const net = new Net();
    const a = net.add('A', 100, '198.18.0.1');
    a.inst.start();
    net.clock.advanceTo(5000);
    const b = net.add('B', 150, '198.18.0.2');
    const w = withGate(b, net.clock);
    b.inst.start();
    return { net, a, b, ...w };
  }

  it('a live, current link: the warm node preempts', () => {
    const { net, g } = restarted();
    pollLink(g, net.clock);
    net.clock.advance(5000);
    expect(net.masters()).toEqual(['B']);
  });

  it('the link cut just after the warm-up: no preemption while it is silent, then failback at once when it is current again', () => {
    const { net, b, g, events } = restarted();
    const link = pollLink(g, net.clock);
    net.clock.advance(300); // warm and current: preemption is due one master-down interval after A's next advert
    expect(g.status()).toMatchObject({ warmth: 'warm', replicationCurrent: true });
    link.cutAt = net.clock.now();
    net.clock.advance(60_000);
    expect(net.masters()).toEqual(['A']);
    expect(b.inst.state).toBe('BACKUP');
    expect(b.inst.effectivePriority).toBe(150); // only preemption is blocked
    expect(b.events.some((e) => e.kind === 'preempt-deferred' && e.message.includes("the cache's replication is not current"))).toBe(true);
    expect(events.find((e) => e.kind === 'replication-stale')!.message).toMatch(/a peer not heard for [5-7]\d\d ms, bound 500 ms/);
    link.cutAt = null; // healed: resumed and caught up
    const healedAt = net.clock.now();
    net.clock.advance(1000);
    expect(net.masters()).toEqual(['B']);
    expect(net.when('B', 'MASTER', healedAt)! - healedAt).toBeLessThanOrEqual(250); // the next poll
    net.finish();
    expect(net.maxDualMs).toBeLessThanOrEqual(2);
  });

  it('a stale link never keeps a node from taking over from a master that is gone', () => {
    for (const gone of ['resigns', 'crashes'] as const) {
      const { net, a, b, g } = restarted();
      const link = pollLink(g, net.clock);
      net.clock.advance(300);
      link.cutAt = net.clock.now();
      net.clock.advance(10_000);
      expect(net.masters()).toEqual(['A']);
      expect(g.replicationCurrent).toBe(false);
      const at = net.clock.now();
      if (gone === 'resigns') a.inst.setFault('cache', 'exited');
      else net.crash('A');
      net.clock.advance(5000);
      expect(net.masters(), gone).toEqual(['B']);
      // resigning names B as successor: at once; a crash: the master-down interval (3 adverts plus the skew)
      expect(net.when('B', 'MASTER', at)! - at, gone).toBeLessThanOrEqual(gone === 'resigns' ? 5 : 3000 + ((256 - 150) * 1000) / 256 + 5);
      expect(b.inst.state).toBe('MASTER');
    }
  });

  it('a MASTER whose link goes quiet keeps the VIP', () => {
    const net = new Net();
    const b = net.add('B', 150, '198.18.0.2');
    const a = net.add('A', 100, '198.18.0.1');
    const { g } = withGate(b, net.clock);
    const link = pollLink(g, net.clock);
    b.inst.start();
    a.inst.start();
    net.clock.advance(5000);
    expect(net.masters()).toEqual(['B']);
    link.cutAt = net.clock.now();
    net.clock.advance(30_000);
    expect(g.replicationCurrent).toBe(false);
    expect(net.masters()).toEqual(['B']);
    expect(b.inst.effectivePriority).toBe(150);
  });
});
