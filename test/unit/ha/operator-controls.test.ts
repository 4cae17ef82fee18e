import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../../../src/config/load.ts';
import { FakeClock } from '../../support/fake-clock.ts';
import { recordingTransport } from '../../support/advert-net.ts';
import { VipManager } from '../../../src/ha/adapters/vip-manager.ts';
import { InstanceRuntime } from '../../../src/ha/daemon/instance-runtime.ts';
import { OperatorControls, OperatorError } from '../../../src/ha/daemon/operator-controls.ts';

const conf = (name: string, vrid: number, priority: number) => `vrrp_instance ${name} {
    interface hv0
    virtual_router_id ${vrid}
    priority ${priority}
    advert_int 0.1
    unicast_peer { 198.18.0.2 }
    virtual_ipaddress { 198.18.0.${vrid} }
}
`;

function setup() {
  const clock = new FakeClock();
  const adverts: string[] = [];
  const cfg = parseConfigText(conf('VI_1', 51, 150) + conf('VI_2', 52, 100) + conf('OWNER', 53, 255), 'c.conf', { localAddresses: [] });
  const transport = recordingTransport((buf, to) => void (to !== 'group' && adverts.push(`vrid ${buf[4]} priority ${buf[5]}`)));
  const runtimes = cfg.instances.map(
    (c) =>
      new InstanceRuntime(c, cfg.global, {
        clock, log: pino({ level: 'silent' }), vips: new VipManager({ disabled: 'test' }), spawn: async () => ({ code: 0 }),
        transport, interfaceAddress: '198.18.0.1', changed: () => {},
      }),
  );
  const controls = new OperatorControls(pino({ level: 'silent' }));
  return { clock, adverts, runtimes, controls, rt: (name: string) => runtimes.find((r) => r.config.name === name)! };
}

describe('operator controls (haved priority / haved maintenance)', () => {
  it('maintenance on: a MASTER resigns with priority 0 and nobody claims the VIP until off', async () => {
    const { clock, adverts, runtimes, controls, rt } = setup();
    for (const r of runtimes) await r.start(false);
    clock.advance(1000); // no peer: every instance becomes MASTER
    expect(runtimes.map((r) => r.instance.state)).toEqual(['MASTER', 'MASTER', 'MASTER']);
    adverts.length = 0;
    const on = controls.setMaintenance(runtimes, true);
    expect(on).toMatchObject({ maintenance: true, changed: true, instances: [{ name: 'VI_1', state: 'FAULT' }, { name: 'VI_2', state: 'FAULT' }, { name: 'OWNER', state: 'FAULT' }] });
    expect(adverts).toEqual(['vrid 51 priority 0', 'vrid 52 priority 0', 'vrid 53 priority 0']);
    expect(rt('VI_1').status().faults[0]).toMatch(/^maintenance: maintenance mode since .* \(haved maintenance off ends it\)$/);
    clock.advance(5000);
    expect(runtimes.every((r) => r.instance.state === 'FAULT')).toBe(true); // claims nothing meanwhile
    expect(controls.setMaintenance(runtimes, true).changed).toBe(false);
    // a runtime made later (a reload) gets it too
    controls.apply(rt('VI_2'));
    expect(rt('VI_2').instance.state).toBe('FAULT');
    const off = controls.setMaintenance(runtimes, false);
    expect(off).toMatchObject({ maintenance: false, changed: true, since: null });
    expect(runtimes.map((r) => r.instance.state)).toEqual(['BACKUP', 'BACKUP', 'MASTER']); // the 255 owner takes over at once
  });

  it('priority N overrides the configured priority (trackers still apply) until reset; the adverts carry it', async () => {
    const { clock, adverts, controls, runtimes, rt } = setup();
    for (const r of runtimes) await r.start(false);
    clock.advance(1000);
    rt('VI_1').instance.setPriorityAdjustment('script chk', -10);
    expect(controls.setPriority(runtimes, 'VI_1', 50)).toEqual({ instance: 'VI_1', configured: 150, override: 50, effective: 40, state: 'MASTER' });
    expect(controls.overrideOf('VI_1')).toBe(50);
    adverts.length = 0;
    clock.advance(100);
    expect(adverts).toContain('vrid 51 priority 40');
    expect(controls.setPriority(runtimes, 'VI_1', null)).toEqual({ instance: 'VI_1', configured: 150, override: null, effective: 140, state: 'MASTER' });
    expect(controls.overrideOf('VI_1')).toBeNull();
  });

  it('refuses an unknown instance, a priority out of 1..254 and the 255 owner', () => {
    const { controls, runtimes } = setup();
    expect(() => controls.setPriority(runtimes, 'VI_9', 50)).toThrow(new OperatorError("no vrrp_instance 'VI_9' (instances: VI_1, VI_2, OWNER)"));
    expect(() => controls.setPriority(runtimes, 'VI_1', 255)).toThrow(new OperatorError('priority must be 1..254, got 255 (255 is reserved for the address owner)'));
    expect(() => controls.setPriority(runtimes, 'VI_1', 0)).toThrow(OperatorError);
    expect(() => controls.setPriority(runtimes, 'OWNER', 10)).toThrow(
      new OperatorError("OWNER has priority 255 (the address owner), which an override cannot change; 'haved maintenance on' hands its VIP away"),
    );
  });

  it('a reload keeps the overrides of instances that still exist', () => {
    const { controls, runtimes } = setup();
    controls.setPriority(runtimes, 'VI_1', 60);
    controls.setPriority(runtimes, 'VI_2', 70);
    controls.retain(runtimes.filter((r) => r.config.name !== 'VI_2'));
    expect([controls.overrideOf('VI_1'), controls.overrideOf('VI_2')]).toEqual([60, null]);
  });
});
