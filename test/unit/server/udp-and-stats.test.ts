import { describe, expect, it } from 'vitest';
import { defaultServerConfig } from '../../../src/server/config.ts';
import { formatMicros, GENERAL_STAT_NAMES, mergeGeneralStats, PrefixStats, settingsStats } from '../../../src/server/stats.ts';
import { decodeUdpHeader, encodeUdpReply, UDP_MAX_DATAGRAM } from '../../../src/server/udp.ts';

describe('UDP framing', () => {
  it('decodes the 8-byte header and rejects short datagrams', () => {
    expect(decodeUdpHeader(Buffer.from([0, 7, 0, 1, 0, 2, 0, 0, 0x67]))).toEqual({ requestId: 7, seq: 1, total: 2 });
    expect(decodeUdpHeader(Buffer.alloc(7))).toBeNull();
  });

  it('splits a reply into 1400-byte datagrams numbered 0..n-1', () => {
    const reply = Buffer.alloc(3000, 0x78);
    const parts = encodeUdpReply(0xbeef, reply);
    expect(parts.map((p) => p.length)).toEqual([UDP_MAX_DATAGRAM, UDP_MAX_DATAGRAM, 3000 - 2 * (UDP_MAX_DATAGRAM - 8) + 8]);
    parts.forEach((p, i) => expect(decodeUdpHeader(p)).toEqual({ requestId: 0xbeef, seq: i, total: 3 }));
    expect(Buffer.concat(parts.map((p) => p.subarray(8)))).toEqual(reply);
  });

  it('frames an empty reply as one datagram', () => {
    expect(encodeUdpReply(1, Buffer.alloc(0))).toHaveLength(1);
  });
});

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
