import { describe, expect, it } from 'vitest';
import { Net, advert, solo } from './harness.ts';

/** A solo instance that is MASTER at t = 3609.375 with its records cleared. */
function master(opts: Parameters<typeof solo>[0] = {}) {
  const h = solo({ priority: 100, primaryAddress: '198.18.0.10', ...opts });
  h.inst.start();
  h.clock.advance(3609.375);
  expect(h.inst.state).toBe('MASTER');
  h.sent.length = 0;
  h.order.length = 0;
  return h;
}

/** A (priority 100) is MASTER and B (90) BACKUP, settled at t = 10 s; 1 ms between them. */
function pair(aOpts = {}, bOpts = {}) {
  const net = new Net();
  net.add('A', 100, '198.18.0.1', aOpts);
  net.add('B', 90, '198.18.0.2', bOpts);
  net.get('A').inst.start();
  net.clock.advanceTo(5000);
  net.get('B').inst.start();
  net.clock.advanceTo(10_000);
  expect(net.masters()).toEqual(['A']);
  return net;
}

/** Cuts (true) or restores (false) the link between A and B; both still reach everyone else. */
function partition(net: Net, cut: boolean): void {
  net.latency = (from, to) => (cut && [from, to].sort().join() === 'A,B' ? null : 1);
}

describe('the winner of a conflict re-announces', () => {
  it('a lower-priority advert from another master: advert at once and one announce per conflict episode', () => {
    const h = master();
    h.inst.receive(advert('peer', 90));
    expect(h.order).toEqual(['send ADVERT 100', 'announce conflict']);
    expect(h.announces[0]!.reason).toBe('lower priority (90) advert from master peer');
    // it keeps advertising every interval (one-way partition): no GARP storm
    for (let i = 0; i < 5; i++) {
      h.clock.advance(1000);
      h.inst.receive(advert('peer', 90));
    }
    expect(h.announces).toHaveLength(1);
    expect(h.adverts()).toHaveLength(6 + 5); // an answer to each (its answer to us may be pending), plus our own
    expect(h.events.filter((e) => e.kind === 'forcing-election')).toHaveLength(1); // logged once per episode
    // silent for more than two of its intervals, then back: a new episode
    h.clock.advance(2500);
    h.inst.receive(advert('peer', 90));
    expect(h.announces).toHaveLength(2);
    expect(h.inst.status().counters.announcements).toBe(2);
  });

  it('a priority 0 from another node while MASTER: it held the VIPs too, so re-announce', () => {
    const h = master();
    h.inst.receive(advert('peer', 0));
    expect(h.order).toEqual(['send ADVERT 100', 'announce conflict']);
    expect(h.announces[0]!.reason).toBe('master peer resigned while we are MASTER');
  });

  it('the yielding master sends one advert of its own first, so the winner re-announces', () => {
    const net = pair();
    partition(net, true);
    net.clock.advance(6000);
    expect(net.masters().sort()).toEqual(['A', 'B']);
    partition(net, false);
    net.clock.advance(3000);
    expect(net.masters()).toEqual(['A']);
    expect(net.get('B').inst.state).toBe('BACKUP');
    expect(net.get('A').announces.map((a) => a.kind)).toEqual(['conflict']);
  });

  it('partition healed: A announces once, whichever advert crosses first', () => {
    // A advertises at 3609.375 + k s, B (master after the cut) at its own phase: vary the heal time over a
    // whole interval so that either node's advert is the first to cross.
    for (let offset = 0; offset < 1000; offset += 50) {
      const net = pair();
      partition(net, true);
      net.clock.advance(6000 + offset);
      expect(net.masters().sort()).toEqual(['A', 'B']);
      const healedAt = net.clock.now();
      partition(net, false);
      net.clock.advance(5000);
      net.finish();
      const a = net.get('A');
      expect(net.masters(), `offset ${offset}\n${net.log.join('\n')}`).toEqual(['A']);
      expect(a.transitions.filter((t) => t.at > healedAt)).toEqual([]);
      expect(a.announces.map((x) => x.kind), `offset ${offset}`).toEqual(['conflict']);
      // within one interval of the heal (the first advert to cross) plus a few message delays
      expect(a.announces[0]!.at - healedAt).toBeLessThanOrEqual(1000 + 4);
      const bYield = net.when('B', 'BACKUP', healedAt)!;
      expect(bYield - healedAt).toBeLessThanOrEqual(1000 + 4);
    }
  });

  it('garp_master_refresh: a refresh announce every period while MASTER, none after leaving', () => {
    const h = solo({ garpRefreshMs: 2000 });
    h.inst.start();
    h.clock.advance(3609.375);
    h.clock.advance(6000);
    expect(h.announces.map((a) => [a.kind, a.at])).toEqual([
      ['refresh', 5609.375],
      ['refresh', 7609.375],
      ['refresh', 9609.375],
    ]);
    expect(h.inst.status().timers.garpRefresh).toBe(2000);
    expect(h.inst.status().counters.announcements).toBe(0); // refreshes are routine
    h.inst.setFault('chk', 'down');
    h.clock.advance(10_000);
    expect(h.announces).toHaveLength(3);
  });

  it('a link back up: a MASTER re-announces, a BACKUP does nothing', () => {
    const b = solo();
    b.inst.start();
    b.inst.linkUp('hv0');
    expect(b.announces).toEqual([]);
    const m = master();
    m.inst.linkUp('hv0');
    expect(m.announces).toMatchObject([{ kind: 'link-up', reason: 'interface hv0 is up again' }]);
  });
});

