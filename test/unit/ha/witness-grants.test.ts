import { describe, expect, it } from 'vitest';
import { WitnessGrants } from '../../../src/ha/core/witness-grants.ts';
import { WitnessGuard } from '../../../src/ha/core/witness-guard.ts';
import type { VrrpState } from '../../../src/ha/core/types.ts';
import { FakeClock } from '../../support/fake-clock.ts';

const req = (nodeId: string, held = false, leaseMs = 3000, vrid = 51) => ({ vrid, nodeId, held, leaseMs });

describe('WitnessGrants (the witness\'s lease table)', () => {
  it('one holder per VRID; the holder renews; the other is told who and for how long; a VRID is its own lease', () => {
    const clock = new FakeClock();
    const g = new WitnessGrants({ clock, maxLeaseMs: 10_000 });
    clock.advance(10_000); // past the quiet time
    expect(g.request(req('a'))).toEqual({ verdict: 'GRANTED', leaseMs: 3000, holder: null });
    clock.advance(1000);
    expect(g.request(req('b'))).toEqual({ verdict: 'HELD', leaseMs: 2000, holder: 'a' });
    expect(g.request(req('b', false, 3000, 52)).verdict).toBe('GRANTED');
    expect(g.request(req('a')).verdict).toBe('GRANTED'); // renewal: 3000 from now
    clock.advance(2999);
    expect(g.request(req('b')).verdict).toBe('HELD');
    clock.advance(1);
    expect(g.request(req('b'))).toEqual({ verdict: 'GRANTED', leaseMs: 3000, holder: null });
    expect(g.leases()).toEqual([{ vrid: 51, holder: 'b', leftMs: 3000 }]); // b's VRID 52 lease ended just now
    expect(g.counters).toEqual({ granted: 3, renewed: 1, held: 2 , wait: 0 });
  });

  it('a longer lease than the maximum is cut to the maximum', () => {
    const clock = new FakeClock();
    const g = new WitnessGrants({ clock, maxLeaseMs: 5000 });
    expect(g.request(req('a', true, 3_600_000))).toEqual({ verdict: 'GRANTED', leaseMs: 5000, holder: null });
  });

  it('after a start it grants only to a node that says it holds the lease, until the longest lease has passed', () => {
    const clock = new FakeClock();
    const g = new WitnessGrants({ clock, maxLeaseMs: 5000 });
    expect(g.request(req('b'))).toEqual({ verdict: 'WAIT', leaseMs: 5000, holder: null });
    clock.advance(1000);
    expect(g.request(req('a', true)).verdict).toBe('GRANTED');
    expect(g.request(req('b', true))).toEqual({ verdict: 'HELD', leaseMs: 3000, holder: 'a' }); // the second claim loses
    const g2 = new WitnessGrants({ clock, maxLeaseMs: 5000 });
    clock.advance(4999);
    expect(g2.request(req('b')).verdict).toBe('WAIT');
    clock.advance(1);
    expect(g2.request(req('b')).verdict).toBe('GRANTED');
  });
});

/** A guard on its own: the instance's state is set by hand, requests and step-downs recorded. */
function guard(leaseMs = 1000) {
  const clock = new FakeClock(0);
  let state: VrrpState = 'BACKUP';
  let wants = false;
  const requests: { seq: bigint; held: boolean; at: number }[] = [];
  const log: string[] = [];
  let n = 0n;
  const g = new WitnessGuard({
    clock,
    leaseMs,
    request: (held) => {
      requests.push({ seq: ++n, held, at: clock.now() });
      return n;
    },
    state: () => state,
    wantsMaster: () => wants,
    stepDown: (r) => {
      log.push(`step-down: ${r}`);
      state = 'BACKUP';
    },
    opened: (r) => {
      log.push(`opened: ${r}`);
      state = 'MASTER';
      wants = false;
    },
  });
  g.start();
  return {
    clock, g, requests, log,
    set: (s: VrrpState, w = false) => ((state = s), (wants = w)),
    grant: (i = requests.length - 1, ms = leaseMs) => g.reply({ sequence: requests[i]!.seq, verdict: 'GRANTED', leaseMs: ms, holder: null }),
  };
}

