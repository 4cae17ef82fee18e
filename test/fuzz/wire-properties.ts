/**
 * Properties of the binary protocol, the advert, the replication frames, haved's control protocol and the config
 * reader. Run by test/unit/fuzz/codecs.test.ts and by `npm run fuzz -- codecs`.
 */
import fc from 'fast-check';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BadMagicError, BinaryParser, Op, writeResponse, type BinaryRequest } from '../../src/proto/binary/codec.ts';
import { BinaryResponseError, BinaryResponseParser } from '../../src/proto/binary/response-parser.ts';
import { decodeAdvert, encodeAdvert, type AdvertAuth, type AdvertMessage } from '../../src/proto/advert/index.ts';
import {
  COUNTER_SUM_MAX, COUNTER_SUM_MIN, FrameDecoder, MAX_FRAME, NONCE_BYTES, PROOF_BYTES, PROTOCOL_VERSION, ProtocolError, encode, type ItemFrame, type Message,
} from '../../src/proto/replication/codec.ts';
import {
  ControlProtocolError, LineBuffer, decodeReply, decodeRequest, encodeReply, encodeRequest, type ControlRequest,
} from '../../src/proto/control/codec.ts';
import { ConfigError } from '../../src/config/errors.ts';
import { splitArgv, tokenize } from '../../src/config/lexer.ts';
import { parseConfigText } from '../../src/config/load.ts';
import { OutBuffer } from '../../src/net/out-buffer.ts';
import { request as binaryRequest } from '../support/binary-client.ts';
import { anyBytes, cuts, keyBytes, onlyThrows, own, same, split, type NamedProperty } from './shared.ts';

const u16 = fc.nat(0xffff);
const u32 = fc.nat({ max: 0xffffffff });
const u64 = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n });
const bytes = (max: number, min = 0) => fc.uint8Array({ minLength: min, maxLength: max }).map((a) => Buffer.from(a));

// ---- binary protocol --------------------------------------------------------------------------------------------

const SET_FAMILY = [Op.SET, Op.SETQ, Op.ADD, Op.ADDQ, Op.REPLACE, Op.REPLACEQ];
const APPEND_FAMILY = [Op.APPEND, Op.APPENDQ, Op.PREPEND, Op.PREPENDQ];
const KEYED = [Op.GET, Op.GETQ, Op.GETK, Op.GETKQ, Op.DELETE, Op.DELETEQ];
const BARE = [Op.NOOP, Op.VERSION, Op.QUIT, Op.QUITQ, Op.STAT, Op.FLUSH, Op.FLUSHQ];

interface BinaryCase { bytes: Buffer; want: unknown }

const header = fc.record({ opaque: u32, cas: u64 });
export const binaryCase: fc.Arbitrary<BinaryCase> = fc.oneof(
  fc.tuple(fc.constantFrom(...SET_FAMILY), keyBytes(), bytes(8, 8), bytes(600), header),
  fc.tuple(fc.constantFrom(...APPEND_FAMILY), keyBytes(), fc.constant(Buffer.alloc(0)), bytes(600), header),
  fc.tuple(fc.constantFrom(...KEYED), keyBytes(), fc.constant(Buffer.alloc(0)), fc.constant(null), header),
  fc.tuple(fc.constantFrom(Op.INCREMENT, Op.DECREMENT, Op.INCREMENTQ), keyBytes(), bytes(20, 20), fc.constant(null), header),
  fc.tuple(fc.constantFrom(Op.TOUCH, Op.GAT, Op.GATQ, Op.GATK, Op.GATKQ), keyBytes(), bytes(4, 4), fc.constant(null), header),
  fc.tuple(fc.constantFrom(...BARE), fc.constant(Buffer.alloc(0)), fc.constantFrom(Buffer.alloc(0), Buffer.alloc(4)), fc.constant(null), header),
).map(([opcode, key, extras, value, h]) => ({
  bytes: binaryRequest({ opcode, key, extras, value: value ?? undefined, opaque: h.opaque, cas: h.cas }),
  want: { opcode, datatype: 0, vbucket: 0, bodyLength: extras.length + key.length + (value?.length ?? 0), opaque: h.opaque, cas: h.cas, extras, key, value, skipped: 0 },
}));

