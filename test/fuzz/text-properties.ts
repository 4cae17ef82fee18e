/**
 * Properties of the memcached text protocol codecs: the request parser, the reply parser, meta flags and the UDP
 * frame. Run by test/unit/fuzz/codecs.test.ts (a few hundred inputs each) and by `npm run fuzz -- codecs`.
 */
import fc from 'fast-check';
import type { TextCommand } from '../../src/proto/text/commands.ts';
import { MetaCommandError, decodeBase64Key, parseMetaFlags } from '../../src/proto/text/meta-flags.ts';
import { TextParser } from '../../src/proto/text/parser.ts';
import { Replies, numberReply, statLine, valueHeader, versionReply } from '../../src/proto/text/replies.ts';
import { ReplyParser, ReplyProtocolError, type ReplyElement } from '../../src/proto/text/reply-parser.ts';
import { UDP_HEADER_SIZE, UdpFrameError, decodeUdpFrame, encodeUdpReply, writeUdpHeader } from '../../src/proto/text/udp-frame.ts';
import { encodeArith, encodeDelete, encodeFlush, encodeGet, encodeStats, encodeStore, encodeTouch } from '../../src/proxy/encode.ts';
import { OutBuffer } from '../../src/net/out-buffer.ts';
import { anyBytes, cuts, gluedBytes, keyBytes, onlyThrows, own, same, split, type NamedProperty } from './shared.ts';

const latin1 = (b: Buffer) => b.toString('latin1');
const u32 = fc.nat({ max: 0xffffffff });
const i32 = fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 });
const u64 = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n });
const MAX_ITEM = 4096;

/** A parsed command as plain data (the parser's views are copied). */
function seen(c: TextCommand): unknown {
  switch (c.kind) {
    case 'store': return { kind: c.kind, op: c.op, key: latin1(c.key), flags: c.flags, exptime: c.exptime, cas: String(c.cas), noreply: c.noreply, data: latin1(c.data) };
    case 'get': return { kind: c.kind, op: c.op, exptime: c.exptime, keys: c.keys.map(latin1) };
    case 'delete': case 'too_large': return { ...c, key: latin1(c.key) };
    case 'arith': return { ...c, key: latin1(c.key), delta: String(c.delta) };
    case 'touch': return { ...c, key: latin1(c.key) };
    case 'other': return { kind: c.kind, name: c.name, tokens: c.tokens, line: latin1(c.line), data: c.data && latin1(c.data), tooLarge: c.tooLarge, badChunk: c.badChunk };
    case 'error': return { kind: c.kind, reply: latin1(c.reply), close: c.close };
    default: return { ...c };
  }
}

function parseText(chunks: Buffer[], maxItemSize = MAX_ITEM): unknown[] {
  const out: unknown[] = [];
  const p = new TextParser({ maxItemSize }, (c) => out.push(seen(c)));
  for (const c of chunks) p.push(c);
  return out;
}

/** One request: its bytes and the command the parser must read from them. */
interface Request { bytes: Buffer; want: unknown }

const out = () => new OutBuffer();
const taken = (o: OutBuffer) => Buffer.from(o.take());
const sp = (...parts: (string | Buffer)[]) => Buffer.concat(parts.flatMap((p, i) => [i ? Buffer.from(' ') : Buffer.alloc(0), typeof p === 'string' ? Buffer.from(p, 'latin1') : p]));
const crlf = Buffer.from('\r\n');

const storeOp = fc.constantFrom('set', 'add', 'replace', 'append', 'prepend', 'cas' as const);
const store: fc.Arbitrary<Request> = fc
  .record({ op: storeOp, key: keyBytes(), flags: u32, exptime: i32, cas: u64, data: fc.uint8Array({ maxLength: 300 }), noreply: fc.boolean(), proxy: fc.boolean() })
  .map(({ op, key, flags, exptime, cas, data, noreply, proxy }) => {
    const d = Buffer.from(data);
    const c = { kind: 'store' as const, op, key, flags, exptime, cas: op === 'cas' ? cas : 0n, noreply: proxy ? false : noreply, data: d };
    let bytes: Buffer;
    if (proxy) {
      const o = out();
      encodeStore(o, c);
      bytes = taken(o);
    } else {
      const words: (string | Buffer)[] = [op, key, String(flags), String(exptime), String(d.length)];
      if (op === 'cas') words.push(String(cas));
      if (noreply) words.push('noreply');
      bytes = Buffer.concat([sp(...words), crlf, d, crlf]);
    }
    return { bytes, want: seen(c) };
  });

