/**
 * The proxy in front of one memcached answers like that memcached: the same command streams go to Debian's
 * memcached directly and through repcache-proxy (to another memcached), and the replies must be the same bytes
 * (CAS numbers normalised). What the proxy answers itself (version, stats, admin commands) is tested elsewhere.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stopAll } from '../support/daemon.ts';
import { normalise, SENTINEL, SENTINEL_REPLY } from '../support/differential.ts';
import { McClient } from '../support/mc-client.ts';
import { startMemcached, startProxy } from './proxy-harness.ts';

const key250 = 'k'.repeat(250);
const key251 = 'k'.repeat(251);
const big = 'x'.repeat(1024 * 1024 + 1);

const cases: [string, string][] = [
  ['set/get', 'set a 0 0 5\r\nhello\r\nget a\r\nget  a\r\n'],
  ['multi-get with misses, duplicates and flags', 'set a 0 0 1\r\n1\r\nset b 65535 0 1\r\n2\r\nset c 4294967295 0 2\r\nyy\r\nget a nokey b c a\r\ngets a b\r\n'],
  ['flags out of range', 'set f 4294967296 0 1\r\nx\r\nset f -1 0 1\r\nx\r\nget f\r\n'],
  ['add/replace/append/prepend', 'add k 0 0 1\r\na\r\nadd k 0 0 1\r\nb\r\nreplace k 5 0 1\r\nc\r\nreplace nok 0 0 1\r\nd\r\nappend k 9 0 2\r\nxy\r\nprepend k 9 0 2\r\nzz\r\nappend nok 0 0 1\r\ne\r\nget k\r\n'],
  ['cas with a wrong or missing unique', 'set c 0 0 1\r\na\r\ncas c 0 0 1 999999\r\nb\r\ncas nokey 0 0 1 1\r\nd\r\ncas c 0 0 1 abc\r\nc\r\ncas c 0 0 1\r\nget c\r\n'],
  ['zero-length value', 'set z 0 0 0\r\n\r\nget z\r\nappend z 0 0 0\r\n\r\nget z\r\n'],
  ['bad data chunk', 'set k 0 0 3\r\nabcde\r\nget k\r\n'],
  ['250 and 251-byte keys', `set ${key250} 0 0 1\r\nx\r\nget ${key250}\r\nset ${key251} 0 0 1\r\nx\r\nincr ${key251} 1\r\ndelete ${key251}\r\ntouch ${key251} 1\r\n`],
  ['bad numbers on storage commands', 'set k abc 0 1\r\nx\r\nset k 0 abc 1\r\nx\r\nset k 0 0 -1\r\nset k 0 0 abc\r\nget k\r\n'],
  ['wrong token counts', 'set k 0 0\r\nset k 0 0 1 noreply extra\r\nx\r\ncas k 0 0 1\r\nget\r\ngets\r\nincr k\r\ndecr\r\ndelete\r\ntouch k\r\ngat 10\r\nflush_all 1 2 3\r\n'],
  ['empty and unknown commands', '\r\nboguscommand foo\r\nmx foo\r\nGET a\r\nSet a 0 0 1\r\n \r\n'],
  ['bare \\n line endings', 'set n 0 0 1\nx\r\nget n\n'],
  ['too large: swallowed, old value unlinked', `set big 0 0 1\r\nx\r\nset big 0 0 ${big.length}\r\n${big}\r\nget big\r\nadd big2 0 0 ${big.length} noreply\r\n${big}\r\nget big2\r\n`],
  ['negative exptime', 'set n 0 -1 1\r\nx\r\nget n\r\nadd n 0 0 1\r\ny\r\nget n\r\n'],
  ['incr/decr', 'set n 0 0 2\r\n10\r\nincr n 5\r\ndecr n 100\r\nget n\r\nincr n 18446744073709551615\r\nincr n 1\r\nincr nokey 1\r\ndecr nokey 1\r\n'],
  ['incr errors', 'set t 0 0 3\r\nabc\r\nincr t 1\r\nset n 0 0 1\r\n1\r\nincr n abc\r\nincr n -1\r\nincr n 18446744073709551616\r\ndecr n 1 noreply\r\nget n\r\n'],
  ['noreply everywhere', 'set q 0 0 1 noreply\r\na\r\nadd q 0 0 1 noreply\r\nb\r\nreplace q 0 0 1 noreply\r\nc\r\nappend q 0 0 1 noreply\r\nd\r\nprepend q 0 0 1 noreply\r\ne\r\nget q\r\nset qn 0 0 1 noreply\r\n5\r\nincr qn 1 noreply\r\ntouch qn 10 noreply\r\ndelete q noreply\r\ndelete q noreply\r\nincr nokey 1 noreply\r\nflush_all noreply\r\nverbosity 1 noreply\r\nget q qn\r\n'],
  ['errors with noreply', 'set k 0 0 3 noreply\r\nabcde\r\nincr k abc noreply\r\nset k abc 0 1 noreply\r\nx\r\n'],
  ['delete', 'set k 0 0 1\r\nx\r\ndelete k 0\r\ndelete k\r\nset k 0 0 1\r\nx\r\ndelete k 5\r\ndelete k noreply\r\nget k\r\ndelete k 0 noreply\r\ndelete k x y\r\n'],
  ['touch, gat, gats', 'set t 3 0 1\r\nx\r\ntouch t 100\r\ntouch nokey 10\r\ntouch t abc\r\ngat 100 t nokey\r\ngats 0 t\r\ngat abc t\r\ngat -1 t\r\nget t\r\n'],
  ['flush_all forms', 'set k 0 0 1\r\nx\r\nflush_all\r\nget k\r\nflush_all 0\r\nflush_all -1\r\nflush_all abc\r\n'],
  ['verbosity errors', 'verbosity abc\r\nverbosity 1 2\r\n'],
  ['meta set/get/noop', 'ms mk 2 T0 F5\r\nhi\r\nmg mk v f t s k\r\nmg mk\r\nmg nokey v q\r\nmg nokey v\r\nmn\r\nms mk 2 q\r\nho\r\nmg mk v O123 q\r\nmn\r\n'],
  ['meta arithmetic and delete', 'ma num N0 J13 v\r\nma num v D10\r\nma num v MD D100\r\nma nokey\r\nmd num q\r\nmd num\r\nmg num v\r\nmn\r\n'],
  ['meta errors', 'mg\r\nms mk\r\nms mk abc\r\nmg mk ?\r\nma num D-1\r\nms mk 2 MX\r\nhi\r\n'],
  ['meta vivify on miss', 'mg viv N30 s v\r\nmg viv s v\r\nms viv 3 T0\r\nabc\r\nmg viv v s h\r\nmg viv2 N30 q\r\nmn\r\n'],
  ['meta base64 keys', 'ms YWJj 2 b k\r\nhi\r\nmg YWJj b k v\r\nget abc\r\nmg abc k v\r\nmg YWJj k\r\nmd YWJj b k q\r\nmg abc\r\nma YQ== b N0 k v\r\n'],
  ['a get line longer than 2048 bytes', `set a 0 0 1\r\nx\r\nget${' '.repeat(2100)}a\r\n`],
];

async function run(port: number, stream: string): Promise<string> {
  const c = await McClient.connect(port);
  try {
    await c.request('flush_all\r\n', 'OK\r\n');
    c.send(Buffer.from(stream + SENTINEL, 'latin1'));
    return (await c.readUntil((s) => s.endsWith(SENTINEL_REPLY), 10_000)).slice(0, -SENTINEL_REPLY.length);
  } finally {
    c.close();
  }
}

describe('repcache-proxy in front of one memcached answers as memcached', () => {
  const ports = { direct: 0, proxy: 0 };
  beforeAll(async () => {
    const [direct, behind] = await Promise.all([startMemcached(), startMemcached()]);
    ports.direct = direct.port;
    ports.proxy = (await startProxy(['-s', `127.0.0.1:${behind.port}`])).port;
  });
  afterAll(stopAll);

  it.each(cases)('%s', async (_, stream) => {
    const [want, got] = await Promise.all([run(ports.direct, stream), run(ports.proxy, stream)]);
    expect(normalise(got)).toBe(normalise(want));
  });

  it('all the streams in one pipeline', async () => {
    const all = cases.map(([, s]) => s).join('');
    const [want, got] = await Promise.all([run(ports.direct, all), run(ports.proxy, all)]);
    expect(normalise(got)).toBe(normalise(want));
  });
});
