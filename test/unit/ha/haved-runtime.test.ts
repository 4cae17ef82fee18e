import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../../../src/config/load.ts';
import { FakeClock } from '../../support/fake-clock.ts';
import type { NotifySpawner } from '../../../src/ha/core/notify-queue.ts';
import { recordingTransport } from '../../support/advert-net.ts';
import { VipManager, type CommandRunner } from '../../../src/ha/adapters/vip-manager.ts';
import { InstanceRuntime } from '../../../src/ha/daemon/instance-runtime.ts';
import { AdvertCodec } from '../../../src/proto/advert/index.ts';
import { settleTurns } from '../../support/wait.ts';

const CONF = `vrrp_instance VI_1 {
    state BACKUP
    interface hv0
    virtual_router_id 51
    priority 150
    advert_int 0.1
    virtual_ipaddress {
        198.18.0.100/32
    }
    garp_master_delay 0
    notify "/bin/notify"
    notify_master "/bin/became-master"
}
`;

/** One runtime with every side effect recorded in one ordered list. */
function setup(failDevice = false) {
  const events: string[] = [];
  const run: CommandRunner = async (file, args) => {
    events.push(`${file} ${args.slice(0, 3).join(' ')}`);
    if (failDevice && args[1] === 'add') return { exitCode: 1, stderr: 'Cannot find device "hv0"' };
    return { exitCode: 0, stderr: '' };
  };
  const spawn: NotifySpawner = async (job) => {
    events.push(`notify ${job.argv.join(' ')}`);
    return { code: 0 };
  };
  const transport = recordingTransport((buf, to) => void (to === 'group' && events.push(`advert priority ${buf[5]}`)));
  const clock = new FakeClock();
  const cfg = parseConfigText(CONF, 'test.conf', { localAddresses: [] });
  const rt = new InstanceRuntime(cfg.instances[0]!, cfg.global, {
    clock, log: pino({ level: 'silent' }), vips: new VipManager({ run }), spawn, transport, interfaceAddress: '198.18.0.1', changed: () => {},
  });
  return { rt, clock, events: () => events };
}

const flush = () => settleTurns(20);

describe('InstanceRuntime (the daemon side of one vrrp_instance)', () => {
  it('becoming MASTER: advert, VIPs, GARP, then notify_master and notify; stopping: priority 0, VIPs removed, notify STOP', async () => {
    const { rt, clock, events } = setup();
    await rt.start(false);
    await flush();
    clock.advance(400); // master-down interval at priority 150, advert 0.1 s: 341 ms
    await flush();
    const master = events().filter((e) => !e.startsWith('advert'));
    expect(master).toEqual([
      'notify /bin/notify INSTANCE VI_1 BACKUP 150',
      'ip addr add 198.18.0.100/32',
      ...Array(5).fill('arping -U -c 1'),
      'notify /bin/became-master',
      'notify /bin/notify INSTANCE VI_1 MASTER 150',
    ]);
    const before = events().length;
    await rt.stop('test');
    await flush();
    expect(events().slice(before)).toEqual(['advert priority 0', 'ip addr del 198.18.0.100/32', 'notify /bin/notify INSTANCE VI_1 STOP 150']);
    // what `haved dump` and the metrics endpoint count
    expect(rt.status()).toMatchObject({ transitions: { BACKUP: 1, MASTER: 1, STOP: 1 }, notifyOutcomes: { ok: 4, failed: 0, timeout: 0, error: 0 } });
  });

  it('goes to FAULT when the VIP cannot be added, and never runs notify_master', async () => {
    const { rt, clock, events } = setup(true);
    await rt.start(false);
    clock.advance(400);
    await flush();
    expect(rt.instance.state).toBe('FAULT');
    expect(rt.instance.status().faults[0]).toContain('Cannot find device "hv0"');
    expect(events()).not.toContain('notify /bin/became-master');
    expect(events()).toContain('notify /bin/notify INSTANCE VI_1 FAULT 150');
    expect(rt.vipsInstalled).toBe(false);
  });

  it('a master handing over keeps its VIPs until the successor advertises, then 100 ms more', async () => {
    const { rt, clock, events } = setup();
    const codec = new AdvertCodec({ auth: { type: 'none' } });
    const peer = (kind: 'ADVERT' | 'BACKUP_HELLO', priority: number) =>
      codec.encode({ kind, vrid: 51, priority, advertIntMs: 100, nodeId: '198.18.0.2', primaryAddress: '198.18.0.2', vips: [], successor: null });
    await rt.start(false);
    clock.advance(400);
    await flush();
    rt.receive(peer('BACKUP_HELLO', 100), '198.18.0.2');
    rt.instance.setFault('cache', 'cache daemon backoff: process killed by SIGKILL');
    await flush();
    clock.advance(50);
    await flush();
    expect(events().at(-1)).not.toBe('ip addr del 198.18.0.100/32');
    expect(rt.vipsInstalled).toBe(true);
    rt.receive(peer('ADVERT', 100), '198.18.0.2');
    clock.advance(60);
    await flush();
    expect(rt.vipsInstalled).toBe(true);
    clock.advance(80);
    await flush();
    expect(rt.vipsInstalled).toBe(false);
    expect(events()).toContain('ip addr del 198.18.0.100/32');
  });
});
