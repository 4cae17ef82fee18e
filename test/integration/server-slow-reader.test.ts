/**
 * Replies larger than the kernel's socket buffer, to a client that reads slowly: the server's writes go
 * pending, it stops reading that connection, and every reply still arrives complete and in order. Both write
 * paths are covered: direct writes to the stream handle, and socket.write() (used where Node lacks the
 * handle's write binding; REPCACHE_STREAM_WRITES=1 forces it).
 */
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stopAll } from '../support/daemon.ts';
import { startCache, type CacheInstance } from './repcache-harness.ts';

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
});