const getOp = fc.constantFrom('get', 'gets', 'gat', 'gats' as const);
const get: fc.Arbitrary<Request> = fc
  .record({ op: getOp, exptime: i32, keys: fc.array(keyBytes(), { minLength: 1, maxLength: 20 }) })
  .map(({ op, exptime, keys }) => {
    const touches = op === 'gat' || op === 'gats';
    // a gat line is no multiget: past 2048 bytes without \n it would be closed, as memcached does
    const ks = touches ? keys.slice(0, 5) : keys;
    const o = out();
    encodeGet(o, op, exptime, ks, null);
    return { bytes: taken(o), want: { kind: 'get', op, exptime: touches ? exptime : 0, keys: ks.map(latin1) } };
  });

const simple: fc.Arbitrary<Request> = fc.oneof(
  fc.record({ key: keyBytes(), noreply: fc.boolean() }).map(({ key, noreply }) => {
    const o = out();
    encodeDelete(o, { kind: 'delete', key, noreply: false });
    const bytes = noreply ? Buffer.concat([sp('delete', key, 'noreply'), crlf]) : taken(o);
    return { bytes, want: { kind: 'delete', key: latin1(key), noreply } };
  }),
  fc.record({ op: fc.constantFrom('incr', 'decr' as const), key: keyBytes(), delta: u64 }).map(({ op, key, delta }) => {
    const o = out();
    encodeArith(o, { kind: 'arith', op, key, delta, noreply: false });
    return { bytes: taken(o), want: { kind: 'arith', op, key: latin1(key), delta: String(delta), noreply: false } };
  }),
  fc.record({ key: keyBytes(), exptime: i32 }).map(({ key, exptime }) => {
    const o = out();
    encodeTouch(o, { kind: 'touch', key, exptime, noreply: false });
    return { bytes: taken(o), want: { kind: 'touch', key: latin1(key), exptime, noreply: false } };
  }),
  fc.nat({ max: 2 ** 31 - 1 }).map((delay) => {
    const o = out();
    encodeFlush(o, delay);
    return { bytes: taken(o), want: { kind: 'flush_all', delay, noreply: false } };
  }),
  fc.array(fc.stringMatching(/^[a-z_0-9]{1,12}$/), { maxLength: 4 }).map((args) => {
    const o = out();
    encodeStats(o, args);
    return { bytes: taken(o), want: { kind: 'stats', args } };
  }),
  fc.constant({ bytes: Buffer.from('version\r\n'), want: { kind: 'version' } }),
  fc.record({ level: u32, noreply: fc.boolean() }).map(({ level, noreply }) => ({
    bytes: Buffer.from(`verbosity ${level}${noreply ? ' noreply' : ''}\r\n`),
    want: { kind: 'verbosity', level, noreply },
  })),
  // meta commands reach the server as their tokens; ms carries a data block
  fc.record({ cmd: fc.constantFrom('mg', 'md', 'ma', 'mn', 'me'), key: keyBytes(60), flags: fc.array(fc.stringMatching(/^[a-zA-Z][0-9]{0,6}$/), { maxLength: 6 }) })
    .map(({ cmd, key, flags }) => {
      const tokens = cmd === 'mn' ? [] : [latin1(key), ...flags];
      const line = [cmd, ...tokens].join(' ');
      return { bytes: Buffer.from(`${line}\r\n`, 'latin1'), want: { kind: 'other', name: cmd, tokens, line } };
    }),
  fc.record({ key: keyBytes(60), data: fc.uint8Array({ maxLength: 200 }), flags: fc.array(fc.stringMatching(/^[a-zA-Z][0-9]{0,6}$/), { maxLength: 6 }) })
    .map(({ key, data, flags }) => {
      const d = Buffer.from(data);
      const tokens = [latin1(key), String(d.length), ...flags];
      const line = ['ms', ...tokens].join(' ');
      return { bytes: Buffer.concat([Buffer.from(`${line}\r\n`, 'latin1'), d, crlf]), want: { kind: 'other', name: 'ms', tokens, line, data: latin1(d) } };
    }),
);

export const requests = fc.array(fc.oneof({ weight: 3, arbitrary: store }, { weight: 3, arbitrary: get }, { weight: 4, arbitrary: simple }), { minLength: 1, maxLength: 12 });

/** Bytes that look like requests: real commands, numbers, keywords, separators and junk glued together. */
export const requestLike = gluedBytes([
  'get ', 'gets ', 'gat ', 'set ', 'cas ', 'incr ', 'decr ', 'delete ', 'touch ', 'ms ', 'mg ', 'ma ', 'md ', 'mn', 'me ',
  'flush_all', 'verbosity ', 'stats', 'version', 'noreply', 'HTTP/', ' ', '  ', '\r\n', '\n', '\r', '\0', 'k', 'key ',
  '0 ', '-1 ', '4294967296 ', '2147483647 ', '18446744073709551616', ' 0 0 5\r\nvalue\r\n', 'b ', 'T-1 ', 'N30 ', 'q ',
]);

