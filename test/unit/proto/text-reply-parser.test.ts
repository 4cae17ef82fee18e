import { describe, expect, it } from 'vitest';
import { Reply, ReplyParser, ReplyProtocolError, replyName, type ReplyElement } from '../../../src/proto/text/reply-parser.ts';

const bytes = (s: string): Buffer => Buffer.from(s, 'latin1');

/** One line per element: kind, the element's bytes, and the key and data where there are some. */
function describeElement(e: ReplyElement): string {
  const raw = e.buf.toString('latin1', e.start, e.end);
  let s = `${replyName(e.kind)} ${JSON.stringify(raw)}`;
  if (e.kind === Reply.VALUE) s += ` key=${e.buf.toString('latin1', e.keyStart, e.keyEnd)}`;
  if (e.dataEnd > e.dataStart) s += ` data=${JSON.stringify(e.buf.toString('latin1', e.dataStart, e.dataEnd))}`;
  return s;
}

function parseAll(chunks: Buffer[]): string[] {
  const out: string[] = [];
  const p = new ReplyParser((e) => out.push(describeElement(e)));
  for (const c of chunks) p.push(c);
  if (p.pending > 0) out.push(`pending ${p.pending}`);
  return out;
}

/** What memcached 1.6.18 sends (as Debian's memcached answers the commands in the comments). */
const STREAM = [
  // set a 0 0 5 / get a b / gets a
  'STORED\r\n',
  'VALUE a 0 5\r\nhello\r\nEND\r\n',
  'VALUE a 0 5 12\r\nhello\r\nEND\r\n',
  // add a / replace zz / cas a 0 0 1 1 / delete a / delete a / incr n 1 / touch n 10 / flush_all / verbosity 1
  'NOT_STORED\r\n', 'NOT_STORED\r\n', 'EXISTS\r\n', 'DELETED\r\n', 'NOT_FOUND\r\n', '42\r\n', 'TOUCHED\r\n', 'OK\r\n', 'OK\r\n',
  // version / stats (cut) / bogus / bad set line / too large
  'VERSION 1.6.18\r\n',
  'STAT pid 1\r\nSTAT uptime 2\r\nEND\r\n',
  'ERROR\r\n', 'CLIENT_ERROR bad command line format\r\n', 'SERVER_ERROR object too large for cache\r\n',
  // mg a v / mg zz / ms a 2 q... / md / ma / mn / me a
  'VA 5 f0\r\nhello\r\n', 'EN\r\n', 'HD c7\r\n', 'NS\r\n', 'NF\r\n', 'EX\r\n', 'MN\r\n',
  'ME a exp=-1 la=0 cas=7 fetch=no cls=1 size=63\r\n',
  // binary-safe values and an empty one
  'VALUE bin 7 4\r\n\r\n\0\n\r\nVALUE empty 0 0\r\n\r\nEND\r\n',
  'ERROR Too many open connections\r\n', 'RESET\r\n',
].join('');

const EXPECT = [
  'STORED "STORED\\r\\n"',
  'VALUE "VALUE a 0 5\\r\\nhello\\r\\n" key=a data="hello"', 'END "END\\r\\n"',
  'VALUE "VALUE a 0 5 12\\r\\nhello\\r\\n" key=a data="hello"', 'END "END\\r\\n"',
  'NOT_STORED "NOT_STORED\\r\\n"', 'NOT_STORED "NOT_STORED\\r\\n"', 'EXISTS "EXISTS\\r\\n"', 'DELETED "DELETED\\r\\n"',
  'NOT_FOUND "NOT_FOUND\\r\\n"', 'NUMBER "42\\r\\n"', 'TOUCHED "TOUCHED\\r\\n"', 'OK "OK\\r\\n"', 'OK "OK\\r\\n"',
  'VERSION "VERSION 1.6.18\\r\\n"',
  'STAT "STAT pid 1\\r\\n"', 'STAT "STAT uptime 2\\r\\n"', 'END "END\\r\\n"',
  'ERROR "ERROR\\r\\n"', 'CLIENT_ERROR "CLIENT_ERROR bad command line format\\r\\n"',
  'SERVER_ERROR "SERVER_ERROR object too large for cache\\r\\n"',
  'VA "VA 5 f0\\r\\nhello\\r\\n" data="hello"', 'EN "EN\\r\\n"', 'HD "HD c7\\r\\n"', 'NS "NS\\r\\n"', 'NF "NF\\r\\n"', 'EX "EX\\r\\n"',
  'MN "MN\\r\\n"', 'ME "ME a exp=-1 la=0 cas=7 fetch=no cls=1 size=63\\r\\n"',
  'VALUE "VALUE bin 7 4\\r\\n\\r\\n\\u0000\\n\\r\\n" key=bin data="\\r\\n\\u0000\\n"', 'VALUE "VALUE empty 0 0\\r\\n\\r\\n" key=empty',
  'END "END\\r\\n"', 'ERROR "ERROR Too many open connections\\r\\n"', 'RESET "RESET\\r\\n"',
];

