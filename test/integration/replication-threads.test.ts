/**
 * Replication with worker threads: pairs of real repcache processes with -t 4 (and a -t 4 node with a -t 1 one).
 * Writes from many connections at once (the kernel spreads them over the workers) reach the other node; concurrent
 * increments on both nodes add up exactly; deletes and flush_all replicate; a node killed with -9 comes back with
 * the data (a full copy) while the other keeps serving; synchronous mode acknowledges only what the peer has.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { stopAll } from '../support/daemon.ts';
import { freePort } from '../support/ports.ts';
import { McClient } from '../support/mc-client.ts';
import { eventually, get, mc, set, startNode, stats, type RepNode } from './replication-cluster.ts';

afterAll(stopAll);

const CONNECTIONS = 8;
const KEYS_PER_CONNECTION = 100;

async function pair(threadsA: number, threadsB: number, extra: string[] = []): Promise<[RepNode, RepNode]> {
  const [ra, rb] = [await freePort(), await freePort()];
  const a = await startNode({ rport: ra, peers: [rb], extra: ['-t', String(threadsA), ...extra] });
  const b = await startNode({ rport: rb, peers: [ra], extra: ['-t', String(threadsB), ...extra] });
  await eventually(async () => (await stats(a.port)).repl_peer_0_state === 'streaming' && (await stats(b.port)).repl_peer_0_state === 'streaming', 'links up', 15_000);
  return [a, b];
}

/** `CONNECTIONS` connections at once, each setting its own keys `<prefix><c>-<i>` (pipelined) and reading STORED. */
async function writeMany(port: number, prefix: string): Promise<void> {
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async (_, c) => {
      const client = await McClient.connect(port);
      try {
        let script = '';
        for (let i = 0; i < KEYS_PER_CONNECTION; i++) {
          const v = `${prefix}${c}-${i}`;
          script += `set ${v} ${c} 0 ${v.length}\r\n${v}\r\n`;
        }
        client.send(script);
        const got = await client.readUntil((s) => s.split('STORED\r\n').length > KEYS_PER_CONNECTION, 20_000);
        expect(got).toBe('STORED\r\n'.repeat(KEYS_PER_CONNECTION));
      } finally {
        client.close();
      }
    }),
  );
}

/** Every key writeMany(prefix) wrote, read back from `port` with multigets. */
async function readAll(port: number, prefix: string): Promise<number> {
  let found = 0;
  for (let c = 0; c < CONNECTIONS; c++) {
    const keys = Array.from({ length: KEYS_PER_CONNECTION }, (_, i) => `${prefix}${c}-${i}`);
    const r = await mc(port, `get ${keys.join(' ')}\r\n`, /END\r\n$/);
    for (const k of keys) if (r.includes(`VALUE ${k} ${c} ${k.length}\r\n${k}\r\n`)) found++;
  }
  return found;
}

const ALL = CONNECTIONS * KEYS_PER_CONNECTION;

/** `n` pipelined `incr key 1` on each of `connections` connections. */
async function incrMany(port: number, key: string, connections: number, n: number): Promise<void> {
  await Promise.all(
    Array.from({ length: connections }, async () => {
      const client = await McClient.connect(port);
      try {
        client.send(`incr ${key} 1\r\n`.repeat(n));
        const got = await client.readUntil((s) => s.split('\r\n').length > n, 20_000);
        expect(got.split('\r\n').slice(0, n).every((l) => /^\d+ *$/.test(l))).toBe(true);
      } finally {
        client.close();
      }
    }),
  );
}

const value = async (port: number, key: string) => (await get(port, key))?.trimEnd() ?? null;

