/**
 * Request byte fixtures and the commands the parser must emit for them. Every expectation here
 * was checked against Debian's memcached 1.6.18 (test/integration/text-codec-vs-memcached.test.ts
 * replays them). Keys are per-fixture so the fixtures can run in parallel on one server.
 */

export interface Fixture {
  name: string;
  /** Bytes as sent, in latin1; several chunks when the split matters (the 2048-byte rule). */
  chunks: string[];
  expect: string[];
  /** One chunk, but splitting it changes the outcome (a long line that must arrive whole). */
  splitSensitive?: boolean;
}

const long = (n: number, c = 'k') => c.repeat(n);
const K250 = long(250);
const K251 = long(251);
const MB = 1024 * 1024;

export const fixtures: Fixture[] = [
  // storage commands
  { name: 'set', chunks: ['set s1 0 0 1\r\nx\r\n'], expect: ['set s1 0 0 ="x"'] },
  { name: 'set with flags, exptime and an empty value', chunks: ['set s2 65535 100 0\r\n\r\n'], expect: ['set s2 65535 100 =""'] },
  { name: 'value containing \\r\\n', chunks: ['set s3 0 0 4\r\n\r\n\r\n\r\n'], expect: ['set s3 0 0 ="\\r\\n\\r\\n"'] },
  {
    name: 'add replace append prepend with noreply',
    chunks: ['add s4 1 0 2 noreply\r\nab\r\nreplace s4 2 0 2 noreply\r\ncd\r\nappend s4 0 0 1 noreply\r\ne\r\nprepend s4 0 0 1 noreply\r\nf\r\nget s4\r\n'],
    expect: ['add s4 1 0 noreply ="ab"', 'replace s4 2 0 noreply ="cd"', 'append s4 0 0 noreply ="e"', 'prepend s4 0 0 noreply ="f"', 'get s4'],
  },
  { name: 'cas', chunks: ['cas s5 0 0 1 12345\r\nx\r\ncas s5 0 0 1 0 noreply\r\ny\r\n'], expect: ['cas s5 0 0 12345 ="x"', 'cas s5 0 0 0 noreply ="y"'] },
  { name: 'cas without its unique', chunks: ['cas s6 0 0 1\r\nx\r\n'], expect: ['error ERROR', 'error ERROR'] },
  { name: 'cas unique "noreply"', chunks: ['cas s6 0 0 1 noreply\r\nx\r\n'], expect: ['silent', 'error ERROR'] },
  { name: 'cas unique bounds', chunks: ['cas s6 0 0 1 18446744073709551615\r\nx\r\ncas s6 0 0 1 18446744073709551616\r\nx\r\ncas s6 0 0 1 -1\r\nx\r\ncas s6 0 0 1 -0\r\nx\r\n'], expect: ['cas s6 0 0 18446744073709551615 ="x"', 'error CLIENT_ERROR bad command line format', 'error ERROR', 'error CLIENT_ERROR bad command line format', 'error ERROR', 'cas s6 0 0 0 ="x"'] },
  { name: 'flags truncate to 32 bits like strtoul', chunks: ['set s7 4294967297 0 1\r\nx\r\nset s7 18446744073709551615 0 1\r\nx\r\nset s7 -0 0 1\r\nx\r\nset s7 +7 0 1\r\nx\r\nset s7 \t8 0 1\r\nx\r\nset s7 9\tjunk 0 1\r\nx\r\n'], expect: ['set s7 1 0 ="x"', 'set s7 4294967295 0 ="x"', 'set s7 0 0 ="x"', 'set s7 7 0 ="x"', 'set s7 8 0 ="x"', 'set s7 9 0 ="x"'] },
  { name: 'exptime is a 32-bit int like strtol', chunks: ['set s8 0 -5 1\r\nx\r\nset s8 0 2147483648 1\r\nx\r\nset s8 0 9999999999 1\r\nx\r\n'], expect: ['set s8 0 -5 ="x"', 'set s8 0 -2147483648 ="x"', 'set s8 0 1410065407 ="x"'] },
  { name: 'bytes truncated to 32 bits', chunks: ['set s9 0 0 4294967297\r\nx\r\n'], expect: ['set s9 0 0 ="x"'] },
  { name: '250-byte key', chunks: [`set ${K250} 0 0 1\r\nx\r\n`], expect: [`set ${K250} 0 0 ="x"`] },
  { name: '251-byte key does not swallow the data', chunks: [`set ${K251} 0 0 1\r\nx\r\n`], expect: ['error CLIENT_ERROR bad command line format', 'error ERROR'] },
  { name: '251-byte key with noreply', chunks: [`set ${K251} 0 0 1 noreply\r\nx\r\n`], expect: ['silent', 'error ERROR'] },
  {
    name: 'bad numbers do not swallow the data',
    chunks: ['set s10 -1 0 1\r\nx\r\nset s10 1x 0 1\r\nx\r\nset s10 0 x 1\r\nx\r\nset s10 0 0 -1\r\nx\r\nset s10 0 0 4294967295\r\nx\r\nset s10 0 0 2147483647\r\nx\r\nset s10 18446744073709551616 0 1\r\nx\r\n'],
    expect: Array(7).fill(['error CLIENT_ERROR bad command line format', 'error ERROR']).flat(),
  },
  { name: 'bad data chunk', chunks: ['set s11 0 0 3\r\nabcde\r\n'], expect: ['error CLIENT_ERROR bad data chunk', 'error ERROR'] },
  { name: 'bad data chunk with noreply', chunks: ['set s11 0 0 3 noreply\r\nabcde\r\nget s11\r\n'], expect: ['silent', 'error ERROR', 'get s11'] },
  { name: 'data followed by \\n only', chunks: ['set s11 0 0 1\r\nx\nversion\r\n'], expect: ['error CLIENT_ERROR bad data chunk', 'error ERROR'] },
  { name: 'wrong word counts', chunks: ['set s12 0 0\r\nset s12 0 0 1 noreply extra\r\nx\r\nset\r\n'], expect: ['error ERROR', 'error ERROR', 'error ERROR', 'error ERROR'] },
  { name: 'sixth word that is not noreply', chunks: ['set s13 0 0 1 junk\r\nx\r\n'], expect: ['set s13 0 0 ="x"'] },
  { name: 'too large is swallowed', chunks: [`set s14 0 0 ${MB + 1}\r\n${long(MB + 1, 'v')}\r\nversion\r\n`], expect: ['too_large set s14', 'version'] },
  { name: 'too large with noreply', chunks: [`set s14 0 0 ${MB + 1} noreply\r\n${long(MB + 1, 'v')}\r\nversion\r\n`], expect: ['too_large set s14 noreply', 'version'] },
  { name: 'swallow skips exactly bytes+2', chunks: [`append s14 0 0 ${MB + 1}\r\n${long(MB + 3, 'v')}version\r\n`], expect: ['too_large append s14', 'version'] },
  { name: 'large value', chunks: [`set s15 0 0 500000\r\n${long(500000, 'v')}\r\nget s15\r\n`], expect: ['set s15 0 0 =<500000 bytes>', 'get s15'] },
  { name: 'line ends in \\n only', chunks: ['set s16 0 0 1\nx\r\nget s16\n'], expect: ['set s16 0 0 ="x"', 'get s16'] },
  { name: 'NUL ends the command line', chunks: ['set s17 0 0 1\u0000 noreply\r\nx\r\n'], expect: ['set s17 0 0 ="x"'] },

  // retrieval
  { name: 'get gets bget', chunks: ['get r1 r2 r3\r\ngets r1\r\nbget r1\r\n'], expect: ['get r1,r2,r3', 'gets r1', 'get r1'] },
  { name: 'gat gats', chunks: ['gat 100 r1 r2\r\ngats 0 r1\r\ngat -1 r1\r\ngat 1\r\n'], expect: ['gat @100 r1,r2', 'gats @0 r1', 'gat @-1 r1', 'gat @1 '] },
  { name: 'get without keys', chunks: ['get\r\ngets\r\nbget\r\ngat\r\n'], expect: ['error ERROR', 'error ERROR', 'error ERROR', 'error ERROR'] },
  { name: 'gat with a bad exptime', chunks: ['gat r1\r\ngat x r1\r\n'], expect: ['error CLIENT_ERROR invalid exptime argument', 'error CLIENT_ERROR invalid exptime argument'] },
  { name: 'get with a 251-byte key', chunks: [`get r1 ${K251}\r\n`], expect: ['error CLIENT_ERROR bad command line format'] },
  { name: 'get with more keys than the tokenizer splits at once', chunks: [`get ${Array.from({ length: 30 }, (_, i) => `r${i}`).join(' ')}\r\n`], expect: ['get <30 keys>'] },
  { name: 'long key after the 23rd word', chunks: [`get ${Array.from({ length: 30 }, (_, i) => `r${i}`).join(' ')} ${K251}\r\n`], expect: ['error CLIENT_ERROR bad command line format'] },
  { name: 'spaces: repeated, leading and trailing', chunks: ['get  r1   r2 \r\n   get r1\r\n'], expect: ['get r1,r2', 'get r1'] },
  { name: 'a tab is not a separator', chunks: ['get\tr1\r\nget r1\tr2\r\n'], expect: ['error ERROR', 'get r1\tr2'] },
  { name: 'a lone \\r stays in the key', chunks: ['get r1\r\r\nget r1\rr2\r\n'], expect: ['get r1\r', 'get r1\rr2'] },
  { name: 'NUL ends a get line', chunks: ['get r1\u0000r2\r\nget\u0000 r1\r\n'], expect: ['get r1', 'error ERROR'] },
  { name: 'get noreply is a key', chunks: ['get r1 noreply\r\n'], expect: ['get r1,noreply'] },

  // delete
  { name: 'delete', chunks: ['delete d1\r\ndelete d1 0\r\ndelete d1 noreply\r\ndelete d1 0 noreply\r\n'], expect: ['delete d1', 'delete d1', 'delete d1 noreply', 'delete d1 noreply'] },
  {
    name: 'delete with a hold time',
    chunks: ['delete d1 1\r\ndelete d1 1 noreply\r\ndelete d1 x y\r\ndelete d1 0 0\r\n'],
    expect: ['error CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]', 'silent', 'error CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]', 'error CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]'],
  },
  { name: 'delete word counts', chunks: ['delete\r\ndelete d1 b c d\r\n'], expect: ['error ERROR', 'error ERROR'] },
  { name: 'delete a 251-byte key', chunks: [`delete ${K251}\r\ndelete ${K251} noreply\r\n`], expect: ['error CLIENT_ERROR bad command line format', 'silent'] },

  // incr / decr
  { name: 'incr decr', chunks: ['incr n1 1\r\ndecr n1 18446744073709551615\r\nincr n1 -0\r\nincr n1 5 noreply\r\ndecr n1 1 2\r\n'], expect: ['incr n1 1', 'decr n1 18446744073709551615', 'incr n1 0', 'incr n1 5 noreply', 'decr n1 1'] },
  {
    name: 'incr with a bad delta',
    chunks: ['incr n1 -1\r\nincr n1 x\r\nincr n1 18446744073709551616\r\nincr n1 1x noreply\r\n'],
    expect: ['error CLIENT_ERROR invalid numeric delta argument', 'error CLIENT_ERROR invalid numeric delta argument', 'error CLIENT_ERROR invalid numeric delta argument', 'silent'],
  },
  { name: 'incr word counts and key length', chunks: [`incr n1\r\ndecr\r\nincr n1 1 2 3\r\nincr ${K251} 1\r\n`], expect: ['error ERROR', 'error ERROR', 'error ERROR', 'error CLIENT_ERROR bad command line format'] },

  // touch
  { name: 'touch', chunks: ['touch t1 10\r\ntouch t1 -0 noreply\r\n'], expect: ['touch t1 10', 'touch t1 0 noreply'] },
  { name: 'touch errors', chunks: ['touch t1 x\r\ntouch t1 x noreply\r\ntouch t1\r\n'], expect: ['error CLIENT_ERROR invalid exptime argument', 'silent', 'error ERROR'] },

  // flush_all, verbosity, version, stats, shutdown
  {
    name: 'flush_all',
    chunks: ['flush_all 100000\r\nflush_all 100000 noreply\r\nflush_all -1\r\nflush_all 100000 2\r\n'],
    expect: ['flush_all 100000', 'flush_all 100000 noreply', 'flush_all 0', 'flush_all 100000'],
  },
  { name: 'flush_all errors', chunks: ['flush_all x\r\nflush_all x noreply\r\nflush_all 1 2 3\r\n'], expect: ['error CLIENT_ERROR invalid exptime argument', 'silent', 'error ERROR'] },
  {
    name: 'verbosity',
    chunks: ['verbosity\r\nverbosity noreply\r\nverbosity 1\r\nverbosity x\r\nverbosity 1 noreply\r\nverbosity 0 2\r\nverbosity 1 2 3\r\n'],
    expect: ['error ERROR', 'silent', 'verbosity 1', 'error CLIENT_ERROR bad command line format', 'verbosity 1 noreply', 'verbosity 0', 'error ERROR'],
  },
  { name: 'version ignores arguments', chunks: ['version\r\nversion x\r\n'], expect: ['version', 'version'] },
  { name: 'stats', chunks: ['stats\r\nstats items\r\nstats bogus arg\r\n'], expect: ['stats', 'stats items', 'stats bogus arg'] },
  { name: 'shutdown', chunks: ['shutdown\r\nshutdown graceful\r\nshutdown now\r\n'], expect: ['shutdown', 'shutdown graceful', 'shutdown invalid'] },

  // unknown commands and the HTTP rule
  {
    name: 'unknown commands',
    chunks: ['bogus\r\nx\r\n\r\n\n  \r\nGET k\r\nGet k\r\nSET k 0 0 1\r\nmx k\r\ntXX HTTP/1.1\r\ngXX / HTTP/1.0\r\nx HTTP/1.1\r\nGET / HTTP/1.1 x\r\n'],
    expect: Array(13).fill('error ERROR'),
  },
  { name: 'HTTP request line closes', chunks: ['GET / HTTP/1.0\r\nversion\r\n'], expect: ['close'] },
  { name: 'HTTP with an uppercase verb', chunks: ['DELETE HTTP/1.1\r\n'], expect: ['close'] },
  { name: 'HTTP on a non-meta m command', chunks: ['mget k HTTP/1.1\r\n'], expect: ['close'] },
  { name: 'bare HTTP/', chunks: ['Hx HTTP/\r\n'], expect: ['close'] },
  { name: 'quit', chunks: ['version\r\nquit\r\nversion\r\n'], expect: ['version', 'quit'] },
  { name: 'quit with arguments', chunks: ['quit now\r\n'], expect: ['quit'] },

  // the 2048-byte rule: only a partial line without \n counts
  { name: 'partial incr line over 2048 bytes closes', chunks: [`incr n2${long(2100, ' ')}`, '1\r\n'], expect: ['close'] },
  { name: 'partial set line over 2048 bytes closes', chunks: [`set s18 0 0 1${long(2100, ' ')}`, '\r\nx\r\n'], expect: ['close'] },
  { name: 'a multiget may grow past 2048 bytes', chunks: [`get ${long(1100, 'g ')}`, `${long(1100, 'g ')}\r\n`], expect: ['get <2200 keys>'] },
  { name: 'so may gets after leading spaces', chunks: [`  gets ${long(1100, 'g ')}`, 'g\r\n'], expect: ['gets <1101 keys>'] },
  { name: 'but not after 100 leading spaces', chunks: [`${long(101, ' ')}get ${long(1100, 'g ')}`, 'g\r\n'], expect: ['close'] },
  { name: 'bget is not a multiget here', chunks: [`bget ${long(1100, 'g ')}`, 'g\r\n'], expect: ['close'] },
  { name: 'a long line that arrives whole is served', chunks: [`incr n3 1${long(3000, ' ')}\r\n`], expect: ['incr n3 1'], splitSensitive: true },

  // meta commands
  { name: 'mn mg me md ma', chunks: ['mn\r\nmg m1 v\r\nme m1\r\nmd m1\r\nma m1\r\n'], expect: ['other mn', 'other mg m1 v', 'other me m1', 'other md m1', 'other ma m1'] },
  { name: 'ms', chunks: ['ms m2 2 T0 F5\r\nhi\r\nms m2 0\r\n\r\n'], expect: ['other ms m2 2 T0 F5 ="hi"', 'other ms m2 0 =""'] },
  { name: 'ms bad data chunk', chunks: ['ms m3 2\r\nhiya\r\n'], expect: ['other ms m3 2 bad_chunk', 'error ERROR'] },
  {
    name: 'ms line errors do not swallow',
    chunks: [`ms\r\nms m4\r\nms m4 x\r\nhi\r\nms m4 -1\r\nms ${K251} 2\r\nhi\r\n`],
    expect: ['error ERROR', 'error CLIENT_ERROR bad command line format', 'error CLIENT_ERROR bad command line format', 'error ERROR', 'error CLIENT_ERROR bad command line format', 'error CLIENT_ERROR bad command line format', 'error ERROR'],
  },
  { name: 'ms with too many flags', chunks: [`ms m5 2${' T0'.repeat(17)}\r\nhi\r\n`], expect: ['error CLIENT_ERROR options flags too long', 'error ERROR'] },
  { name: 'ms too large', chunks: [`ms m6 ${MB + 1}\r\n${long(MB + 1, 'v')}\r\nversion\r\n`], expect: ['other ms m6 1048577 too_large', 'version'] },

  // admin commands handed to the server
  { name: 'admin commands', chunks: ['cache_memlimit 100\r\nslabs automove 0\r\nlru_crawler tocrawl 0\r\n'], expect: ['other cache_memlimit 100', 'other slabs automove 0', 'other lru_crawler tocrawl 0'] },
  { name: 'admin word counts', chunks: ['cache_memlimit\r\ncache_memlimit 1 2 3\r\nlru\r\n'], expect: ['error ERROR', 'error ERROR', 'error ERROR'] },

  // a pipeline of everything
  {
    name: 'pipeline',
    chunks: ['set p1 5 0 3\r\nabc\r\nget p1 p2\r\nincr p3 1\r\ndelete p1\r\nbogus\r\ntouch p1 1\r\nset p1 0 0 1\r\nabcd\r\nmn\r\nversion\r\n'],
    expect: ['set p1 5 0 ="abc"', 'get p1,p2', 'incr p3 1', 'delete p1', 'error ERROR', 'touch p1 1', 'error CLIENT_ERROR bad data chunk', 'error ERROR', 'other mn', 'version'],
  },
];

