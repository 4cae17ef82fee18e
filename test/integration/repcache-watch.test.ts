/**
 * `watch` side by side with Debian's memcached: the same lines for the same commands (times, log ids, fds and
 * client ports aside), the same refusals, and a watcher that does not read costs a bounded buffer: lines are
 * dropped and a `skipped=N` line says so, in both.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { McClient } from '../support/mc-client.ts';
import { startCache, type CacheInstance } from './repcache-harness.ts';
import { stopAll } from '../support/daemon.ts';

afterAll(stopAll);

const both = async (args: string[] = []): Promise<CacheInstance[]> => Promise.all([startCache('memcached', args), startCache('repcache', args)]);

/** The lines with what differs between two servers (time, log id, fd, client port) taken out. */
const normalise = (text: string): string[] => text.split('\n').filter((l) => l !== '')
  .map((l) => l.replace(/^ts=\d+\.\d+ gid=\d+ /, '').replace(/ cfd=-?\d+/, '').replace(/ rport=\d+/, ''));

async function watchLines(server: CacheInstance, kinds: string, script: string, settleMs = 300): Promise<string[]> {
  const watcher = await McClient.connect(server.port);
  expect(await watcher.request(`watch ${kinds}\r\n`, 'OK\r\n')).toBe('OK\r\n');
  const client = await McClient.connect(server.port);
  client.send(script);
  await client.waitClosed(5000);
  await new Promise((r) => setTimeout(r, settleMs));
  const lines = normalise(watcher.take());
  watcher.close();
  return lines;
}

describe('watch: memcached\'s log lines', () => {
  it('fetchers, mutations and connevents give the same lines', async () => {
    const [m, r] = await both();
    const script = 'set foo 5 0 3\r\nbar\r\nget foo\r\nget nokey\r\ngets foo\r\ntouch foo 10\r\nset t 0 100 1\r\nx\r\n'
      + 'add foo 0 0 1\r\nx\r\ndelete foo\r\nincr n 1\r\nmg foo v\r\nmd t\r\nappend foo 0 0 1\r\nx\r\ncas t 0 0 1 1\r\ny\r\n'
      + `set sp%ce 0 0 1\r\nz\r\nset big 0 0 2000000\r\n${'b'.repeat(2_000_000)}\r\nquit\r\n`;
    const expected = await watchLines(m, 'fetchers mutations connevents', script);
    const actual = await watchLines(r, 'fetchers mutations connevents', script);
    // memcached 1.6.18 prints a too-large set's class and fd from the wrong arguments
    const tooLarge = (l: string) => !l.includes('status=too_large');
    expect(actual.filter(tooLarge)).toEqual(expected.filter(tooLarge));
    expect(actual.find((l) => !tooLarge(l))).toBe('type=item_store key=big status=too_large cmd=set ttl=0 clsid=0 size=0');
  });

  it('a client that closes is reason=normal, one that resets is reason=error, as in memcached', async () => {
    const [m, r] = await both();
    for (const s of [m, r]) {
      const watcher = await McClient.connect(s.port);
      await watcher.request('watch connevents\r\n', 'OK\r\n');
      const c = await McClient.connect(s.port);
      await c.request('version\r\n');
      c.socket.end();
      const d = await McClient.connect(s.port);
      await d.request('version\r\n');
      d.socket.resetAndDestroy();
      await new Promise((res) => setTimeout(res, 300));
      // (memcached's worker threads may log the second connection before the first one's close)
      expect(normalise(watcher.take()).sort(), s.kind).toEqual([
        'type=conn_close rip=127.0.0.1 transport=tcp reason=error', 'type=conn_close rip=127.0.0.1 transport=tcp reason=normal',
        'type=conn_new rip=127.0.0.1 transport=tcp', 'type=conn_new rip=127.0.0.1 transport=tcp',
      ]);
      watcher.close();
    }
  });

  it('evictions: one line per evicted item, in memcached\'s format', async () => {
    const [m, r] = await both(['-m', '8']);
    const value = 'v'.repeat(1000);
    let script = '';
    for (let i = 0; i < 12_000; i++) script += `set e${i} 0 0 1000 noreply\r\n${value}\r\n`;
    script += 'quit\r\n';
    for (const s of [m, r]) {
      const lines = await watchLines(s, 'evictions', script, 500);
      for (const l of lines) expect(l, s.kind).toMatch(/^(type=eviction key=e\d+ fetch=no ttl=-1 la=\d+ clsid=\d+ size=1000|skipped=\d+)$/);
      // a loaded host makes a watcher drop lines (memcached's logger thread too): those are counted in skipped=N
      const reported = lines.reduce((n, l) => n + (l.startsWith('skipped=') ? Number(l.slice(8)) : 1), 0);
      expect(reported, s.kind).toBeGreaterThan(1000);
    }
  });

  it('refusals: unknown kinds and commands pipelined before watch', async () => {
    const [m, r] = await both();
    for (const stream of ['watch bogus\r\n', 'watch fetchers bogus\r\n', 'version\r\nwatch\r\n']) {
      const replies = await Promise.all([m, r].map(async (s) => {
        const c = await McClient.connect(s.port);
        c.send(stream);
        const text = await c.readIdle(200, 3000);
        c.close();
        return text.replace(/^VERSION .*\r\n/, 'VERSION\r\n');
      }));
      expect(replies[1], stream).toBe(replies[0]);
    }
  });

  it('the 21st watcher is refused as memcached refuses it', async () => {
    const [m, r] = await both();
    for (const s of [m, r]) {
      const watchers = await Promise.all(Array.from({ length: 20 }, () => McClient.connect(s.port)));
      for (const w of watchers) expect(await w.request('watch\r\n', 'OK\r\n'), s.kind).toBe('OK\r\n');
      const extra = await McClient.connect(s.port);
      expect(await extra.request('watch mutations\r\n'), s.kind).toBe('WATCHER_TOO_MANY log watcher limit reached\r\n');
      for (const w of [...watchers, extra]) w.close();
    }
  });

  it.each(['memcached', 'repcache'] as const)('%s: a watcher that does not read gets skipped=N, the server goes on', async (kind) => {
    const s = await startCache(kind, ['-o', 'watcher_logbuf_size=64']);
    const watcher = await McClient.connect(s.port);
    await watcher.request('watch mutations\r\n', 'OK\r\n');
    watcher.socket.pause();
    const client = await McClient.connect(s.port);
    const value = 'v'.repeat(100);
    for (let round = 0; round < 10; round++) {
      let script = '';
      for (let i = 0; i < 20_000; i++) script += `set ${'k'.repeat(200)}${i} 0 0 100 noreply\r\n${value}\r\n`;
      await client.request(`${script}version\r\n`, /VERSION .*\r\n$/, 20_000);
    }
    const stats = await client.request('stats\r\n', 'END\r\n');
    expect(Number(/STAT log_watcher_skipped (\d+)/.exec(stats)?.[1]), 'skipped').toBeGreaterThan(0);
    watcher.socket.resume();
    await new Promise((res) => setTimeout(res, 1000));
    await client.request('set after 0 0 1\r\nx\r\n', 'STORED\r\n');
    // what was buffered, then `skipped=N` before the next line that fits, then the lines of later events
    const text = await watcher.readUntil((t) => t.includes('key=after'), 10_000);
    expect(text).toMatch(/^skipped=\d+\nts=\d+\.\d+ gid=\d+ type=item_store /m);
    expect(text).toMatch(/type=item_store key=after status=stored cmd=set ttl=0 clsid=1 cfd=\d+ size=1\n$/);
    watcher.close();
    client.close();
  });
});
