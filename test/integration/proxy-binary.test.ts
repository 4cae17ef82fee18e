/**
 * The binary protocol through repcache-proxy: in front of one memcached it answers as that memcached does (the
 * same request streams to Debian's memcached directly and through the proxy give the same packets, CAS values
 * compared by order of appearance); over three servers a real binary client (npm memjs) works and a killed main
 * is read from its backup.
 */
import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { arithExtras, exchange, parseResponses, request, setExtras, u32, type RequestSpec } from '../support/binary-client.ts';
import { stopAll } from '../support/daemon.ts';
import { startMemcached, startProxy, type Proc } from './proxy-harness.ts';

const GET = 0x00, SET = 0x01, ADD = 0x02, REPLACE = 0x03, DELETE = 0x04, INCR = 0x05, DECR = 0x06, QUIT = 0x07;
const FLUSH = 0x08, GETQ = 0x09, NOOP = 0x0a, VERSION = 0x0b, GETK = 0x0c, GETKQ = 0x0d, APPEND = 0x0e;
const PREPEND = 0x0f, STAT = 0x10, SETQ = 0x11, ADDQ = 0x12, REPLACEQ = 0x13, DELETEQ = 0x14, INCRQ = 0x15;
const DECRQ = 0x16, QUITQ = 0x17, FLUSHQ = 0x18, APPENDQ = 0x19, PREPENDQ = 0x1a, TOUCH = 0x1c, GAT = 0x1d;
const GATQ = 0x1e, SASL_LIST = 0x20, SASL_AUTH = 0x21, GATK = 0x23, GATKQ = 0x24;
const END_OPAQUE = 0xfeedface;

interface Case { name: string; requests: (Buffer | RequestSpec)[]; closes?: boolean }

const s = (key: string, value: string, o: Partial<RequestSpec> = {}): RequestSpec => ({ opcode: SET, key, extras: setExtras(0, 0), value, ...o });