describe('a MASTER yields only to a node it has heard from', () => {
  it('one forged higher-priority advert changes nothing: the master answers and stays', () => {
    const h = master();
    h.inst.receive(advert('198.18.0.66', 255, { primaryAddress: '198.18.0.66' }));
    expect(h.inst.state).toBe('MASTER');
    expect(h.order).toEqual(['send ADVERT 100']);
    expect(h.events.at(-1)).toMatchObject({ kind: 'unconfirmed-master' });
    expect(h.events.at(-1)!.message).toMatch(/higher priority 255 advert from 198\.18\.0\.66, a node not heard from before/);
    // a repeat long after is again a first contact
    h.clock.advance(3001);
    h.inst.receive(advert('198.18.0.66', 255, { primaryAddress: '198.18.0.66' }));
    expect(h.inst.state).toBe('MASTER');
  });

  it('a second advert within three of its intervals: yields', () => {
    const h = master();
    h.inst.receive(advert('peer', 150));
    h.clock.advance(1000);
    h.inst.receive(advert('peer', 150));
    expect(h.inst.state).toBe('BACKUP');
    expect(h.transitions.at(-1)!.reason).toBe('higher priority 150 advert from peer');
  });

  it('genuine preemption by a node never heard: one round trip later than by a known node', () => {
    const run = (bHellosReachA: boolean, dropAnswer: boolean) => {
      const net = new Net();
      net.add('A', 100, '198.18.0.1');
      net.add('B', 150, '198.18.0.2');
      net.get('A').inst.start();
      net.clock.advanceTo(10_000);
      let firstAdvertAt: number | null = null;
      let answered = false;
      net.latency = (from, _to, kind) => {
        if (from === 'B' && kind === 'BACKUP_HELLO' && !bHellosReachA) return null;
        if (from === 'B' && kind === 'ADVERT') {
          if (firstAdvertAt === null) firstAdvertAt = net.clock.now();
          else if (dropAnswer && !answered) {
            answered = true;
            return null; // B's answer to A's advert is lost
          }
        }
        return 1;
      };
      net.get('B').inst.start();
      net.clock.advance(10_000);
      expect(net.masters()).toEqual(['B']);
      return net.when('A', 'BACKUP', 10_000)! - firstAdvertAt!;
    };
    const known = run(true, false);
    const unknown = run(false, false);
    const unknownLost = run(false, true);
    expect(known).toBe(1); // one message delay
    expect(unknown).toBe(3); // A answers B's first advert (1 + 1), B answers at once (+ 1)
    // B's answer lost: A's next periodic advert draws another answer, or B's own next advert comes; either
    // way at most one advert interval later
    expect(unknownLost).toBeGreaterThan(unknown);
    expect(unknownLost - known).toBeLessThanOrEqual(1000);
  });

  it('while resuming from a pause it yields to a higher master at once', () => {
    const h = master();
    h.clock.stall(5000);
    h.inst.receive(advert('peer', 150));
    expect(h.inst.state).toBe('BACKUP');
    expect(h.order).toEqual(['send ADVERT 100', 'MASTER->BACKUP']);
  });
});

