/**
 * The per-connection output limit (-o output_limit) changes when replies are written, never what they are: with a
 * 1 KB limit, multigets stream in pieces, pipelines pause and resume, and the bytes match memcached's.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CacheServer } from '../../src/server/cache-server.ts';
import { stopAll } from '../support/daemon.ts';
import { open, sleep } from '../support/abuse.ts';
import { bothReplies, McClient, startCacheServer, startReferenceMemcached } from '../support/mc-client.ts';
import { mulberry32 } from '../support/prng.ts';

const KEYS = 300;

/** The states `stats conns` shows. */
async function connState(port: number): Promise<string[]> {
  const c = await McClient.connect(port);
  try {
    return [...(await c.request('stats conns\r\n', 'END\r\n')).matchAll(/:state (\S+)/g)].map((m) => m[1]);
  } finally {
    c.close();
  }
}
const key = (i: number) => `key:${i}`;
const value = (i: number) => String.fromCharCode(0x41 + (i % 26)).repeat((i * 37) % 3000);

describe('a 1 KB output limit', () => {
  let ref = 0;
  let ours = 0;
  let server: CacheServer;
  beforeAll(async () => {
    ref = (await startReferenceMemcached()).port;
    const s = await startCacheServer({ outputLimit: 1024 });
    server = s.server;
    ours = s.port;
    const sets = Array.from({ length: KEYS }, (_, i) => `set ${key(i)} ${i} 0 ${value(i).length} noreply\r\n${value(i)}\r\n`).join('');
    await bothReplies(ref, ours, sets);
  });
  afterAll(async () => {
    await server?.close();
    await stopAll();
  });

  const allKeys = Array.from({ length: KEYS }, (_, i) => key(i));

  it('gives memcached\'s bytes for long multigets, past the tokenizer\'s word limit, with misses and repeats', async () => {
    const rnd = mulberry32(24);
    const mixed = Array.from({ length: 500 }, () => (rnd() < 0.2 ? `miss:${Math.floor(rnd() * 1000)}` : key(Math.floor(rnd() * KEYS))));
    const script = [
      `get ${allKeys.join(' ')}\r\n`,
      `get ${mixed.join(' ')}\r\n`,
      `gat 0 ${mixed.slice(0, 100).join(' ')}\r\n`,
      `get   ${allKeys.slice(0, 40).join('  ')}  \r\n`,
      `get ${allKeys.slice(0, 30).join(' ')}\0 ${allKeys.slice(30, 60).join(' ')}\r\n`,
      'version\r\n',
    ].join('');
    const [theirs, mine] = await bothReplies(ref, ours, script, 10_000);
    expect(mine.length).toBeGreaterThan(KEYS * 1000);
    expect(mine).toBe(theirs);
  });

  it('gives memcached\'s bytes for a pipeline of single gets and meta gets whose replies exceed the limit', async () => {
    const script = allKeys.map((k, i) => (i % 3 === 0 ? `mg ${k} v f k\r\n` : `get ${k}\r\n`)).join('') + 'version\r\n';
    const [theirs, mine] = await bothReplies(ref, ours, script, 10_000);
    expect(mine).toBe(theirs);
  });

  it('refuses a multiget with one over-long key as a whole, as before', async () => {
    const [theirs, mine] = await bothReplies(ref, ours, `get ${allKeys.slice(0, 50).join(' ')} ${'x'.repeat(251)} ${key(1)}\r\n`);
    expect(mine).toBe('CLIENT_ERROR bad command line format\r\n');
    expect(mine).toBe(theirs);
  });

  it('finishes a multiget that waited for its reader while other connections reused the read buffer', async () => {
    // 9 MB of replies: more than the kernel's socket buffers hold, so the server's writes wait for the reader
    const many = Array.from({ length: 10 }, () => allKeys.join(' ')).join(' ');
    const script = `get ${many}\r\nget ${allKeys.slice().reverse().join(' ')} ${many}\r\nversion\r\n`;
    const [expected] = await bothReplies(ref, ref, script, 10_000);
    const slow = await open(ours);
    slow.pause();
    const chunks: Buffer[] = [];
    slow.on('data', (d: Buffer) => chunks.push(d));
    slow.write(script);
    await sleep(300);
    expect(await connState(ours)).toContain('conn_mwrite');
    // meanwhile other clients' reads land in the same read buffer
    const other = await McClient.connect(ours);
    for (let i = 0; i < 50; i++) await other.request(`get ${allKeys.slice(i, i + 20).join(' ')} ${'z'.repeat(200)}\r\n`, 'END\r\n');
    other.close();
    slow.resume();
    const want = Buffer.byteLength(expected, 'latin1');
    for (let t = 0; t < 200 && chunks.reduce((n, c) => n + c.length, 0) < want; t++) await sleep(25);
    slow.destroy();
    expect(Buffer.concat(chunks).toString('latin1')).toBe(expected);
  });

  it('answers a binary pipeline of GETKQ whose replies exceed the limit, every value in order', async () => {
    const req = (opcode: number, k: string, opaque: number) => {
      const b = Buffer.alloc(24 + k.length);
      b[0] = 0x80;
      b[1] = opcode;
      b.writeUInt16BE(k.length, 2);
      b.writeUInt32BE(k.length, 8);
      b.writeUInt32BE(opaque, 12);
      b.write(k, 24, 'latin1');
      return b;
    };
    const s = await open(ours);
    const chunks: Buffer[] = [];
    s.on('data', (d: Buffer) => chunks.push(d));
    s.write(Buffer.concat([...allKeys.map((k, i) => req(0x0d /* GETKQ */, k, i)), req(0x0a /* NOOP */, '', 9999)]));
    let got: Buffer = Buffer.alloc(0);
    const opaques: number[] = [];
    for (let t = 0; t < 200; t++) {
      got = Buffer.concat(chunks);
      opaques.length = 0;
      let at = 0;
      while (at + 24 <= got.length) {
        const body = got.readUInt32BE(at + 8);
        if (at + 24 + body > got.length) break;
        opaques.push(got.readUInt32BE(at + 12));
        at += 24 + body;
      }
      if (opaques.at(-1) === 9999) break;
      await sleep(25);
    }
    s.destroy();
    // every key is a hit (GETKQ is quiet only on a miss): one reply each, in order, then the NOOP's
    expect(opaques).toEqual([...allKeys.map((_, i) => i), 9999]);
  });
});