describe('ReplyParser', () => {
  it('parses every kind of reply memcached sends', () => {
    expect(parseAll([bytes(STREAM)])).toEqual(EXPECT);
  });

  it('gives the same elements however the stream is split (every offset, and byte by byte)', () => {
    const all = bytes(STREAM);
    for (let i = 1; i < all.length; i++) {
      const got = parseAll([all.subarray(0, i), all.subarray(i)]);
      if (got.join('\n') !== EXPECT.join('\n')) expect({ split: i, got }).toEqual({ split: i, got: EXPECT });
    }
    expect(parseAll(Array.from({ length: all.length }, (_, i) => all.subarray(i, i + 1)))).toEqual(EXPECT);
  });

  it('a chunk the caller reuses after push() does not change what is held', () => {
    const out: string[] = [];
    const p = new ReplyParser((e) => out.push(describeElement(e)));
    const shared = Buffer.alloc(64);
    const feed = (s: string) => {
      shared.fill(0x58);
      const n = shared.write(s, 'latin1');
      p.push(shared, n);
    };
    feed('VALUE k 1 3\r\nab');
    feed('c\r\nEND\r\nSTO');
    feed('RED\r\n');
    expect(out).toEqual(['VALUE "VALUE k 1 3\\r\\nabc\\r\\n" key=k data="abc"', 'END "END\\r\\n"', 'STORED "STORED\\r\\n"']);
  });

  it('a 1 MB value arriving in 64 KB chunks is one element, held once', () => {
    const value = Buffer.alloc(1024 * 1024, 0x61);
    const all = Buffer.concat([bytes('VALUE big 0 1048576\r\n'), value, bytes('\r\nEND\r\n')]);
    const got: number[] = [];
    const p = new ReplyParser((e) => got.push(e.kind === Reply.VALUE ? e.dataEnd - e.dataStart : -e.kind));
    for (let i = 0; i < all.length; i += 65536) p.push(all.subarray(i, i + 65536));
    expect(got).toEqual([1024 * 1024, -Reply.END]);
    expect(p.pending).toBe(0);
  });

  it('refuses what is not memcached protocol, with the reason', () => {
    const bad: [string, RegExp][] = [
      ['HTTP/1.1 200 OK\r\n', /unexpected reply line "HTTP\/1.1 200 OK"/],
      ['VALUE k 0 3\r\nabcX\r\n', /data block of 3 bytes not followed by \\r\\n/],
      ['VALUE k 0 x\r\n', /VALUE line with a bad length/],
      ['VALUE k\r\n', /VALUE line without key/],
      ['VA -1\r\n', /VA line with a bad length/],
      ['STOREDX\r\n', /unexpected reply line "STOREDX"/],
      ['\x00\x01\r\n', /unexpected reply line "\\x00\\x01"/],
      ['', /./],
    ];
    for (const [input, why] of bad.slice(0, -1)) {
      const p = new ReplyParser(() => {});
      expect(() => p.push(bytes(input)), input).toThrow(ReplyProtocolError);
      expect(() => new ReplyParser(() => {}).push(bytes(input))).toThrow(why);
      expect(() => p.push(bytes('END\r\n'))).toThrow(/after a protocol error/);
    }
    const long = new ReplyParser(() => {}, { maxLineLength: 100 });
    expect(() => long.push(bytes('STAT '.padEnd(101, 'x')))).toThrow(/longer than 100 bytes/);
    const big = new ReplyParser(() => {}, { maxValueLength: 10 });
    expect(() => big.push(bytes('VALUE k 0 11\r\n'))).toThrow(/bad length/);
  });

  it('elements before a malformed one are delivered', () => {
    const out: string[] = [];
    const p = new ReplyParser((e) => out.push(replyName(e.kind)));
    expect(() => p.push(bytes('STORED\r\nEND\r\nbogus\r\n'))).toThrow(ReplyProtocolError);
    expect(out).toEqual(['STORED', 'END']);
  });
});
