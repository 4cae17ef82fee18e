import { afterEach, describe, expect, it } from 'vitest';
import { FakeCacheTime } from '../support/fake-clock.ts';
import { ChangeKind } from '../../src/cache/changes.ts';
import type { CacheServer } from '../../src/server/cache-server.ts';
import { McClient, startCacheServer } from '../support/mc-client.ts';

const KIND_NAMES: Record<number, string> = Object.fromEntries(Object.entries(ChangeKind).map(([name, kind]) => [kind, name]));

const servers: CacheServer[] = [];
const clients: McClient[] = [];

async function start(...args: Parameters<typeof startCacheServer>) {
  const s = await startCacheServer(...args);
  servers.push(s.server);
  const client = await McClient.connect(s.port);
  clients.push(client);
  return { ...s, client };
}

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

describe('CacheServer', () => {
  it('cas succeeds with the value gets returned and fails after a change', async () => {
    const { client } = await start();
    await client.request('set c 0 0 1\r\na\r\n');
    const gets = await client.request('gets c\r\n', 'END\r\n');
    const cas = /^VALUE c 0 1 (\d+)\r\n/.exec(gets)![1];
    expect(await client.request(`cas c 0 0 1 ${cas}\r\nb\r\n`)).toBe('STORED\r\n');
    expect(await client.request(`cas c 0 0 1 ${cas}\r\nc\r\n`)).toBe('EXISTS\r\n');
    expect(await client.request('get c\r\n', 'END\r\n')).toBe('VALUE c 0 1\r\nb\r\nEND\r\n');
  });

  it('flush_all with a delay invalidates items once the delay has passed', async () => {
    const time = new FakeCacheTime();
    const { client } = await start({}, { clock: time.clock });
    await client.request('set f 0 0 1\r\na\r\n');
    expect(await client.request('flush_all 10\r\n')).toBe('OK\r\n');
    expect(await client.request('get f\r\n', 'END\r\n')).toBe('VALUE f 0 1\r\na\r\nEND\r\n');
    time.advance(11);
    expect(await client.request('get f\r\n', 'END\r\n')).toBe('END\r\n');
  });

  it('answers pipelined commands in order, in one batch', async () => {
    const { client } = await start();
    let req = '';
    let want = '';
    for (let i = 0; i < 200; i++) {
      req += `set p${i} ${i} 0 ${String(i).length}\r\n${i}\r\nget p${i}\r\n`;
      want += `STORED\r\nVALUE p${i} ${i} ${String(i).length}\r\n${i}\r\nEND\r\n`;
    }
    expect(await client.request(req, want.slice(-40))).toBe(want);
  });

  it('handles a request split at every byte', async () => {
    const { client } = await start();
    const req = 'set s 5 0 5\r\nhello\r\nget s\r\ndelete s\r\n';
    for (const ch of req) {
      client.send(ch);
      await new Promise((r) => setTimeout(r, 1));
    }
    expect(await client.readUntil('DELETED\r\n')).toBe('STORED\r\nVALUE s 5 5\r\nhello\r\nEND\r\nDELETED\r\n');
  });

  it("keeps a connection's unfinished command while other connections' reads reuse the read buffer", async () => {
    const { client: a, port } = await start();
    const b = await McClient.connect(port);
    clients.push(b);
    const settle = () => new Promise((r) => setTimeout(r, 20));
    a.send('set shared 0 0 10\r\nhello');
    await settle();
    expect(await b.request('set other 0 0 5\r\nxxxxx\r\n')).toBe('STORED\r\n');
    a.send('world\r\nget sha');
    await settle();
    expect(await b.request('get other\r\n', 'END\r\n')).toBe('VALUE other 0 5\r\nxxxxx\r\nEND\r\n');
    a.send('red\r\n');
    expect(await a.readUntil('END\r\n')).toBe('STORED\r\nVALUE shared 0 10\r\nhelloworld\r\nEND\r\n');
  });

  it('streams a large multiget (backpressure) completely', async () => {
    const { client } = await start();
    const value = 'v'.repeat(200 * 1024);
    const keys: string[] = [];
    for (let i = 0; i < 40; i++) {
      keys.push(`big${i}`);
      await client.request(`set big${i} 0 0 ${value.length}\r\n${value}\r\n`);
    }
    const reply = await client.request(`get ${keys.join(' ')}\r\n`, 'END\r\n', 10_000);
    const want = keys.reduce((n, k) => n + `VALUE ${k} 0 ${value.length}\r\n`.length + value.length + 2, 0) + 'END\r\n'.length;
    expect(reply.length).toBe(want);
  });

  it('stats cachedump lists items of a slab class', async () => {
    const { client } = await start();
    await client.request('set cd 0 0 2\r\nab\r\n');
    expect(await client.request('stats cachedump 1 0\r\n', 'END\r\n')).toBe('ITEM cd [2 b; 0 s]\r\nEND\r\n');
    expect(await client.request('stats cachedump 2 0\r\n', 'END\r\n')).toBe('END\r\n');
    expect(await client.request('stats cachedump 64 0\r\n')).toBe('CLIENT_ERROR Illegal slab id\r\n');
  });

  it('lru_crawler metadump lists every live item like memcached', async () => {
    const { client } = await start();
    await client.request('set a%b 5 100 2\r\nhi\r\nset plain 0 0 1\r\nx\r\n', 'STORED\r\nSTORED\r\n');
    const dump = await client.request('lru_crawler metadump all\r\n', 'END\r\n');
    const lines = dump.split('\n').slice(0, -2).sort();
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^key=a%25b exp=\d{10} la=\d{10} cas=\d+ fetch=no cls=1 size=68$/);
    expect(lines[1]).toMatch(/^key=plain exp=-1 la=\d{10} cas=\d+ fetch=no cls=1 size=65$/);
    expect(dump.endsWith('\nEND\r\n')).toBe(true);
    expect(await client.request('lru_crawler metadump 2\r\n')).toBe('END\r\n');
    expect(await client.request('lru_crawler crawl all\r\n')).toBe('OK\r\n');
    expect(await client.request('me plain\r\n')).toMatch(/^ME plain exp=-1 la=0 cas=\d+ fetch=no cls=1 size=65\r\n$/);
  });

  it('with -M answers SERVER_ERROR out of memory storing object once memory is full', async () => {
    const { client } = await start({ evictions: false, memoryLimitMB: 2 });
    const value = 'v'.repeat(100 * 1024);
    let reply = '';
    for (let i = 0; i < 100 && reply !== 'SERVER_ERROR out of memory storing object\r\n'; i++) {
      reply = await client.request(`set oom${i} 0 0 ${value.length}\r\n${value}\r\n`);
      expect(reply).toMatch(/^(STORED|SERVER_ERROR out of memory storing object)\r\n$/);
    }
    expect(reply).toBe('SERVER_ERROR out of memory storing object\r\n');
    expect(await client.request('get oom0\r\n', 'END\r\n')).toMatch(/^VALUE oom0 0 102400\r\n/);
  });

  it('quit closes the connection without a reply', async () => {
    const { client } = await start();
    client.send('quit\r\n');
    await client.waitClosed();
    expect(client.take()).toBe('');
  });

  it('shutdown is refused without -A', async () => {
    const { client, server } = await start();
    let emitted = false;
    server.on('shutdown', () => (emitted = true));
    expect(await client.request('shutdown\r\n')).toBe('ERROR: shutdown not enabled\r\n');
    expect(emitted).toBe(false);
  });

  it("with -A, shutdown emits 'shutdown' and closes the connection", async () => {
    const { client, server, port } = await start({ shutdownEnabled: true });
    const events: boolean[] = [];
    server.on('shutdown', (graceful: boolean) => events.push(graceful));
    client.send('shutdown\r\n');
    await client.waitClosed();
    const second = await McClient.connect(port);
    clients.push(second);
    second.send('shutdown graceful\r\n');
    await second.waitClosed();
    expect(events).toEqual([false, true]);
  });

  it('-F refuses flush_all', async () => {
    const { client } = await start({ flushEnabled: false });
    expect(await client.request('flush_all\r\n')).toBe('CLIENT_ERROR flush_all not allowed\r\n');
    expect(await client.request('flush_all noreply\r\nversion\r\n')).toBe('VERSION 1.6.18\r\n');
  });

  it('--disable-dumping refuses stats cachedump and metadump', async () => {
    const { client } = await start({ dumpEnabled: false });
    expect(await client.request('stats cachedump 1 1\r\n')).toBe('CLIENT_ERROR stats cachedump not allowed\r\n');
    expect(await client.request('lru_crawler metadump all\r\n')).toBe('ERROR metadump not allowed\r\n');
  });

  it('publishes every change a command made to the store\'s change stream', async () => {
    const { client, server } = await start();
    const { store } = server;
    const changes = store.changes;
    const seen: Array<[string, string | null, number | null]> = [];
    changes.subscribe({
      appended: (seq, kind) => {
        const h = changes.itemAt(seq, store.replica.layoutVersion);
        seen.push([KIND_NAMES[kind]!, changes.keyAt(seq)?.toString() ?? null, h !== 0 ? store.itemTtl(h) : null]);
      },
      settled: () => null,
    }, 64);
    await client.request('set m 0 100 1\r\n1\r\nadd m 0 0 1\r\n2\r\nincr m 5\r\ntouch m 50\r\ndelete m\r\ndelete m\r\nflush_all\r\n', 'OK\r\n');
    expect(seen).toEqual([
      ['SET', 'm', 100], ['ARITH', 'm', 100], ['TOUCH', 'm', 50], ['DELETE', 'm', null], ['FLUSH', null, null],
    ]);
  });

  it('closes connections idle for longer than -o idle_timeout', async () => {
    const time = new FakeCacheTime();
    const { client } = await start({ idleTimeout: 2 }, { clock: time.clock });
    expect(await client.request('version\r\n')).toBe('VERSION 1.6.18\r\n');
    time.advance(2);
    await new Promise((r) => setTimeout(r, 600));
    expect(client.isClosed).toBe(false);
    time.advance(1);
    await client.waitClosed(2000);
  });

  it('idle_timeout counts completed commands, not bytes: a trickled command does not keep a connection open', async () => {
    const time = new FakeCacheTime();
    const { client, server } = await start({ idleTimeout: 2, readTimeout: 0 }, { clock: time.clock });
    for (const byte of 'get trick') {
      if (client.isClosed) break;
      client.send(byte);
      await new Promise((r) => setTimeout(r, 30));
      time.advance(1);
      await new Promise((r) => setTimeout(r, 300));
    }
    await client.waitClosed(2000);
    const other = await McClient.connect(Number(server.addresses()[0].split(':')[2]));
    const stats = await other.request('stats\r\n', 'END\r\n');
    other.close();
    expect(stats).toMatch(/STAT auth_errors 0\r\nSTAT idle_kicks [1-9]\d*\r\nSTAT bytes_read/);
  });

  it('read_timeout closes a connection whose command is unfinished for too long, and counts it', async () => {
    const time = new FakeCacheTime();
    const { client, server } = await start({ readTimeout: 2 }, { clock: time.clock });
    const port = Number(server.addresses()[0].split(':')[2]);
    const other = await McClient.connect(port);
    client.send('set k 0 0 10\r\nabc');
    await new Promise((r) => setTimeout(r, 50));
    time.advance(2);
    await new Promise((r) => setTimeout(r, 600));
    expect(client.isClosed).toBe(false);
    time.advance(1);
    await client.waitClosed(2000);
    // only an unfinished command counts: `other` sent nothing at all and stays
    const stats = await other.request('stats\r\n', 'END\r\n');
    other.close();
    expect(stats).toMatch(/STAT read_timeout_kicks 1\r\n/);
    expect(stats).not.toMatch(/idle_kicks/);
  });
});