export const textRequestProperties: NamedProperty[] = [
  {
    name: 'requests encoded (proxy encoders and by hand) read back as themselves, however the bytes are split',
    property: fc.property(requests, cuts, (rs, at) => {
      const all = Buffer.concat(rs.map((r) => r.bytes));
      same(parseText(own(split(all, at))), rs.map((r) => r.want), 'commands');
    }),
  },
  {
    name: 'any bytes: the parser never throws, and any split gives the same commands',
    property: fc.property(fc.oneof(anyBytes(1500), requestLike), cuts, (bytes, at) => {
      const whole = parseText([bytes], 64);
      same(parseText(own(split(bytes, at)), 64), whole, 'commands of a split input');
    }),
  },
  {
    name: 'a value over the item size limit is swallowed, and the next command is read',
    property: fc.property(fc.nat({ max: 5000 }), keyBytes(), cuts, (size, key, at) => {
      const bytes = Buffer.concat([sp('set', key, '0', '0', String(size)), crlf, Buffer.alloc(size, 'v'), crlf, Buffer.from('version\r\n')]);
      const got = parseText(own(split(bytes, at)), 1024);
      const first = size > 1024 ? { kind: 'too_large', op: 'set', key: latin1(key), noreply: false } : { kind: 'store', op: 'set', key: latin1(key), flags: 0, exptime: 0, cas: '0', noreply: false, data: 'v'.repeat(size) };
      same(got, [first, { kind: 'version' }], 'commands');
    }),
  },
];

/** One reply element: its bytes and what the reply parser must report. */
interface ReplyCase { bytes: Buffer; want: { kind: number; key?: string; data?: string } }

const K = { VALUE: 1, END: 2, STAT: 3, NUMBER: 11, VERSION: 12, CLIENT_ERROR: 14, SERVER_ERROR: 15, VA: 17, HD: 18, ME: 24 } as const;
const fixed: Array<[Buffer, number]> = [
  [Replies.END, 2], [Replies.STORED, 4], [Replies.NOT_STORED, 5], [Replies.EXISTS, 6], [Replies.NOT_FOUND, 7],
  [Replies.DELETED, 8], [Replies.TOUCHED, 9], [Replies.OK, 10], [Replies.ERROR, 13], [Replies.RESET, 16],
  [Replies.EN, 19], [Replies.NF, 20], [Replies.NS, 21], [Replies.EX, 22], [Replies.MN, 23], [Replies.BAD_FORMAT, 14],
  [Replies.TOO_LARGE, 15], [Replies.TOO_MANY_CONNECTIONS, 13], [Replies.SHUTDOWN_DISABLED, 13],
];
const text = (max: number) => fc.stringMatching(new RegExp(`^[ -~]{1,${max}}$`));
const replyCase: fc.Arbitrary<ReplyCase> = fc.oneof(
  fc.constantFrom(...fixed).map(([bytes, kind]) => ({ bytes, want: { kind } })),
  fc.record({ key: keyBytes(), flags: u32, data: fc.uint8Array({ maxLength: 400 }), cas: fc.option(u64, { nil: null }) }).map(({ key, flags, data, cas }) => {
    const d = Buffer.from(data);
    return { bytes: Buffer.concat([valueHeader(key, flags, d.length, cas), d, crlf]), want: { kind: K.VALUE, key: latin1(key), data: latin1(d) } };
  }),
  fc.record({ data: fc.uint8Array({ maxLength: 400 }), flags: fc.array(fc.stringMatching(/^[a-zA-Z][0-9]{0,5}$/), { maxLength: 4 }) }).map(({ data, flags }) => {
    const d = Buffer.from(data);
    return { bytes: Buffer.concat([Buffer.from(['VA', String(d.length), ...flags].join(' ') + '\r\n'), d, crlf]), want: { kind: K.VA, data: latin1(d) } };
  }),
  fc.record({ name: fc.stringMatching(/^[a-z_:0-9]{1,30}$/), value: fc.oneof(text(40), u64.map(String)) }).map(({ name, value }) => ({ bytes: statLine(name, value), want: { kind: K.STAT } })),
  u64.map((n) => ({ bytes: numberReply(n), want: { kind: K.NUMBER } })),
  text(30).map((v) => ({ bytes: versionReply(v), want: { kind: K.VERSION } })),
  text(60).map((m) => ({ bytes: Buffer.from(`CLIENT_ERROR ${m}\r\n`), want: { kind: K.CLIENT_ERROR } })),
  text(60).map((m) => ({ bytes: Buffer.from(`SERVER_ERROR ${m}\r\n`), want: { kind: K.SERVER_ERROR } })),
  fc.array(fc.stringMatching(/^[a-zA-Z][0-9]{0,5}$/), { maxLength: 4 }).map((flags) => ({ bytes: Buffer.from(['HD', ...flags].join(' ') + '\r\n'), want: { kind: K.HD } })),
  keyBytes(60).map((key) => ({ bytes: Buffer.concat([Buffer.from('ME '), key, Buffer.from(' exp=-1 la=1\r\n')]), want: { kind: K.ME } })),
);

