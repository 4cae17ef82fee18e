import { afterEach, describe, expect, it } from 'vitest';
import { WitnessLab } from './witness-lab.ts';

let lab: WitnessLab | null = null;
afterEach(async () => {
  await lab?.stop();
  lab = null;
});

async function healthyPair(opts: ConstructorParameters<typeof WitnessLab>[0] = {}): Promise<WitnessLab> {
  lab = new WitnessLab(opts);
  await lab.start();
  await lab.run(3000);
  expect(lab.masters()).toEqual(['A']);
  expect(lab.vipHolders()).toEqual(['A']);
  lab.dualMasterMs = lab.dualVipMs = lab.noMasterMs = 0;
  return lab;
}

describe('the witness keeps a pair to one MASTER', () => {
  it('link between the nodes cut, both reach the witness: A keeps the lease and the VIP, B never takes it', async () => {
    const l = await healthyPair();
    expect(l.nodes.A.rt.witness!.status().lease).toBe('held');
    l.cut('A', 'B');
    await l.run(10_000);
    expect(l.dualMasterMs).toBe(0);
    expect(l.dualVipMs).toBe(0);
    expect(l.masters()).toEqual(['A']);
    const b = l.nodes.B.rt.witness!.status();
    expect(b).toMatchObject({ lease: 'none', holder: '198.18.0.1', lastVerdict: 'HELD', waiting: true });
    expect(b.counters.refused).toBeGreaterThan(10);
    expect(l.nodes.B.rt.transitions.MASTER ?? 0).toBe(0);
  });

  it('without a witness the same cut gives two MASTERs (keepalived\'s behaviour)', async () => {
    const l = await healthyPair({ witness: false });
    l.cut('A', 'B');
    await l.run(3000);
    expect(l.masters()).toEqual(['A', 'B']);
    expect(l.dualVipMs).toBeGreaterThan(2000);
    expect(l.nodes.A.rt.status().witness).toBeNull();
  });

  it('MASTER isolated: it drops the VIP before its lease can end on the witness, then B takes over', async () => {
    const l = await healthyPair();
    l.isolate('A');
    const t0 = l.clock.now();
    let aLeft: number | null = null;
    let bTook: number | null = null;
    for (let i = 0; i < 400 && bTook === null; i++) {
      await l.run(10);
      if (aLeft === null && !l.nodes.A.rt.vipsInstalled) aLeft = l.clock.now() - t0;
      if (bTook === null && l.nodes.B.rt.vipsInstalled) bTook = l.clock.now() - t0;
    }
    expect(aLeft).not.toBeNull();
    expect(bTook).not.toBeNull();
    expect(aLeft!).toBeLessThanOrEqual(1000); // within the lease (the grace period)
    expect(bTook!).toBeGreaterThan(aLeft!);
    expect(l.dualVipMs).toBe(0);
    expect(l.dualMasterMs).toBe(0);
    expect(l.nodes.A.rt.witness!.status().counters.stepDowns).toBe(1);
    await l.run(5000);
    expect(l.masters()).toEqual(['B']);
    expect(l.nodes.A.rt.instance.state).toBe('BACKUP');
  });

  it('heal after the isolation: one MASTER again, and the witness follows it', async () => {
    const l = await healthyPair();
    l.isolate('A');
    await l.run(3000);
    expect(l.masters()).toEqual(['B']);
    l.heal();
    await l.run(5000);
    expect(l.masters()).toHaveLength(1);
    expect(l.vipHolders()).toEqual(l.masters());
    const m = l.masters()[0]!;
    expect(l.nodes[m].rt.witness!.status().lease).toBe('held');
  });

  it('witness down, pair healthy: the MASTER keeps the VIP (it hears the backup), for as long as it lasts', async () => {
    const l = await healthyPair();
    l.witnessDown();
    await l.run(10_000);
    expect(l.masters()).toEqual(['A']);
    expect(l.noMasterMs).toBe(0);
    expect(l.nodes.A.rt.witness!.status().lease).toBe('none');
  });

  it('witness down and link cut: nobody is MASTER (safety over availability), then the witness returns', async () => {
    const l = await healthyPair({ maxLeaseMs: 1000 });
    l.witnessDown();
    await l.run(2000);
    l.cut('A', 'B');
    await l.run(5000);
    expect(l.dualMasterMs).toBe(0);
    expect(l.masters()).toEqual([]);
    l.witnessRestart();
    await l.run(900); // the restarted witness grants no new lease for its longest lease (1 s here)
    expect(l.masters()).toEqual([]);
    expect(l.witness!.status().counters.wait).toBeGreaterThan(0);
    await l.run(2000);
    expect(l.masters()).toHaveLength(1);
    expect(l.dualMasterMs).toBe(0);
  });

  it('witness restart while the link is cut: the holder keeps its lease, the other is told to wait, then held', async () => {
    const l = await healthyPair({ maxLeaseMs: 3000 });
    l.cut('A', 'B');
    await l.run(1000);
    l.witnessRestart();
    await l.run(600);
    expect(l.witness!.status().leases).toEqual([expect.objectContaining({ vrid: 51, holder: '198.18.0.1' })]);
    // A renewed first (it says it holds the lease), so B, asking in the quiet time, is told A holds it
    expect(l.witness!.status().counters).toMatchObject({ granted: 1, wait: 0 });
    expect(l.witness!.status().counters.held).toBeGreaterThan(0);
    await l.run(8000);
    expect(l.dualMasterMs).toBe(0);
    expect(l.masters()).toEqual(['A']);
  });

  it('lost replies: half the witness\'s answers to the MASTER lost, it keeps the lease; all lost, it steps down in time', async () => {
    const l = await healthyPair();
    l.cut('A', 'B');
    let n = 0;
    const orig = l.witness!.handle.bind(l.witness!);
    l.witness!.handle = (buf, from) => {
      const r = orig(buf, from);
      return from === '198.18.0.1' && n++ % 2 === 0 ? null : r;
    };
    await l.run(8000);
    expect(l.masters()).toEqual(['A']);
    expect(l.dualMasterMs).toBe(0);
    l.loseReplies.add('A'); // the witness grants, A never hears it: the witness holds A's lease, B must wait too
    await l.run(8000);
    expect(l.dualMasterMs).toBe(0);
    expect(l.dualVipMs).toBe(0);
    expect(l.nodes.A.rt.instance.state).toBe('BACKUP');
  });

  it('a MASTER paused past its lease does not keep the VIP when it wakes, even with the backup\'s old hellos queued', async () => {
    const l = await healthyPair();
    l.pause('A');
    await l.run(3000);
    expect(l.nodes.B.rt.instance.state).toBe('MASTER');
    l.resume('A');
    await l.run(20);
    const a = l.nodes.A.rt;
    expect(a.instance.state).not.toBe('MASTER');
    // B was MASTER with the lease all along; A yielded at once (VRRP alone would let A preempt back)
    await l.run(3000);
    expect(l.masters()).toHaveLength(1);
  });

  it('a MASTER paused past its lease, link to the backup cut: it wakes and steps down, nobody doubles', async () => {
    const l = await healthyPair();
    l.cut('A', 'B');
    l.pause('A');
    await l.run(3000);
    // a stopped process cannot remove its address: A's host still holds the VIP (B's GARPs moved the clients)
    expect(l.nodes.B.rt.instance.state).toBe('MASTER');
    l.dualMasterMs = l.dualVipMs = 0;
    l.resume('A');
    await l.run(3000);
    expect(l.masters()).toEqual(['B']);
    // the instant of waking counts as overlap only until the first tick
    expect(l.dualVipMs).toBeLessThanOrEqual(10);
    expect(l.nodes.A.rt.witness!.status().lease).toBe('none');
  });

  it('a stranger or a replay grants nothing: dropped and counted', async () => {
    const l = await healthyPair();
    const w = l.witness!;
    const before = w.grants.leases();
    expect(w.handle(Buffer.from('garbage'), '198.18.0.66')).toBeNull();
    const { encodeWitness } = await import('../../../src/proto/witness/codec.ts');
    const forged = encodeWitness({ kind: 'REQUEST', vrid: 51, nodeId: '198.18.0.66', held: true, leaseMs: 60_000, sequence: 1n }, 'not-the-secret-0123456789');
    expect(w.handle(forged, '198.18.0.66')).toBeNull();
    const ok = encodeWitness({ kind: 'REQUEST', vrid: 52, nodeId: '198.18.0.66', held: false, leaseMs: 1000, sequence: BigInt(Date.now()) << 20n }, Buffer.from('witness-test-secret-0123456789'));
    expect(w.handle(ok, '198.18.0.66')).not.toBeNull();
    expect(w.handle(ok, '198.18.0.66')).toBeNull(); // the same datagram again
    expect(w.drops).toEqual({ BAD_MAGIC: 1, BAD_AUTH: 1, REPLAYED: 1 });
    expect(w.grants.leases().filter((x) => x.vrid === 51)).toEqual(before.filter((x) => x.vrid === 51));
  });
});