function seenRequest(r: BinaryRequest): unknown {
  return { ...r, extras: Buffer.from(r.extras), key: Buffer.from(r.key), value: r.value && Buffer.from(r.value) };
}

function parseBinary(chunks: Buffer[], maxValueLength = 1 << 20): { requests: unknown[]; error: string | null } {
  const requests: unknown[] = [];
  const p = new BinaryParser({ maxValueLength }, (r) => requests.push(seenRequest(r)));
  const { threw } = onlyThrows(BadMagicError, () => {
    for (const c of chunks) p.push(c);
  });
  return { requests, error: threw?.message ?? null };
}

/** Requests with arbitrary header fields: any opcode, lengths that disagree, a wrong magic now and then. */
export const rawRequest = fc
  .record({ magic: fc.constantFrom(0x80, 0x80, 0x80, 0x81, 0x00), opcode: fc.nat(0xff), key: bytes(40), extras: bytes(24), value: bytes(80), delta: fc.integer({ min: -30, max: 30 }), opaque: u32 })
  .map((r) => binaryRequest({ ...r, bodyLength: Math.max(0, r.extras.length + r.key.length + r.value.length + r.delta) }));

const binaryResponse = fc.record({ opcode: fc.nat(0xff), status: u16, opaque: u32, cas: u64, extras: bytes(20), key: bytes(250), value: bytes(600) });

export const binaryProperties: NamedProperty[] = [
  {
    name: 'requests read back as sent, however split',
    property: fc.property(fc.array(binaryCase, { minLength: 1, maxLength: 10 }), cuts, (cs, at) => {
      const got = parseBinary(own(split(Buffer.concat(cs.map((c) => c.bytes)), at)));
      same(got, { requests: cs.map((c) => c.want), error: null }, 'requests');
    }),
  },
  {
    name: 'values over the limit are skipped without being held, however split',
    property: fc.property(fc.array(binaryCase, { minLength: 1, maxLength: 10 }), cuts, fc.nat(64), (cs, at, limit) => {
      const all = Buffer.concat(cs.map((c) => c.bytes));
      same(parseBinary(own(split(all, at)), limit), parseBinary([all], limit), 'requests of a split stream');
    }),
  },
  {
    name: 'any bytes and malformed headers: only BadMagicError, and any split gives the same requests',
    property: fc.property(fc.oneof(anyBytes(1200), fc.array(rawRequest, { maxLength: 8 }).map((rs) => Buffer.concat(rs))), cuts, (b, at) => {
      same(parseBinary(own(split(b, at)), 64), parseBinary([b], 64), 'requests of a split stream');
    }),
  },
  {
    name: 'responses written by the server read back, however split',
    property: fc.property(fc.array(binaryResponse, { minLength: 1, maxLength: 8 }), cuts, (rs, at) => {
      const o = new OutBuffer();
      for (const r of rs) writeResponse(o, r.opcode, r.status, r.opaque, r.cas, r.extras, r.key, r.value);
      const all = Buffer.from(o.take());
      const got: unknown[] = [];
      const p = new BinaryResponseParser((r) => got.push({ opcode: r.opcode, status: r.status, opaque: r.opaque, keyLength: r.keyLength, extrasLength: r.extrasLength, packet: Buffer.from(r.buf.subarray(r.start, r.end)) }));
      for (const c of own(split(all, at))) p.push(c);
      let off = 0;
      const want = rs.map((r) => {
        const n = 24 + r.extras.length + r.key.length + r.value.length;
        const packet = all.subarray(off, off + n);
        off += n;
        return { opcode: r.opcode, status: r.status, opaque: r.opaque, keyLength: r.key.length, extrasLength: r.extras.length, packet };
      });
      same(got, want, 'responses');
    }),
  },
  {
    name: 'any bytes to the response parser: only BinaryResponseError',
    property: fc.property(anyBytes(1200), cuts, (b, at) => {
      const p = new BinaryResponseParser(() => {});
      onlyThrows(BinaryResponseError, () => {
        for (const c of split(b, at)) p.push(c);
      });
    }),
  },
];