for (const [name, threadsA, threadsB] of [['-t 4 with -t 4', 4, 4], ['-t 4 with -t 1', 4, 1]] as const) {
  describe(`replication between repcache ${name}`, () => {
    let a: RepNode;
    let b: RepNode;
    /** eventually(), and on a timeout both nodes' replication stats in the error. */
    const converge = async (cond: () => Promise<boolean>, what: string, ms = 15_000) => {
      try {
        await eventually(cond, what, ms);
      } catch (err) {
        const repl = async (n: RepNode) => Object.entries(await stats(n.port).catch(() => ({}))).filter(([k]) => k.startsWith('repl')).map(([k, v]) => `${k}=${v}`).join(' ');
        throw new Error(`${(err as Error).message}\nA: ${await repl(a)}\nB: ${await repl(b)}`);
      }
    };

    it('starts the pair', async () => {
      [a, b] = await pair(threadsA, threadsB);
      expect((await stats(a.port)).threads).toBe(String(threadsA));
      expect((await stats(a.port)).replication_state).toBe('streaming');
    }, 30_000);

    it(`writes from ${CONNECTIONS} connections at once on both nodes reach the other`, async () => {
      await Promise.all([writeMany(a.port, 'fromA'), writeMany(b.port, 'fromB')]);
      await converge(async () => (await readAll(b.port, 'fromA')) === ALL && (await readAll(a.port, 'fromB')) === ALL, 'every key on the other node', 15_000);
      expect(Number((await stats(a.port)).curr_items)).toBe(2 * ALL);
      await converge(async () => Number((await stats(b.port)).curr_items) === 2 * ALL, 'the same item count on B');
    }, 40_000);

    it('concurrent incr on both nodes, from several connections each, add up exactly on both', async () => {
      expect(await set(a.port, 'hits', '10')).toBe('STORED\r\n');
      await converge(async () => (await value(b.port, 'hits')) === '10', 'the base on B');
      await Promise.all([incrMany(a.port, 'hits', 4, 250), incrMany(b.port, 'hits', 4, 250)]);
      await converge(async () => (await value(a.port, 'hits')) === '2010' && (await value(b.port, 'hits')) === '2010', '2010 on both', 15_000);
    }, 40_000);

    it('the same keys written at once from many connections on both nodes converge to one value each', async () => {
      const hot = Array.from({ length: 20 }, (_, i) => `hot${i}`);
      await Promise.all(
        [a, b].flatMap((n, side) =>
          Array.from({ length: 4 }, async (_, c) => {
            const client = await McClient.connect(n.port);
            try {
              let script = '';
              for (let round = 0; round < 25; round++) for (const k of hot) script += `set ${k} 0 0 8\r\n${side}-${c}-${String(round).padStart(4, '0')}\r\n`;
              client.send(script);
              await client.readUntil((t) => t.split('STORED\r\n').length > 25 * hot.length, 20_000);
            } finally {
              client.close();
            }
          }),
        ),
      );
      const all = async (port: number) => mc(port, `gets ${hot.join(' ')}\r\n`, /END\r\n$/);
      await converge(async () => (await all(a.port)) === (await all(b.port)), 'the same values and versions on both', 15_000);
      expect((await all(a.port)).split('VALUE ').length - 1).toBe(hot.length);
    }, 40_000);

    it('a delete and a flush_all replicate', async () => {
      expect(await mc(b.port, 'delete fromA0-0\r\n')).toBe('DELETED\r\n');
      await converge(async () => (await get(a.port, 'fromA0-0')) === null, 'the delete on A');
      // an older write cannot bring it back: set it on A again, newer, and it shows on B
      expect(await set(a.port, 'fromA0-0', 'again')).toBe('STORED\r\n');
      await converge(async () => (await get(b.port, 'fromA0-0')) === 'again', 'the newer set on B');
      expect(await mc(a.port, 'flush_all\r\n')).toBe('OK\r\n');
      await converge(async () => (await readAll(b.port, 'fromB')) === 0 && (await get(b.port, 'hits')) === null, 'the flush on B', 15_000);
      expect(await set(b.port, 'after', 'flush')).toBe('STORED\r\n');
      await converge(async () => (await get(a.port, 'after')) === 'flush', 'a write after the flush on A');
    }, 40_000);

    it('a node killed with -9 comes back with the data (a full copy) while the other keeps serving', async () => {
      await writeMany(a.port, 'pre');
      await converge(async () => (await readAll(b.port, 'pre')) === ALL, 'the keys on B');
      b.daemon.proc.kill('SIGKILL');
      await b.daemon.exited;
      // A serves alone meanwhile, from many connections
      await writeMany(a.port, 'alone');
      expect(await mc(a.port, 'delete pre0-0\r\n')).toBe('DELETED\r\n');
      const b2 = await startNode({ port: b.port, rport: b.rport, peers: [a.rport], extra: ['-t', String(threadsB)] });
      // no waiting: the client port opened only once the copy was in
      expect(await readAll(b2.port, 'alone')).toBe(ALL);
      expect(await get(b2.port, 'pre0-0')).toBeNull();
      expect(b2.daemon.output()).toMatch(/full copy of \d+ items received/);
      await converge(async () => (await stats(a.port)).repl_peer_0_state === 'streaming', 'A streams to the new B', 15_000);
      await writeMany(b2.port, 'back');
      await converge(async () => (await readAll(a.port, 'back')) === ALL, 'writes on the new B reach A', 15_000);
      b = b2;
    }, 60_000);
  });
}

