import { spawn } from 'node:child_process';
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ControlClientError, request } from '../../../src/ha/daemon/control-client.ts';
import type { ControlReply, ControlRequest } from '../../../src/proto/control/codec.ts';
import { ControlServer, ControlSocketError, SocketInUseError } from '../../../src/ha/daemon/control-server.ts';

const root = mkdtempSync(join(tmpdir(), 'haved-ctl-'));
let n = 0;
const servers: ControlServer[] = [];
const log = pino({ level: 'silent' });

async function serve(opts: { timeoutMs?: number; maxConnections?: number; dir?: string } = {}) {
  const seen: ControlRequest[] = [];
  const dir = opts.dir ?? join(root, `d${n++}`);
  const handle = async (req: ControlRequest): Promise<ControlReply> => {
    seen.push(req);
    return { ok: true, result: { pid: 4242, verb: req.verb } };
  };
  const s = new ControlServer({ path: join(dir, 'state.sock'), handle, log, ...opts });
  await s.listen();
  servers.push(s);
  return { s, seen, path: s.path };
}

/** Sends raw bytes and returns everything the server wrote back before closing. */
function raw(path: string, bytes: Buffer | string, opts: { end?: boolean } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = connect(path);
    let got = '';
    sock.on('data', (d) => (got += d));
    sock.on('error', reject);
    sock.on('close', () => resolve(got));
    sock.on('connect', () => (opts.end ? sock.end(bytes) : sock.write(bytes)));
  });
}

describe('control socket (server and client)', () => {
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('answers one request per connection; the socket is 0600', async () => {
    const { path, seen } = await serve();
    expect(lstatSync(path).mode & 0o777).toBe(0o600);
    expect(await request(path, { verb: 'maintenance', on: true }, { timeoutMs: 2000 })).toEqual({ ok: true, result: { pid: 4242, verb: 'maintenance' } });
    expect(seen).toEqual([{ verb: 'maintenance', on: true }]);
  });

  it('garbage, a huge line, a slow client and a half request get an error reply; the daemon never sees them', async () => {
    const { path, seen } = await serve({ timeoutMs: 300 });
    const reply = (s: string) => JSON.parse(s.trim());
    expect(reply(await raw(path, Buffer.from([0, 1, 2, 0xff, 0x0a])))).toEqual({ ok: false, error: 'bad request: not a JSON object' });
    expect(reply(await raw(path, '{"verb":"shutdown"}\n'))).toMatchObject({ ok: false, error: expect.stringContaining('unknown verb "shutdown"') });
    expect(reply(await raw(path, Buffer.alloc(4 << 20, 0x7b)))).toEqual({ ok: false, error: 'request too long (more than 4096 bytes)' });
    const t0 = performance.now();
    expect(reply(await raw(path, '{"verb":'))).toEqual({ ok: false, error: 'no complete request within 300 ms' });
    expect(performance.now() - t0).toBeGreaterThanOrEqual(250);
    expect(reply(await raw(path, '{"verb":"status"}', { end: true }))).toEqual({ ok: false, error: 'the request ended without a newline' });
    expect(seen).toEqual([]);
    expect(await request(path, { verb: 'status' }, { timeoutMs: 2000 })).toMatchObject({ ok: true });
  });

  it('answers "busy" beyond its connection limit', async () => {
    const { path } = await serve({ maxConnections: 2, timeoutMs: 2000 });
    const idle = [connect(path), connect(path)];
    await Promise.all(idle.map((s) => new Promise((r) => s.once('connect', r))));
    await new Promise((r) => setTimeout(r, 50));
    expect(JSON.parse((await raw(path, '{"verb":"status"}\n')).trim())).toEqual({ ok: false, error: 'busy: 2 control connections are open' });
    for (const s of idle) s.destroy();
    await new Promise((r) => setTimeout(r, 50));
    expect(await request(path, { verb: 'status' }, { timeoutMs: 2000 })).toMatchObject({ ok: true });
  });

  it('replaces a socket left by a crash, but refuses one a live daemon answers on', async () => {
    const dir = join(root, 'stale');
    mkdirSync(dir, { mode: 0o700 });
    const path = join(dir, 'state.sock');
    // a daemon killed -9 leaves its socket file behind
    const child = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(path)}, () => console.log('up'))`]);
    await new Promise((r) => child.stdout.once('data', r));
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    expect(lstatSync(path).isSocket()).toBe(true);
    await expect(request(path, { verb: 'status' }, { timeoutMs: 1000 })).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    await serve({ dir });
    const second = new ControlServer({ path, handle: async () => ({ ok: true, result: {} }), log });
    await expect(second.listen()).rejects.toThrow(new SocketInUseError(`another haved answers on ${path} (pid 4242): stop it, or give this one its own --state-file or --socket`));
  });

  it('says why when it cannot create its directory (and does not hang where mkdir -p would), or the path is too long', async () => {
    await expect(serve({ dir: '/proc/haved-test-no-such/dir' })).rejects.toThrow(new ControlSocketError('cannot create /proc/haved-test-no-such/dir: ENOENT'));
    const long = join(root, 'x'.repeat(120));
    await expect(serve({ dir: long })).rejects.toThrow(/is too long for a unix socket \(\d+ bytes, at most 107\)$/);
  });

  it('refuses a directory others can write to, and a path that is not a socket', async () => {
    const open = join(root, 'open');
    mkdirSync(open);
    chmodSync(open, 0o777);
    await expect(serve({ dir: open })).rejects.toThrow(new ControlSocketError(`${open} is writable by others (mode 777)`));
    const file = join(root, 'file');
    mkdirSync(file, { mode: 0o700 });
    writeFileSync(join(file, 'state.sock'), 'x');
    await expect(serve({ dir: file })).rejects.toThrow(new ControlSocketError(`${join(file, 'state.sock')} exists and is not a socket: not removing it`));
  });

  it('close() removes the socket; the client tells "not there", "refused" and "no reply" apart', async () => {
    const { s, path } = await serve();
    await s.close();
    await expect(request(path, { verb: 'status' }, { timeoutMs: 1000 })).rejects.toMatchObject({ code: 'ENOENT' });
    const mute = createServer(() => {});
    const mutePath = join(root, 'mute.sock');
    await new Promise<void>((r) => mute.listen(mutePath, r));
    try {
      const err = await request(mutePath, { verb: 'status' }, { timeoutMs: 200 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ControlClientError);
      expect(err).toMatchObject({ code: 'TIMEOUT', message: `no reply from ${mutePath} within 200 ms` });
    } finally {
      mute.close();
    }
  });
});
