/**
 * The feature check of direct writes: without the deprecated stream binding (or with one of another shape) the
 * callers get null and use socket.write. The whole server on the fallback path is tested by
 * test/integration/server-slow-reader.test.ts (REPCACHE_STREAM_WRITES=1), and here in a child process.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { streamWrapBinding } from '../../../src/net/direct-write.ts';

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
