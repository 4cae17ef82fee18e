/**
 * Joining, with real repcache processes on loopback: a node opens its client port only with a complete copy from
 * a node that had one, and says so (replication_state partial) when it opens without one.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { stopAll } from '../support/daemon.ts';
import { freePort } from '../support/ports.ts';
import { eventually, mc, startNode, stats, type RepNode } from './replication-cluster.ts';
import { CuttableProxy } from './replication-proxy.ts';

const proxies: CuttableProxy[] = [];
afterEach(async () => {
  await Promise.all(proxies.splice(0).map((p) => p.stop()));
  await stopAll();
});
afterAll(stopAll);

const KEYS = 400_000;
const value = (i: number) => `${i}:`.padEnd(100, 'abcdefghijklmnopqrstuvwxyz'.charAt(i % 26));

/** Sets key:from .. key:to-1 on a node, pipelined. */
async function load(port: number, from: number, to: number): Promise<void> {
  for (let part = from; part < to; part += 50_000) {
    let script = '';
    for (let i = part; i < Math.min(to, part + 50_000); i++) script += `set key:${i} 0 0 100 noreply\r\n${value(i)}\r\n`;
    await mc(port, `${script}mn\r\n`, /MN\r\n$/, 30_000);
  }
}

/** Every n-th key's value as a node holds it (null: missing), fetched 100 keys per get. */
async function sample(port: number, every: number, total = KEYS): Promise<Map<number, string | null>> {
  const out = new Map<number, string | null>();
  const ids: number[] = [];
  for (let i = 0; i < total; i += every) ids.push(i);
  for (let at = 0; at < ids.length; at += 100) {
    const batch = ids.slice(at, at + 100);
    const reply = await mc(port, `get ${batch.map((i) => `key:${i}`).join(' ')}\r\n`, /END\r\n$/, 10_000);
    for (const i of batch) out.set(i, null);
    for (const m of reply.matchAll(/VALUE key:(\d+) \d+ \d+\r\n(.*?)\r\n/g)) out.set(Number(m[1]), m[2]);
  }
  return out;
}

const items = async (n: RepNode) => Number((await stats(n.port)).curr_items);
const replState = async (n: RepNode) => (await stats(n.port)).replication_state;

