import { describe, expect, it } from 'vitest';
import { ConfigError, ConfigErrors } from '../../../src/config/errors.ts';
import { controlHandler, type ControlTarget } from '../../../src/ha/daemon/controller.ts';
import { OperatorError } from '../../../src/ha/daemon/operator-controls.ts';
import type { DaemonStatus } from '../../../src/ha/daemon/status-format.ts';

function target(over: Partial<ControlTarget> = {}): ControlTarget & { order: string[] } {
  const order: string[] = [];
  return {
    order,
    status: () => ({ pid: 1 }) as unknown as DaemonStatus,
    dump: () => ({ file: '/run/haved/state.json', state: { pid: 1 } as unknown as DaemonStatus }),
    reload: async () => (order.push('reload'), { kept: ['VI_1'], started: [], stopped: [] }),
    setPriorityOverride: (i, p) => (order.push(`priority ${i} ${p}`), { instance: i, override: p }),
    setMaintenance: (on) => (order.push(`maintenance ${on}`), { maintenance: on }),
    ...over,
  };
}

describe('controlHandler (control verbs onto the daemon)', () => {
  const direct = <T>(fn: () => Promise<T>) => fn();

  it('answers each verb with the daemon\'s result', async () => {
    const t = target();
    const h = controlHandler(t, direct);
    expect(await h({ verb: 'status' })).toEqual({ ok: true, result: { pid: 1 } });
    expect(await h({ verb: 'dump' })).toEqual({ ok: true, result: { file: '/run/haved/state.json', state: { pid: 1 } } });
    expect(await h({ verb: 'reload' })).toEqual({ ok: true, result: { kept: ['VI_1'], started: [], stopped: [] } });
    expect(await h({ verb: 'priority', instance: 'VI_1', priority: 7 })).toEqual({ ok: true, result: { instance: 'VI_1', override: 7 } });
    expect(await h({ verb: 'maintenance', on: true })).toEqual({ ok: true, result: { maintenance: true } });
  });

  it('runs changing verbs through the serial queue, reading ones at once', async () => {
    const queued: string[] = [];
    const serially = <T>(fn: () => Promise<T>) => (queued.push('queued'), fn());
    const h = controlHandler(target(), serially);
    await h({ verb: 'status' });
    await h({ verb: 'dump' });
    expect(queued).toEqual([]);
    await h({ verb: 'reload' });
    await h({ verb: 'priority', instance: 'A', priority: null });
    await h({ verb: 'maintenance', on: false });
    expect(queued).toEqual(['queued', 'queued', 'queued']);
  });

  it('turns refusals into error replies: operator mistakes, and every error of a rejected config', async () => {
    const h = controlHandler(
      target({
        setPriorityOverride: () => {
          throw new OperatorError("no vrrp_instance 'X' (instances: VI_1)");
        },
        reload: async () => {
          throw new ConfigErrors([new ConfigError('h.conf:3', 'bad one'), new ConfigError('h.conf:9', 'bad two')]);
        },
      }),
      direct,
    );
    expect(await h({ verb: 'priority', instance: 'X', priority: 5 })).toEqual({ ok: false, error: "no vrrp_instance 'X' (instances: VI_1)" });
    expect(await h({ verb: 'reload' })).toEqual({ ok: false, error: 'h.conf:3: bad one\nh.conf:9: bad two\nreload refused: the running configuration is kept' });
  });
});
