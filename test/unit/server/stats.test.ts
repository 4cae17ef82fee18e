import { describe, expect, it } from 'vitest';
import { defaultServerConfig } from '../../../src/server/config.ts';
import { formatMicros, GENERAL_STAT_NAMES, mergeGeneralStats, PrefixStats, settingsStats } from '../../../src/server/stats.ts';

describe('stats helpers', () => {
  it("merges sources into memcached's order, sums shared counters, appends unknown names", () => {
    const own = new Map<string, string | number | bigint>([['pid', 1], ['store_too_large', 2]]);
    const list = mergeGeneralStats(own, [['bytes', 10], ['store_too_large', 3], ['replication', 'MASTER']]);
    expect(list.map(([n]) => n)).toEqual([...GENERAL_STAT_NAMES, 'replication']);
    const m = new Map(list);
    expect(m.get('store_too_large')).toBe(5);
    expect(m.get('bytes')).toBe(10);
    expect(m.get('cmd_get')).toBe(0);
  });

  it('formats rusage like memcached', () => {
    expect(formatMicros(5526)).toBe('0.005526');
    expect(formatMicros(12_000_001)).toBe('12.000001');
  });

  it('stats settings reflects the config', () => {
    const s = new Map(settingsStats({ ...defaultServerConfig, listen: ['127.0.0.1', '::1'], evictions: false, casEnabled: false }, { verbosity: 2, detailEnabled: true }));
    expect(s.get('inter')).toBe('127.0.0.1,::1');
    expect(s.get('evictions')).toBe('off');
    expect(s.get('cas_enabled')).toBe('no');
    expect(s.get('verbosity')).toBe(2);
    expect(s.get('detail_enabled')).toBe('yes');
    expect(s.get('umask')).toBe('700');
    expect(s.get('growth_factor')).toBe('1.25');
  });

  it('prefix stats count per prefix and ignore keys without the delimiter', () => {
    const p = new PrefixStats(':');
    p.get(Buffer.from('a:1'), true);
    p.get(Buffer.from('a:2'), false);
    p.set(Buffer.from('b:1'));
    p.del(Buffer.from('nodelim'));
    expect(p.dump()).toBe('PREFIX a get 2 hit 1 set 0 del 0\r\nPREFIX b get 0 hit 0 set 1 del 0\r\nEND\r\n');
  });
});