describe('joining (processes)', () => {
  it(`three nodes, staggered start: N2 and N3 open only with all ${KEYS} keys`, async () => {
    const [r1, r2, r3, toN3] = [await freePort(), await freePort(), await freePort(), await freePort()];
    // N1's copy to N3 crosses a slow link (15 MB/s: some 3 s for the 45 MB copy), so it is still arriving when
    // N2 starts, empty and joining too: the case where N3 used to take N2's copy as its own. The link listens
    // only while N3 runs, so N1, started alone, finds both peers unreachable: the first node of a cold cluster.
    const n1 = await startNode({ rport: r1, peers: [r2, toN3], extra: ['-m', '256'] });
    await load(n1.port, 0, KEYS);
    expect(await items(n1)).toBe(KEYS);
    const [p2, p3] = [await freePort(), await freePort()];
    for (const stagger of [0, 300, 700, 1500]) {
      // N3 first, N2 `stagger` ms later: each reads as soon as its port opens, with no waiting.
      const joined = async (n: Promise<RepNode>) => {
        const node = await n;
        return { node, items: await items(node), state: await replState(node) };
      };
      const slow = new CuttableProxy(r3, { bytesPerSecond: 15_000_000 });
      proxies.push(slow);
      await slow.start(toN3);
      const n3 = joined(startNode({ port: p3, rport: r3, peers: [r1, r2], extra: ['-m', '256'], waitMs: 60_000 }));
      await new Promise((r) => setTimeout(r, stagger));
      const n2 = joined(startNode({ port: p2, rport: r2, peers: [r1, r3], extra: ['-m', '256'], waitMs: 60_000 }));
      const got = await Promise.all([n2, n3]);
      for (const [i, g] of got.entries()) {
        const name = `N${i + 2} (stagger ${stagger} ms)`;
        expect(g.items, `${name}: items at open`).toBe(KEYS);
        expect(g.state, name).not.toMatch(/syncing|partial/);
        expect(g.node.daemon.output(), name).toMatch(new RegExp(`ready to serve clients \\(full copy of ${KEYS} items received from node \\d+\\)`));
        const s = await sample(g.node.port, 397);
        expect([...s].filter(([k, v]) => v !== value(k)).length, `${name}: wrong or missing sampled values`).toBe(0);
      }
      // No joining node ever sent a copy: each copy came from a complete node and said so.
      for (const g of got) expect(g.node.daemon.output()).not.toMatch(/full copy received \(partial\)/);
      await Promise.all(got.map((g) => g.node.daemon.stop('SIGKILL')));
      await slow.stop();

    }
  }, 120_000);

  it.each([2, 3])('a cold cluster: %i empty nodes started together all open, complete, within a bound', async (count) => {
    const rports = await Promise.all(Array.from({ length: count }, () => freePort()));
    const t0 = Date.now();
    const nodes = await Promise.all(rports.map((r) => startNode({ rport: r, peers: rports.filter((p) => p !== r), waitMs: 10_000 })));
    const openedMs = Date.now() - t0;
    // The cold-cluster rule: each is complete and empty within 500 ms of hearing from every peer (or of finding it
    // unreachable), or joins from one that already is; not after the 15 s join timeout.
    expect(openedMs).toBeLessThan(6000);
    const why = /ready to serve clients \((no peer reachable: first node of a cold cluster|every peer is empty and not complete: cold cluster|full copy of 0 items received)/;
    for (const n of nodes) {
      await eventually(() => why.test(n.daemon.output()), `the ready line of the node on ${n.port}`, 2000);
      expect(n.daemon.output()).not.toMatch(/WITHOUT a complete copy/);
    }
    await eventually(async () => (await Promise.all(nodes.map(replState))).every((s) => s === 'streaming'), 'all streaming');
    await Promise.all(nodes.map((n, i) => mc(n.port, `set cold:${i} 0 0 1\r\n${i}\r\n`)));
    await eventually(async () => {
      for (const n of nodes) {
        const r = await mc(n.port, `get ${nodes.map((_, i) => `cold:${i}`).join(' ')}\r\n`, /END\r\n$/);
        if ((r.match(/^VALUE/gm) ?? []).length !== count) return false;
      }
      return true;
    }, 'every write on every node');
  });

  it('a complete peer that is reachable but frozen: the restarting node never calls itself complete; partial, then complete', async () => {
    const [ra, rb] = [await freePort(), await freePort()];
    const a = await startNode({ rport: ra, peers: [rb] });
    await load(a.port, 0, 1000);
    a.daemon.proc.kill('SIGSTOP');
    try {
      // A accepts connections (its kernel does) but says nothing: B cannot know A is empty, so it waits.
      const b = await startNode({ rport: rb, peers: [ra], extra: ['-o', 'repl_join_timeout=1500'] });
      const s = await stats(b.port);
      expect([s.replication_state, s.curr_items, s.repl_expected_items]).toEqual(['partial', '0', '-']);
      expect(b.daemon.output()).toMatch(/"level":40,.*serving WITHOUT a complete copy \(no complete copy after 1500 ms\)/);
      a.daemon.proc.kill('SIGCONT');
      await eventually(async () => (await replState(b)) === 'streaming', 'B complete once A answers', 15_000);
      expect(await items(b)).toBe(1000);
      expect(b.daemon.output()).toMatch(/complete now \(full copy of 1000 items received from node \d+\); no longer partial/);
    } finally {
      a.daemon.proc.kill('SIGCONT');
    }
  });

  it('the source killed mid-copy and restarted empty: the joiner opens partial, the pair converges to what survived', async () => {
    const [rs, rj] = [await freePort(), await freePort()];
    const sourceArgs = { rport: rs, peers: [rj], extra: ['-m', '256', '-o', 'repl_join_timeout=2000'] };
    const s1 = await startNode(sourceArgs);
    await load(s1.port, 0, KEYS);
    const jPort = await freePort();
    const joining = startNode({ port: jPort, rport: rj, peers: [rs], extra: ['-m', '256', '-o', 'repl_join_timeout=2000'] });
    // Kill the source once it has sent half of its copy (its stats show the progress of the copy to J).
    await eventually(async () => {
      const p = /^(\d+)\/(\d+)$/.exec((await stats(s1.port)).repl_peer_0_sync_progress ?? '');
      if (!p) return false;
      if (Number(p[1]) >= Number(p[2])) throw new Error('the copy ended before the source could be killed mid-copy');
      return Number(p[1]) >= KEYS / 2;
    }, 'the copy half sent', 30_000);
    s1.daemon.proc.kill('SIGKILL');
    await s1.daemon.exited;
    const j = await joining;
    const js = await stats(j.port);
    const held = Number(js.curr_items);
    expect(js.replication_state).toBe('partial');
    expect(js.repl_expected_items).toBe(String(KEYS));
    expect(held).toBeGreaterThan(0);
    expect(held).toBeLessThan(KEYS);
    expect(j.daemon.output()).toMatch(new RegExp(`"level":40,.*serving WITHOUT a complete copy \\(no complete copy after 2000 ms \\(a complete peer holds ${KEYS} items\\)\\); holding \\d+ of ${KEYS} items`));

    // The source comes back empty: it sees J holding data, so it is not a cold cluster; both stay partial, and
    // converge on what survived (J's partial copy goes to S, merged).
    await mc(j.port, 'set written-while-partial 0 0 1\r\nw\r\n');
    const s2 = await startNode(sourceArgs);
    await eventually(async () => (await items(s2)) === held + 1, `the source holding the ${held + 1} surviving keys`, 20_000);
    expect([await replState(s2), await replState(j)]).toEqual(['partial', 'partial']);
    expect(s2.daemon.output()).not.toMatch(/cold cluster/);
    const [a, b] = [await sample(s2.port, 997), await sample(j.port, 997)];
    expect([...a].filter(([k, v]) => v !== b.get(k)).length).toBe(0);
    expect([...a].filter(([k, v]) => v !== null && v !== value(k)).length).toBe(0);

    // The operator accepts what survived: the source restarted with -o repl_complete is complete (empty), gets J's
    // data back as a partial copy, and its complete copy makes J complete: both stream, nothing lost.
    await s2.daemon.stop('SIGKILL');
    const s3 = await startNode({ ...sourceArgs, extra: [...sourceArgs.extra, '-o', 'repl_complete'] });
    await eventually(async () => (await replState(j)) === 'streaming' && (await items(s3)) === held + 1, 'both complete with every surviving key', 20_000);
    expect(await items(j)).toBe(held + 1);
    expect(j.daemon.output()).toMatch(/complete now \(full copy of \d+ items received from node \d+\); no longer partial/);
  }, 90_000);
});