const cases: Case[] = [
  {
    name: 'set/get/getk and misses',
    requests: [
      s('a', 'hello', { opaque: 1, extras: setExtras(0xfedcba98, 0) }), { opcode: GET, key: 'a', opaque: 2 },
      { opcode: GETK, key: 'a', opaque: 3 }, { opcode: GET, key: 'nokey', opaque: 4 }, { opcode: GETK, key: 'nokey', opaque: 5 },
      s('empty', ''), { opcode: GET, key: 'empty' },
    ],
  },
  {
    name: 'add/replace/append/prepend',
    requests: [
      { opcode: ADD, key: 'ar', extras: setExtras(3, 0), value: 'a', opaque: 1 }, { opcode: ADD, key: 'ar', extras: setExtras(3, 0), value: 'b', opaque: 2 },
      { opcode: REPLACE, key: 'ar', extras: setExtras(4, 0), value: 'c', opaque: 3 }, { opcode: REPLACE, key: 'ar-none', extras: setExtras(4, 0), value: 'c', opaque: 4 },
      { opcode: APPEND, key: 'ar', value: 'xy', opaque: 5 }, { opcode: PREPEND, key: 'ar', value: 'zz', opaque: 6 },
      { opcode: APPEND, key: 'ar-none', value: 'xy', opaque: 7 }, { opcode: GETK, key: 'ar', opaque: 9 },
    ],
  },
  {
    name: 'quiet variants: successes silent, errors sent, GETQ hits sent, in order',
    requests: [
      { opcode: SETQ, key: 'q', extras: setExtras(1, 0), value: 'v', opaque: 1 }, { opcode: ADDQ, key: 'q', extras: setExtras(1, 0), value: 'v', opaque: 2 },
      { opcode: REPLACEQ, key: 'q-none', extras: setExtras(1, 0), value: 'v', opaque: 3 }, { opcode: REPLACEQ, key: 'q', extras: setExtras(2, 0), value: 'w', opaque: 4 },
      { opcode: GETQ, key: 'q', opaque: 5 }, { opcode: GETQ, key: 'q-none', opaque: 6 }, { opcode: GETKQ, key: 'q', opaque: 7 }, { opcode: GETKQ, key: 'q-none', opaque: 8 },
      { opcode: APPENDQ, key: 'q', value: '1', opaque: 9 }, { opcode: PREPENDQ, key: 'q', value: '0', opaque: 10 }, { opcode: APPENDQ, key: 'q-none', value: '1', opaque: 11 },
      { opcode: DELETEQ, key: 'q-none', opaque: 12 }, { opcode: SETQ, key: 'qn', extras: setExtras(0, 0), value: '5', opaque: 13 },
      { opcode: INCRQ, key: 'qn', extras: arithExtras(1n, 0n, 0), opaque: 14 }, { opcode: DECRQ, key: 'qn', extras: arithExtras(3n, 0n, 0), opaque: 15 },
      { opcode: INCRQ, key: 'q', extras: arithExtras(1n, 0n, 0), opaque: 17 },
      { opcode: GATQ, key: 'q', extras: u32(0), opaque: 18 }, { opcode: GATKQ, key: 'q-none', extras: u32(0), opaque: 21 },
      { opcode: DELETEQ, key: 'q', opaque: 22 }, { opcode: GET, key: 'q', opaque: 23 }, { opcode: GETK, key: 'qn', opaque: 24 },
    ],
  },
  {
    name: 'incr/decr, CAS mismatches, touch and gat',
    requests: [
      { opcode: INCR, key: 'n1', extras: arithExtras(5n, 10n, 0), opaque: 1 }, { opcode: INCR, key: 'n1', extras: arithExtras(5n, 10n, 0), opaque: 2 },
      { opcode: DECR, key: 'n2', extras: arithExtras(1n, 7n, 0xffffffff), opaque: 4 }, s('txt', 'abc'), { opcode: INCR, key: 'txt', extras: arithExtras(1n, 0n, 0), opaque: 7 },
      s('c', 'v'), { opcode: SET, key: 'c', extras: setExtras(0, 0), value: 'w', cas: 1n, opaque: 8 }, { opcode: DELETE, key: 'c', cas: 1n, opaque: 9 },
      s('t', 'tv', { extras: setExtras(77, 0) }), { opcode: TOUCH, key: 't', extras: u32(100), opaque: 10 }, { opcode: TOUCH, key: 't-none', extras: u32(100), opaque: 11 },
      { opcode: GAT, key: 't', extras: u32(0), opaque: 12 }, { opcode: GATK, key: 't', extras: u32(0), opaque: 13 }, { opcode: GAT, key: 't-none', extras: u32(0), opaque: 14 },
    ],
  },
  {
    name: 'delete, noop, unknown commands and SASL without -S',
    requests: [
      s('d', 'x'), { opcode: DELETE, key: 'd', opaque: 1 }, { opcode: DELETE, key: 'd', opaque: 2 }, { opcode: NOOP, opaque: 4 },
      { opcode: 0x55, opaque: 5 }, { opcode: 0x55, bodyLength: 5, opaque: 7 }, Buffer.from('12345'),
      { opcode: SASL_LIST, opaque: 8 }, { opcode: SASL_AUTH, key: 'PLAIN', value: '\0u\0p', opaque: 9 },
    ],
  },
  {
    name: 'too large value refused and the old one dropped',
    requests: [
      s('big', 'old'), s('big', 'x'.repeat(1024 * 1024 + 10), { opaque: 1 }), { opcode: GET, key: 'big', opaque: 2 },
      { opcode: SETQ, key: 'big', extras: setExtras(0, 0), value: 'y'.repeat(1024 * 1024), opaque: 3 },
      { opcode: APPEND, key: 'nobig', value: 'z'.repeat(1024 * 1024 + 1), opaque: 4 },
      s('edge', 'e'.repeat(1024 * 1024 - 80), { opaque: 7 }), { opcode: GET, key: 'edge', opaque: 8 },
    ],
  },
  { name: 'quit', requests: [{ opcode: NOOP, opaque: 1 }, { opcode: QUIT, opaque: 2 }, { opcode: NOOP, opaque: 3 }], closes: true },
  { name: 'quitq', requests: [{ opcode: NOOP, opaque: 1 }, { opcode: QUITQ, opaque: 2 }, { opcode: NOOP, opaque: 3 }], closes: true },
  { name: 'get with extras: invalid, closes', requests: [{ opcode: GET, key: 'a', extras: u32(1), opaque: 1 }, { opcode: NOOP }], closes: true },
  { name: 'set without extras: invalid, closes', requests: [{ opcode: SET, key: 'a', value: 'v', opaque: 1 }, { opcode: NOOP }], closes: true },
  { name: 'key longer than 250: invalid, closes', requests: [{ opcode: GET, key: 'k'.repeat(251), opaque: 1 }, { opcode: NOOP }], closes: true },
  { name: 'body shorter than extras + key: unknown command, closes', requests: [{ opcode: GET, key: 'abc', bodyLength: 2, opaque: 1 }, { opcode: NOOP }], closes: true },
  { name: 'bad magic after a good request closes silently', requests: [{ opcode: NOOP, opaque: 1 }, { opcode: NOOP, magic: 0x81, opaque: 2 }, { opcode: NOOP }], closes: true },
  {
    name: 'flush',
    requests: [
      s('f1', 'v'), { opcode: FLUSH, opaque: 1 }, { opcode: GET, key: 'f1', opaque: 2 },
      s('f2', 'v'), { opcode: FLUSHQ, opaque: 3 }, { opcode: GET, key: 'f2', opaque: 4 }, { opcode: FLUSH, key: 'x', opaque: 6 },
    ],
    closes: true,
  },
];

const streamOf = (c: Case, end = !c.closes): Buffer =>
  Buffer.concat([...c.requests.map((r) => (Buffer.isBuffer(r) ? r : request(r))), ...(end ? [request({ opcode: NOOP, opaque: END_OPAQUE })] : [])]);
const hasEnd = (b: Buffer): boolean => parseResponses(b).packets.some((p) => p.opcode === NOOP && p.opaque === END_OPAQUE);