/** Fixtures whose outcome does not depend on how the bytes are split. */
export const splitIndependent = fixtures.filter((f) => f.chunks.length === 1 && !f.splitSensitive);

/** xorshift32 in [0, 1): reproducible random input without a dependency. */
export const rng = (seed: number) => () => {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return (seed >>> 0) / 2 ** 32;
};

type Random = () => number;
type Gen = (r: Random, maxItemSize: number) => [string, string[]];
const int = (r: Random, n: number) => Math.floor(r() * n);
const key = (r: Random) => `k${int(r, 1000)}`;
const data = (r: Random, n: number) => Array.from({ length: n }, () => String.fromCharCode(int(r, 256))).join('');
const noreply = (r: Random) => (r() < 0.3 ? ' noreply' : '');

const gens: Gen[] = [
  (r) => {
    const k = key(r), f = int(r, 70000), e = int(r, 100) - 10, d = data(r, int(r, 25)), n = noreply(r);
    const op = ['set', 'add', 'replace', 'append', 'prepend'][int(r, 5)];
    return [`${op} ${k} ${f} ${e} ${d.length}${n}\r\n${d}\r\n`, [`${op} ${k} ${f} ${e}${n} =${JSON.stringify(d)}`]];
  },
  (r) => {
    const k = key(r), c = int(r, 1e9), d = data(r, int(r, 10)), n = noreply(r);
    return [`cas ${k} 0 0 ${d.length} ${c}${n}\r\n${d}\r\n`, [`cas ${k} 0 0 ${c}${n} =${JSON.stringify(d)}`]];
  },
  (r) => {
    const keys = Array.from({ length: 1 + int(r, 5) }, () => key(r));
    return [`get ${keys.join(' ')}\r\n`, [`get ${keys.join(',')}`]];
  },
  (r) => { const k = key(r), n = noreply(r); return [`delete ${k}${n}\r\n`, [`delete ${k}${n}`]]; },
  (r) => { const k = key(r), d = int(r, 1e6), n = noreply(r); return [`incr ${k} ${d}${n}\r\n`, [`incr ${k} ${d}${n}`]]; },
  (r) => { const k = key(r), e = int(r, 1e4), n = noreply(r); return [`touch ${k} ${e}${n}\r\n`, [`touch ${k} ${e}${n}`]]; },
  (r) => {
    // 2 bytes announced, 4 sent: the last 2 fail the \r\n check, the real \r\n is an empty line
    const n = noreply(r);
    return [`set bad 0 0 2${n}\r\nabcd\r\n`, [n ? 'silent' : 'error CLIENT_ERROR bad data chunk', 'error ERROR']];
  },
  () => ['bogus command\r\n', ['error ERROR']],
  () => ['version\r\n', ['version']],
  (r) => { const n = noreply(r); return [`set ${K251} 0 0 1${n}\r\n`, [n ? 'silent' : 'error CLIENT_ERROR bad command line format']]; },
];

const tooLargeGen: Gen = (r, max) => {
  const n = noreply(r), size = max + 1 + int(r, 100);
  return [`set big 0 0 ${size}${n}\r\n${'x'.repeat(size)}\r\n`, [`too_large set big${n}`]];
};

/** A random pipeline of 1..30 commands (good and bad) and what the parser must make of it. */
export function randomPipeline(r: Random, maxItemSize: number, opts: { tooLarge?: boolean } = {}): Fixture {
  const pool = opts.tooLarge === false ? gens : [...gens, tooLargeGen];
  let text = '';
  const expect: string[] = [];
  for (let i = 0, n = 1 + int(r, 30); i < n; i++) {
    const [t, e] = pool[int(r, pool.length)](r, maxItemSize);
    text += t;
    expect.push(...e);
  }
  return { name: 'random pipeline', chunks: [text], expect };
}