/** What the parser must report for one case, in seenReply()'s shape. */
function wantReply(c: ReplyCase): { kind: number; key?: string; data?: string; bytes: string } {
  const r: { kind: number; key?: string; data?: string; bytes: string } = { kind: c.want.kind, bytes: latin1(c.bytes) };
  if (c.want.key !== undefined) r.key = c.want.key;
  if (c.want.data !== undefined) r.data = c.want.data;
  return r;
}

function seenReply(e: ReplyElement): { kind: number; key?: string; data?: string; bytes: string } {
  const r: { kind: number; key?: string; data?: string; bytes: string } = { kind: e.kind, bytes: e.buf.toString('latin1', e.start, e.end) };
  if (e.kind === K.VALUE) r.key = e.buf.toString('latin1', e.keyStart, e.keyEnd);
  if (e.kind === K.VALUE || e.kind === K.VA) r.data = e.buf.toString('latin1', e.dataStart, e.dataEnd);
  return r;
}

function parseReplies(chunks: Buffer[]): { elements: unknown[]; error: string | null } {
  const elements: unknown[] = [];
  const p = new ReplyParser((e) => elements.push(seenReply(e)), { maxValueLength: 1 << 20 });
  const { threw } = onlyThrows(ReplyProtocolError, () => {
    for (const c of chunks) p.push(c);
  });
  return { elements, error: threw ? threw.message : null };
}

const replyLike = gluedBytes([
  'VALUE ', 'VA ', 'END', 'STAT ', 'STORED', 'ERROR', 'CLIENT_ERROR ', 'SERVER_ERROR ', 'VERSION ', 'HD', 'EN', 'MN', 'ME ',
  'NOT_FOUND', '\r\n', '\n', ' ', 'k ', '0 ', '5 ', '1\r\nx\r\n', '99999999999 ', '42',
]);

export const textReplyProperties: NamedProperty[] = [
  {
    name: 'replies written with the server\'s encoders read back element by element, however split',
    property: fc.property(fc.array(replyCase, { minLength: 1, maxLength: 16 }), cuts, (cases, at) => {
      const all = Buffer.concat(cases.map((c) => c.bytes));
      const got = parseReplies(own(split(all, at)));
      same(got.error, null, 'error');
      same(got.elements, cases.map(wantReply), 'elements');
    }),
  },
  {
    name: 'any bytes: only ReplyProtocolError, and any split gives the same elements and the same error',
    property: fc.property(fc.oneof(anyBytes(1500), replyLike), cuts, (bytes, at) => {
      const whole = parseReplies([bytes]);
      const parts = parseReplies(own(split(bytes, at)));
      same(parts.elements, whole.elements, 'elements');
      same(parts.error !== null, whole.error !== null, 'whether it failed');
    }),
  },
];

/** What parseMetaFlags must read from tokens built from these values. */
const metaValues = fc.record({
  q: fc.boolean(), v: fc.boolean(), I: fc.boolean(), u: fc.boolean(),
  T: fc.option(i32, { nil: undefined }), N: fc.option(i32, { nil: undefined }), R: fc.option(i32, { nil: undefined }),
  F: fc.option(u32, { nil: undefined }), C: fc.option(u64, { nil: undefined }), D: fc.option(u64, { nil: undefined }),
  J: fc.option(u64, { nil: undefined }), M: fc.option(fc.constantFrom('E', 'A', 'P', 'R', 'S', 'I', 'D', '+', '-'), { nil: undefined }),
  O: fc.option(fc.stringMatching(/^[a-zA-Z0-9]{1,32}$/), { nil: undefined }), k: fc.boolean(), c: fc.boolean(), t: fc.boolean(),
});

