/**
 * Replies larger than the kernel's socket buffer, to a client that reads slowly: the server's writes go
 * pending, it stops reading that connection, and every reply still arrives complete and in order. Both write
 * paths are covered: direct writes to the stream handle, and socket.write() (used where Node lacks the
 * handle's write binding; REPCACHE_STREAM_WRITES=1 forces it).
 */
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stopAll } from '../support/daemon.ts';
import { MB, NonReader, RssSampler, sleep } from '../support/abuse.ts';
import { rssBytes, startCache, type CacheInstance } from './repcache-harness.ts';

const writePaths: [string, NodeJS.ProcessEnv][] = [
  ['direct writes', {}],
  ['socket.write()', { REPCACHE_STREAM_WRITES: '1' }],
];

describe.each(writePaths)('a slow reader, %s', (_path, env) => {
  let cache: CacheInstance;
  beforeAll(async () => {
    cache = await startCache('repcache', ['-m', '64', '-I', '2m'], env);
  });
  afterAll(() => stopAll());

  it('gets every reply of a pipeline whose replies exceed the socket buffers, in order', async () => {
    const size = 1 << 20;
    const value = Buffer.alloc(size, 'a');
    const reply = await new Promise<Buffer>((resolve, reject) => {
      const s = connect({ port: cache.port, host: '127.0.0.1' });
      const chunks: Buffer[] = [];
      let got = 0;
      const timer = setTimeout(() => { s.destroy(); reject(new Error(`only ${got} bytes after 20 s`)); }, 20_000);
      s.on('error', reject);
      s.on('data', (d: Buffer) => {
        chunks.push(d);
        got += d.length;
        // Read in small steps with pauses, so the server's writes cannot complete at once.
        s.pause();
        setTimeout(() => s.resume(), 1);
        const all = Buffer.concat(chunks);
        if (all.subarray(-4).toString() === 'MN\r\n') {
          clearTimeout(timer);
          s.destroy();
          resolve(all);
        }
      });
      s.write(Buffer.concat([Buffer.from(`set big 0 0 ${size}\r\n`), value, Buffer.from('\r\n')]));
      let gets = '';
      for (let i = 0; i < 8; i++) gets += `get big\r\nversion\r\n`;
      s.write(`${gets}mn\r\n`);
    });
    const text = reply.toString('latin1');
    expect(text.startsWith('STORED\r\n')).toBe(true);
    const parts = text.slice(8).split(/(?=VALUE big |VERSION |MN\r\n)/);
    expect(parts.length).toBe(17);
    for (let i = 0; i < 8; i++) {
      expect(parts[2 * i]).toBe(`VALUE big 0 ${size}\r\n${'a'.repeat(size)}\r\nEND\r\n`);
      expect(parts[2 * i + 1]).toMatch(/^VERSION \S+\r\n$/);
    }
    expect(parts[16]).toBe('MN\r\n');
  }, 30_000);

  it('still serves other connections while one is stalled', async () => {
    const stalled = connect({ port: cache.port, host: '127.0.0.1' });
    await new Promise((r) => stalled.once('connect', r));
    stalled.pause();
    let gets = '';
    for (let i = 0; i < 20; i++) gets += 'get big\r\n';
    stalled.write(gets);
    try {
      const other = await new Promise<string>((resolve, reject) => {
        const s = connect({ port: cache.port, host: '127.0.0.1' });
        let buf = '';
        s.on('error', reject);
        s.on('data', (d) => {
          buf += d.toString('latin1');
          if (buf.endsWith('\r\n')) { s.destroy(); resolve(buf); }
        });
        s.write('version\r\n');
      });
      expect(other).toMatch(/^VERSION /);
    } finally {
      stalled.destroy();
    }
  });

  it('holds little memory for a client that never reads, and shows it in `stats conns` as conn_mwrite', async () => {
    const steady = rssBytes(cache.pid);
    const sampler = new RssSampler(cache.pid);
    const reader = await NonReader.start(cache.port, 'get big\r\n');
    try {
      await sleep(1500);
      const conns = await exchange(cache.port, [Buffer.from('stats conns\r\n')], 'END\r\n');
      expect(conns).toMatch(/:state conn_mwrite\r\n/);
    } finally {
      reader.stop();
    }
    // replies pending in the process stay within the output limit plus one value, per client
    expect(sampler.stop() - steady).toBeLessThan(64 * MB);
  });

  // Small replies are assembled in a shared reply buffer whose room is reused once the kernel has taken a
  // batch: a batch whose write went pending must survive every other connection's replies meanwhile.
  it('keeps a stalled connection\'s small pending replies intact while another connection is served', async () => {
    // 30 KB replies: one fits the shared buffer, and a few hundred fill the kernel's socket buffers
    const value = Buffer.from(Array.from({ length: 30_000 }, (_, i) => 0x41 + (i % 26)));
    const other = Buffer.alloc(3000, 'z');
    const setup = await exchange(cache.port, [
      Buffer.concat([Buffer.from('set pat 0 0 30000\r\n'), value, Buffer.from('\r\nset zed 0 0 3000\r\n'), other, Buffer.from('\r\n')]),
    ], 'STORED\r\nSTORED\r\n');
    expect(setup).toBe('STORED\r\nSTORED\r\n');

    const gets = 400;
    const stalled = connect({ port: cache.port, host: '127.0.0.1' });
    await new Promise((r) => stalled.once('connect', r));
    stalled.pause();
    // One get at a time, so that each batch of replies is one small reply.
    for (let i = 0; i < gets; i++) {
      stalled.write('get pat\r\n');
      await new Promise((r) => setTimeout(r, 1));
    }
    try {
      const expectedOther = `VALUE zed 0 3000\r\n${other.toString('latin1')}\r\nEND\r\n`;
      for (let i = 0; i < 100; i++) {
        expect(await exchange(cache.port, [Buffer.from('get zed\r\n')], 'END\r\n')).toBe(expectedOther);
      }
      const expectedOne = `VALUE pat 0 30000\r\n${value.toString('latin1')}\r\nEND\r\n`;
      const all = await readAll(stalled, expectedOne.length * gets);
      for (let i = 0; i < gets; i++) {
        const one = all.subarray(i * expectedOne.length, (i + 1) * expectedOne.length).toString('latin1');
        if (one !== expectedOne) expect(one, `reply ${i}`).toBe(expectedOne);
      }
    } finally {
      stalled.destroy();
    }
  }, 30_000);
});

/** Sends `parts` on a new connection and returns what arrives until the text ends with `until`. */
function exchange(port: number, parts: Buffer[], until: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ port, host: '127.0.0.1' });
    let buf = '';
    const timer = setTimeout(() => { s.destroy(); reject(new Error(`no ${JSON.stringify(until)} after 10 s: ${buf.slice(0, 200)}`)); }, 10_000);
    s.on('error', reject);
    s.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      if (buf.endsWith(until)) { clearTimeout(timer); s.destroy(); resolve(buf); }
    });
    for (const p of parts) s.write(p);
  });
}

/** Resumes a paused socket and reads exactly `total` bytes from it. */
function readAll(s: ReturnType<typeof connect>, total: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let got = 0;
    const timer = setTimeout(() => reject(new Error(`only ${got} of ${total} bytes after 20 s`)), 20_000);
    s.on('error', reject);
    s.on('data', (d: Buffer) => {
      chunks.push(d);
      got += d.length;
      if (got >= total) { clearTimeout(timer); resolve(Buffer.concat(chunks)); }
    });
    s.resume();
  });
}