describe('a change log of 16 records that wraps many times while the peer is stopped, with -t 4', () => {
  it('once the peer resumes it holds every key\'s last value, and none of the deleted keys', async () => {
    const [a, b] = await pair(4, 4, ['-o', 'repl_queue=16']);
    try {
      b.daemon.proc.kill('SIGSTOP');
      // each connection (the kernel spreads them over A's workers) rewrites its own keys three times, then deletes
      // every fifth: per key a last value, far more changes than the log holds
      const last = new Map<string, string | null>();
      await Promise.all(Array.from({ length: CONNECTIONS }, async (_, c) => {
        const client = await McClient.connect(a.port);
        try {
          let script = '';
          let replies = 0;
          for (let round = 1; round <= 3; round++) {
            for (let i = 0; i < 50; i++) {
              const key = `wrap${c}-${i}`;
              const v = `${key}.${round}`;
              script += `set ${key} 0 0 ${v.length}\r\n${v}\r\n`;
              replies++;
              last.set(key, v);
            }
          }
          for (let i = 0; i < 50; i += 5) {
            script += `delete wrap${c}-${i}\r\n`;
            replies++;
            last.set(`wrap${c}-${i}`, null);
          }
          client.send(script);
          const got = await client.readUntil((t) => t.split('\r\n').length > replies, 20_000);
          expect(got).toBe(`${'STORED\r\n'.repeat(150)}${'DELETED\r\n'.repeat(10)}`);
        } finally {
          client.close();
        }
      }));
      b.daemon.proc.kill('SIGCONT');
      const onB = async () => {
        const keys = [...last.keys()];
        const r = await mc(b.port, `get ${keys.join(' ')}\r\n`, /END\r\n$/);
        return keys.filter((k) => { const v = last.get(k); return v === null ? r.includes(`VALUE ${k} `) : !r.includes(`VALUE ${k} 0 ${v!.length}\r\n${v}\r\n`); });
      };
      let wrong: string[] = [];
      try {
        await eventually(async () => (wrong = await onB()).length === 0, 'every key as A left it on B', 20_000);
      } catch (err) {
        const repl = async (n: RepNode) => Object.entries(await stats(n.port).catch(() => ({}))).filter(([k]) => k.startsWith('repl')).map(([k, v]) => `${k}=${v}`).join(' ');
        throw new Error(`${(err as Error).message}: ${wrong.length} wrong (${wrong.slice(0, 5).join(' ')})\nA: ${await repl(a)}\nB: ${await repl(b)}`);
      }
      // the workers waited for the replication thread to note each delete before the log's end reached it
      expect((await stats(a.port)).repl_log_overruns).toBe('0');
    } finally {
      b.daemon.proc.kill('SIGCONT');
    }
  }, 60_000);
});

describe('synchronous replication with -t 4', () => {
  it('STORED from any worker means the peer has it', async () => {
    const [a, b] = await pair(4, 4, ['--replication-sync']);
    await Promise.all(
      Array.from({ length: CONNECTIONS }, async (_, c) => {
        for (let i = 0; i < 10; i++) {
          expect(await set(a.port, `s${c}-${i}`, `v${c}`)).toBe('STORED\r\n');
          expect(await get(b.port, `s${c}-${i}`)).toBe(`v${c}`); // no waiting: acknowledged before the reply
        }
      }),
    );
    const s = await stats(a.port);
    expect(s.repl_sync_mode).toBe('1');
    expect(Number(s.repl_sync_acked)).toBeGreaterThanOrEqual(1);
    expect(s.repl_sync_timeouts).toBe('0');
  }, 40_000);
});

