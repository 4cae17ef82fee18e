import { describe, expect, it } from 'vitest';
import { CacheClock } from '../../../src/clock.ts';
import { SlabStore } from '../../../src/cache/store.ts';
import { BinaryParser, Op, Status } from '../../../src/proto/binary/codec.ts';
import { parsePlain } from '../../../src/proto/binary/sasl.ts';
import { parseAuthFile } from '../../../src/server/auth-file.ts';
import { AUTHENTICATED, BinaryDispatcher } from '../../../src/server/binary-dispatch.ts';
import { CLOSE } from '../../../src/server/host.ts';
import { WatchLog } from '../../../src/server/watch.ts';
import { defaultServerConfig, storeOptionsFor } from '../../../src/server/config.ts';
import type { DispatchHost } from '../../../src/server/host.ts';
import { OutBuffer } from '../../../src/net/out-buffer.ts';
import { PrefixStats, ServerCounters } from '../../../src/server/stats.ts';
import { request, setExtras } from '../../support/binary-client.ts';

const credentials = parseAuthFile('alice:secret\n', 'auth');

/** One binary connection's path through parser and dispatcher, as Connection drives it, with -Y (and -S when sasl). */
function session(sasl = true) {
  const counters = new ServerCounters();
  const refused: string[] = [];
  const host: DispatchHost = {
    store: new SlabStore(storeOptionsFor(defaultServerConfig, new CacheClock())), config: defaultServerConfig, counters,
    verbosity: 0, detail: null, prefixStats: new PrefixStats(':'), setDetail() {}, generalStats: () => [],
    connStats: () => '', resetStats() {}, requestShutdown() {}, sasl: sasl ? credentials : null,
    clientRefused: (reason) => refused.push(reason), refreshCerts: () => '',
    watch: new WatchLog(0), startWatch: () => 'NOT_A_CONNECTION' as const, settingsChanged: () => {},
  };
  const dispatcher = new BinaryDispatcher(host);
  const out = new OutBuffer();
  let authenticated = false;
  let closed = false;
  const parser = new BinaryParser({ maxValueLength: 4096 }, (req) => {
    const r = dispatcher.handle(req, out, parser, authenticated);
    if (r === CLOSE) { closed = true; parser.stop(); }
    if (r === AUTHENTICATED) { authenticated = true; parser.setMaxValueLength(defaultServerConfig.pageSize); }
  });
  /** Sends bytes; returns [opcode, status, value] of each reply. */
  const send = (...reqs: Buffer[]): Array<[number, number, string]> => {
    parser.push(Buffer.concat(reqs));
    const bytes = out.take();
    const replies: Array<[number, number, string]> = [];
    for (let at = 0; at < bytes.length; ) {
      const body = bytes.readUInt32BE(at + 8);
      const skip = bytes[at + 4] + bytes.readUInt16BE(at + 2);
      replies.push([bytes[at + 1], bytes.readUInt16BE(at + 6), bytes.toString('latin1', at + 24 + skip, at + 24 + body)]);
      at += 24 + body;
    }
    out.recycle();
    return replies;
  };
  return { send, counters, refused, get closed() { return closed; }, get authenticated() { return authenticated; } };
}

const plain = (user: string, pass: string, authzid = '') => Buffer.from(`${authzid}\0${user}\0${pass}`, 'latin1');
const auth = (mech: string, data: Buffer | string) => request({ opcode: Op.SASL_AUTH, key: mech, value: data });
const get = request({ opcode: Op.GET, key: 'k' });