// ---- adverts ------------------------------------------------------------------------------------------------------

const ipv4 = fc.ipV4();
const nodeId = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }).filter((s) => Buffer.byteLength(s) <= 255);
export const advert: fc.Arbitrary<AdvertMessage> = fc.record({
  kind: fc.constantFrom('ADVERT', 'BACKUP_HELLO' as const),
  vrid: fc.integer({ min: 1, max: 255 }),
  priority: fc.nat(255),
  advertIntMs: fc.integer({ min: 1, max: 0xffff }).map((c) => c * 10),
  nodeId,
  primaryAddress: ipv4,
  vips: fc.array(fc.record({ address: ipv4, prefix: fc.nat(32) }), { maxLength: 20 }),
  successor: fc.option(nodeId, { nil: null }),
  sequence: u64,
});
const auth: fc.Arbitrary<AdvertAuth> = fc.oneof(
  fc.constant({ type: 'none' as const }),
  fc.stringMatching(/^[ -~]{1,8}$/).map((password) => ({ type: 'PASS' as const, password })),
  fc.string({ minLength: 1, maxLength: 64 }).map((key) => ({ type: 'HMAC' as const, key })),
);

export const advertProperties: NamedProperty[] = [
  {
    name: 'decode(encode(advert)) is the advert, for every kind of authentication',
    property: fc.property(advert, auth, (m, a) => {
      const r = decodeAdvert(encodeAdvert(m, a), a);
      if (!r.ok) throw new Error(`refused: ${r.error.code} ${r.error.message}`);
      same(r.message, m, 'advert');
    }),
  },
  {
    name: 'an HMAC advert with any byte changed, cut or extended is refused',
    property: fc.property(advert, fc.string({ minLength: 1, maxLength: 32 }), fc.nat(), fc.integer({ min: 1, max: 255 }), fc.constantFrom('flip', 'cut', 'extend'), (m, key, where, xor, how) => {
      const a: AdvertAuth = { type: 'HMAC', key };
      const b = encodeAdvert(m, a);
      const i = where % b.length;
      const bad = how === 'flip' ? Buffer.from(b).fill(b[i]! ^ xor, i, i + 1) : how === 'cut' ? b.subarray(0, i) : Buffer.concat([b, Buffer.alloc(1 + (where % 64))]);
      if (decodeAdvert(bad, a).ok) throw new Error(`accepted a changed advert (${how} at ${i})`);
    }),
  },
  {
    name: 'any datagram: decodeAdvert never throws, and what it accepts is within the fields\' ranges',
    property: fc.property(fc.oneof(anyBytes(600), fc.tuple(advert, fc.nat(), fc.nat(255)).map(([m, i, v]) => {
      const b = encodeAdvert(m, { type: 'none' });
      b[i % b.length] = v;
      return b;
    })), auth, (b, a) => {
      const r = decodeAdvert(b, a);
      if (!r.ok) return;
      const m = r.message;
      if (m.vrid < 1 || m.vrid > 255 || m.advertIntMs < 10 || m.nodeId === '' || m.successor === '' || m.vips.some((v) => v.prefix > 32)) {
        throw new Error(`accepted out-of-range fields: ${JSON.stringify(m, (_, v) => (typeof v === 'bigint' ? String(v) : v))}`);
      }
    }),
  },
];

// ---- replication frames --------------------------------------------------------------------------------------------

