/**
 * Every command of every protocol (text, meta, binary) is in a table here, with what it should publish to the
 * store's change stream: mutating commands exactly one record of their kind, the others none. A command the
 * parsers learn without a row here fails the completeness checks below.
 */
import { describe, expect, it } from 'vitest';
import { ChangeKind } from '../../../src/cache/changes.ts';
import { SlabStore } from '../../../src/cache/store.ts';
import { OutBuffer } from '../../../src/net/out-buffer.ts';
import { BinaryParser, Op } from '../../../src/proto/binary/codec.ts';
import { TEXT_COMMAND_NAMES, TextParser } from '../../../src/proto/text/parser.ts';
import { BinaryDispatcher } from '../../../src/server/binary-dispatch.ts';
import { defaultServerConfig, storeOptionsFor } from '../../../src/server/config.ts';
import { Dispatcher } from '../../../src/server/dispatch.ts';
import type { DispatchHost } from '../../../src/server/host.ts';
import { WatchLog } from '../../../src/server/watch.ts';
import { META_COMMAND_NAMES } from '../../../src/server/meta.ts';
import { PrefixStats, ServerCounters } from '../../../src/server/stats.ts';
import { FakeCacheTime } from '../../support/fake-clock.ts';

const { SET, TOUCH, DELETE, FLUSH, ARITH } = ChangeKind;
type Kind = ChangeKind;

/** One request after a setup, and the records it must make (none for a command that changes nothing). */
interface Case {
  request: string | Buffer;
  records: Kind[];
  /** Text requests run first, unrecorded. Default: `k` holds "5". */
  setup?: string;
}

const HAS_K = 'set k 0 0 1\r\n5\r\n';

/** A node with every protocol and a recording subscriber, as the cache server wires them (without sockets). */
function node(setup: string) {
  const time = new FakeCacheTime();
  const config = { ...defaultServerConfig, flushEnabled: true };
  const store = new SlabStore(storeOptionsFor(config, time.clock));
  const host: DispatchHost = {
    store, config, counters: new ServerCounters(), verbosity: 0, detail: null,
    prefixStats: new PrefixStats(config.statKeyPrefix), setDetail() {}, generalStats: () => [],
    connStats: () => '', resetStats() {}, requestShutdown() {},
    sasl: null, refreshCerts: () => '', clientRefused() {},
    watch: new WatchLog(0), startWatch: () => 'NOT_A_CONNECTION' as const, settingsChanged: () => {},
  };
  const out = new OutBuffer();
  const text = new Dispatcher(host);
  const binary = new BinaryDispatcher(host);
  const textParser = new TextParser({ maxItemSize: config.pageSize }, (cmd) => text.handle(cmd, out, null));
  const binaryParser = new BinaryParser({ maxValueLength: config.pageSize }, (req) => binary.handle(req, out, binaryParser));
  textParser.push(Buffer.from(setup, 'latin1'));
  const records: Kind[] = [];
  store.changes.subscribe({ appended: (_seq, kind) => void records.push(kind), settled: () => null }, 64);
  return {
    records,
    run(request: string | Buffer): string {
      if (typeof request === 'string') textParser.push(Buffer.from(request, 'latin1'));
      else binaryParser.push(request);
      return out.take().toString('latin1');
    },
  };
}

function check(c: Case): void {
  const n = node(c.setup ?? HAS_K);
  const reply = n.run(c.request);
  expect(n.records, `reply: ${JSON.stringify(reply)}`).toEqual(c.records);
}

const label = (c: Case) => (typeof c.request === 'string' ? JSON.stringify(c.request) : `opcode 0x${c.request[1]!.toString(16)}`);

// ------------------------------------------------------------------ text

