import { describe, expect, it } from 'vitest';
import { bothReplies } from '../support/mc-client.ts';
import { useReferenceAndOurs } from '../support/reference-pair.ts';

/**
 * Differential: every script goes to Debian's memcached and to our server on fresh connections;
 * the replies must be byte-identical (CAS values aside, which depend on each server's history).
 * bothReplies() appends `mn` as an end marker, so no script ends with one of its own.
 */
const big = 'x'.repeat(1024 * 1024 + 1);
const scripts: Array<[string, string]> = [
  ['set + get', 'set k1 0 0 5\r\nhello\r\nget k1\r\n'],
  ['flags and multiget with misses', 'set k2 123 0 3\r\nabc\r\nget k2 nokey k2\r\n'],
  ['max flags', 'set k2b 4294967295 0 1\r\na\r\nget k2b\r\n'],
  ['add', 'add k3 0 0 1\r\na\r\nadd k3 0 0 1\r\nb\r\nget k3\r\n'],
  ['replace', 'replace k4 0 0 1\r\na\r\nset k4 0 0 1\r\nb\r\nreplace k4 5 0 2\r\ncc\r\nget k4\r\n'],
  ['append/prepend', 'append k5 0 0 1\r\na\r\nprepend k5 0 0 1\r\na\r\nset k5 7 0 2\r\nmm\r\nappend k5 0 0 2\r\nzz\r\nprepend k5 9 0 2\r\naa\r\nget k5\r\n'],
  ['cas on a missing key', 'cas k6 0 0 1 1\r\na\r\n'],
  ['delete', 'delete k7\r\nset k7 0 0 1\r\na\r\ndelete k7\r\ndelete k7 0\r\ndelete k7 1\r\nget k7\r\n'],
  ['incr/decr', 'incr k8 1\r\nset k8 0 0 2\r\n10\r\nincr k8 5\r\ndecr k8 100\r\nincr k8 18446744073709551615\r\nincr k8 1\r\nincr k8 abc\r\n'],
  ['incr wraps, decr pads', 'set k8c 0 0 3\r\n100\r\ndecr k8c 1\r\nget k8c\r\nset k8d 0 0 20\r\n18446744073709551615\r\nincr k8d 1\r\nget k8d\r\n'],
  ['incr non-numeric', 'set k8b 0 0 1\r\nx\r\nincr k8b 1\r\ndecr k8b 1\r\n'],
  ['touch and gat', 'touch k9 10\r\nset k9 3 0 1\r\na\r\ntouch k9 100\r\ngat 100 k9 nokey\r\ngat 0 nokey\r\n'],
  ['noreply', 'set k10 0 0 1 noreply\r\na\r\nadd k10 0 0 1 noreply\r\nb\r\nincr k10 1 noreply\r\nappend k10 0 0 1 noreply\r\nb\r\ntouch k10 1 noreply\r\ndelete k10 noreply\r\ndelete k10 noreply\r\nget k10\r\n'],
  ['version and verbosity', 'version\r\nverbosity 1\r\nverbosity 1 noreply\r\nverbosity\r\nverbosity x\r\n'],
  ['unknown and malformed', 'bogus\r\nget\r\nset k12 0 0\r\nset k12 abc 0 1\r\nx\r\nincr k12\r\n'],
  ['negative exptime', 'set k13 0 -1 1\r\na\r\nget k13\r\n'],
  ['zero-length value', 'set k14 0 0 0\r\n\r\nget k14\r\n'],
  ['too large unlinks the old value', `set k16 0 0 1\r\na\r\nset k16 0 0 ${big.length}\r\n${big}\r\nget k16\r\n`],
  ['bad data chunk', 'set k17 0 0 3\r\nabcde\r\nget k17\r\n'],
  ['too long key in a set', `set ${'k'.repeat(251)} 0 0 1\r\na\r\nversion\r\n`],
  ['too long key in a get', `get ${'k'.repeat(251)}\r\nversion\r\n`],
  ['shutdown disabled', 'shutdown\r\nshutdown graceful\r\n'],
  ['stats errors', 'stats bogus\r\nstats detail\r\nstats detail bogus\r\nstats cachedump 1\r\nstats cachedump 99 1\r\nstats cachedump x 1\r\nstats noreply\r\n'],
  ['stats reset', 'stats reset\r\n'],
  ['stats detail', 'stats detail on\r\nset p:a 0 0 1\r\na\r\nget p:a p:b\r\ndelete p:a\r\nstats detail dump\r\nstats detail off\r\n'],
  ['mn', 'mn\r\nversion\r\n'],
  ['mg', 'mg nokey v\r\nmg nokey v q\r\nms mk 2 T0 F5\r\nhi\r\nmg mk\r\nmg mk v f t s k Oabc\r\nmg mk k v q\r\nmg mk zz\r\nmg mk v v\r\nmg\r\n'],
  ['mg base64 keys', 'ms bWs= 1 b\r\nx\r\nmg bWs= b v k\r\nmg mk b v\r\nmg bWs v\r\n'],
  ['ms modes', 'ms ms1 2 MA\r\nzz\r\nms ms1 2\r\nab\r\nms ms1 2 MA\r\ncd\r\nms ms1 1 MP F3\r\nx\r\nmg ms1 v f\r\nms ms2 2 MR\r\nxx\r\nms ms2 2 ME q\r\nxx\r\nms ms2 2 ME\r\nyy\r\nms ms2 2 MZ\r\nyy\r\nms ms2 2 C1\r\nxx\r\nmg ms2 v\r\n'],
  ['ms errors', 'ms\r\nms mk\r\nms mk abc\r\nms mk 2 X\r\nab\r\nms mk S2 T100\r\nab\r\nms mk 2 T1 T2\r\nab\r\n'],
  ['meta numeric flag errors', 'ma mnum N0\r\nma mnum Dx\r\nma mnum Jx\r\nma mnum Nx\r\nma mnum Tx\r\nma mnum Cx\r\nmg mnum Tx\r\nmg mnum Nx\r\nmg mnum Rx\r\nms mnum 1 Fx\r\n1\r\nms mnum 1 Tx\r\n1\r\nms mnum 1 Cx\r\n1\r\nmd mnum Cx\r\nma mnum D-1\r\nmg mnum T\r\nmg mnum O\r\n'],
  ['md', 'md nokey\r\nmd nokey q\r\nms md1 1\r\na\r\nmd md1 C1\r\nmd md1 q\r\nmd md1 k\r\nms md2 1\r\na\r\nmd md2 k Oxy\r\n'],
  ['ma', 'ma num\r\nma num N0 J13 v\r\nma num v D10\r\nma num v MD D100\r\nma num q\r\nma num v\r\nma num t v\r\nms man 1\r\nx\r\nma man\r\nma num MX\r\nma num Dx\r\n'],
  ['quit stops processing', 'version\r\nquit\r\nversion\r\n'],
  ['HTTP request line closes', 'GET / HTTP/1.0\r\n'],
  ['flush_all', 'set k21 0 0 1\r\na\r\nflush_all\r\nget k21\r\nflush_all noreply\r\nflush_all x\r\nflush_all 0\r\n'],
];

const normalizeCas = (s: string) => s.replace(/^(VALUE \S+ \d+ \d+) \d+\r$/gm, '$1 <cas>\r');

describe('repcache replies match memcached 1.6.18 byte for byte', () => {
  const servers = useReferenceAndOurs();

  it.each(scripts)('%s', async (_name, script) => {
    const [theirs, mine] = await bothReplies(servers.ref, servers.ours, script);
    expect(normalizeCas(mine)).toBe(normalizeCas(theirs));
  });

  it('gets/gats report a CAS that changes on every store', async () => {
    const script = 'set g1 0 0 1\r\na\r\ngets g1\r\nset g1 0 0 1\r\nb\r\ngats 100 g1\r\n';
    const [theirs, mine] = await bothReplies(servers.ref, servers.ours, script);
    expect(normalizeCas(mine)).toBe(normalizeCas(theirs));
    const cas = [...mine.matchAll(/^VALUE g1 0 1 (\d+)\r$/gm)].map((m) => m[1]);
    expect(cas).toHaveLength(2);
    expect(cas[0]).not.toBe(cas[1]);
  });
});
