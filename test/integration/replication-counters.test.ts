/**
 * Counters on a pair of real repcache processes: concurrent increments on both nodes (several connections each)
 * add up exactly on both, over text incr, binary INCREMENT and meta ma, in asynchronous and synchronous
 * replication; a set issued after them wins on both; decr clamps by the documented rule.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { stopAll } from '../support/daemon.ts';
import { freePort } from '../support/ports.ts';
import { McClient } from '../support/mc-client.ts';
import { arithExtras, exchange, parseResponses, request } from '../support/binary-client.ts';
import { eventually, get, gets, mc, set, startNode, stats, type RepNode } from './replication-cluster.ts';

afterAll(stopAll);

const CONNECTIONS = 4;
const PER_NODE = 1000;
const PER_CONNECTION = PER_NODE / CONNECTIONS;

/** `n` requests pipelined on one text connection; resolves once all `n` replies (one line each) are in. */
async function pipelineText(port: number, line: string, n: number, reply: RegExp): Promise<void> {
  const c = await McClient.connect(port);
  try {
    c.send(line.repeat(n));
    const got = await c.readUntil((s) => s.split('\r\n').length > n, 20_000);
    const lines = got.split('\r\n').slice(0, n);
    expect(lines.every((l) => reply.test(l)), lines.find((l) => !reply.test(l))).toBe(true);
  } finally {
    c.close();
  }
}

async function pipelineBinary(port: number, key: string, n: number): Promise<void> {
  const one = request({ opcode: 0x05, key, extras: arithExtras(1n, 0n, 0xffffffff) });
  const r = await exchange(port, Buffer.concat(Array.from({ length: n }, () => one)), { done: (b) => parseResponses(b).packets.length >= n, idleMs: 20_000 });
  const packets = parseResponses(r.bytes).packets;
  expect(packets.length).toBe(n);
  expect(packets.every((p) => p.status === 0)).toBe(true);
}

type Drive = (port: number, key: string, n: number) => Promise<void>;
const drivers: [string, Drive][] = [
  ['text incr', (port, key, n) => pipelineText(port, `incr ${key} 1\r\n`, n, /^\d+ *$/)],
  ['binary INCREMENT', pipelineBinary],
  ['meta ma', (port, key, n) => pipelineText(port, `ma ${key}\r\n`, n, /^HD$/)],
];

async function pair(extra: string[]): Promise<[RepNode, RepNode]> {
  const [ra, rb] = [await freePort(), await freePort()];
  const a = await startNode({ rport: ra, peers: [rb], extra });
  const b = await startNode({ rport: rb, peers: [ra], extra });
  try {
    await eventually(async () => (await stats(a.port)).repl_peer_0_state === 'streaming' && (await stats(b.port)).repl_peer_0_state === 'streaming', 'links up', 15_000);
  } catch (err) {
    throw new Error(`${(err as Error).message}\nA (${a.args.join(' ')}):\n${a.daemon.output()}\nB (${b.args.join(' ')}):\n${b.daemon.output()}`);
  }
  return [a, b];
}

const value = async (port: number, key: string) => (await get(port, key))?.trimEnd() ?? null;

for (const [mode, extra] of [['async', []], ['sync', ['--replication-sync']]] as const) {
  describe(`counters on a replicated pair (${mode} replication)`, () => {
    let a: RepNode;
    let b: RepNode;

    it('starts the pair', async () => {
      [a, b] = await pair([...extra]);
    }, 30_000);

    for (const [name, drive] of drivers) {
      it(`${PER_NODE} concurrent ${name} on each node (${CONNECTIONS} connections each) read exactly +${2 * PER_NODE} on both`, async () => {
        const key = `hits-${name.replace(/ /g, '-')}`;
        expect(await set(a.port, key, '100')).toBe('STORED\r\n');
        await eventually(async () => (await value(b.port, key)) === '100', 'the base on B');
        await Promise.all([a, b].flatMap((n) => Array.from({ length: CONNECTIONS }, () => drive(n.port, key, PER_CONNECTION))));
        const want = String(100 + 2 * PER_NODE);
        await eventually(async () => (await value(a.port, key)) === want && (await value(b.port, key)) === want, `${want} on both`, 15_000);

        // a set issued after the increments wins on both
        expect(await set(b.port, key, '7')).toBe('STORED\r\n');
        await eventually(async () => (await value(a.port, key)) === '7' && (await value(b.port, key)) === '7', 'the later set on both');
        expect(await mc(a.port, `incr ${key} 1\r\n`)).toBe('8\r\n');
        await eventually(async () => (await value(b.port, key)) === '8', 'an increment after the set on B');
      }, 60_000);
    }

    it('decr clamps at 0 where it runs; the pair reads 0, and an incr after counts from 0', async () => {
      expect(await set(a.port, 'd', '3')).toBe('STORED\r\n');
      await eventually(async () => (await value(b.port, 'd')) === '3', 'the base on B');
      const [ra, rb] = await Promise.all([mc(a.port, 'decr d 3\r\n'), mc(b.port, 'decr d 2\r\n')]);
      expect(ra).toMatch(/^0 *\r\n$/);
      expect(rb).toMatch(/^[01] *\r\n$/);
      await eventually(async () => (await value(a.port, 'd')) === '0' && (await value(b.port, 'd')) === '0', '0 on both');
      expect(await mc(b.port, 'incr d 5\r\n')).toBe('5\r\n');
      await eventually(async () => (await value(a.port, 'd')) === '5', '5 on A');
    }, 30_000);

    it('an increment from the peer changes the cas of the counter on each node', async () => {
      expect(await set(a.port, 'c', '1')).toBe('STORED\r\n');
      await eventually(async () => (await value(b.port, 'c')) === '1', 'the base on B');
      const before = await gets(b.port, 'c');
      expect(await mc(a.port, 'incr c 1\r\n')).toBe('2\r\n');
      await eventually(async () => (await value(b.port, 'c')) === '2', '2 on B');
      const after = await gets(b.port, 'c');
      expect(after!.cas).not.toBe(before!.cas);
      expect(await mc(b.port, `cas c 0 0 2 ${before!.cas}\r\n10\r\n`)).toBe('EXISTS\r\n');
    }, 30_000);

    it('incr on a value that is not a number is refused on both and changes nothing', async () => {
      expect(await set(a.port, 'text', 'abc')).toBe('STORED\r\n');
      await eventually(async () => (await value(b.port, 'text')) === 'abc', 'the value on B');
      expect(await mc(b.port, 'incr text 1\r\n')).toBe('CLIENT_ERROR cannot increment or decrement non-numeric value\r\n');
      expect(await value(a.port, 'text')).toBe('abc');
    });

    if (mode === 'sync') {
      it('no write waited for its timeout: every increment was acknowledged by the peer', async () => {
        expect(Number((await stats(a.port)).repl_sync_timeouts)).toBe(0);
        expect(Number((await stats(b.port)).repl_sync_timeouts)).toBe(0);
      });
    }
  });
}
