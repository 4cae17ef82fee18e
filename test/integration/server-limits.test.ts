import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { CacheServer } from '../../src/server/cache-server.ts';
import { stopAll } from '../support/daemon.ts';
import { freePort } from '../support/ports.ts';
import { connEntries, McClient, mcRequest, startCacheServer, startReferenceMemcached, udpRequest } from '../support/mc-client.ts';

const servers: CacheServer[] = [];
const clients: McClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function start(...args: Parameters<typeof startCacheServer>) {
  const s = await startCacheServer(...args);
  servers.push(s.server);
  return s;
}

const stat = async (port: number, name: string) =>
  new RegExp(`^STAT ${name} (\\S+)\\r$`, 'm').exec(await mcRequest(port, 'stats\r\n', 'END\r\n'))![1];

describe('connection limit (-c)', () => {
  it('answers ERROR Too many open connections over the limit and closes', async () => {
    const { port } = await start({ maxConnections: 3 });
    for (let i = 0; i < 3; i++) {
      const c = await McClient.connect(port);
      clients.push(c);
      expect(await c.request('version\r\n')).toBe('VERSION 1.6.18\r\n');
    }
    const over = await McClient.connect(port);
    clients.push(over);
    await over.waitClosed();
    expect(over.take()).toBe('ERROR Too many open connections\r\n');
    clients.shift()!.close();
    // once one leaves there is room again; stats shows the rejection
    const deadline = Date.now() + 3000;
    for (;;) {
      const c = await McClient.connect(port);
      clients.push(c);
      const reply = await c.request('stats\r\n', /END\r\n$|connections\r\n$/);
      if (reply.startsWith('STAT')) {
        expect(reply).toMatch(/STAT rejected_connections [1-9]\d*\r\n/);
        expect(reply).toMatch(/STAT curr_connections 3\r\n/);
        break;
      }
      if (Date.now() > deadline) throw new Error('no room after a client left');
      await new Promise((r) => setTimeout(r, 20));
    }
  });
});