const TEXT: Record<string, Case[]> = {
  get: [{ request: 'get k\r\n', records: [] }, { request: 'get k x y\r\n', records: [] }],
  gets: [{ request: 'gets k\r\n', records: [] }],
  bget: [{ request: 'bget k\r\n', records: [] }],
  gat: [{ request: 'gat 30 k\r\n', records: [TOUCH] }, { request: 'gat 30 missing\r\n', records: [] }, { request: 'gat 30 k x k\r\n', records: [TOUCH, TOUCH] }],
  gats: [{ request: 'gats 30 k\r\n', records: [TOUCH] }],
  set: [
    { request: 'set k 0 0 1\r\n6\r\n', records: [SET] },
    { request: 'set new 0 0 1\r\n6\r\n', records: [SET] },
    // a refused set drops the old value (memcached), and that is a change
    { request: `set k 0 0 ${2 * 1024 * 1024}\r\n${'x'.repeat(2 * 1024 * 1024)}\r\n`, records: [DELETE] },
    { request: `set missing 0 0 ${2 * 1024 * 1024}\r\n${'x'.repeat(2 * 1024 * 1024)}\r\n`, records: [] },
  ],
  add: [{ request: 'add new 0 0 1\r\n6\r\n', records: [SET] }, { request: 'add k 0 0 1\r\n6\r\n', records: [] }],
  replace: [{ request: 'replace k 0 0 1\r\n6\r\n', records: [SET] }, { request: 'replace missing 0 0 1\r\n6\r\n', records: [] }],
  append: [{ request: 'append k 0 0 1\r\n6\r\n', records: [SET] }, { request: 'append missing 0 0 1\r\n6\r\n', records: [] }],
  prepend: [{ request: 'prepend k 0 0 1\r\n6\r\n', records: [SET] }],
  cas: [{ request: 'cas k 0 0 1 1\r\n6\r\n', records: [SET] }, { request: 'cas k 0 0 1 99\r\n6\r\n', records: [] }],
  incr: [{ request: 'incr k 1\r\n', records: [ARITH] }, { request: 'incr missing 1\r\n', records: [] }],
  decr: [{ request: 'decr k 1\r\n', records: [ARITH] }],
  delete: [{ request: 'delete k\r\n', records: [DELETE] }, { request: 'delete missing\r\n', records: [] }],
  touch: [{ request: 'touch k 30\r\n', records: [TOUCH] }, { request: 'touch missing 30\r\n', records: [] }],
  flush_all: [{ request: 'flush_all\r\n', records: [FLUSH] }, { request: 'flush_all 10\r\n', records: [FLUSH] }],
  stats: [{ request: 'stats\r\n', records: [] }, { request: 'stats reset\r\n', records: [] }],
  shutdown: [{ request: 'shutdown\r\n', records: [] }],
  slabs: [{ request: 'slabs reassign 1 2\r\n', records: [] }],
  cache_memlimit: [{ request: 'cache_memlimit 100\r\n', records: [] }],
  version: [{ request: 'version\r\n', records: [] }],
  quit: [{ request: 'quit\r\n', records: [] }],
  lru_crawler: [{ request: 'lru_crawler crawl all\r\n', records: [] }, { request: 'lru_crawler metadump all\r\n', records: [] }],
  watch: [{ request: 'watch\r\n', records: [] }],
  verbosity: [{ request: 'verbosity 1\r\n', records: [] }],
  refresh_certs: [{ request: 'refresh_certs\r\n', records: [] }],
  lru: [{ request: 'lru mode flat\r\n', records: [] }],
};

const META: Record<string, Case[]> = {
  mg: [
    { request: 'mg k v\r\n', records: [] },
    { request: 'mg k v T30\r\n', records: [TOUCH] },
    { request: 'mg new v N30\r\n', records: [SET] },
    { request: 'mg new v N30 T60\r\n', records: [SET] },
    { request: 'mg missing v\r\n', records: [] },
  ],
  ms: [
    { request: 'ms k 1\r\n6\r\n', records: [SET] },
    { request: 'ms k 1 MA\r\n6\r\n', records: [SET] },
    { request: 'ms missing 1 MR\r\n6\r\n', records: [] },
    { request: 'ms k 1 C1 I\r\n6\r\n', records: [SET] },
    { request: `ms k ${2 * 1024 * 1024}\r\n${'x'.repeat(2 * 1024 * 1024)}\r\n`, records: [DELETE] },
  ],
  md: [{ request: 'md k\r\n', records: [DELETE] }, { request: 'md k I T30\r\n', records: [SET] }, { request: 'md missing\r\n', records: [] }, { request: 'md k C99\r\n', records: [] }],
  ma: [{ request: 'ma k\r\n', records: [ARITH] }, { request: 'ma k T30 MD\r\n', records: [ARITH, TOUCH] }, { request: 'ma new N30 J7\r\n', records: [SET] }, { request: 'ma missing\r\n', records: [] }],
  mn: [{ request: 'mn\r\n', records: [] }],
  me: [{ request: 'me k\r\n', records: [] }],
};

// ------------------------------------------------------------------ binary

/** A binary request packet. */
function packet(opcode: number, opts: { key?: string; extras?: Buffer; value?: string; cas?: bigint } = {}): Buffer {
  const key = Buffer.from(opts.key ?? '', 'latin1');
  const extras = opts.extras ?? Buffer.alloc(0);
  const value = Buffer.from(opts.value ?? '', 'latin1');
  const b = Buffer.alloc(24 + extras.length + key.length + value.length);
  b[0] = 0x80;
  b[1] = opcode;
  b.writeUInt16BE(key.length, 2);
  b[4] = extras.length;
  b.writeUInt32BE(extras.length + key.length + value.length, 8);
  b.writeBigUInt64BE(opts.cas ?? 0n, 16);
  extras.copy(b, 24);
  key.copy(b, 24 + extras.length);
  value.copy(b, 24 + extras.length + key.length);
  return b;
}