describe('binary SASL (-S -Y)', () => {
  it('before authenticating: VERSION and LIST_MECHS are answered, anything else is "Auth failure." and closes', () => {
    const s = session();
    expect(s.send(request({ opcode: Op.VERSION }), request({ opcode: Op.SASL_LIST_MECHS }))).toEqual([
      [Op.VERSION, 0, '1.6.18'], [Op.SASL_LIST_MECHS, 0, 'PLAIN'],
    ]);
    expect(s.send(request({ opcode: Op.SET, key: 'k', extras: setExtras(0, 0), value: 'v' }), get)).toEqual([[Op.SET, Status.AUTH_ERROR, 'Auth failure.']]);
    expect(s.closed).toBe(true);
    expect(s.refused).toEqual(['unauthenticated']);
  });

  it('AUTH PLAIN with the right password: "Authenticated", then everything works', () => {
    const s = session();
    expect(s.send(auth('PLAIN', plain('alice', 'secret')), get)).toEqual([[Op.SASL_AUTH, 0, 'Authenticated'], [Op.GET, Status.KEY_ENOENT, 'Not found']]);
    expect(s.authenticated).toBe(true);
    expect([s.counters.authCmds, s.counters.authErrors]).toEqual([1, 0]);
    // a value larger than the pre-authentication limit is now read whole
    const big = 'v'.repeat(100_000);
    expect(s.send(request({ opcode: Op.SET, key: 'k', extras: setExtras(0, 0), value: big }), get).map(([op, st, v]) => [op, st, v.length]))
      .toEqual([[Op.SET, 0, 0], [Op.GET, 0, big.length]]);
  });

  it.each([
    ['a wrong password', auth('PLAIN', plain('alice', 'wrong'))],
    ['an unknown user', auth('PLAIN', plain('bob', 'secret'))],
    ['another authzid', auth('PLAIN', plain('alice', 'secret', 'root'))],
    ['a truncated PLAIN message', auth('PLAIN', Buffer.from('\0alice', 'latin1'))],
    ['an empty PLAIN message', auth('PLAIN', '')],
    ['an unknown mechanism', auth('CRAM-MD5', plain('alice', 'secret'))],
    ['STEP', request({ opcode: Op.SASL_STEP, key: 'PLAIN', value: plain('alice', 'secret') })],
    ['data longer than any credentials (not buffered)', auth('PLAIN', Buffer.alloc(100_000, 1))],
  ])('%s: "Auth failure.", counted, the connection stays open and unauthenticated', (_what, req) => {
    const s = session();
    expect(s.send(req, request({ opcode: Op.NOOP }))).toEqual([[req[1], Status.AUTH_ERROR, 'Auth failure.'], [Op.NOOP, Status.AUTH_ERROR, 'Auth failure.']]);
    expect([s.counters.authCmds, s.counters.authErrors]).toEqual([1, 1]);
    expect(s.refused).toEqual(['auth failure', 'unauthenticated']);
  });

  it('the right password after a wrong one', () => {
    const s = session();
    expect(s.send(auth('PLAIN', plain('alice', 'nope')), auth('plain', plain('alice', 'secret', 'alice')), get).map(([, st]) => st))
      .toEqual([Status.AUTH_ERROR, 0, Status.KEY_ENOENT]);
    expect([s.counters.authCmds, s.counters.authErrors]).toEqual([2, 1]);
  });

  it('memcached\'s replies to malformed SASL frames', () => {
    const s = session();
    // a mechanism name longer than 32 bytes: Invalid arguments, the data swallowed, the connection kept
    expect(s.send(auth('X'.repeat(33), 'data'), request({ opcode: Op.VERSION }))).toEqual([[Op.SASL_AUTH, Status.EINVAL, 'Invalid arguments'], [Op.VERSION, 0, '1.6.18']]);
    // data larger than an item: Out of memory, swallowed
    expect(s.send(request({ opcode: Op.SASL_AUTH, key: 'PLAIN', bodyLength: 5 + 2 * 1024 * 1024 }), Buffer.alloc(2 * 1024 * 1024), request({ opcode: Op.VERSION })))
      .toEqual([[Op.SASL_AUTH, Status.ENOMEM, 'Out of memory'], [Op.VERSION, 0, '1.6.18']]);
    expect(s.counters.authCmds).toBe(0);
    // no mechanism, extras: protocol errors that close
    expect(s.send(request({ opcode: Op.SASL_AUTH, value: 'x' }))).toEqual([[Op.SASL_AUTH, Status.EINVAL, 'Invalid arguments']]);
    expect(s.closed).toBe(true);
  });

  it('without -S the SASL commands are unknown (memcached without SASL), and nothing else is allowed', () => {
    const s = session(false);
    expect(s.send(request({ opcode: Op.SASL_LIST_MECHS }), auth('PLAIN', plain('alice', 'secret')), get)).toEqual([
      [Op.SASL_LIST_MECHS, Status.UNKNOWN_COMMAND, 'Unknown command'], [Op.SASL_AUTH, Status.UNKNOWN_COMMAND, 'Unknown command'],
      [Op.GET, Status.AUTH_ERROR, 'Auth failure.'],
    ]);
  });
});

describe('parsePlain', () => {
  it.each([
    ['\0alice\0secret', { user: 'alice', pass: 'secret' }],
    ['alice\0alice\0secret', { user: 'alice', pass: 'secret' }],
    ['\0alice\0', { user: 'alice', pass: '' }],
    ['bob\0alice\0secret', null],
    ['\0\0secret', null],
    ['alice\0secret', null],
    ['\0alice\0sec\0ret', null],
    ['', null],
  ])('%j', (msg, want) => {
    const got = parsePlain(Buffer.from(msg, 'latin1'));
    expect(got && { user: got.user.toString(), pass: got.pass.toString() }).toEqual(want);
  });
});
