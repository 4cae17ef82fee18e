import { mkdtempSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { bindWithMode, listenUnixSocket, removeStaleSocket } from '../../../src/net/unix-socket.ts';

describe('UNIX socket files', () => {
  let dir: string;
  const servers: Server[] = [];
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'unix-socket-'));
  });
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
    rmSync(dir, { recursive: true, force: true });
  });

  it.each([0o700, 0o770, 0o666])('bindWithMode creates the socket with mode %o from the start and restores the umask', (mode) => {
    const path = join(dir, 's.sock');
    const before = process.umask();
    const server = createServer();
    servers.push(server);
    bindWithMode(mode, () => server.listen(path));
    // checked before any chmod and before the listen callback: the file was born with the mode
    expect(statSync(path).mode & 0o777).toBe(mode);
    expect(process.umask()).toBe(before);
  });

  it('bindWithMode restores the umask when the bind throws', () => {
    const before = process.umask();
    expect(() => bindWithMode(0o700, () => { throw new Error('no'); })).toThrow('no');
    expect(process.umask()).toBe(before);
  });

  it('removeStaleSocket removes a socket file, and leaves a regular file or nothing alone', async () => {
    const sock = join(dir, 'old.sock');
    const server = createServer();
    servers.push(server);
    await new Promise<void>((r) => server.listen(sock, r));
    removeStaleSocket(sock);
    expect(existsSync(sock)).toBe(false);
    const file = join(dir, 'data');
    writeFileSync(file, 'keep');
    removeStaleSocket(file);
    removeStaleSocket(join(dir, 'absent'));
    expect(existsSync(file)).toBe(true);
  });

  it('listenUnixSocket replaces a stale socket file and listens with the mode', async () => {
    const path = join(dir, 'cache.sock');
    const old = createServer();
    servers.push(old);
    await new Promise<void>((r) => old.listen(path, r));
    const server = createServer();
    servers.push(server);
    await listenUnixSocket(path, 0o770, () => new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, resolve);
    }));
    expect(server.listening).toBe(true);
    expect(statSync(path).mode & 0o777).toBe(0o770);
  });
});
