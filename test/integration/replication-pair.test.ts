/**
 * repcached's pairing on one host: `repcache -p A -X R` and `repcache -p B -x 127.0.0.1 -X R` share the
 * replication port R. The node that holds R listens, the other one dials it for both directions.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { bin, startProcess, stopAll, waitForPort, type Daemon } from '../support/daemon.ts';
import { freePort } from '../support/ports.ts';
import { eventually, get, set, stats } from './replication-cluster.ts';
import { helloFrame, readFor } from './replication-stranger.ts';

afterEach(stopAll);

const asRoot = process.getuid?.() === 0 ? ['-u', 'root'] : [];

interface Node { port: number; daemon: Daemon; repl: string[] }

/** Starts repcache on loopback with exactly the given replication flags; resolves once it serves clients. */
async function start(port: number, repl: string[]): Promise<Node> {
  const args = ['-l', '127.0.0.1', '-p', String(port), '-t', '1', ...asRoot, ...repl];
  const daemon = startProcess(bin('repcache'), args, { env: { HAVED_LOG_JSON: '1' } });
  await waitForPort(port, '127.0.0.1', 20_000, daemon);
  return { port, daemon, repl };
}

const restart = (n: Node): Promise<Node> => start(n.port, n.repl);

const linked = async (n: Node) => {
  const s = await stats(n.port);
  return s.replication_state === 'streaming' && s.repl_peer_0_state === 'streaming' && s.repl_in_0_state === 'streaming';
};

describe("repcached's one-host pair: two nodes share one -X", () => {
  it('replicates both ways; the second node dials the first instead of listening', async () => {
    const [pa, pb, r] = [await freePort(), await freePort(), await freePort()];
    const a = await start(pa, ['-X', String(r)]);
    const b = await start(pb, ['-x', '127.0.0.1', '-X', String(r)]);
    await eventually(async () => (await linked(a)) && (await linked(b)), 'both links up on both nodes');
    expect(await set(a.port, 'from-a', '1')).toBe('STORED\r\n');
    expect(await set(b.port, 'from-b', '2')).toBe('STORED\r\n');
    await eventually(async () => (await get(b.port, 'from-a')) === '1' && (await get(a.port, 'from-b')) === '2', 'both keys on both nodes');
    const [sa, sb] = [await stats(a.port), await stats(b.port)];
    expect(sa.repl_listen).toBe(`127.0.0.1:${r}`);
    expect(sb.repl_listen).toBe('-');
    expect(b.daemon.output()).toMatch(`port ${r} is held by the peer on this host; dialing 127.0.0.1:${r} for both directions`);
  });

  it('survives kill -9 and restart of either node, in either start order', async () => {
    const [pa, pb, r] = [await freePort(), await freePort(), await freePort()];
    // B first this time: it finds the port free and listens; A (no -x) then finds it taken and dials B.
    let b = await start(pb, ['-x', '127.0.0.1', '-X', String(r)]);
    let a = await start(pa, ['-X', String(r)]);
    await eventually(async () => (await linked(a)) && (await linked(b)), 'linked');
    expect((await stats(b.port)).repl_listen).toBe(`127.0.0.1:${r}`);
    expect(b.daemon.output()).toMatch(`peer 127.0.0.1:${r} is this node's own replication port`);

    for (const victim of ['a', 'b', 'a', 'b'] as const) {
      const [dead, alive] = victim === 'a' ? [a, b] : [b, a];
      const key = `while-${victim}-down-${Date.now()}`;
      dead.daemon.proc.kill('SIGKILL');
      await dead.daemon.exited;
      expect(await set(alive.port, key, 'kept')).toBe('STORED\r\n');
      const back = await restart(dead);
      if (victim === 'a') a = back;
      else b = back;
      await eventually(async () => (await get(back.port, key)) === 'kept', `${victim} has what was written while it was down`, 15_000);
      await eventually(async () => (await linked(a)) && (await linked(b)), `linked again after ${victim}'s restart`, 15_000);
      expect(await set(back.port, `${key}-after`, 'x')).toBe('STORED\r\n');
      await eventually(async () => (await get(alive.port, `${key}-after`)) === 'x', `${victim}'s new write reaches the other node`);
    }
  }, 90_000);

  it("repcached's own test setup, -x 127.0.0.1 -X R on both nodes, pairs the same way", async () => {
    const [pa, pb, r] = [await freePort(), await freePort(), await freePort()];
    const a = await start(pa, ['-x', '127.0.0.1', '-X', String(r)]);
    expect((await stats(a.port)).replication_state).toBe('standalone'); // served at once: its peer is itself
    const b = await start(pb, ['-x', '127.0.0.1', '-X', String(r)]);
    await eventually(async () => (await linked(a)) && (await linked(b)), 'linked');
    await set(b.port, 'k', 'v');
    await eventually(async () => (await get(a.port, 'k')) === 'v', 'replicated');
  });

  it('the first node accepts its peer only from its own -l address: 127.0.0.9 gets nothing', async () => {
    const [pa, r] = [await freePort(), await freePort()];
    const a = await start(pa, ['-X', String(r)]);
    await set(a.port, 'secret-key', 'secret-value');
    const got = await readFor({ port: r, localAddress: '127.0.0.9', send: helloFrame('receiver'), ms: 500 });
    expect(got.bytes).toBe(0);
    const s = await stats(a.port);
    expect(s.repl_refused_address).toBe('1');
    expect(s.repl_peers).toBe('0');
    expect(a.daemon.output()).toMatch(/refused a connection from 127\.0\.0\.9:\d+: 127\.0\.0\.9 is not a configured peer/);
  });

  it('--replication-allow lets a listed address in (to the handshake, which it must still pass)', async () => {
    const [pa, r] = [await freePort(), await freePort()];
    const a = await start(pa, ['-X', String(r), '--replication-allow', '127.0.0.8/31']);
    const got = await readFor({ port: r, localAddress: '127.0.0.9', send: helloFrame('receiver'), ms: 500 });
    expect(got.frames.map((f) => f.type)).toEqual(['hello']); // past the address check; no secret proven yet
    expect((await stats(a.port)).repl_refused_address).toBe('0');
  });

  it('-X listen:connect pairs two ports on one host as repcached does', async () => {
    const [pa, pb, ra, rb] = [await freePort(), await freePort(), await freePort(), await freePort()];
    const a = await start(pa, ['-x', '127.0.0.1', '-X', `${ra}:${rb}`]);
    const b = await start(pb, ['-x', '127.0.0.1', '-X', `${rb}:${ra}`]);
    await eventually(async () => (await stats(a.port)).repl_peer_0_state === 'streaming' && (await stats(b.port)).repl_peer_0_state === 'streaming', 'linked');
    await set(a.port, 'k', 'v');
    await eventually(async () => (await get(b.port, 'k')) === 'v', 'replicated');
    expect((await stats(b.port)).repl_listen).toBe(`127.0.0.1:${rb}`);
  });
});
