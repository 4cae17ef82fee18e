/**
 * The feature check of direct writes: without the deprecated stream binding (or with one of another shape) the
 * callers get null and use socket.write. The whole server on the fallback path is tested by
 * test/integration/server-slow-reader.test.ts (REPCACHE_STREAM_WRITES=1), and here in a child process.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { connect, createServer, type Socket } from 'node:net';
import { DirectWriter, directWriteAvailable, streamWrapBinding, WRITE_DONE, WRITE_PENDING } from '../../../src/net/direct-write.ts';

const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));
const whole = { WriteWrap: class {}, streamBaseState: new Int32Array(4), kLastWriteWasAsync: 1, kReadBytesOrError: 2 };

describe('direct writes: the feature check', () => {
  it('takes a binding of the expected shape', () => {
    expect(streamWrapBinding(() => whole)).toBe(whole);
  });

  it('falls back when the binding is gone: process.binding missing or throwing', () => {
    expect(streamWrapBinding(() => { throw new Error('No such module: stream_wrap'); })).toBeNull();
    const processWithout = {} as { binding?: (name: string) => unknown };
    expect(streamWrapBinding(() => processWithout.binding!('stream_wrap'))).toBeNull();
    expect(streamWrapBinding(() => undefined)).toBeNull();
  });

  it('falls back when the binding changed shape', () => {
    expect(streamWrapBinding(() => ({ ...whole, WriteWrap: undefined }))).toBeNull();
    expect(streamWrapBinding(() => ({ ...whole, streamBaseState: [0, 0, 0] }))).toBeNull();
    expect(streamWrapBinding(() => ({ ...whole, kReadBytesOrError: '2' }))).toBeNull();
  });

  it('a server socket gets no direct writer when the fallback is asked for, and one otherwise', () => {
    const probe = `
      import { createServer, connect } from 'node:net';
      import { DirectWriter, directWriteAvailable } from './src/net/direct-write.ts';
      const server = createServer((s) => { console.log(JSON.stringify({ available: directWriteAvailable, handle: DirectWriter.handleOf(s) !== null })); s.destroy(); server.close(); });
      server.listen(0, '127.0.0.1', () => connect(server.address().port, '127.0.0.1').on('error', () => {}));
    `;
    const run = (env: NodeJS.ProcessEnv) =>
      JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', probe], { cwd: repoRoot, env: { ...process.env, ...env }, encoding: 'utf8' }).trim());
    expect(run({ REPCACHE_STREAM_WRITES: '1' })).toEqual({ available: false, handle: false });
    expect(run({ REPCACHE_STREAM_WRITES: '' })).toEqual({ available: true, handle: true });
  });
});

describe.skipIf(!directWriteAvailable)('direct writes: one write request per thread, not per connection', () => {
  it('writers of different sockets share the spare request, and a pending write keeps its own with its callback', async () => {
    const accepted: Socket[] = [];
    const server = createServer((s) => accepted.push(s));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as { port: number }).port;
    const a = connect(port, '127.0.0.1');
    const b = connect(port, '127.0.0.1');
    try {
      for (let t = 0; t < 200 && accepted.length < 2; t++) await new Promise((r) => setTimeout(r, 10));
      const done: string[] = [];
      const wa = new DirectWriter(DirectWriter.handleOf(accepted[0])!, (status) => done.push(`a:${status}`));
      const wb = new DirectWriter(DirectWriter.handleOf(accepted[1])!, (status) => done.push(`b:${status}`));
      const gotB: Buffer[] = [];
      b.on('data', (d: Buffer) => gotB.push(d));
      expect(wb.write(Buffer.from('one\r\n'))).toBe(WRITE_DONE);
      // a client that does not read: the kernel takes part, the request stays with a's write
      a.pause();
      let r = WRITE_DONE;
      for (let i = 0; i < 100 && r === WRITE_DONE; i++) r = wa.write(Buffer.alloc(1 << 20, 0x61));
      expect(r).toBe(WRITE_PENDING);
      expect(wb.write(Buffer.from('two\r\n'))).toBe(WRITE_DONE);
      for (let t = 0; t < 200 && Buffer.concat(gotB).length < 10; t++) await new Promise((res) => setTimeout(res, 10));
      expect(Buffer.concat(gotB).toString()).toBe('one\r\ntwo\r\n');
      expect(done).toEqual([]);
      a.resume();
      for (let t = 0; t < 500 && done.length === 0; t++) await new Promise((res) => setTimeout(res, 10));
      expect(done).toEqual(['a:0']);
    } finally {
      a.destroy();
      b.destroy();
      for (const s of accepted) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});