const key = keyBytes();
const completeness = fc.constantFrom('joining', 'complete', 'partial' as const);
const seq = fc.bigInt({ min: 0n, max: 2n ** 53n - 1n });
const message: fc.Arbitrary<Message> = fc.oneof(
  fc.record({ type: fc.constant('hello' as const), version: fc.constant(PROTOCOL_VERSION), nodeId: u16, runId: u64, role: fc.constantFrom('sender', 'receiver' as const), listenPort: u16, itemSizeMax: u32, syncMode: fc.boolean(), completeness, holdsData: fc.boolean(), items: u32, nonce: bytes(NONCE_BYTES, NONCE_BYTES) }),
  fc.record({ type: fc.constant('auth' as const), proof: bytes(PROOF_BYTES, PROOF_BYTES) }),
  fc.record({ type: fc.constant('resume' as const), fromSeq: u64 }),
  fc.record({ type: fc.constant('set' as const), seq, version: u64, flags: u32, ttl: u32, key, value: bytes(700) }),
  fc.record({ type: fc.constant('delete' as const), seq: u64, version: u64, key }),
  fc.record({ type: fc.constant('touch' as const), seq: u64, version: u64, ttl: u32, key }),
  fc.record({ type: fc.constant('flush' as const), seq: u64, version: u64, delay: u32 }),
  fc.record({ type: fc.constant('ack' as const), seq: u64 }),
  fc.record({ type: fc.constant('heartbeat' as const), seq: u64 }),
  fc.record({ type: fc.constant('sync_begin' as const), startSeq: u64, items: u32, flushEpoch: u64, copyId: u64, source: fc.constantFrom('complete', 'partial' as const) }),
  fc.record({ type: fc.constant('sync_item' as const), version: u64, flags: u32, ttl: u32, key, value: bytes(700) }),
  fc.record({ type: fc.constant('sync_end' as const), items: u32, copyId: u64 }),
  fc.record({ type: fc.constant('error' as const), reason: fc.string({ unit: 'grapheme', maxLength: 60 }) }),
  fc.constant({ type: 'not_ready' as const }),
  fc.record({ type: fc.constant('state' as const), completeness, holdsData: fc.boolean(), items: u32 }),
  fc.record({ type: fc.constant('counter' as const), seq, base: u64, version: u64, sum: fc.bigInt({ min: COUNTER_SUM_MIN, max: COUNTER_SUM_MAX }), key }),
);

/** An ItemFrame as the Message it stands for. */
function itemMessage(f: ItemFrame): Message {
  const base = { version: f.version, flags: f.flags, ttl: f.ttl, key: Buffer.from(f.key), value: Buffer.from(f.value) };
  return f.type === 4 ? { type: 'set', seq: BigInt(f.seq), ...base } : { type: 'sync_item', ...base };
}

function decodeFrames(chunks: Buffer[], items: boolean, maxFrame = MAX_FRAME): { messages: unknown[]; error: string | null } {
  const messages: unknown[] = [];
  const d = new FrameDecoder(maxFrame);
  const keep = (m: Message) => messages.push(JSON.parse(JSON.stringify(m, (_, v) => (typeof v === 'bigint' ? `n:${v}` : v))));
  const { threw } = onlyThrows(ProtocolError, () => {
    for (const c of chunks) d.push(c, keep, items ? (f) => keep(itemMessage(f)) : undefined);
  });
  return { messages, error: threw?.message ?? null };
}

export const frameLike = fc.array(fc.oneof(
  message.map((m) => encode(m)),
  fc.tuple(message, fc.nat(), fc.nat(255)).map(([m, i, v]) => {
    const b = encode(m);
    b[i % b.length] = v;
    return b;
  }),
  fc.tuple(fc.nat(40), fc.nat(20), bytes(40)).map(([len, type, body]) => Buffer.concat([Buffer.from([0, 0, 0, len, type]), body])),
), { maxLength: 6 }).map((bs) => Buffer.concat(bs));