describe('WitnessGuard (the node\'s side)', () => {
  it('the lease counts from the request\'s send time: a reply that took long gives a shorter lease', () => {
    const h = guard(1000);
    h.set('BACKUP', true);
    expect(h.g.mayBecomeMaster('master down')).toBe(false);
    expect(h.requests).toHaveLength(1);
    h.clock.advance(700); // the reply arrives 700 ms later: 300 ms left, less the 200 ms margin
    h.grant(0);
    expect(h.g.status()).toMatchObject({ lease: 'held', leaseLeftMs: 100 });
    expect(h.log).toEqual(['opened: the witness granted the lease']);
    h.clock.advance(101);
    expect(h.log.at(-1)).toBe('step-down: the witness lease ran out and no backup is heard');
  });

  it('a reply to no request of ours (late after the lease, duplicated, replayed) is dropped and counted', () => {
    const h = guard();
    h.set('BACKUP', true);
    h.g.mayBecomeMaster('x');
    h.grant(0);
    h.grant(0); // the same reply again
    h.g.reply({ sequence: 999n, verdict: 'GRANTED', leaseMs: 60_000, holder: null });
    expect(h.g.counters).toMatchObject({ granted: 1, repliesDropped: 2 });
  });

  it('"held by another" ends our lease at once, whatever we believed', () => {
    const h = guard();
    h.set('BACKUP', true);
    h.g.mayBecomeMaster('x');
    h.grant(0);
    expect(h.log).toEqual(['opened: the witness granted the lease']);
    h.clock.advance(300); // MASTER renews
    expect(h.requests.length).toBeGreaterThan(1);
    h.g.reply({ sequence: h.requests.at(-1)!.seq, verdict: 'HELD', leaseMs: 500, holder: 'other' });
    expect(h.log.at(-1)).toBe('step-down: the witness gave the lease to other and no backup is heard');
  });

  it('while a backup\'s hellos are heard a MASTER without a lease stays; two intervals without one, it leaves', () => {
    const h = guard();
    h.set('MASTER');
    for (let i = 0; i < 50; i++) {
      h.g.heard('BACKUP_HELLO', 100, 100);
      h.clock.advance(100);
    }
    expect(h.log).toEqual([]);
    h.clock.advance(100); // 200 ms since the last hello: still within two of its intervals
    expect(h.log).toEqual([]);
    h.clock.advance(100);
    expect(h.log).toEqual(['step-down: the witness lease ran out and no backup is heard']);
  });

  it('a priority-0 hello (the backup withdraws) does not count as a live backup', () => {
    const h = guard();
    h.set('MASTER');
    h.g.heard('BACKUP_HELLO', 0, 100);
    h.clock.advance(100);
    expect(h.log).toEqual(['step-down: the witness lease ran out and no backup is heard']);
  });

  it('a lease granted right after the peer went quiet waits until a lease-less MASTER there has surely left', () => {
    const h = guard(1000);
    h.g.heard('ADVERT', 100, 100); // the master's last advert
    h.clock.advance(250); // no longer fresh (2 intervals)
    h.set('BACKUP', true);
    expect(h.g.mayBecomeMaster('master down')).toBe(false);
    h.grant(0);
    expect(h.log).toEqual([]); // 3 intervals + 200 ms margin after the last advert: 500 ms
    h.clock.advance(250);
    expect(h.log).toEqual(['opened: the witness granted the lease']);
  });

  it('the peer heard: a backup may become MASTER without asking (the VRRP exchange settles it)', () => {
    const h = guard();
    h.g.heard('ADVERT', 0, 100);
    expect(h.g.mayBecomeMaster('successor named')).toBe(true);
    expect(h.requests).toHaveLength(0);
  });
});

describe('reload and the witness block', () => {
  it('a changed, added or removed witness block rebuilds the instance; an unchanged one keeps it', async () => {
    const { rebuildReason } = await import('../../../src/ha/daemon/instance-runtime.ts');
    const { parseConfigText } = await import('../../../src/config/load.ts');
    const conf = (witness: string) =>
      parseConfigText(`vrrp_instance VI_1 {\n  interface eth0\n  virtual_router_id 51\n${witness}}\n`, 'haved.conf', { localAddresses: [] }).instances[0]!;
    const w = (lease: string) => `  witness {\n    address 198.18.0.50:7070\n    secret_file /s\n    lease ${lease}\n  }\n`;
    expect(rebuildReason(conf(w('3')), conf(`\n${w('3')}`), 'g', 'g')).toBeNull(); // moved a line: same block
    expect(rebuildReason(conf(w('3')), conf(w('4')), 'g', 'g')).toBe('witness changed');
    expect(rebuildReason(conf(''), conf(w('3')), 'g', 'g')).toBe('witness changed');
    expect(rebuildReason(conf(w('3')), conf(''), 'g', 'g')).toBe('witness changed');
  });
});
