/**
 * Differential test: the same command streams go to Debian's memcached and to repcache, in one write,
 * split at every byte and split at random points; the replies must be the same bytes (only CAS numbers,
 * the version number and stats values are normalised). repcache-random-differential.test.ts sends generated streams.
 */
import { describe, expect, it } from 'vitest';
import { OWN_SETTINGS_NAMES, OWN_STAT_NAMES } from '../../src/server/stats.ts';
import { McClient } from '../support/mc-client.ts';
import { useReferencePair, type CacheInstance } from './repcache-harness.ts';
import { mulberry32 } from '../support/prng.ts';
import { normalise, SENTINEL, SENTINEL_REPLY } from '../support/differential.ts';

interface Case {
  name: string;
  /** Sent (and its reply discarded) before the stream; `{CAS:key}` in the stream is then filled from `gets key`. */
  setup?: string;
  stream: string;
  /** The server closes the connection at the end of the stream. */
  closes?: boolean;
  /** Only sent in one write (the reply depends on how the bytes arrive, e.g. the 2048-byte rule). */
  noSplit?: boolean;
  /** Not part of the all-cases pipeline. */
  alone?: boolean;
}

const key250 = 'k'.repeat(250);
const key251 = 'k'.repeat(251);
const now = Math.floor(Date.now() / 1000);
const big = 'x'.repeat(1024 * 1024 + 1);

