import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../support/fake-clock.ts';
import { Net, type NetNode } from '../ha/harness.ts';
import { WarmGate, warmthOf, type WarmGateEvent } from '../../../src/supervisor/warmth.ts';

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
