/**
 * readInPlace: an accepted socket reads into a buffer shared by every connection, on the Socket it was accepted on
 * (re-wrapping it in a second Socket, as adoptWithUserBuffer does, costs a connection about 5 KiB for good).
 */
import { connect, createServer, Socket, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { readInPlace } from '../../../src/net/user-buffer.ts';

let server: Server | null = null;
const clients: Socket[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  server = null;
});

/** A pauseOnConnect server handing each accepted socket to `onSocket`; resolves with its port. */
function listen(onSocket: (raw: Socket) => void): Promise<number> {
  const s = createServer({ pauseOnConnect: true }, onSocket);
  server = s;
  return new Promise((r) => s.listen(0, '127.0.0.1', () => r((s.address() as { port: number }).port)));
}

function client(port: number): Promise<Socket> {
  const c = connect(port, '127.0.0.1');
  clients.push(c);
  return new Promise((r) => c.once('connect', () => r(c)));
}

describe('readInPlace', () => {
  it('keeps the accepted Socket, hands every read to the callback in the one shared buffer, and still ends and closes', async () => {
    const shared = Buffer.alloc(64);
    const got: string[] = [];
    const accepted: Socket[] = [];
    const ended: number[] = [];
    const closed: number[] = [];
    const port = await listen((raw) => {
      const i = accepted.push(raw) - 1;
      expect(readInPlace(raw, shared, (n) => got.push(`${i}:${shared.toString('latin1', 0, n)}`))).toBe(true);
      raw.on('data', () => got.push('a data event'));
      raw.on('end', () => ended.push(i));
      raw.on('close', () => closed.push(i));
      raw.resume();
    });
    const a = await client(port);
    const b = await client(port);
    const until = async (ok: () => boolean) => {
      for (let t = 0; t < 200 && !ok(); t++) await new Promise((r) => setTimeout(r, 10));
    };
    await until(() => accepted.length === 2);
    a.write('version\r\n');
    await until(() => got.length === 1);
    b.write('get k\r\n');
    await until(() => got.length === 2);
    expect(got).toEqual(['0:version\r\n', '1:get k\r\n']);
    // the server's sockets are the ones it accepted, and replies go out through them
    accepted[0].write('VERSION x\r\n');
    const reply = await new Promise<string>((r) => a.once('data', (d: Buffer) => r(d.toString('latin1'))));
    expect(reply).toBe('VERSION x\r\n');
    // pause() stops the handle's reads at once, as with Node's onread option (a client that does not read its
    // replies must find its requests waiting in its socket, not in this process)
    const handle = (accepted[1] as unknown as { _handle: { reading: boolean } })._handle;
    expect(handle.reading).toBe(true);
    accepted[1].pause();
    expect(handle.reading).toBe(false);
    b.write('get held\r\n');
    await new Promise((r) => setTimeout(r, 50));
    expect(got).toHaveLength(2);
    accepted[1].resume();
    await until(() => got.length === 3);
    expect(got[2]).toBe('1:get held\r\n');
    a.end();
    b.end();
    await until(() => closed.length === 2);
    expect(ended.sort()).toEqual([0, 1]);
    expect(closed.sort()).toEqual([0, 1]);
  });

  it('refuses (changing nothing) a socket that is not a plain net.Socket or has no handle', async () => {
    class Wrapped extends Socket {}
    const shared = Buffer.alloc(64);
    expect(readInPlace(new Wrapped(), shared, () => {})).toBe(false);
    const port = await listen((raw) => raw.destroy());
    const c = await client(port);
    const gone = new Socket();
    expect(readInPlace(gone, shared, () => {})).toBe(false);
    c.destroy();
  });
});