function describeReply(bytes: Buffer): string[] {
  const { packets, rest } = parseResponses(bytes);
  const cas = new Map<bigint, string>();
  const lines = packets.map((p) => {
    if (p.cas !== 0n && !cas.has(p.cas)) cas.set(p.cas, `C${cas.size + 1}`);
    return `op=${p.opcode.toString(16)} status=${p.status} opaque=${p.opaque} cas=${p.cas === 0n ? '0' : cas.get(p.cas)} extras=${p.extras.toString('hex')} key=${p.key.toString('latin1')} value=${JSON.stringify(p.value.toString('latin1').slice(0, 80))}`;
  });
  if (rest.length > 0) lines.push(`partial ${rest.length} bytes`);
  return lines;
}

describe('binary protocol through repcache-proxy in front of one memcached', () => {
  const ports = { direct: 0, proxy: 0 };
  beforeAll(async () => {
    const [direct, behind] = await Promise.all([startMemcached(), startMemcached()]);
    ports.direct = direct.port;
    ports.proxy = (await startProxy(['-s', `127.0.0.1:${behind.port}`])).port;
  });
  afterAll(stopAll);

  const run = async (c: Case, splits: number[] = []) => {
    const data = streamOf(c);
    const opts = { splits, done: c.closes ? undefined : hasEnd, idleMs: c.closes ? 1500 : 1500 };
    const [want, got] = await Promise.all([exchange(ports.direct, data, opts), exchange(ports.proxy, data, opts)]);
    expect(describeReply(got.bytes), c.name).toEqual(describeReply(want.bytes));
    expect(got.closed, `${c.name}: closed`).toBe(want.closed);
  };

  it.each(cases.map((c) => [c.name, c] as const))('%s', async (_, c) => {
    await run(c);
  });

  it('the non-closing cases pipelined in one write, and split at random points', async () => {
    const all: Case = { name: 'pipeline', requests: cases.filter((c) => !c.closes).flatMap((c) => c.requests) };
    await run(all);
    const len = streamOf(cases[2]!).length;
    await run(cases[2]!, [7, 30, Math.floor(len / 2), len - 3]);
  });

  it('version and stat are the proxy\'s own', async () => {
    const r = await exchange(ports.proxy, Buffer.concat([request({ opcode: VERSION, opaque: 1 }), request({ opcode: STAT, opaque: 2 })]), {
      done: (b) => parseResponses(b).packets.some((p) => p.opcode === STAT && p.key.length === 0),
    });
    const packets = parseResponses(r.bytes).packets;
    expect(packets[0]!.value.toString()).toBe('1.6.18-repcache-proxy-0.1.0');
    const stats = new Map(packets.slice(1).map((p) => [p.key.toString(), p.value.toString()]));
    expect(stats.get('backend_0_state')).toBe('up');
    expect(Number(stats.get('cmd_set'))).toBeGreaterThan(10);
  });
});

interface MemjsClient {
  get(key: string): Promise<{ value: Buffer | null; flags: Buffer | null }>;
  set(key: string, value: string, options: { expires?: number }): Promise<boolean>;
  delete(key: string): Promise<boolean>;
  increment(key: string, amount: number, options: { initial?: number }): Promise<{ success: boolean; value: number | null }>;
  close(): void;
}

describe('memjs (a binary client) through repcache-proxy over three memcacheds with backups', () => {
  const backends: Proc[] = [];
  let client: MemjsClient;
  beforeAll(async () => {
    for (let i = 0; i < 3; i++) backends.push(await startMemcached());
    const servers = backends.map((b) => `127.0.0.1:${b.port}`);
    const proxy = await startProxy([...servers.flatMap((x) => ['-s', x]), ...servers.flatMap((x) => ['-b', x]), '--failure-limit', '1']);
    const memjs = createRequire(import.meta.url)('memjs') as { Client: { create(s: string, o: object): MemjsClient } };
    client = memjs.Client.create(`127.0.0.1:${proxy.port}`, { retries: 0, timeout: 3, logger: { log() {} } });
  });
  afterAll(async () => {
    client?.close();
    await stopAll();
  });

  it('set, get, increment, delete; a killed server\'s keys are read from their backups', async () => {
    const keys = Array.from({ length: 60 }, (_, i) => `mj:${i}`);
    for (const k of keys) expect(await client.set(k, `v-${k}`, {})).toBe(true);
    for (const k of keys.slice(0, 10)) expect((await client.get(k)).value?.toString()).toBe(`v-${k}`);
    expect(await client.increment('mj:n', 2, { initial: 40 })).toEqual({ success: true, value: 40 });
    expect(await client.increment('mj:n', 2, {})).toEqual({ success: true, value: 42 });
    expect(await client.delete('mj:0')).toBe(true);
    backends[0]!.daemon.proc.kill('SIGKILL');
    await backends[0]!.daemon.exited;
    for (const k of keys.slice(1)) expect((await client.get(k)).value?.toString(), k).toBe(`v-${k}`);
    expect(await client.set('mj:after', 'x', {})).toBe(true);
    expect((await client.get('mj:after')).value?.toString()).toBe('x');
  });
});