describe('pauses (SIGSTOP, stalls)', () => {
  it('a MASTER stopped 10 s with nobody taking over: listens, then advertises and re-announces', () => {
    const h = master();
    h.clock.advance(500);
    const sentBefore = h.adverts().length;
    h.clock.stall(10_000);
    h.clock.advance(0); // the overdue advert timer runs, late
    expect(h.adverts()).toHaveLength(sentBefore); // no stale advert
    expect(h.events.at(-1)).toMatchObject({ kind: 'paused' });
    expect(h.events.at(-1)!.message).toMatch(/no advert sent for 10500 ms .*listening 50 ms/);
    expect(h.inst.status().resuming).toBe(true);
    h.clock.advance(50);
    expect(h.inst.state).toBe('MASTER');
    expect(h.order.slice(-2)).toEqual(['send ADVERT 100', 'announce resumed']);
    expect(h.inst.status()).toMatchObject({ resuming: false, counters: { pausesDetected: 1 } });
    h.clock.advance(2000);
    expect(h.adverts().map((a) => a.at).slice(-3)).toEqual([14_159.375, 15_159.375, 16_159.375]);
  });

  it('a stall shorter than three intervals is not a pause', () => {
    const h = master();
    h.clock.stall(2500); // 2.5 s since the last advert at most
    h.clock.advance(0);
    expect(h.events.filter((e) => e.kind === 'paused')).toEqual([]);
    expect(h.announces).toEqual([]);
    expect(h.adverts()).toHaveLength(1);
  });

  it('pause detection follows advert_int (0.1 s: a 300 ms stall, 25 ms of listening)', () => {
    const h = master({ advertIntMs: 100 });
    h.clock.advance(1000);
    h.clock.stall(300);
    h.clock.advance(0);
    expect(h.events.at(-1)!.message).toMatch(/listening 25 ms/);
    h.clock.advance(25);
    expect(h.announces.map((a) => a.kind)).toEqual(['resumed']);
  });

  for (const first of ['io', 'timers'] as const) {
    it(`A (MASTER, 100) stopped 10 s, B (90) took over; SIGCONT (${first} first): no stale advert, A announces, B yields`, () => {
      const net = pair();
      net.pause('A');
      net.clock.advance(10_000);
      expect(net.get('B').inst.state).toBe('MASTER');
      const resumedAt = net.clock.now();
      net.resume('A', first);
      // A read B's adverts before sending anything: its first advert answers them, with the announce
      const afterResume = net.log.slice(net.log.findIndex((l) => / A paused/.test(l)));
      expect(afterResume[1]).toBe(`${resumedAt} A advert 100`);
      expect(afterResume[2]).toMatch(new RegExp(`^${resumedAt} A announce conflict: lower priority \\(90\\) advert from master B`));
      net.clock.advance(5000);
      expect(net.masters()).toEqual(['A']);
      expect(net.when('B', 'BACKUP', resumedAt)! - resumedAt).toBeLessThanOrEqual(2);
      expect(net.get('A').announces.map((a) => a.kind)).toEqual(['conflict']);
    });
  }

  it('with nopreempt the resumed master follows the node that took over (priority 0 makes it re-announce)', () => {
    const net = pair({ nopreempt: true }, { nopreempt: true });
    net.pause('A');
    net.clock.advance(10_000);
    const resumedAt = net.clock.now();
    net.resume('A');
    net.clock.advance(5000);
    expect(net.masters()).toEqual(['B']);
    expect(net.get('A').transitions.at(-1)!.reason).toMatch(/resumed from a pause to find master B \(90\) in charge; following it \(nopreempt\)/);
    expect(net.log).toContain(`${resumedAt} A advert 0`);
    expect(net.get('B').announces.map((a) => a.kind)).toEqual(['conflict']);
    expect(net.get('B').transitions.filter((t) => t.at >= resumedAt)).toEqual([]);
  });

  it('a lower-priority master resumed after a higher one took over yields to it at once', () => {
    const net = new Net();
    net.add('A', 90, '198.18.0.1');
    net.add('B', 100, '198.18.0.2', { nopreempt: true });
    net.get('A').inst.start();
    net.clock.advanceTo(5000);
    net.get('B').inst.start();
    net.clock.advanceTo(10_000);
    expect(net.masters()).toEqual(['A']);
    net.pause('A');
    net.clock.advance(10_000);
    const resumedAt = net.clock.now();
    net.resume('A', 'timers');
    expect(net.get('A').inst.state).toBe('BACKUP');
    net.clock.advance(5000);
    expect(net.masters()).toEqual(['B']);
    expect(net.get('B').announces.map((a) => [a.kind, a.at])).toEqual([['conflict', resumedAt + 1]]);
  });

  it('a BACKUP stopped while its master lives reads the queued adverts before claiming', () => {
    for (const first of ['io', 'timers'] as const) {
      const net = pair();
      net.pause('B');
      net.clock.advance(10_000);
      net.resume('B', first);
      net.clock.advance(10_000);
      expect(net.get('B').transitions.map((t) => t.to), first).toEqual(['BACKUP']);
      expect(net.dualEpisodes).toBe(0);
      if (first === 'timers') expect(net.get('B').events.some((e) => e.kind === 'paused')).toBe(true);
    }
  });

  it('a BACKUP stopped while its master died claims after listening briefly', () => {
    const net = pair();
    net.pause('B');
    net.crash('A');
    net.clock.advance(10_000);
    const resumedAt = net.clock.now();
    net.resume('B', 'timers');
    net.clock.advance(100);
    expect(net.when('B', 'MASTER', resumedAt)).toBe(resumedAt + 50);
  });
});

