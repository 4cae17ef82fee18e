/**
 * Strangers on a real node's replication port (loopback; 127.0.0.9 is an address the node does not allow):
 * whatever they send, they get no item, no key and no count, and the node keeps serving its clients and its peer.
 */
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { encode } from '../../src/proto/replication/codec.ts';
import { stopAll } from '../support/daemon.ts';
import { freePort } from '../support/ports.ts';
import { eventually, get, set, startNode, stats, type RepNode } from './replication-cluster.ts';
import { flood, helloFrame, readFor, type Reading } from './replication-stranger.ts';

afterEach(stopAll);

const rssMB = (n: RepNode) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${n.daemon.proc.pid}/status`, 'utf8'))![1]) / 1024;
const lines = (n: RepNode) => n.daemon.output().split('\n').filter((l) => l.trim() !== '');

/** Nothing but the handshake's HELLO and an ERROR frame, and not a byte of the cache's contents. */
function gotNothing(r: Reading, secret: string): void {
  expect(r.frames.map((f) => f.type).filter((t) => t !== 'hello' && t !== 'error')).toEqual([]);
  expect(r.frames.some((f) => f.type === 'auth')).toBe(false); // no proof to attack offline either
  expect(JSON.stringify(r.frames, (_, v) => (typeof v === 'bigint' ? String(v) : v))).not.toMatch(secret);
  expect(r.closed).toBe(true);
}

describe('strangers on the replication port', () => {
  it('wrong or empty secret, an address not in the list, garbage, a slow handshake: nothing, and the node serves on', async () => {
    const [ra, rb] = [await freePort(), await freePort()];
    const secret = ['-o', 'repl_secret=right-secret'];
    const a = await startNode({ rport: ra, peers: [rb], extra: secret });
    const b = await startNode({ rport: rb, peers: [ra], extra: secret });
    await eventually(async () => (await stats(a.port)).repl_in_0_state === 'streaming' && (await stats(b.port)).repl_in_0_state === 'streaming', 'the pair linked');
    await set(a.port, 'precious', 'cache-contents');

    const setFrame = encode({ type: 'set', seq: 1n, version: 1n << 40n, flags: 0, ttl: 0, key: Buffer.from('planted'), value: Buffer.from('by-a-stranger') });
    // a node of replication protocol 1: same magic, version 1, a shorter HELLO
    const v1Hello = Buffer.concat([Buffer.from([0, 0, 0, 41, 1]), Buffer.from('48565250', 'hex'), Buffer.from([0, 1]), Buffer.alloc(34)]);
    const [wrong, empty, pusher, address, garbage, early, oldVersion] = await Promise.all([
      readFor({ port: ra, secret: 'wrong', ms: 1500 }),
      readFor({ port: ra, secret: '', ms: 1500 }),
      readFor({ port: ra, secret: 'wrong', role: 'sender', afterAuth: setFrame, ms: 1500 }),
      readFor({ port: ra, localAddress: '127.0.0.9', send: helloFrame('receiver'), ms: 1000 }),
      readFor({ port: ra, send: Buffer.from('get precious\r\nstats\r\n'), ms: 1000 }),
      readFor({ port: ra, send: Buffer.concat([helloFrame('sender'), setFrame]), ms: 1000 }),
      readFor({ port: ra, send: v1Hello, ms: 1000 }),
    ]);
    for (const r of [wrong, empty, pusher]) gotNothing(r, 'right-secret');
    expect(wrong.frames.find((f) => f.type === 'error')).toMatchObject({ reason: 'refused: authentication failed: wrong or missing replication secret' });
    for (const r of [address, garbage, early, oldVersion]) expect(r).toMatchObject({ bytes: 0, closed: true });

    // A handshake that crawls (one byte of HELLO every 200 ms) or stops after HELLO is dropped after 3 s.
    const t0 = Date.now();
    const [slow, stalled] = await Promise.all([
      readFor({ port: ra, send: helloFrame('receiver'), dripMs: 200, ms: 8000 }),
      readFor({ port: ra, send: helloFrame('receiver'), ms: 8000 }),
    ]);
    expect(Date.now() - t0).toBeLessThan(7500);
    expect(slow).toMatchObject({ bytes: 0, closed: true });
    gotNothing(stalled, 'right-secret');

    const s = await stats(a.port);
    expect({ auth: s.repl_refused_auth, address: s.repl_refused_address, garbage: s.repl_refused_garbage, timeout: s.repl_refused_timeout, handshake: s.repl_refused_handshake })
      .toEqual({ auth: '3', address: '1', garbage: '2', timeout: '2', handshake: '2' }); // handshake: the protocol-1 HELLO and one of the cases above
    expect(await get(a.port, 'planted')).toBeNull();
    expect(await get(b.port, 'planted')).toBeNull();
    // Clients and the real peer never noticed.
    expect(await set(a.port, 'after', 'ok')).toBe('STORED\r\n');
    await eventually(async () => (await get(b.port, 'after')) === 'ok', 'the peer still replicates');
    expect(s.repl_peer_0_state).toBe('streaming');
    expect(a.daemon.output()).not.toMatch(/get precious\\r\\nstats/);
  }, 30_000);

  it('5,000 garbage connections: one log line per kind of refusal, flat memory, clients served throughout', async () => {
    const a = await startNode({ extra: ['-o', 'repl_secret=s'] });
    const garbage = Buffer.from(`get ${'k'.repeat(200)}\r\n${'\x00\xff'.repeat(300)}`);
    await flood(a.rport, 1000, garbage); // warm-up: the first refusal, JIT, buffers
    const lines0 = lines(a).length;
    const rss = [rssMB(a)];
    let stop = false;
    const serving = (async () => {
      let ok = 0;
      while (!stop) ok += (await set(a.port, `during${ok % 100}`, 'v')) === 'STORED\r\n' ? 1 : 0;
      return ok;
    })();
    const t0 = Date.now();
    for (let batch = 0; batch < 5; batch++) {
      await flood(a.rport, 1000, garbage);
      rss.push(rssMB(a));
    }
    const ms = Date.now() - t0;
    await flood(a.rport, 500, helloFrame('receiver'), { localAddress: '127.0.0.9' });
    for (let i = 0; i < 5; i++) {
      for (const r of await Promise.all(Array.from({ length: 40 }, () => readFor({ port: a.rport, secret: 'guess', ms: 3000 })))) gotNothing(r, 'during');
    }
    stop = true;
    expect(await serving).toBeGreaterThan(10);
    const newLines = lines(a).slice(lines0);
    console.log(`5,000 garbage connections in ${ms} ms, then 500 from a refused address and 200 wrong secrets: ${newLines.length} log lines; RSS per 1,000: ${rss.map((r) => r.toFixed(1)).join(' ')} MB`);
    // Within a minute: one line for each kind not seen before (address, auth), none for more garbage (logged in the warm-up).
    expect(newLines.length).toBeLessThanOrEqual(2);
    for (const l of newLines) expect(l.length).toBeLessThan(600);
    expect(Math.max(...rss) - rss[0]!).toBeLessThan(16);
    const s = await stats(a.port);
    expect([s.repl_refused_garbage, s.repl_refused_address, s.repl_refused_auth, s.repl_refused_busy]).toEqual(['6000', '500', '200', '0']);
    expect(s.repl_peers).toBe('0');
    expect(Object.keys(s).filter((k) => k.startsWith('repl_in_'))).toEqual([]);
  }, 120_000);
});