const cases: Case[] = [
  { name: 'set/get', stream: 'set a 0 0 5\r\nhello\r\nget a\r\nget  a\r\n' },
  { name: 'multi-get with misses and flags', stream: 'set a 0 0 1\r\n1\r\nset b 65535 0 1\r\n2\r\nset c 4294967295 0 2\r\nyy\r\nget a nokey b c a\r\n' },
  { name: 'flags out of range', stream: 'set f 4294967296 0 1\r\nx\r\nset f -1 0 1\r\nx\r\n' },
  { name: 'gets', stream: 'set g 7 0 3\r\nabc\r\ngets g nokey g\r\nbget g\r\n' },
  { name: 'cas stored, exists, not found', setup: 'set cask 0 0 1\r\na\r\n', stream: 'cas cask 3 0 1 {CAS:cask}\r\nb\r\ncas cask 0 0 1 {CAS:cask}\r\nc\r\ncas nokey 0 0 1 1\r\nd\r\ngets cask\r\n' },
  { name: 'cas noreply and bad cas', setup: 'set cas2 0 0 1\r\na\r\n', stream: 'cas cas2 0 0 1 {CAS:cas2} noreply\r\nb\r\ncas cas2 0 0 1 abc\r\nc\r\ncas cas2 0 0 1\r\nget cas2\r\n' },
  { name: 'add/replace/append/prepend', stream: 'add k 0 0 1\r\na\r\nadd k 0 0 1\r\nb\r\nreplace k 5 0 1\r\nc\r\nreplace nok 0 0 1\r\nd\r\nappend k 9 0 2\r\nxy\r\nprepend k 9 0 2\r\nzz\r\nappend nok 0 0 1\r\ne\r\nprepend nok 0 0 1\r\ne\r\ngets nok\r\nget k\r\n' },
  { name: 'zero-length value', stream: 'set z 0 0 0\r\n\r\nget z\r\nappend z 0 0 0\r\n\r\nget z\r\n' },
  { name: 'bad data chunk', stream: 'set k 0 0 3\r\nabcde\r\nget k\r\n' },
  { name: 'bad data chunk, missing \\r', stream: 'set k 0 0 3\r\nabc\nget k\r\n' },
  { name: '250-byte key', stream: `set ${key250} 0 0 1\r\nx\r\nget ${key250}\r\ndelete ${key250}\r\n` },
  { name: '251-byte key does not swallow the data', stream: `set ${key251} 0 0 1\r\nx\r\nincr ${key251} 1\r\ndelete ${key251}\r\ntouch ${key251} 1\r\n` },
  // memcached 1.6.18 drops the replies queued before a too-long get key in the same read: keep these first.
  { name: 'get with a 251-byte key', stream: `get ${key251}\r\n`, alone: true },
  { name: 'multi-get with a 251-byte key', stream: `get a ${key251}\r\n`, alone: true },
  { name: 'bad numbers on storage commands', stream: 'set k abc 0 1\r\nx\r\nset k 0 abc 1\r\nx\r\nset k 0 0 -1\r\nset k 0 0 abc\r\nset k 0 0 4294967295\r\nset k 0 0 2147483647\r\nget k\r\n' },
  { name: 'wrong token counts', stream: 'set k 0 0\r\nset k 0 0 1 noreply extra\r\nx\r\ncas k 0 0 1\r\nget\r\ngets\r\nincr k\r\ndecr\r\ndelete\r\ntouch k\r\ngat 10\r\nverbosity\r\nflush_all 1 2 3\r\n' },
  { name: 'empty and unknown commands', stream: '\r\nboguscommand foo\r\nmx foo\r\nGET a\r\nSet a 0 0 1\r\n \r\nversion\r\n' },
  { name: 'bare \\n line endings', stream: 'set n 0 0 1\nx\r\nget n\nversion\n' },
  { name: 'too large: swallowed, old value unlinked', stream: `set big 0 0 1\r\nx\r\nset big 0 0 ${big.length}\r\n${big}\r\nget big\r\nadd big2 0 0 ${big.length} noreply\r\n${big}\r\nget big2\r\n`, noSplit: true },
  { name: 'negative exptime', stream: 'set n 0 -1 1\r\nx\r\nget n\r\nadd n 0 0 1\r\ny\r\nget n\r\n' },
  { name: '30-day exptime boundary', stream: 'set r 0 2592000 1\r\nx\r\nset s 0 2592001 1\r\nx\r\nget r s\r\n' },
  { name: 'absolute exptime', stream: `set fut 0 ${now + 3600} 1\r\nx\r\nset past 0 ${now - 10} 1\r\nx\r\nget fut past\r\n` },
  { name: 'incr/decr', stream: 'set n 0 0 2\r\n10\r\nincr n 5\r\ndecr n 100\r\nget n\r\nincr n 18446744073709551615\r\nincr n 1\r\nincr nokey 1\r\ndecr nokey 1\r\n' },
  { name: 'incr wraps at 2^64', stream: 'set w 0 0 20\r\n18446744073709551615\r\nincr w 1\r\nget w\r\nincr w 18446744073709551615\r\n' },
  { name: 'decr floors and pads', stream: 'set d 0 0 3\r\n100\r\ndecr d 1\r\nget d\r\ndecr d 1000\r\nget d\r\nset e 0 0 1\r\n9\r\nincr e 1\r\nget e\r\n' },
  { name: 'incr errors', stream: 'set t 0 0 3\r\nabc\r\nincr t 1\r\nset z 0 0 0\r\n\r\nincr z 1\r\nset n 0 0 1\r\n1\r\nincr n abc\r\nincr n -1\r\nincr n 18446744073709551616\r\ndecr n 1 noreply\r\nget n\r\nset neg 0 0 2\r\n-1\r\nincr neg 1\r\n' },
  { name: 'noreply everywhere', stream: 'set q 0 0 1 noreply\r\na\r\nadd q 0 0 1 noreply\r\nb\r\nreplace q 0 0 1 noreply\r\nc\r\nappend q 0 0 1 noreply\r\nd\r\nprepend q 0 0 1 noreply\r\ne\r\nget q\r\nset qn 0 0 1 noreply\r\n5\r\nincr qn 1 noreply\r\ntouch qn 10 noreply\r\ndelete q noreply\r\ndelete q noreply\r\nincr nokey 1 noreply\r\nflush_all noreply\r\nverbosity 1 noreply\r\nget q qn\r\n' },
  { name: 'errors with noreply', stream: 'set k 0 0 3 noreply\r\nabcde\r\nincr k abc noreply\r\nset k abc 0 1 noreply\r\nx\r\n' },
  { name: 'delete', stream: 'set k 0 0 1\r\nx\r\ndelete k 0\r\ndelete k\r\nset k 0 0 1\r\nx\r\ndelete k 5\r\ndelete k noreply\r\nget k\r\ndelete k 0 noreply\r\ndelete k x y\r\n' },
  { name: 'touch, gat, gats', stream: 'set t 3 0 1\r\nx\r\ntouch t 100\r\ntouch nokey 10\r\ntouch t abc\r\ngat 100 t nokey\r\ngats 0 t\r\ngat abc t\r\ngat -1 t\r\nget t\r\n' },
  { name: 'flush_all forms', stream: 'set k 0 0 1\r\nx\r\nflush_all\r\nget k\r\nset k 0 0 1\r\ny\r\nget k\r\nflush_all 0\r\nflush_all -1\r\nflush_all abc\r\nflush_all 100\r\nset k2 0 0 1\r\nz\r\nget k2\r\nflush_all\r\n' },
  { name: 'verbosity', stream: 'verbosity 1\r\nverbosity 0\r\nverbosity abc\r\nverbosity 1 2\r\n' },
  { name: 'version', stream: 'version\r\nversion extra\r\n' },
  { name: 'shutdown not enabled', stream: 'shutdown\r\nshutdown graceful\r\nshutdown bogus\r\n' },
  { name: 'stats errors', stream: 'stats bogus\r\nstats detail\r\nstats detail bogus\r\nstats cachedump 1\r\nstats cachedump 200 1\r\nstats cachedump x 1\r\nstats sizes\r\n' },
  { name: 'stats detail', stream: 'stats detail on\r\nset p:1 0 0 1\r\nx\r\nget p:1 p:2\r\ndelete p:1\r\nstats detail dump\r\nstats detail off\r\n' },
  { name: 'stats reset', stream: 'stats reset\r\n' },
  { name: 'meta set/get/noop', stream: 'ms mk 2 T0 F5\r\nhi\r\nmg mk v f t s k\r\nmg mk\r\nmg nokey v q\r\nmg nokey v\r\nmn\r\nms mk 2 q\r\nho\r\nmg mk v O123 q\r\nmn\r\n' },
  { name: 'meta arithmetic and delete', stream: 'ma num N0 J13 v\r\nma num v D10\r\nma num v MD D100\r\nma nokey\r\nmd num q\r\nmd num\r\nmg num v\r\nmn\r\n' },
  { name: 'meta errors', stream: 'mg\r\nms mk\r\nms mk abc\r\nmg mk ?\r\nma num D-1\r\nms mk 2 MX\r\nhi\r\n' },
  { name: 'meta recache tokens', setup: 'set sw 0 100 1\r\nx\r\n', stream: 'mg sw R200 s\r\nmg sw R200 s h\r\nmg sw R50 s\r\nmg nokey R200 s\r\nmg sw u v\r\n' },
  { name: 'meta vivify on miss', stream: 'mg viv N30 s v\r\nmg viv s v\r\nms viv 3 T0\r\nabc\r\nmg viv v s h\r\nmg viv2 N30 q\r\nmn\r\n' },
  { name: 'meta invalidation', setup: 'set inv 0 0 1\r\nx\r\n', stream: 'md inv I T30\r\nmg inv s v\r\nmg inv s\r\nms inv 1 I C{CAS:inv}\r\ny\r\nmg inv v\r\nms inv 1 C{CAS:inv}\r\nz\r\nmd inv q\r\nmg inv\r\nmd inv I\r\n' },
  { name: 'meta arithmetic with CAS and vivify', setup: 'set mac 0 0 1\r\n5\r\n', stream: 'ma mac C{CAS:mac} v\r\nma mac C{CAS:mac} v\r\nma mac C0 v\r\nma viv N0 J7 v q\r\nma viv2 N0 q\r\nma mac v q\r\nma mac MD D9 v t\r\nmn\r\n' },
  { name: 'meta base64 keys', stream: 'ms YWJj 2 b k\r\nhi\r\nmg YWJj b k v\r\nget abc\r\nmg abc k v\r\nmg YWJj k\r\nmd YWJj b k q\r\nmg abc\r\nmg Y!Q= b\r\nmg ==== b\r\nma YQ== b N0 k v\r\n' },
  { name: 'a NUL ends a meta line', stream: 'set ab 0 0 1\r\nx\r\nmg ab\0cd v\r\nmg ab v\0 k\r\nms nb 1 T0\0 F5\r\nz\r\nmg nb f v\r\nms ab\0x 1\r\nma n\0 N0\r\nmg \0ab v\r\nme zz\0\r\nmd ab\0\r\nmg ab\r\nmn\0x\r\n' },
  { name: 'meta flags every command accepts', setup: 'set fl 5 0 1\r\n1\r\n', stream: 'mg fl MD D10 s f\r\nmd nokey v f t\r\nma fl s f h\r\nms fl 1 h l u R1\r\n2\r\nmg fl v f\r\n' },
  { name: 'meta error order', stream: 'ms m 2 Mx\r\nhiya\r\nms m 2 T1a\r\nhiya\r\nms m 2 O123456789012345678901234567890123 Mx\r\nhi\r\nmg nokey q O123456789012345678901234567890123\r\nmd k E5\r\nma k MM\r\nma k Mx\r\nmg k T1a R1b\r\nmg k F1a\r\nmg k T1a F1a\r\n' },
  { name: 'get with 2048+ spaces is allowed', stream: `set a 0 0 1\r\nx\r\nget${' '.repeat(2100)}a\r\n`, noSplit: true },
  { name: 'partial non-get line over 2048 bytes closes', stream: `incr${' '.repeat(2100)}`, noSplit: true, closes: true },
  { name: 'HTTP/ request line closes', stream: 'GET / HTTP/1.0\r\n', closes: true },
  // memcached drops replies still queued in the same read when it closes: no commands before the HTTP line.
  { name: 'HTTP/ closes before later commands', setup: 'set a 0 0 1\r\nx\r\n', stream: 'PUT /foo HTTP/1.1\r\nget a\r\n', closes: true },
  { name: 'HTTP/ as the last token of any command closes', stream: 'DELETE HTTP/1.1\r\n', closes: true },
  { name: 'quit', stream: 'set a 0 0 1\r\nx\r\nquit\r\nget a\r\n', closes: true },
];