describe('UDP (-U)', () => {
  it('answers framed requests, echoing the request id', async () => {
    const { port } = await start({}, { udp: true });
    const stored = await udpRequest(port, 'set u 9 0 2\r\nhi\r\n', 0x1234);
    expect(stored).toEqual([{ requestId: 0x1234, seq: 0, total: 1, body: 'STORED\r\n' }]);
    const got = await udpRequest(port, 'get u\r\n', 7);
    expect(got.map((d) => d.body).join('')).toBe('VALUE u 9 2\r\nhi\r\nEND\r\n');
    expect(await stat(port, 'curr_connections')).toBe('2'); // this TCP client and the UDP socket
  });

  it('splits a large reply into 1400-byte datagrams with sequence numbers', async () => {
    const { port } = await start({}, { udp: true });
    const value = 'x'.repeat(5000);
    expect(await mcRequest(port, `set big 0 0 5000\r\n${value}\r\n`)).toBe('STORED\r\n');
    const parts = await udpRequest(port, 'get big\r\n', 99);
    expect(parts.map((p) => [p.seq, p.total])).toEqual([[0, 4], [1, 4], [2, 4], [3, 4]]);
    expect(parts.slice(0, 3).every((p) => p.body.length === 1392)).toBe(true);
    expect(parts.map((p) => p.body).join('')).toBe(`VALUE big 0 5000\r\n${value}\r\nEND\r\n`);
  });

  it('frames each key of a multiget on its own, as memcached does', async () => {
    const ref = (await startReferenceMemcached([], { udp: true })).port;
    try {
      const { port } = await start({}, { udp: true });
      for (const p of [ref, port]) await mcRequest(p, 'set a 0 0 1\r\nA\r\nset b 0 0 1\r\nB\r\n', 'STORED\r\nSTORED\r\n');
      for (const req of ['get a b\r\n', 'get a x\r\n', 'get x a\r\n', 'get x y\r\n', 'get a\r\n', 'set c 0 0 1 noreply\r\nc\r\n']) {
        const [theirs, mine] = await Promise.all([udpRequest(ref, req, 5, 150, '127.0.0.1', true), udpRequest(port, req, 5, 150, '127.0.0.1', true)]);
        expect(mine, req).toEqual(theirs);
      }
    } finally {
      await stopAll();
    }
  });

  // (QUIT is left out: memcached 1.6.18 then drops some later datagrams of its UDP socket.)
  it('answers binary requests as memcached does, one request per datagram', async () => {
    const { request: bin, setExtras } = await import('../support/binary-client.ts');
    const ref = (await startReferenceMemcached([], { udp: true })).port;
    try {
      const { port } = await start({}, { udp: true });
      // Binary replies carry the CAS at bytes 16..23: zeroed, as the servers number them differently.
      const noCas = (body: string) => (body.charCodeAt(0) === 0x81 ? body.slice(0, 16) + '\0'.repeat(8) + body.slice(24) : body);
      const requests: Array<[string, Buffer]> = [
        ['NOOP', bin({ opcode: 0x0a, opaque: 1 })],
        ['VERSION', bin({ opcode: 0x0b, opaque: 2 })],
        ['SET', bin({ opcode: 0x01, key: 'ub', extras: setExtras(5, 0), value: 'hello', opaque: 3 })],
        ['GET hit', bin({ opcode: 0x00, key: 'ub', opaque: 4 })],
        ['GETK hit', bin({ opcode: 0x0c, key: 'ub', opaque: 5 })],
        ['GET miss', bin({ opcode: 0x00, key: 'nokey', opaque: 6 })],
        ['GETQ miss: a bare header', bin({ opcode: 0x09, key: 'nokey', opaque: 7 })],
        ['SETQ: a bare header', bin({ opcode: 0x11, key: 'ub', extras: setExtras(5, 0), value: 'hello', opaque: 8 })],
        ['DELETEQ miss', bin({ opcode: 0x14, key: 'nokey', opaque: 9 })],
        ['two GETs: a group each', Buffer.concat([bin({ opcode: 0x00, key: 'ub', opaque: 10 }), bin({ opcode: 0x0c, key: 'ub', opaque: 11 })])],
        ['unknown command with a body, then NOOP', Buffer.concat([bin({ opcode: 0x50, value: 'abc', opaque: 12 }), bin({ opcode: 0x0a, opaque: 13 })])],
        ['a bad magic byte first: text', Buffer.concat([Buffer.from([0x81]), bin({ opcode: 0x0a }).subarray(1)])],
        ['STAT: one group of several datagrams', bin({ opcode: 0x10, key: 'settings', opaque: 16 })],
        // last: memcached's UDP socket goes on swallowing the body in the next datagrams
        ['unknown command whose body runs past the datagram: nothing', bin({ opcode: 0x50, value: 'abc', bodyLength: 100, opaque: 14 })],
      ];
      for (const [name, req] of requests) {
        const [theirs, mine] = await Promise.all([udpRequest(ref, req, 5, 200, '127.0.0.1', true), udpRequest(port, req, 5, 200, '127.0.0.1', true)]);
        if (name.startsWith('STAT')) {
          expect(mine.map((d) => [d.seq, d.total]), name).toEqual(theirs.map((d) => [d.seq, d.total]));
          continue;
        }
        expect(mine.map((d) => ({ ...d, body: noCas(d.body) })), name).toEqual(theirs.map((d) => ({ ...d, body: noCas(d.body) })));
      }
    } finally {
      await stopAll();
    }
  });

  it('stats conns lists the UDP socket serving the request as memcached -t 1 does (the client, listen_addr, conn_parse_cmd)', async () => {
    const ref = (await startReferenceMemcached([], { udp: true })).port;
    try {
      const { port } = await start({}, { udp: true });
      const shapes = async (p: number) => {
        const held = [await McClient.connect(p), await McClient.connect(p)];
        clients.push(...held);
        // (memcached lists a connection once its thread has taken it up)
        for (const c of held) await c.request('version\r\n');
        const replies = await udpRequest(p, 'stats conns\r\n', 9, 500);
        expect(replies.map((r) => [r.requestId, r.seq])).toEqual([[9, 0]]);
        const entries = [...connEntries(replies[0].body).values()];
        const udp = entries.filter((e) => e.has('UDP'));
        expect(udp).toHaveLength(1);
        expect(udp[0].get('addr')).toMatch(/^udp:127\.0\.0\.1:\d+$/);
        expect(udp[0].get('addr')).not.toBe(`udp:127.0.0.1:${p}`);
        expect(udp[0].get('listen_addr')).toBe(`udp:127.0.0.1:${p}`);
        for (const c of held) expect(entries.some((e) => e.get('addr') === `tcp:127.0.0.1:${c.socket.localPort}`)).toBe(true);
        expect(replies[0].body.endsWith('END\r\n')).toBe(true);
        return entries.map((e) => `${[...e.entries()].map(([k, v]) => (k === 'state' || k === 'UDP' ? `${k}=${v}` : k)).join(',')}`).sort();
      };
      expect(await shapes(port)).toEqual(await shapes(ref));
    } finally {
      await stopAll();
    }
  });

  it('drops multi-datagram requests', async () => {
    const { port } = await start({}, { udp: true });
    const { udpFrame } = await import('../support/mc-client.ts');
    const { createSocket } = await import('node:dgram');
    const sock = createSocket('udp4');
    try {
      let got = false;
      sock.on('message', () => (got = true));
      await new Promise<void>((res, rej) => sock.send(udpFrame(1, 'version\r\n', 0, 2), port, '127.0.0.1', (e) => (e ? rej(e) : res())));
      await new Promise((r) => setTimeout(r, 200));
      expect(got).toBe(false);
    } finally {
      sock.close();
    }
  });
});

describe('listen addresses (-l)', () => {
  it('listens on each -l entry, host:port overriding -p', async () => {
    const other = await freePort();
    const { port, server } = await start({ listen: ['127.0.0.1', `127.0.0.1:${other}`] });
    expect(server.addresses()).toEqual([`tcp:127.0.0.1:${port}`, `tcp:127.0.0.1:${other}`]);
    expect(await mcRequest(port, 'version\r\n')).toBe('VERSION 1.6.18\r\n');
    expect(await mcRequest(other, 'version\r\n')).toBe('VERSION 1.6.18\r\n');
  });

  it('fails to listen on a port in use, and cleans up', async () => {
    const { port } = await start();
    await expect(startCacheServer({ port })).rejects.toThrow(/EADDRINUSE/);
  });
});

describe('unix socket (-s)', () => {
  it('serves on the socket path with the -a mode and removes it on close', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'repcache-'));
    const path = join(dir, 'mc.sock');
    try {
      const { server } = await start({ unixSocket: path, unixMask: 0o700 });
      expect(statSync(path).mode & 0o777).toBe(0o700);
      const reply = await new Promise<string>((resolve, reject) => {
        const s = connect(path);
        let out = '';
        s.on('data', (d) => { out += d; if (out.endsWith('\r\n')) { s.destroy(); resolve(out); } });
        s.on('error', reject);
        s.write('version\r\n');
      });
      expect(reply).toBe('VERSION 1.6.18\r\n');
      await server.close();
      expect(() => statSync(path)).toThrow();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