const u32s = (...v: number[]) => Buffer.concat(v.map((x) => { const b = Buffer.alloc(4); b.writeUInt32BE(x); return b; }));
const arithExtras = (delta: bigint, initial: bigint, exptime: number) => {
  const b = Buffer.alloc(20);
  b.writeBigUInt64BE(delta, 0);
  b.writeBigUInt64BE(initial, 8);
  b.writeUInt32BE(exptime, 16);
  return b;
};
const storeCases = (op: number): Case[] => [{ request: packet(op, { key: 'k', extras: u32s(0, 0), value: '6' }), records: [SET] }];
const appendCases = (op: number): Case[] => [
  { request: packet(op, { key: 'k', value: '6' }), records: [SET] },
  { request: packet(op, { key: 'missing', value: '6' }), records: [] },
];
const arithCases = (op: number): Case[] => [
  { request: packet(op, { key: 'k', extras: arithExtras(1n, 0n, 0) }), records: [ARITH] },
  { request: packet(op, { key: 'new', extras: arithExtras(1n, 7n, 0) }), records: [SET] },
  { request: packet(op, { key: 'missing', extras: arithExtras(1n, 0n, 0xffffffff) }), records: [] },
];
const touchCases = (op: number): Case[] => [
  { request: packet(op, { key: 'k', extras: u32s(30) }), records: [TOUCH] },
  { request: packet(op, { key: 'missing', extras: u32s(30) }), records: [] },
];
const none = (op: number, opts: Parameters<typeof packet>[1] = {}): Case[] => [{ request: packet(op, opts), records: [] }];

const BINARY: Record<string, Case[]> = {
  GET: none(Op.GET, { key: 'k' }), GETQ: none(Op.GETQ, { key: 'k' }), GETK: none(Op.GETK, { key: 'k' }), GETKQ: none(Op.GETKQ, { key: 'k' }),
  SET: [...storeCases(Op.SET), { request: packet(Op.SET, { key: 'k', extras: u32s(0, 0), value: 'x'.repeat(2 * 1024 * 1024) }), records: [DELETE] }],
  SETQ: storeCases(Op.SETQ),
  ADD: [{ request: packet(Op.ADD, { key: 'new', extras: u32s(0, 0), value: '6' }), records: [SET] }, { request: packet(Op.ADD, { key: 'k', extras: u32s(0, 0), value: '6' }), records: [] }],
  ADDQ: [{ request: packet(Op.ADDQ, { key: 'new', extras: u32s(0, 0), value: '6' }), records: [SET] }],
  REPLACE: storeCases(Op.REPLACE), REPLACEQ: storeCases(Op.REPLACEQ),
  APPEND: appendCases(Op.APPEND), APPENDQ: appendCases(Op.APPENDQ), PREPEND: appendCases(Op.PREPEND), PREPENDQ: appendCases(Op.PREPENDQ),
  DELETE: [{ request: packet(Op.DELETE, { key: 'k' }), records: [DELETE] }, { request: packet(Op.DELETE, { key: 'missing' }), records: [] }],
  DELETEQ: [{ request: packet(Op.DELETEQ, { key: 'k' }), records: [DELETE] }],
  INCREMENT: arithCases(Op.INCREMENT), INCREMENTQ: arithCases(Op.INCREMENTQ), DECREMENT: arithCases(Op.DECREMENT), DECREMENTQ: arithCases(Op.DECREMENTQ),
  FLUSH: [{ request: packet(Op.FLUSH), records: [FLUSH] }, { request: packet(Op.FLUSH, { extras: u32s(10) }), records: [FLUSH] }],
  FLUSHQ: [{ request: packet(Op.FLUSHQ), records: [FLUSH] }],
  TOUCH: touchCases(Op.TOUCH), GAT: touchCases(Op.GAT), GATQ: touchCases(Op.GATQ), GATK: touchCases(Op.GATK), GATKQ: touchCases(Op.GATKQ),
  QUIT: none(Op.QUIT), QUITQ: none(Op.QUITQ), NOOP: none(Op.NOOP), VERSION: none(Op.VERSION), STAT: none(Op.STAT),
  SASL_LIST_MECHS: none(Op.SASL_LIST_MECHS), SASL_AUTH: none(Op.SASL_AUTH, { key: 'PLAIN' }), SASL_STEP: none(Op.SASL_STEP, { key: 'PLAIN' }),
};

describe('every command publishes exactly the changes it makes', () => {
  it('the tables name every command the protocols know', () => {
    expect(Object.keys(TEXT).sort()).toEqual([...TEXT_COMMAND_NAMES].sort());
    expect(Object.keys(META).sort()).toEqual([...META_COMMAND_NAMES].sort());
    expect(Object.keys(BINARY).sort()).toEqual(Object.keys(Op).sort());
  });

  it('each mutating command has a case that makes exactly one record', () => {
    for (const table of [TEXT, META, BINARY]) {
      for (const [name, cases] of Object.entries(table)) {
        if (cases.every((c) => c.records.length === 0)) continue;
        expect(cases.some((c) => c.records.length === 1), name).toBe(true);
      }
    }
  });

  for (const [protocol, table] of [['text', TEXT], ['meta', META], ['binary', BINARY]] as const) {
    describe(protocol, () => {
      for (const [name, cases] of Object.entries(table)) {
        for (const c of cases) it(`${name}: ${label(c)}`.slice(0, 120), () => check(c));
      }
    });
  }
});
