/** repcache replication between real processes on loopback. */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { connect } from 'node:net';
import { bin, startProcess, stopAll } from '../support/daemon.ts';
import { freePort } from '../support/ports.ts';
import { CuttableProxy } from './replication-proxy.ts';
import { fetchStats } from '../../src/supervisor/stats-probe.ts';
import { REPLICATION_SILENCE_MS } from '../../src/supervisor/warmth.ts';
import { eventually, get, gets, mc, set, startNode, stats, type RepNode } from './replication-cluster.ts';

const proxies: CuttableProxy[] = [];
afterEach(async () => {
  await Promise.all(proxies.splice(0).map((p) => p.stop()));
  await stopAll();
});
afterAll(stopAll);

async function pair(extra: string[] = []): Promise<[RepNode, RepNode]> {
  const [ra, rb] = [await freePort(), await freePort()];
  const a = await startNode({ rport: ra, peers: [rb], extra });
  const b = await startNode({ rport: rb, peers: [ra], extra });
  await eventually(async () => (await stats(a.port)).repl_peer_0_state === 'streaming', 'A linked to B');
  return [a, b];
}

const same = async (a: RepNode, b: RepNode, key: string) => (await get(a.port, key)) === (await get(b.port, key));

describe('repcache replication (processes)', () => {
  it('writes on either node are read on the other; cas, incr, append, touch, delete replicate', async () => {
    const [a, b] = await pair();
    expect(await set(a.port, 'ka', 'from-a')).toBe('STORED\r\n');
    expect(await set(b.port, 'kb', 'from-b')).toBe('STORED\r\n');
    await eventually(async () => (await get(b.port, 'ka')) === 'from-a' && (await get(a.port, 'kb')) === 'from-b', 'both keys on both');

    // A cas read on A is valid on B, and the result comes back to A.
    const g = (await gets(a.port, 'ka'))!;
    expect((await gets(b.port, 'ka'))!.cas).toBe(g.cas);
    expect(await mc(b.port, `cas ka 0 0 2 ${g.cas}\r\nv2\r\n`)).toBe('STORED\r\n');
    await eventually(async () => (await get(a.port, 'ka')) === 'v2', 'cas result on A');
    expect(await mc(a.port, `cas ka 0 0 2 ${g.cas}\r\nv3\r\n`)).toBe('EXISTS\r\n');

    await set(a.port, 'n', '10');
    await eventually(async () => (await get(b.port, 'n')) === '10', 'counter on B');
    expect(await mc(a.port, 'incr n 5\r\n')).toBe('15\r\n');
    await eventually(async () => (await get(b.port, 'n')) === '15', 'incr on B');
    expect(await mc(b.port, 'incr n 1\r\n')).toBe('16\r\n');
    await eventually(async () => (await get(a.port, 'n')) === '16', 'incr back on A');

    expect(await mc(b.port, 'append kb 0 0 1\r\n!\r\n')).toBe('STORED\r\n');
    await eventually(async () => (await get(a.port, 'kb')) === 'from-b!', 'append on A');

    expect(await mc(a.port, 'touch kb 1\r\n')).toBe('TOUCHED\r\n');
    expect(await mc(b.port, 'delete ka\r\n')).toBe('DELETED\r\n');
    await eventually(async () => (await get(a.port, 'ka')) === null, 'delete on A');
    await eventually(async () => (await get(b.port, 'kb')) === null && (await get(a.port, 'kb')) === null, 'touched key expired on both', 4000);

    const s = await stats(b.port);
    // Replicated changes are not B's clients' commands: only the touch made on A counts, on A.
    expect([s.cmd_touch, s.touch_hits, (await stats(a.port)).cmd_touch]).toEqual(['0', '0', '1']);
    expect(s.replication_state).toBe('streaming');
    expect(s.repl_peer_0_state).toBe('streaming');
    for (const f of ['repl_peer_0_lag_ms', 'repl_peer_0_queue_depth', 'repl_peer_0_bytes_sent', 'repl_peer_0_full_syncs', 'repl_peer_0_resumes']) expect(s[f]).toMatch(/^\d+$/);
  });

  it('concurrent writes of one key, incr on both and delete racing set all converge', async () => {
    const [a, b] = await pair();
    const script = (who: string) => Array.from({ length: 200 }, (_, i) => `set hot 0 0 ${who.length + String(i).length} noreply\r\n${who}${i}\r\n`).join('');
    await set(a.port, 'cnt', '0');
    await eventually(async () => (await get(b.port, 'cnt')) === '0', 'counter on B');
    await Promise.all([
      mc(a.port, script('a') + 'incr cnt 1\r\nset race 0 0 1\r\nx\r\n', /STORED\r\n$/),
      mc(b.port, script('b') + 'incr cnt 1\r\ndelete race\r\n', /(DELETED|NOT_FOUND)\r\n$/),
    ]);
    await eventually(async () => (await same(a, b, 'hot')) && (await same(a, b, 'cnt')) && (await same(a, b, 'race')), 'converged');
    expect(['1', '2']).toContain(await get(a.port, 'cnt'));
  });

  it('a node killed with -9 and restarted has everything before it accepts clients', async () => {
    const [a, b] = await pair();
    await set(a.port, 'before', '1');
    await eventually(async () => (await get(b.port, 'before')) === '1', 'replicated');
    b.daemon.proc.kill('SIGKILL');
    await b.daemon.exited;
    let script = '';
    for (let i = 0; i < 2000; i++) script += `set k${i} 0 0 ${String(i).length} noreply\r\n${i}\r\n`;
    await mc(a.port, script + 'delete before\r\n', /DELETED\r\n$/);
    const b2 = await startNode({ port: b.port, rport: b.rport, peers: [a.rport] });
    // No waiting: the port opened only after the copy.
    expect(await get(b2.port, 'k1999')).toBe('1999');
    expect(await get(b2.port, 'before')).toBeNull();
    expect((await stats(b2.port)).curr_items).toBe('2000');
    expect(b2.daemon.output()).toMatch(/full copy of 2000 items received/);
  });

  it('a cut link heals by resuming: converged, nothing resurrected, no full copy', async () => {
    const [ra, rb] = [await freePort(), await freePort()];
    const toA = new CuttableProxy(ra);
    const toB = new CuttableProxy(rb);
    proxies.push(toA, toB);
    await toA.start();
    await toB.start();
    // B is not up yet: A's peer (the proxy) accepts and hangs up, so A serves after its join timeout
    const a = await startNode({ rport: ra, peers: [toB.port], extra: ['-o', 'repl_join_timeout=2000'] });
    const b = await startNode({ rport: rb, peers: [toA.port] });
    await eventually(async () => (await stats(a.port)).repl_peer_0_state === 'streaming' && (await stats(b.port)).repl_peer_0_state === 'streaming', 'linked');
    await set(a.port, 'doomed', 'x');
    await set(b.port, 'keep', 'y');
    await eventually(async () => (await get(b.port, 'doomed')) === 'x' && (await get(a.port, 'keep')) === 'y', 'replicated');
    const copiesBefore = [(await stats(a.port)).repl_peer_0_full_syncs, (await stats(b.port)).repl_peer_0_full_syncs];

    toA.cut();
    toB.cut();
    await eventually(async () => (await stats(a.port)).repl_peer_0_state !== 'streaming', 'A sees the cut');
    await mc(a.port, 'delete doomed\r\n');
    await set(a.port, 'during-a', '1');
    await set(b.port, 'during-b', '2');
    await set(b.port, 'keep', 'newer');
    await new Promise((r) => setTimeout(r, 500));
    expect(await get(b.port, 'during-a')).toBeNull();
    toA.heal();
    toB.heal();
    await eventually(
      async () => (await get(b.port, 'during-a')) === '1' && (await get(a.port, 'during-b')) === '2' && (await get(a.port, 'keep')) === 'newer' && (await get(b.port, 'doomed')) === null,
      'converged after heal', 15_000,
    );
    const sa = await stats(a.port);
    const sb = await stats(b.port);
    expect([sa.repl_peer_0_full_syncs, sb.repl_peer_0_full_syncs]).toEqual(copiesBefore);
    expect(Number(sa.repl_peer_0_resumes)).toBeGreaterThanOrEqual(1);
    expect(a.daemon.output()).toMatch(/streaming -> backoff/);
  });

  it('three nodes in a full mesh', async () => {
    const rp = [await freePort(), await freePort(), await freePort()];
    const ns: RepNode[] = [];
    for (let i = 0; i < 3; i++) ns.push(await startNode({ rport: rp[i], peers: rp.filter((_, j) => j !== i) }));
    for (let i = 0; i < 3; i++) await set(ns[i].port, `from${i}`, `v${i}`);
    await eventually(async () => {
      for (const n of ns) for (let i = 0; i < 3; i++) if ((await get(n.port, `from${i}`)) !== `v${i}`) return false;
      return true;
    }, 'every key on every node');
  });

  it('200k items are copied to a joining node', async () => {
    const ra = await freePort();
    const a = await startNode({ rport: ra, extra: ['-m', '256'] });
    const value = 'x'.repeat(100);
    for (let part = 0; part < 4; part++) {
      let script = '';
      for (let i = part * 50_000; i < (part + 1) * 50_000; i++) script += `set key:${i} 0 0 100 noreply\r\n${value}\r\n`;
      await mc(a.port, script + 'mn\r\n', /MN\r\n$/, 30_000);
    }
    expect((await stats(a.port)).curr_items).toBe('200000');
    const t0 = Date.now();
    const b = await startNode({ peers: [ra], extra: ['-m', '256'], waitMs: 60_000 });
    const ms = Date.now() - t0;
    expect((await stats(b.port)).curr_items).toBe('200000');
    expect(await get(b.port, 'key:199999')).toBe(value);
    console.log(`full copy of 200k x 100 B items: node ready after ${ms} ms`);
  });

  it('values chained over several slab chunks replicate byte for byte, in a full copy and streamed', async () => {
    // 700 KB is past the largest slab chunk (512 KB with -I 1m): the item is a chain of chunks on both sides.
    const big = (seed: number) => Array.from({ length: 700_000 }, (_, i) => String.fromCharCode(33 + ((i * 31 + seed) % 90))).join('');
    const [before, streamed, back] = [big(1), big(2), big(3)];
    const ra = await freePort();
    const a = await startNode({ rport: ra });
    expect(await set(a.port, 'before', before)).toBe('STORED\r\n');
    const b = await startNode({ peers: [ra] });
    expect(await get(b.port, 'before')).toBe(before);
    await eventually(async () => (await stats(b.port)).repl_peer_0_state === 'streaming', 'B linked to A');
    expect(await set(a.port, 'streamed', streamed)).toBe('STORED\r\n');
    expect(await set(b.port, 'back', back)).toBe('STORED\r\n');
    await eventually(async () => (await get(b.port, 'streamed')) === streamed && (await get(a.port, 'back')) === back, 'both big values on both');
  });

  it('-m limits on both sides: a smaller peer evicts and stays consistent', async () => {
    const ra = await freePort();
    const a = await startNode({ rport: ra, extra: ['-m', '64'] });
    const value = 'v'.repeat(1000);
    let script = '';
    for (let i = 0; i < 20_000; i++) script += `set big:${i} 0 0 1000 noreply\r\n${value}\r\n`;
    await mc(a.port, script + 'mn\r\n', /MN\r\n$/, 30_000);
    const b = await startNode({ peers: [ra], extra: ['-m', '8'] });
    const sb = await stats(b.port);
    expect(Number(sb.curr_items)).toBeGreaterThan(0);
    expect(Number(sb.curr_items)).toBeLessThan(20_000);
    expect(Number(sb.bytes)).toBeLessThanOrEqual(8 * 1024 * 1024);
    expect(await get(b.port, 'big:19999')).toBe(value); // newest survive (LRU)
    await set(b.port, 'fromb', 'ok');
    await eventually(async () => (await get(a.port, 'fromb')) === 'ok', 'B still replicates to A');
  });

  it('flush_all, with and without delay, and expiry are the same on both nodes', async () => {
    const [a, b] = await pair();
    await set(a.port, 'f1', '1');
    await set(a.port, 'ttl', 't', 2);
    await eventually(async () => (await get(b.port, 'f1')) === '1' && (await get(b.port, 'ttl')) === 't', 'replicated');
    expect(await mc(b.port, 'flush_all\r\n')).toBe('OK\r\n');
    await eventually(async () => (await get(a.port, 'f1')) === null, 'flush on A');
    await set(a.port, 'after', 'survives');
    await eventually(async () => (await get(b.port, 'after')) === 'survives', 'write after flush replicates');
    expect(await mc(a.port, 'flush_all 2\r\n')).toBe('OK\r\n');
    await new Promise((r) => setTimeout(r, 300));
    expect(await get(b.port, 'after')).toBe('survives');
    await eventually(async () => (await get(a.port, 'after')) === null && (await get(b.port, 'after')) === null && (await get(b.port, 'ttl')) === null, 'delayed flush and expiry on both', 5000);
  });

  it('works with CAS disabled (-C) and drains its queue on SIGTERM', async () => {
    const [a, b] = await pair(['-C']);
    await set(a.port, 'k', 'a');
    await eventually(async () => (await get(b.port, 'k')) === 'a', 'replicated');
    await set(b.port, 'k', 'b');
    await eventually(async () => (await get(a.port, 'k')) === 'b', 'newest wins back on A');
    let script = '';
    for (let i = 0; i < 3000; i++) script += `set last:${i} 0 0 ${String(i).length} noreply\r\n${i}\r\n`;
    await mc(a.port, script + 'mn\r\n', /MN\r\n$/);
    await a.daemon.stop('SIGTERM');
    expect(await get(b.port, 'last:2999')).toBe('2999');
    expect((await stats(b.port)).curr_items).toBe('3001');
  });

  it('synchronous mode: STORED means the peer has it; a frozen peer costs a bounded wait', async () => {
    const [a, b] = await pair(['--replication-sync', '-o', 'repl_sync_timeout=300']);
    for (let i = 0; i < 20; i++) {
      expect(await set(a.port, `s${i}`, 'v')).toBe('STORED\r\n');
      expect(await get(b.port, `s${i}`)).toBe('v'); // no waiting: acknowledged before the reply
    }
    expect(await mc(a.port, 'get s0\r\nset p 0 0 1\r\n1\r\nget p\r\n', /END\r\n[\s\S]*END\r\n$/)).toBe('VALUE s0 0 1\r\nv\r\nEND\r\nSTORED\r\nVALUE p 0 1\r\n1\r\nEND\r\n');
    b.daemon.proc.kill('SIGSTOP');
    try {
      const t0 = Date.now();
      expect(await set(a.port, 'frozen', 'x')).toBe('STORED\r\n');
      const waited = Date.now() - t0;
      expect(waited).toBeGreaterThanOrEqual(250);
      expect(waited).toBeLessThan(2000);
      expect(Number((await stats(a.port)).repl_sync_timeouts)).toBeGreaterThanOrEqual(1);
    } finally {
      b.daemon.proc.kill('SIGCONT');
    }
    await eventually(async () => (await get(b.port, 'frozen')) === 'x', 'caught up after SIGCONT');
  });

  it("a frozen peer: repl_peers_heard_ms passes haved's failback bound within it, long before the link is found dead", async () => {
    const [a, b] = await pair();
    const heard = async () => (await fetchStats('127.0.0.1', a.port)).peersHeardMs;
    await eventually(async () => typeof (await heard()) === 'number', "A current with B's stream");
    expect((await stats(a.port)).repl_peer_0_heard_ms).toMatch(/^\d+$/);
    // Live and idle: heartbeats every 100 ms. A loaded host can stretch that; it would only delay a failback.
    let worst = 0;
    for (const end = Date.now() + 1500; Date.now() < end; await new Promise((r) => setTimeout(r, 50))) worst = Math.max(worst, (await heard()) ?? Infinity);
    expect(worst).toBeLessThan(2500);

    b.daemon.proc.kill('SIGSTOP');
    try {
      const t0 = Date.now();
      let staleAfter = -1;
      let stateThen = '';
      await eventually(async () => {
        const s = await fetchStats('127.0.0.1', a.port);
        if (s.peersHeardMs !== null && s.peersHeardMs! <= REPLICATION_SILENCE_MS) return false;
        staleAfter = Date.now() - t0;
        stateThen = s.replicationState;
        return true;
      }, 'the stream past the bound', 5000);
      console.log(`live idle link: repl_peers_heard_ms at most ${worst} ms; B stopped: it passed ${REPLICATION_SILENCE_MS} ms ${staleAfter} ms later (replication_state then ${stateThen})`);
      // Heard at most one heartbeat interval (plus a 50 ms tick) before the stop; margin for a loaded host.
      expect(staleAfter).toBeLessThanOrEqual(REPLICATION_SILENCE_MS + 400);
      expect(stateThen).toBe('streaming'); // what haved saw before: warm, as if nothing happened
      await eventually(async () => (await heard()) === null, "B's stream found dead: '-'", 6000);
      expect((await stats(a.port)).repl_peer_0_heard_ms).toBe('-');
    } finally {
      b.daemon.proc.kill('SIGCONT');
    }
    await eventually(async () => typeof (await heard()) === 'number', 'current again after SIGCONT', 15_000);
  });

  it('bad replication settings stop the daemon with a clear message', async () => {
    const asRoot = process.getuid?.() === 0 ? ['-u', 'root'] : [];
    const run = async (args: string[]) => {
      const d = startProcess(bin('repcache'), ['-l', '127.0.0.1', '-p', String(await freePort()), ...asRoot, ...args]);
      const code = await d.exited;
      return { code, out: d.output() };
    };
    expect(await run(['-x', 'a:b:c'])).toMatchObject({ code: 64, out: expect.stringMatching(/invalid replication peer 'a:b:c'/) });
    expect(await run(['-x', '127.0.0.1', '-o', 'repl_node_id=0'])).toMatchObject({ code: 64, out: expect.stringMatching(/repl_node_id needs an integer 1..1023/) });
    // Safe by default: a peer off loopback needs a secret (or TLS), or the risk accepted by name.
    expect(await run(['-x', '198.18.0.2'])).toMatchObject({ code: 64, out: expect.stringMatching(/replication peer 198\.18\.0\.2 is not on loopback, and no secret is set.*-o repl_insecure/) });
    expect(await run(['-x', '198.18.0.2', '-o', 'repl_secret=s'])).toMatchObject({ code: 64, out: expect.stringMatching(/cannot reach this node: the replication port listens on 127\.0\.0\.1 only/) });
    const taken = await startNode();
    const clash = await run(['-X', String(taken.rport), '-o', 'repl_listen=127.0.0.1', '-x', '127.0.0.1:1']);
    expect(clash.code).not.toBe(0);
    expect(clash.out).toMatch(new RegExp(`cannot listen on replication port ${taken.rport}.*EADDRINUSE`));
  });

  it('a peer speaking garbage or with a wrong secret is refused with a logged reason', async () => {
    const ra = await freePort();
    const a = await startNode({ rport: ra, extra: ['-o', 'repl_secret=right'] });
    await new Promise<void>((resolve) => {
      const s = connect({ port: ra, host: '127.0.0.1' }, () => s.write('get foo\r\n'));
      s.on('data', () => {});
      s.on('error', () => resolve());
      s.on('close', () => resolve());
    });
    await eventually(() => /refused a connection from 127\.0\.0\.1:\d+: not the replication protocol: \\"get foo\\\\x0d\\\\x0a\\"/.test(a.daemon.output()), 'garbage refusal logged');
    // (with -t N the replication fields of stats are published by the replication thread a moment later)
    await eventually(async () => (await stats(a.port)).repl_refused_garbage === '1', 'the refusal counted');
    // refused by its only peer, B serves after its join timeout, and says it has no complete copy
    const b = await startNode({ peers: [ra], extra: ['-o', 'repl_secret=wrong', '-o', 'repl_join_timeout=2000'] });
    await eventually(() => /wrong or missing replication secret/.test(a.daemon.output()) && /wrong or missing replication secret/.test(b.daemon.output()), 'secret refusal logged on both');
    await set(b.port, 'k', 'v');
    await new Promise((r) => setTimeout(r, 300));
    expect(await get(a.port, 'k')).toBeNull();
    expect((await stats(a.port)).replication_state).not.toBe('streaming');
    expect((await stats(b.port)).replication_state).toBe('partial');
    expect(b.daemon.output()).toMatch(/"level":40,.*serving WITHOUT a complete copy \(no complete copy after 2000 ms\)/);
  });
});