export const replicationProperties: NamedProperty[] = [
  {
    name: 'frames decode to the messages encoded, however split, as Messages and as ItemFrames',
    property: fc.property(fc.array(message, { minLength: 1, maxLength: 10 }), cuts, (ms, at) => {
      const all = Buffer.concat(ms.map((m) => encode(m)));
      const want = decodeFrames([Buffer.concat(ms.map((m) => encode(m)))], false);
      same(want.error, null, 'error');
      same(want.messages.length, ms.length, 'message count');
      same(decodeFrames(own(split(all, at)), false), want, 'messages of a split stream');
      same(decodeFrames(own(split(all, at)), true), want, 'messages via ItemFrame');
      same(want.messages, ms.map((m) => JSON.parse(JSON.stringify(m, (_, v) => (typeof v === 'bigint' ? `n:${v}` : v)))), 'messages');
    }),
  },
  {
    name: 'any bytes and damaged frames: only ProtocolError, the same for any split and for both decoding paths',
    property: fc.property(fc.oneof(anyBytes(800), frameLike), cuts, fc.constantFrom(4096, MAX_FRAME), (b, at, maxFrame) => {
      const whole = decodeFrames([b], false, maxFrame);
      same(decodeFrames(own(split(b, at)), false, maxFrame), whole, 'messages of a split stream');
      same(decodeFrames(own(split(b, at)), true, maxFrame), whole, 'messages via ItemFrame');
    }),
  },
];

// ---- haved's control protocol ---------------------------------------------------------------------------------------

const controlRequest: fc.Arbitrary<ControlRequest> = fc.oneof(
  fc.constantFrom({ verb: 'status' as const }, { verb: 'dump' as const }, { verb: 'reload' as const }),
  fc.record({ verb: fc.constant('priority' as const), instance: fc.string({ minLength: 1, maxLength: 256 }), priority: fc.option(fc.integer({ min: -1000, max: 1000 }), { nil: null }) }),
  fc.record({ verb: fc.constant('maintenance' as const), on: fc.boolean() }),
);
const jsonish = fc.oneof(fc.string({ maxLength: 300 }), fc.json({ maxDepth: 4 }), fc.constantFrom('{"verb":"priority"}', '{"verb":"priority","instance":"VI_1","priority":1.5}', '{"verb":"x"}', '[]', 'null', '{"ok":true}', '{"ok":false,"error":1}'));

export const controlProperties: NamedProperty[] = [
  {
    name: 'decodeRequest(encodeRequest(request)) is the request',
    property: fc.property(controlRequest, (r) => {
      const line = encodeRequest(r);
      if (!line.endsWith('\n') || line.indexOf('\n') !== line.length - 1) throw new Error('not one line');
      same(decodeRequest(line.slice(0, -1)), r, 'request');
    }),
  },
  {
    name: 'decodeReply(encodeReply(reply)) is the reply',
    property: fc.property(fc.oneof(fc.jsonValue().map((result) => ({ ok: true as const, result })), fc.string().map((error) => ({ ok: false as const, error }))), (r) => {
      same(decodeReply(encodeReply(r).slice(0, -1)), JSON.parse(JSON.stringify(r)), 'reply');
    }),
  },
  {
    name: 'any line: a request or reply, or ControlProtocolError',
    property: fc.property(jsonish, (line) => {
      onlyThrows(ControlProtocolError, () => decodeRequest(line));
      onlyThrows(ControlProtocolError, () => decodeReply(line));
    }),
  },
  {
    name: 'a line split anywhere collects to the same line, or the same error when it is too long',
    property: fc.property(fc.string({ maxLength: 300 }), bytes(20), cuts, fc.integer({ min: 16, max: 400 }), (text, after, at, max) => {
      const all = Buffer.concat([Buffer.from(text.replace(/\n/g, ' ')), Buffer.from('\n'), after]);
      const collect = (chunks: Buffer[]) => {
        const lb = new LineBuffer(max);
        for (const c of chunks) {
          const r = lb.push(c);
          if (r) return r;
        }
        return null;
      };
      same(collect(own(split(all, at))), collect([all]), 'result');
    }),
  },
];

// ---- the config reader ----------------------------------------------------------------------------------------------

