import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../support/fake-clock.ts';
import { authCommand, StatsProbeError, StatsReplyReader, cacheStatsOf, type CacheStats } from '../../../src/supervisor/stats-probe.ts';
import { authFileOf } from '../../../src/ha/daemon/cache-link.ts';
import { WarmPoller } from '../../../src/supervisor/warm-poller.ts';
import { WarmGate } from '../../../src/supervisor/warmth.ts';

const REPLY = 'STAT pid 4242\r\nSTAT version 1.6.18\r\nSTAT replication_state syncing\r\nSTAT empty_value \r\nEND\r\n';

describe('StatsReplyReader', () => {
  it('reads a reply split at every point', () => {
    for (let cut = 0; cut <= REPLY.length; cut++) {
      const r = new StatsReplyReader();
      const first = r.push(REPLY.slice(0, cut));
      const stats = first ?? r.push(Buffer.from(REPLY.slice(cut), 'latin1'));
      if (cut < REPLY.length) expect(first, `cut ${cut}`).toBeNull();
      expect(stats, `cut ${cut}`).not.toBeNull();
      expect(Object.fromEntries(stats!)).toEqual({ pid: '4242', version: '1.6.18', replication_state: 'syncing', empty_value: '' });
    }
  });

  it('reads a reply one byte at a time', () => {
    const r = new StatsReplyReader();
    let stats: Map<string, string> | null = null;
    for (const c of REPLY) stats = r.push(c) ?? stats;
    expect(stats!.get('replication_state')).toBe('syncing');
  });

  it.each(['ERROR\r\n', 'SERVER_ERROR out of memory\r\n', 'CLIENT_ERROR bad command line format\r\n'])('rejects %j', (line) => {
    expect(() => new StatsReplyReader().push(`STAT pid 1\r\n${line}`)).toThrow(StatsProbeError);
  });

  it('after authenticating: STORED, then the stats; a refusal is an error', () => {
    expect(new StatsReplyReader({ authenticated: true }).push(`STORED\r\n${REPLY}`)?.get('pid')).toBe('4242');
    expect(() => new StatsReplyReader({ authenticated: true }).push('CLIENT_ERROR authentication failure\r\n'))
      .toThrow('authentication refused: "CLIENT_ERROR authentication failure"');
    expect(authCommand({ user: 'alice', pass: 'secret' })).toBe('set auth 0 0 12\r\nalice secret\r\n');
  });

  it('the -Y file of a cache_daemon command line', () => {
    expect(authFileOf(['repcache', '-p', '1', '-Y', '/etc/a'])).toBe('/etc/a');
    expect(authFileOf(['repcache', '-Y/etc/b', '--auth-file=/etc/c'])).toBe('/etc/c');
    expect(authFileOf(['repcache', '--auth-file', '/etc/d'])).toBe('/etc/d');
    expect(authFileOf(['repcache', '-p', '1'])).toBeNull();
  });

  it('rejects an endless line', () => {
    const r = new StatsReplyReader();
    expect(() => {
      for (let i = 0; i < 20; i++) r.push(Buffer.alloc(100_000, 0x41));
    }).toThrow('stats reply line too long');
  });
});

describe('cacheStatsOf', () => {
  const of = (entries: Record<string, string>) => cacheStatsOf(new Map(Object.entries(entries)));

  it('reads replication_state (standalone when absent) and repl_peers_heard_ms', () => {
    expect(of({ pid: '1' })).toEqual({ replicationState: 'standalone', stats: new Map([['pid', '1']]) });
    expect(of({ replication_state: 'streaming', repl_peers_heard_ms: '137' })).toMatchObject({ replicationState: 'streaming', peersHeardMs: 137 });
    expect(of({ replication_state: 'streaming', repl_peers_heard_ms: '0' }).peersHeardMs).toBe(0);
  });

  it.each(['-', '', '12.5', '-3', 'abc', '1e3', '9999999999999999'])('repl_peers_heard_ms %j: not current (null)', (v) => {
    expect(of({ replication_state: 'streaming', repl_peers_heard_ms: v }).peersHeardMs).toBeNull();
  });
});

describe('WarmPoller', () => {
  const flush = () => new Promise((r) => setImmediate(r));

  it('feeds the gate at its interval, one probe at a time, and stops', async () => {
    const clock = new FakeClock();
    const gate = new WarmGate({ clock });
    const answers: Array<string | Error> = ['syncing', new Error('connect ECONNREFUSED'), 'syncing', 'streaming'];
    let calls = 0;
    const fetch = async (): Promise<CacheStats> => {
      calls++;
      const a = answers.shift() ?? 'streaming';
      if (a instanceof Error) throw a;
      return { replicationState: a, stats: new Map() };
    };
    const p = new WarmPoller({ host: '127.0.0.1', port: 1, gate, clock, intervalMs: 200, fetch });
    p.start();
    p.start(); // no second loop
    await flush();
    expect(calls).toBe(1);
    expect(gate.warmth).toBe('cold');
    clock.advance(199);
    await flush();
    expect(calls).toBe(1);
    clock.advance(1);
    await flush();
    expect(calls).toBe(2);
    clock.advance(200);
    await flush();
    clock.advance(200);
    await flush();
    expect(calls).toBe(4);
    expect(gate.warmth).toBe('warm');
    expect(gate.status().lastWarmUpMs).toBe(600);
    p.stop();
    clock.advance(10_000);
    await flush();
    expect(calls).toBe(4);
  });

  it('passes repl_peers_heard_ms on to the gate', async () => {
    const clock = new FakeClock();
    const seen: Array<[string, number | null | undefined]> = [];
    const gate = { observe: (s: string, h?: number | null) => seen.push([s, h]), probeFailed: () => {} };
    const answers: CacheStats[] = [
      { replicationState: 'streaming', peersHeardMs: 12, stats: new Map() },
      { replicationState: 'streaming', peersHeardMs: null, stats: new Map() },
      { replicationState: 'standalone', stats: new Map() },
    ];
    const p = new WarmPoller({ host: '127.0.0.1', port: 1, gate, clock, intervalMs: 200, fetch: async () => answers.shift()! });
    p.start();
    for (let i = 0; i < 3; i++) {
      await flush();
      clock.advance(200);
    }
    p.stop();
    expect(seen).toEqual([['streaming', 12], ['streaming', null], ['standalone', undefined]]);
  });
});