describe('randomised partitions and pauses', () => {
  it('always ends with one master whose last gratuitous ARP is later than any other node\'s claim', () => {
    for (let seed = 1; seed <= 150; seed++) {
      const rnd = mulberry32(seed);
      const net = new Net();
      const cut = new Set<string>();
      net.latency = (from, to) => (cut.has([from, to].sort().join()) ? null : 0.5 + rnd() * 20);
      const ids = ['A', 'B', 'C'];
      [200, 150, 100].forEach((p, i) => net.add(ids[i]!, p, `198.18.0.${i + 1}`, { nopreempt: rnd() < 0.2 }));
      for (const n of net.nodes.values()) {
        net.clock.advance(rnd() * 300);
        n.inst.start();
      }
      net.clock.advance(5000);
      const paused = new Set<string>();
      for (let step = 0; step < 20; step++) {
        const r = rnd();
        const id = ids[Math.floor(rnd() * ids.length)]!;
        const other = ids.filter((x) => x !== id)[Math.floor(rnd() * 2)]!;
        const pair = [id, other].sort().join();
        if (r < 0.35) cut.add(pair);
        else if (r < 0.6) cut.delete(pair);
        else if (r < 0.8 && !paused.has(id)) {
          net.pause(id);
          paused.add(id);
        } else if (paused.has(id)) {
          net.resume(id, rnd() < 0.5 ? 'io' : 'timers');
          paused.delete(id);
        }
        net.clock.advance(rnd() * 8000);
      }
      cut.clear();
      for (const id of paused) net.resume(id, rnd() < 0.5 ? 'io' : 'timers');
      net.clock.advance(30_000);
      const masters = net.masters();
      expect(masters, `seed ${seed}\n${net.log.join('\n')}`).toHaveLength(1);
      const w = net.get(masters[0]!);
      // gratuitous ARP goes out on becoming MASTER and on every announce
      const garps = [...w.transitions.filter((t) => t.to === 'MASTER').map((t) => t.at), ...w.announces.map((a) => a.at)];
      const lastGarp = Math.max(...garps);
      for (const n of net.nodes.values()) {
        if (n === w) continue;
        const lastClaim = Math.max(-1, ...n.transitions.filter((t) => t.to === 'MASTER').map((t) => t.at));
        expect(lastGarp, `seed ${seed}: ${w.id}'s last GARP before ${n.id}'s claim\n${net.log.join('\n')}`).toBeGreaterThanOrEqual(lastClaim);
      }
    }
  });
});

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
