/** Mutual TLS on the replication link (in process, loopback): members replicate, nobody else gets a byte of data. */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import pino from 'pino';
import { rmSync } from 'node:fs';
import { connect as tlsConnect } from 'node:tls';
import { HybridClock } from '../../src/replication/hlc.ts';
import { Replicator, type ReplicationOptions } from '../../src/replication/replicator.ts';
import { makeCa, readTls } from '../support/certs.ts';
import { freePort } from '../support/ports.ts';
import { MapStore } from '../unit/replication/map-store.ts';
import { helloFrame, readFor } from './replication-stranger.ts';
import { stopAll } from '../support/daemon.ts';
import { eventually, get, set, startNode, stats } from './replication-cluster.ts';

const timing = { heartbeatMs: 100, deadAfterMs: 1000, backoffMinMs: 20, backoffMaxMs: 200, connectTimeoutMs: 1000 };
const cluster = makeCa(['a', 'b'], 'cluster');
const other = makeCa(['mallory'], 'other');
const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
  await stopAll();
});
afterAll(() => {
  for (const d of [cluster.dir, other.dir]) rmSync(d, { recursive: true, force: true });
});

interface Node { store: MapStore; repl: Replicator; port: number; lines: string[] }

async function node(nodeId: number, port: number, peers: number[], extra: Partial<ReplicationOptions>): Promise<Node> {
  const hlc = new HybridClock(nodeId);
  const store = new MapStore(() => hlc.now());
  const lines: string[] = [];
  const logger = pino({ level: 'info' }, { write: (s: string) => lines.push(s) });
  const repl = new Replicator(store, hlc, { peers: peers.map((p) => ({ host: '127.0.0.1', port: p })), port, listenHost: '127.0.0.1', timing, joinTimeoutMs: 3000, ...extra }, logger);
  await repl.start();
  cleanup.push(() => repl.stop(0));
  return { store, repl, port, lines };
}

async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const stat = (n: Node, name: string) => n.repl.stats().find(([k]) => k === name)?.[1];

describe('replication over mutual TLS', () => {
  it('members (certificates of the cluster CA) replicate both ways', async () => {
    const [pa, pb] = [await freePort(), await freePort()];
    const a = await node(1, pa, [pb], { tls: readTls(cluster.certs.a!) });
    const b = await node(2, pb, [pa], { tls: readTls(cluster.certs.b!) });
    await until(() => a.repl.senders[0]?.machine.state === 'streaming' && b.repl.senders[0]?.machine.state === 'streaming', 'links up');
    a.store.set('k', 'from-a');
    b.store.set('j', 'from-b');
    await until(() => b.store.value('k') === 'from-a' && a.store.value('j') === 'from-b', 'both ways');
    expect(stat(a, 'repl_tls')).toBe(1);
  });

  it('refuses a plain connection, a client without a certificate and one signed by another CA', async () => {
    const a = await node(1, await freePort(), [], { tls: readTls(cluster.certs.a!) });
    a.store.set('precious', 'cache-contents');
    const plain = await readFor({ port: a.port, send: helloFrame('receiver'), ms: 1000 });
    expect(plain.frames).toEqual([]);
    expect(plain.closed).toBe(true);
    const tlsTry = (opts: { cert?: Buffer; key?: Buffer }) => new Promise<string>((resolve) => {
      let got = '';
      const s = tlsConnect({ host: '127.0.0.1', port: a.port, ca: readTls(cluster.certs.a!).ca, checkServerIdentity: () => undefined, ...opts });
      s.on('secureConnect', () => s.write(helloFrame('receiver')));
      s.on('data', (d: Buffer) => (got += d.toString('latin1')));
      s.on('error', (e) => resolve(`error: ${e.message}; got ${got.length} bytes`));
      s.on('close', () => resolve(`closed; got ${got.length} bytes`));
    });
    expect(await tlsTry({})).toMatch(/got 0 bytes/);
    const m = readTls(other.certs.mallory!);
    expect(await tlsTry({ cert: m.cert, key: m.key })).toMatch(/got 0 bytes/);
    await until(() => stat(a, 'repl_refused_tls') === 3, 'three TLS refusals counted');
    expect(a.lines.join('')).toMatch(/refused a connection from 127\.0\.0\.1:\d+: /);
  });

  it('a node does not send to a "peer" whose certificate another CA signed', async () => {
    const pm = await freePort();
    const mallory = await node(9, pm, [], { tls: { ...readTls(other.certs.mallory!) } });
    mallory.store.set('m', 'x');
    const a = await node(1, await freePort(), [pm], { tls: readTls(cluster.certs.a!) });
    a.store.set('precious', 'cache-contents');
    await until(() => a.repl.senders[0]!.machine.failures >= 1, 'the dial failed');
    await new Promise((r) => setTimeout(r, 300));
    expect(mallory.store.value('precious')).toBeUndefined();
    expect(a.repl.senders[0]!.machine.lastError).toMatch(/certificate/i);
  });

  it('repcache -o repl_tls_cert=,repl_tls_key=,repl_tls_ca=: a pair of processes over TLS', async () => {
    const tls = (n: 'a' | 'b') => ['-o', `repl_tls_cert=${cluster.certs[n]!.cert},repl_tls_key=${cluster.certs[n]!.key},repl_tls_ca=${cluster.ca}`];
    const [ra, rb] = [await freePort(), await freePort()];
    const a = await startNode({ rport: ra, peers: [rb], extra: tls('a') });
    const b = await startNode({ rport: rb, peers: [ra], extra: tls('b') });
    await set(a.port, 'k', 'over-tls');
    await eventually(async () => (await get(b.port, 'k')) === 'over-tls', 'replicated over TLS');
    expect((await stats(b.port)).repl_tls).toBe('1');
    // each refusal is in `stats` (whichever worker answers, with -t N) as soon as the stranger saw its close
    for (let i = 1; i <= 5; i++) {
      const plain = await readFor({ port: ra, secret: '', ms: 800 });
      expect(plain).toMatchObject({ frames: [], closed: true });
      expect((await stats(a.port)).repl_refused_tls).toBe(String(i));
    }
    const noCert = await new Promise<string>((resolve) => {
      const s = tlsConnect({ host: '127.0.0.1', port: ra, ca: readTls(cluster.certs.a!).ca, checkServerIdentity: () => undefined });
      s.on('secureConnect', () => s.write(helloFrame('receiver')));
      s.on('error', () => {});
      s.on('close', () => resolve('closed'));
    });
    expect(noCert).toBe('closed');
    expect((await stats(a.port)).repl_refused_tls).toBe('6');
  });
});
