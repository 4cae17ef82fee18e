import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../support/fake-clock.ts';
import { SyncGroup } from '../../../src/ha/core/sync-group.ts';
import type { GroupTransition } from '../../../src/ha/core/sync-group.ts';
import { VrrpInstance } from '../../../src/ha/core/vrrp-instance.ts';
import { advert, hello } from './harness.ts';

function group() {
  const clock = new FakeClock();
  const log: string[] = [];
  const groupTransitions: GroupTransition[] = [];
  const make = (name: string) =>
    new VrrpInstance({
      name,
      nodeId: 'self',
      primaryAddress: '198.18.0.10',
      priority: 100,
      advertIntMs: 1000,
      helloIntervalMs: null,
      clock,
      actions: {
        sendAdvert: (a) => log.push(`${name} send ${a.priority}`),
        transition: (t) => log.push(`${name} ${t.from}->${t.to}`),
        event: (e) => log.push(`${name} event ${e.kind}`),
      },
    });
  const a = make('VI_A');
  const b = make('VI_B');
  const g = new SyncGroup('cluster', [a, b], { transition: (t) => groupTransitions.push(t) });
  return { clock, log, a, b, g, groupTransitions };
}

describe('vrrp_sync_group', () => {
  it('goes MASTER only when every member wants it, then all together', () => {
    const { clock, log, a, b, g, groupTransitions } = group();
    a.start();
    clock.advance(100);
    b.start();
    clock.advanceTo(3609.375);
    expect(a.state).toBe('BACKUP');
    expect(a.wantsMaster).toBe(true);
    expect(log).toContain('VI_A event sync-group-wait');
    clock.advanceTo(3709.375);
    expect([a.state, b.state]).toEqual(['MASTER', 'MASTER']);
    expect(log.slice(-4)).toEqual(['VI_A send 100', 'VI_A BACKUP->MASTER', 'VI_B send 100', 'VI_B BACKUP->MASTER']);
    expect(g.state).toBe('MASTER');
    expect(groupTransitions.map((t) => `${t.from}->${t.to}`)).toEqual(['INIT->BACKUP', 'BACKUP->MASTER']);
    expect(groupTransitions.every((t) => t.priority === 0)).toBe(true);
    expect(a.status().counters.becameMaster).toBe(1);
  });

  it('a member that still hears its master holds the whole group in BACKUP', () => {
    const { clock, a, b, g } = group();
    a.start();
    b.start();
    for (let t = 1; t <= 8; t++) {
      clock.advanceTo(t * 1000);
      b.receive(advert('peer', 150));
    }
    expect([a.state, b.state, g.state]).toEqual(['BACKUP', 'BACKUP', 'BACKUP']);
    expect(a.wantsMaster).toBe(true);
    clock.advanceTo(8000 + 3609.375);
    expect([a.state, b.state, g.state]).toEqual(['MASTER', 'MASTER', 'MASTER']);
  });

  it('an advert clears a waiting member\'s wish', () => {
    const { clock, a, b } = group();
    a.start();
    b.start();
    clock.advanceTo(1000);
    b.receive(advert('peer', 150));
    clock.advanceTo(3609.375);
    expect(a.wantsMaster).toBe(true);
    a.receive(advert('peer', 150));
    expect(a.wantsMaster).toBe(false);
    expect(a.status().timers.masterDown).toBe(3609.375);
  });

  it('any member in FAULT puts all in FAULT; recovery brings all back to BACKUP', () => {
    const { clock, log, a, b, g, groupTransitions } = group();
    a.start();
    b.start();
    clock.advanceTo(3609.375);
    expect(g.state).toBe('MASTER');
    log.length = 0;
    a.setFault('script chk', 'exit 1');
    expect(log).toEqual(['VI_A send 0', 'VI_A MASTER->FAULT', 'VI_B send 0', 'VI_B MASTER->FAULT']);
    expect(b.status().faults).toEqual(['sync_group cluster: member VI_A in FAULT']);
    expect(g.state).toBe('FAULT');
    a.setFault('script chk', null);
    expect([a.state, b.state, g.state]).toEqual(['BACKUP', 'BACKUP', 'BACKUP']);
    expect(groupTransitions.map((t) => t.to)).toEqual(['BACKUP', 'MASTER', 'FAULT', 'BACKUP']);
    expect(groupTransitions[2].reason).toMatch(/VI_A: script chk: exit 1/);
  });

  it('faults in two members: the group leaves FAULT only when both cleared', () => {
    const { a, b } = group();
    a.start();
    b.start();
    a.setFault('x', 'down');
    b.setFault('y', 'down');
    a.setFault('x', null);
    expect([a.state, b.state]).toEqual(['FAULT', 'FAULT']);
    expect(a.status().faults).toEqual(['sync_group cluster: member VI_B in FAULT']);
    b.setFault('y', null);
    expect([a.state, b.state]).toEqual(['BACKUP', 'BACKUP']);
  });

  it('a member yielding to a better master takes the others to BACKUP', () => {
    const { clock, a, b, g } = group();
    a.start();
    b.start();
    clock.advanceTo(3609.375);
    a.receive(hello('peer', 200));
    a.receive(advert('peer', 200));
    expect([a.state, b.state, g.state]).toEqual(['BACKUP', 'BACKUP', 'BACKUP']);
  });

  it('stopping every member stops the group', () => {
    const { a, b, g, groupTransitions } = group();
    a.start();
    b.start();
    a.stop();
    b.stop();
    expect(g.state).toBe('STOP');
    expect(groupTransitions.at(-1)!.to).toBe('STOP');
    expect(g.status().members).toEqual([
      { name: 'VI_A', state: 'STOP' },
      { name: 'VI_B', state: 'STOP' },
    ]);
  });
});