const fixtures = join(import.meta.dirname, '../fixtures/seeds');
const seedTexts = readdirSync(fixtures).map((f) => readFileSync(join(fixtures, f), 'utf8'));
const vocabulary = [...new Set(seedTexts.flatMap((t) => tokenize(t, 'seed').tokens.map((x) => x.text)))];
const configWord = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...vocabulary) },
  { weight: 1, arbitrary: fc.constantFrom('{', '}', '"', "'", '#', '!', '//', '$X=1', '${X}', '$X', '@x', '@^x', 'include', '\\', '"a b"', "'c'", 'cache_daemon', 'proxy_daemon', 'unicast_peer', 'allowed_peers', 'preempt_schedule', 'track_script', 'garp_master_refresh') },
  { weight: 1, arbitrary: fc.oneof(fc.nat(70000).map(String), fc.double({ min: -10, max: 300, noNaN: true }).map((d) => d.toFixed(2)), fc.ipV4(), fc.string({ maxLength: 12 })) },
);
const configText = fc.array(fc.array(configWord, { maxLength: 8 }).map((ws) => ws.join(' ')), { maxLength: 40 }).map((lines) => lines.join('\n'));

/** A word as a config file would quote it, if it must be. */
function quoteWord(w: string): string {
  if (w !== '' && !/[\s{}#!"'\\]/.test(w) && !w.startsWith('//') && !w.startsWith('$') && !w.startsWith('@')) return w;
  return `"${w.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}
const plainWord = fc.string({ unit: fc.constantFrom(...'abcXYZ019_-./:{}#!"\'\\ \t'.split('')), maxLength: 12 }).filter((w) => w.length > 0 && !/[\n\r]/.test(w));

const parse = (text: string) => parseConfigText(text, 'haved.conf', {
  readFile: (p) => { throw new Error(`no file ${p}`); }, glob: () => [], localAddresses: ['198.18.0.1'], configId: 'nodea',
});

export const configProperties: NamedProperty[] = [
  {
    name: 'lines of words, quoted where needed, tokenize to those words on those lines',
    property: fc.property(fc.array(fc.array(plainWord, { maxLength: 6 }), { maxLength: 8 }), (lines) => {
      const text = lines.map((ws) => ws.map(quoteWord).join(' ')).join('\n');
      const r = tokenize(text, 'f');
      same(r.errors.map((e) => e.message), [], 'errors');
      same(r.tokens.map((t) => [t.text, t.line]), lines.flatMap((ws, i) => ws.map((w) => [w, i + 1])), 'tokens');
    }),
  },
  {
    name: 'splitArgv gives back the words of a quoted command line',
    property: fc.property(fc.array(fc.string({ unit: fc.constantFrom(...'ab1 -/"\'\\$'.split('')), minLength: 1, maxLength: 10 }), { maxLength: 6 }), (words) => {
      const line = words.map((w) => `'${w.replace(/'/g, '')}'`).join(' ');
      same(splitArgv(line), words.map((w) => w.replace(/'/g, '')), 'argv');
    }),
  },
  {
    name: 'any text: the lexer never throws, and the reader gives a config or ConfigError (file:line), never anything else',
    property: fc.property(fc.oneof({ weight: 3, arbitrary: configText }, { weight: 1, arbitrary: fc.string({ maxLength: 400 }) }, { weight: 2, arbitrary: fc.tuple(fc.constantFrom(...seedTexts), fc.nat(), fc.nat(), fc.string({ maxLength: 30 })).map(([t, i, j, s]) => t.slice(0, i % t.length) + s + t.slice(j % t.length)) }), (text) => {
      for (const e of tokenize(text, 'haved.conf').errors) if (!(e instanceof ConfigError)) throw e;
      const { threw } = onlyThrows(ConfigError, () => parse(text));
      if (threw && !/^haved\.conf(:\d+)?: /m.test(threw.message)) throw new Error(`error without file:line: ${threw.message}`);
    }),
  },
];