describe('a flush_all from a peer on a big store, with -t 4', () => {
  const ITEMS = 400_000;
  /** Longest wait allowed for one request while the flush is applied (the apply must not hold the store that long). */
  const MAX_WAIT_MS = 500;

  it(`clients keep getting answers within ${MAX_WAIT_MS} ms while ${ITEMS} items are flushed; newer writes survive`, async () => {
    const [a, b] = await pair(4, 4);
    // fill A (and through it B) with small items, pipelined without replies
    await Promise.all(
      Array.from({ length: 4 }, async (_, c) => {
        const client = await McClient.connect(a.port);
        for (let i = c; i < ITEMS; i += 4 * 2000) {
          let batch = '';
          for (let j = i; j < Math.min(i + 4 * 2000, ITEMS); j += 4) batch += `set old${j} 0 0 1 noreply\r\nx\r\n`;
          batch += 'mn\r\n';
          expect(await client.request(batch, 'MN\r\n', 20_000)).toBe('MN\r\n');
        }
        client.close();
      }),
    );
    const items = async (n: RepNode) => Number((await stats(n.port)).curr_items);
    expect(await items(a)).toBe(ITEMS);
    await eventually(async () => (await items(b)) === ITEMS, 'every item on B', 30_000);

    // clients on A, one request at a time, each timed, from before the flush until it is applied
    let measuring = true;
    const waits: number[] = [];
    const newer: string[] = [];
    let flushedAt = Infinity;
    const clients = Array.from({ length: 4 }, async (_, c) => {
      const client = await McClient.connect(a.port);
      for (let i = 0; measuring; i++) {
        const t0 = performance.now();
        if (i % 2 === 0) {
          expect(await client.request(`get old${(i * 7919 + c) % ITEMS}\r\n`, 'END\r\n', 10_000)).toMatch(/END\r\n$/);
        } else {
          const key = `new${c}-${i}`;
          expect(await client.request(`set ${key} 0 0 1\r\ny\r\n`, '\r\n', 10_000)).toBe('STORED\r\n');
          // written on A 50 ms after B's flush: newer than the flush, it must survive it
          if (t0 > flushedAt + 50) newer.push(key);
        }
        waits.push(performance.now() - t0);
      }
      client.close();
    });
    await new Promise((r) => setTimeout(r, 200));
    expect(await mc(b.port, 'flush_all\r\n')).toBe('OK\r\n');
    flushedAt = performance.now();
    await eventually(async () => (await get(a.port, `old${ITEMS - 1}`)) === null && (await get(a.port, 'old0')) === null, 'the flush applied on A', 20_000);
    await new Promise((r) => setTimeout(r, 300));
    measuring = false;
    await Promise.all(clients);
    const max = Math.max(...waits);
    console.log(`flush_all of ${ITEMS} items from the peer: ${waits.length} requests on A, longest wait ${max.toFixed(1)} ms`);
    expect(max).toBeLessThan(MAX_WAIT_MS);
    // the flush is whole: every old item gone on both nodes, every newer write kept
    expect(newer.length).toBeGreaterThan(0);
    await eventually(async () => (await items(a)) === (await items(b)) && (await items(a)) < ITEMS / 10, 'the flushed items freed', 20_000);
    const sample = Array.from({ length: 200 }, (_, i) => `old${(i * 997) % ITEMS}`);
    for (const n of [a, b]) expect((await mc(n.port, `get ${sample.join(' ')}\r\n`, /END\r\n$/)).trim()).toBe('END');
    const kept = await mc(a.port, `get ${newer.join(' ')}\r\n`, /END\r\n$/, 10_000);
    expect(kept.split('VALUE ').length - 1).toBe(newer.length);
  }, 90_000);
});