export const metaFlagProperties: NamedProperty[] = [
  {
    name: 'flags built from values read back as those values, in any order',
    property: fc.property(metaValues, keyBytes(100), fc.nat(), (m, key, seed) => {
      const tokens: string[] = [];
      for (const f of ['q', 'v', 'I', 'u', 'k', 'c', 't'] as const) if (m[f]) tokens.push(f);
      for (const f of ['T', 'N', 'R', 'F', 'C', 'D', 'J', 'M', 'O'] as const) if (m[f] !== undefined) tokens.push(`${f}${m[f]}`);
      // a deterministic shuffle: the flags' order must not matter
      const order = tokens.map((t, i) => ({ t, k: (i * 7919 + seed) % 104729 })).sort((a, b) => a.k - b.k).map((x) => x.t);
      const f = parseMetaFlags(latin1(key), order);
      same(
        { key: latin1(f.key), noReply: f.noReply, value: f.value, setStale: f.setStale, noUpdate: f.noUpdate, newTtl: f.newTtl, exptime: f.exptime, vivify: f.vivify, autoviv: f.autovivExptime, recache: f.recacheTime, flags: f.clientFlags, hasCas: f.hasCas, cas: f.reqCas, delta: f.delta, initial: f.initial, mode: f.mode, tokens: f.tokens },
        { key: latin1(key), noReply: m.q, value: m.v, setStale: m.I, noUpdate: m.u, newTtl: m.T !== undefined, exptime: m.T ?? 0, vivify: m.N !== undefined, autoviv: m.N ?? 0, recache: m.R ?? 0, flags: m.F ?? 0, hasCas: m.C !== undefined, cas: m.C ?? 0n, delta: m.D ?? 1n, initial: m.J ?? 0n, mode: m.M ?? '', tokens: order },
        'flags',
      );
    }),
  },
  {
    name: 'a base64 key decodes to its bytes',
    property: fc.property(fc.uint8Array({ minLength: 1, maxLength: 187 }), (raw) => {
      same(decodeBase64Key(Buffer.from(raw).toString('base64')), Buffer.from(raw), 'key');
    }),
  },
  {
    name: 'any tokens: a MetaFlags or a MetaCommandError with one of memcached\'s error lines',
    property: fc.property(fc.string({ unit: 'binary-ascii', maxLength: 40 }), fc.array(fc.oneof(fc.string({ unit: 'binary', minLength: 1, maxLength: 12 }), fc.stringMatching(/^[a-zA-Z][-0-9a-z]{0,8}$/)), { maxLength: 10 }), (key, tokens) => {
      const { threw } = onlyThrows(MetaCommandError, () => parseMetaFlags(key, tokens));
      if (threw && !/^CLIENT_ERROR [a-z]/.test((threw as MetaCommandError).reply.toString('latin1'))) throw new Error(`odd reply ${threw.message}`);
    }),
  },
];

export const udpFrameProperties: NamedProperty[] = [
  {
    name: 'a header written then read gives its fields and payload',
    property: fc.property(fc.nat(0xffff), fc.nat(0xffff), fc.nat(0xffff), fc.uint8Array({ maxLength: 1400 }), (id, seq, total, payload) => {
      const d = Buffer.alloc(UDP_HEADER_SIZE + payload.length);
      writeUdpHeader(d, 0, id, seq, total);
      Buffer.from(payload).copy(d, UDP_HEADER_SIZE);
      const f = decodeUdpFrame(d);
      same({ id: f.requestId, seq: f.seq, total: f.total, payload: f.payload }, { id, seq, total, payload: Buffer.from(payload) }, 'frame');
    }),
  },
  {
    name: 'a reply framed into datagrams is numbered 0..n-1 of n, each within the limit, and reassembles to the reply',
    property: fc.property(fc.nat(0xffff), fc.array(fc.uint8Array({ maxLength: 3000 }), { minLength: 1, maxLength: 4 }), fc.integer({ min: 64, max: 1400 }), (id, parts, max) => {
      const reply = parts.map((p) => Buffer.from(p));
      const ds = encodeUdpReply(id, reply, max);
      const frames = ds.map((d) => decodeUdpFrame(d));
      if (ds.some((d) => d.length > max)) throw new Error('a datagram over the limit');
      same(frames.map((f) => [f.requestId, f.seq, f.total]), frames.map((_, i) => [id, i, frames.length]), 'headers');
      same(Buffer.concat(frames.map((f) => f.payload)), Buffer.concat(reply), 'payload');
    }),
  },
  {
    name: 'any datagram: a frame or UdpFrameError',
    property: fc.property(anyBytes(64), (d) => {
      onlyThrows(UdpFrameError, () => decodeUdpFrame(d));
    }),
  },
];
