import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../support/fake-clock.ts';
import { AdvertCodec, peekVrid } from '../../../src/proto/advert/index.ts';
import type { AdvertMessage } from '../../../src/proto/advert/index.ts';
import { VrrpInstance } from '../../../src/ha/core/vrrp-instance.ts';
import type { PeerAdvert } from '../../../src/ha/core/types.ts';

/** Election cores talking through the real codec (HMAC), as the daemon wires them, minus the socket. */
describe('instances over the advert codec', () => {
  it('elects, hands over on stop, and drops a replayed resignation', () => {
    const clock = new FakeClock();
    let wall = 1_700_000_000_000;
    const wire: Buffer[] = [];
    const errors: string[] = [];
    const nodes = new Map<string, { inst: VrrpInstance; rx: AdvertCodec }>();
    const vips = [{ address: '198.18.0.100', prefix: 32 }];
    for (const [id, prio, addr] of [
      ['n1', 150, '198.18.0.1'],
      ['n2', 100, '198.18.0.2'],
    ] as const) {
      const tx = new AdvertCodec({ auth: { type: 'HMAC', key: 'shared-key-0123456789' }, wallNow: () => wall });
      const rx = new AdvertCodec({ auth: { type: 'HMAC', key: 'shared-key-0123456789' }, wallNow: () => wall });
      const inst = new VrrpInstance({
        name: 'VI_1',
        nodeId: id,
        primaryAddress: addr,
        priority: prio,
        advertIntMs: 1000,
        vips,
        clock,
        actions: {
          sendAdvert: (a) => {
            wall += 1;
            const pkt = tx.encode({ ...a, vrid: 51, advertIntMs: 1000, nodeId: id, primaryAddress: addr, vips });
            wire.push(pkt);
            for (const [dst, n] of nodes) {
              if (dst === id) continue;
              clock.setTimer(1, () => deliver(n, pkt));
            }
          },
          transition: () => {},
        },
      });
      nodes.set(id, { inst, rx });
    }
    function deliver(n: { inst: VrrpInstance; rx: AdvertCodec }, pkt: Buffer) {
      expect(peekVrid(pkt)).toBe(51);
      const r = n.rx.decode(pkt);
      if (!r.ok) {
        errors.push(r.error.code);
        return;
      }
      const m: AdvertMessage = r.message;
      const peer: PeerAdvert = m;
      n.inst.receive(peer);
    }
    for (const n of nodes.values()) n.inst.start();
    clock.advanceTo(10_000);
    const n1 = nodes.get('n1')!;
    const n2 = nodes.get('n2')!;
    expect([n1.inst.state, n2.inst.state]).toEqual(['MASTER', 'BACKUP']);
    n1.inst.stop();
    const resignation = wire.at(-1)!;
    clock.advance(1);
    expect(n2.inst.state).toBe('MASTER');
    // A replay of n1's resignation (captured on the wire) is dropped and counted.
    deliver(n2, resignation);
    expect(errors).toEqual(['REPLAYED']);
    expect(n2.inst.state).toBe('MASTER');
    expect(n2.inst.status().counters.advertsReceived).toBeGreaterThan(5);
  });
});