/** Splits data at the given ascending offsets. */
function splitAt(data: Buffer, points: number[]): Buffer[] {
  const parts: Buffer[] = [];
  let from = 0;
  for (const p of points) { parts.push(data.subarray(from, p)); from = p; }
  parts.push(data.subarray(from));
  return parts.filter((p) => p.length > 0);
}

class Runner {
  readonly server: CacheInstance;
  #client: McClient | null = null;
  constructor(server: CacheInstance) { this.server = server; }

  async client(): Promise<McClient> {
    if (!this.#client || this.#client.isClosed) this.#client = await McClient.connect(this.server.port);
    return this.#client;
  }

  /** Resets the cache, runs the setup, sends the stream in the given parts, returns the reply. */
  async run(c: Case, split: (stream: Buffer) => Buffer[]): Promise<string> {
    let client = await this.client();
    await client.request('flush_all\r\n', 'OK\r\n');
    let stream = c.stream;
    if (c.setup) {
      await client.request(c.setup + SENTINEL, SENTINEL_REPLY);
      for (const [, key] of stream.matchAll(/\{CAS:(\S+?)\}/g)) {
        const reply = await client.request(`gets ${key}\r\n`, 'END\r\n');
        const id = /^VALUE \S+ \d+ \d+ (\d+)\r$/m.exec(reply)?.[1];
        if (!id) throw new Error(`no CAS for ${key}: ${reply}`);
        stream = stream.replaceAll(`{CAS:${key}}`, id);
      }
    }
    const data = Buffer.from(c.closes ? stream : stream + SENTINEL, 'latin1');
    const parts = split(data);
    for (let i = 0; i < parts.length; i++) {
      if (i > 0) await new Promise((r) => setImmediate(r));
      client.send(parts[i]);
    }
    if (c.closes) {
      await client.waitClosed(5000).catch(() => {});
      const reply = client.take() + (client.isClosed ? '<closed>' : '<open>');
      this.close();
      return reply;
    }
    try {
      return (await client.readUntil((s) => s.endsWith(SENTINEL_REPLY), 5000)).slice(0, -SENTINEL_REPLY.length);
    } catch (err) {
      this.close();
      return `<no sentinel: ${(err as Error).message.slice(0, 300)}>`;
    }
  }

  close(): void {
    this.#client?.close();
    this.#client = null;
  }
}

describe('repcache vs memcached: same bytes in, same bytes out', () => {
  const pair = useReferencePair((server) => new Runner(server), (runner) => runner.close());

  async function compare(c: Case, label: string, split: (d: Buffer) => Buffer[]): Promise<void> {
    const expected = normalise(await pair.memcached.run(c, split));
    const actual = normalise(await pair.target.run(c, split));
    expect(actual, `${c.name} (${label})`).toBe(expected);
  }

  it.each(cases.map((c) => [c.name, c] as const))('%s: one write', async (_, c) => {
    await compare(c, 'one write', (d) => [d]);
  });

  it.each(cases.filter((c) => !c.noSplit && !c.closes).map((c) => [c.name, c] as const))('%s: split at every byte', async (_, c) => {
    const len = Buffer.byteLength(c.stream, 'latin1');
    for (let at = 1; at < len; at++) await compare(c, `split at byte ${at}`, (d) => splitAt(d, [at]));
  });

  it.each(cases.filter((c) => !c.noSplit).map((c, i) => [c.name, c, i] as const))('%s: random splits', async (_, c, i) => {
    const rnd = mulberry32(1000 + i);
    const len = Buffer.byteLength(c.stream, 'latin1');
    for (let round = 0; round < 5; round++) {
      const points = [...new Set(Array.from({ length: 1 + Math.floor(rnd() * 6) }, () => 1 + Math.floor(rnd() * (len - 1))))].sort((a, b) => a - b);
      await compare(c, `split at ${points.join(',')}`, (d) => splitAt(d, points));
    }
  });

  it('every case pipelined in one write', async () => {
    const all = cases.filter((c) => !c.closes && !c.setup && !c.alone && !c.name.startsWith('flush_all') && !c.noSplit);
    const stream = all.map((c) => c.stream).join('');
    await compare({ name: 'all cases pipelined', stream }, 'one write', (d) => [d]);
  });

  it('stats settings has memcached\'s names', async () => {
    const c: Case = { name: 'stats settings', stream: 'stats settings\r\n' };
    const names = (reply: string) => reply.split('\r\n').filter((l) => l.startsWith('STAT ')).map((l) => l.split(' ')[1]);
    // Build-specific settings of Debian's memcached (TLS, extstore, NAPI, memory file) need not be there.
    const optional = new RegExp(`^(ssl_|ext_|num_napi_ids|memory_file|drop_privileges|.*proxy|${OWN_SETTINGS_NAMES.join('|')})`);
    const expected = names(await pair.memcached.run(c, (d) => [d])).filter((n) => !optional.test(n));
    const actual = names(await pair.target.run(c, (d) => [d])).filter((n) => !optional.test(n));
    expect(actual).toEqual(expected);
  });

  it('stats, stats items and stats slabs have memcached\'s names', async () => {
    const c: Case = { name: 'stats names', stream: 'set s1 0 0 10\r\n0123456789\r\nget s1\r\nstats\r\nstats items\r\nstats slabs\r\n' };
    // Which slab classes hold items depends on each server's history: compare the per-class field names only.
    const names = (reply: string) => [...new Set(reply.split('\r\n').filter((l) => l.startsWith('STAT '))
      .map((l) => l.split(' ')[1].replace(/^(items:)?\d+:/, '$1N:')))];
    const expected = names(await pair.memcached.run(c, (d) => [d]));
    const actual = names(await pair.target.run(c, (d) => [d]));
    // memcached's general stats include build-specific lines (TLS, libevent, extstore) repcache need not have.
    const optional = new RegExp(`^(libevent|ssl_|time_in_listen_disabled_us|rejected_connections|listen_disabled_num|unexpected_napi_ids|round_robin_fallback|.*extstore|log_|lru_bumps_dropped|reserved_fds|${OWN_STAT_NAMES.join('|')})`);
    expect(actual.filter((n) => !optional.test(n))).toEqual(expected.filter((n) => !optional.test(n)));
  });
});
