import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  AdvertCodec,
  AdvertEncodeError,
  ReplayWindow,
  SEQUENCE_TIME_SHIFT,
  SequenceCounter,
  decodeAdvert,
  encodeAdvert,
  peekVrid,
} from '../../../src/proto/advert/index.ts';
import type { AdvertAuth, AdvertMessage } from '../../../src/proto/advert/index.ts';

const msg: AdvertMessage = {
  kind: 'ADVERT',
  vrid: 51,
  priority: 150,
  advertIntMs: 1000,
  nodeId: 'n1',
  primaryAddress: '198.18.0.1',
  vips: [{ address: '198.18.0.100', prefix: 32 }],
  successor: 'n2',
  sequence: 0x0102030405060708n,
};

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
// magic ver kind vrid prio int   flags auth nvip nid primary     sequence                node  succ     vip
const BODY_NONE = '6876 01 01 33 96 0064 01 00 01 02 c6120001 0102030405060708 6e31 026e32 c612006420';
const BODY_PASS = '6876 01 01 33 96 0064 01 01 01 02 c6120001 0102030405060708 6e31 026e32 c612006420';
const BODY_HMAC = '6876 01 01 33 96 0064 01 02 01 02 c6120001 0102030405060708 6e31 026e32 c612006420';

const none: AdvertAuth = { type: 'none' };
const pass: AdvertAuth = { type: 'PASS', password: 'secret' };
const hmac: AdvertAuth = { type: 'HMAC', key: 'k3y' };

describe('advert codec fixtures', () => {
  it('encodes and decodes without auth', () => {
    const buf = encodeAdvert(msg, none);
    expect(buf).toEqual(hex(BODY_NONE));
    expect(decodeAdvert(buf, none)).toEqual({ ok: true, message: msg });
  });

  it('PASS: 8-byte zero-padded password trailer', () => {
    const buf = encodeAdvert(msg, pass);
    expect(buf).toEqual(hex(`${BODY_PASS} 7365637265740000`));
    expect(decodeAdvert(buf, pass)).toEqual({ ok: true, message: msg });
  });

  it('HMAC-SHA256 over every byte before the trailer', () => {
    const body = hex(BODY_HMAC);
    const mac = createHmac('sha256', 'k3y').update(body).digest();
    const buf = encodeAdvert(msg, hmac);
    expect(buf).toEqual(Buffer.concat([body, mac]));
    expect(decodeAdvert(buf, hmac)).toEqual({ ok: true, message: msg });
  });

  it('round-trips a backup hello without successor or VIPs, sub-second interval and a UTF-8 id', () => {
    const hello: AdvertMessage = {
      ...msg,
      kind: 'BACKUP_HELLO',
      advertIntMs: 100,
      successor: null,
      vips: [],
      nodeId: 'nœud-2',
      sequence: 0xffff_ffff_ffff_ffffn,
    };
    const buf = encodeAdvert(hello, hmac);
    expect(buf[3]).toBe(2);
    expect(buf.readUInt16BE(6)).toBe(10);
    expect(decodeAdvert(buf, hmac)).toEqual({ ok: true, message: hello });
  });

  it('peekVrid finds the instance before authentication', () => {
    expect(peekVrid(encodeAdvert(msg, hmac))).toBe(51);
    expect(peekVrid(encodeAdvert(msg, none).subarray(0, 23))).toBeNull();
    expect(peekVrid(Buffer.alloc(40))).toBeNull();
  });

  it('accepts a Uint8Array view into a larger buffer', () => {
    const buf = encodeAdvert(msg, none);
    const big = new Uint8Array(buf.length + 10);
    big.set(buf, 5);
    expect(decodeAdvert(big.subarray(5, 5 + buf.length), none).ok).toBe(true);
  });
});

describe('advert codec errors', () => {
  const code = (buf: Uint8Array, auth: AdvertAuth) => {
    const r = decodeAdvert(buf, auth);
    return r.ok ? 'ok' : r.error.code;
  };

  it.each([
    ['none', none],
    ['PASS', pass],
    ['HMAC', hmac],
  ] as const)('truncation at every byte is TRUNCATED (%s)', (_n, auth) => {
    const buf = encodeAdvert(msg, auth);
    for (let i = 0; i < buf.length; i++) expect(code(buf.subarray(0, i), auth), `length ${i}`).toBe('TRUNCATED');
    expect(code(Buffer.concat([buf, Buffer.from([0])]), auth)).toBe('TRAILING_BYTES');
  });

  it('rejects bad magic, version, kind, flags and fields', () => {
    const good = encodeAdvert(msg, none);
    const patch = (off: number, v: number) => {
      const b = Buffer.from(good);
      b[off] = v;
      return b;
    };
    expect(code(patch(0, 0x00), none)).toBe('BAD_MAGIC');
    expect(code(Buffer.from([0x45]), none)).toBe('TRUNCATED');
    expect(code(Buffer.from('GET / HTTP/1.0\r\n\r\n'), none)).toBe('BAD_MAGIC');
    expect(code(patch(2, 2), none)).toBe('BAD_VERSION');
    expect(code(patch(3, 9), none)).toBe('BAD_KIND');
    expect(code(patch(4, 0), none)).toBe('BAD_FIELD');
    expect(code(patch(8, 0x81), none)).toBe('BAD_FIELD');
    expect(code(patch(33, 33), none)).toBe('BAD_FIELD'); // VIP prefix 33
    const r = decodeAdvert(patch(0, 0), none);
    expect(!r.ok && r.error.name).toBe('AdvertDecodeError');
    expect(!r.ok && r.error.message).toBe('not a haved advert (bad magic)');
  });

  it('rejects an auth type different from ours (no downgrade)', () => {
    expect(code(encodeAdvert(msg, none), hmac)).toBe('AUTH_MISMATCH');
    expect(code(encodeAdvert(msg, hmac), pass)).toBe('AUTH_MISMATCH');
    expect(code(encodeAdvert(msg, pass), none)).toBe('AUTH_MISMATCH');
  });

  it('PASS mismatch is BAD_AUTH; only the first 8 bytes count', () => {
    expect(code(encodeAdvert(msg, pass), { type: 'PASS', password: 'secreT' })).toBe('BAD_AUTH');
    expect(code(encodeAdvert(msg, pass), { type: 'PASS', password: 'secret\0' })).toBe('ok');
    expect(() => encodeAdvert(msg, { type: 'PASS', password: '123456789' })).toThrow(AdvertEncodeError);
  });

  it('HMAC with the wrong key, or any flipped bit, is rejected', () => {
    const buf = encodeAdvert(msg, hmac);
    expect(code(buf, { type: 'HMAC', key: 'other' })).toBe('BAD_AUTH');
    for (let i = 0; i < buf.length; i++) {
      const b = Buffer.from(buf);
      b[i] ^= 0x01;
      expect(code(b, hmac), `byte ${i}`).not.toBe('ok');
    }
  });

  it('refuses to encode out-of-range fields', () => {
    const bad: [Partial<AdvertMessage>, RegExp][] = [
      [{ vrid: 0 }, /vrid/],
      [{ priority: 256 }, /priority/],
      [{ advertIntMs: 0 }, /interval/],
      [{ primaryAddress: '198.18.0' }, /primary address/],
      [{ vips: [{ address: '198.18.0.300', prefix: 32 }] }, /VIP/],
      [{ vips: [{ address: '198.18.0.3', prefix: 33 }] }, /prefix/],
      [{ nodeId: '' }, /node id/],
      [{ successor: '' }, /successor/],
      [{ sequence: -1n }, /sequence/],
    ];
    for (const [patch, re] of bad) expect(() => encodeAdvert({ ...msg, ...patch }, none)).toThrow(re);
  });
});

describe('sequence and replay window', () => {
  it('sequence follows the wall clock, stays strictly increasing through a clock step back', () => {
    let wall = 1_700_000_000_000;
    const seq = new SequenceCounter(() => wall);
    const a = seq.next();
    expect(a).toBe(BigInt(wall) << SEQUENCE_TIME_SHIFT);
    const b = seq.next();
    expect(b).toBe(a + 1n);
    wall -= 60_000;
    const c = seq.next();
    expect(c).toBe(b + 1n);
    wall += 120_000;
    expect(seq.next()).toBe(BigInt(wall) << SEQUENCE_TIME_SHIFT);
  });

  it('a restarted sender starts above every number it used before', () => {
    let wall = 1_700_000_000_000;
    const first = new SequenceCounter(() => wall);
    let last = 0n;
    for (let i = 0; i < 5000; i++) last = first.next();
    wall += 1000; // restart one second later
    expect(new SequenceCounter(() => wall).next() > last).toBe(true);
  });

  it('accepts new and in-window out-of-order sequences once, rejects replays and too-old ones', () => {
    const w = new ReplayWindow();
    expect(w.accept('n1', 1000n)).toBe('ok');
    expect(w.accept('n1', 1000n)).toBe('replayed');
    expect(w.accept('n1', 1005n)).toBe('ok');
    expect(w.accept('n1', 1003n)).toBe('ok'); // reordered, inside the window
    expect(w.accept('n1', 1003n)).toBe('replayed');
    expect(w.accept('n1', 1005n - 63n)).toBe('ok');
    expect(w.accept('n1', 1005n - 64n)).toBe('too-old');
    expect(w.accept('n1', 5000n)).toBe('ok'); // jump clears the window
    expect(w.accept('n1', 1005n)).toBe('too-old');
    expect(w.accept('n2', 1n)).toBe('ok'); // per sender
  });

  it('optionally bounds the first sequence from a sender by our wall clock', () => {
    const now = 1_700_000_000_000;
    const w = new ReplayWindow({ firstContactMaxSkewMs: 60_000, wallNow: () => now });
    expect(w.accept('old', BigInt(now - 3_600_000) << SEQUENCE_TIME_SHIFT)).toBe('stale-first-contact');
    expect(w.accept('fresh', BigInt(now - 1000) << SEQUENCE_TIME_SHIFT)).toBe('ok');
  });

  it('forgets the least recently heard sender beyond maxSenders', () => {
    const w = new ReplayWindow({ maxSenders: 2 });
    w.accept('a', 10n);
    w.accept('b', 10n);
    w.accept('c', 10n);
    expect(w.size).toBe(2);
    expect(w.accept('a', 10n)).toBe('ok');
    expect(w.accept('c', 10n)).toBe('replayed');
  });

  it('AdvertCodec numbers adverts and drops a replayed HMAC advert', () => {
    let wall = 1_700_000_000_000;
    const tx = new AdvertCodec({ auth: hmac, wallNow: () => wall });
    const rx = new AdvertCodec({ auth: hmac, wallNow: () => wall });
    const { sequence: _s, ...fields } = msg;
    const p1 = tx.encode(fields);
    const p2 = tx.encode(fields);
    expect(rx.decode(p1).ok).toBe(true);
    expect(rx.decode(p2).ok).toBe(true);
    const replay = rx.decode(p1);
    expect(replay.ok).toBe(false);
    expect(!replay.ok && replay.error.code).toBe('REPLAYED');
    expect(!replay.ok && replay.error.message).toMatch(/from n1 rejected: replayed/);
    // A forged packet does not advance the window.
    const forged = Buffer.from(tx.encode(fields));
    forged[forged.length - 1] ^= 1;
    expect(!rx.decode(forged).ok && 'dropped').toBe('dropped');
    wall += 1;
    expect(rx.decode(tx.encode(fields)).ok).toBe(true);
  });

  it('without HMAC there is no replay state (PASS and none cannot authenticate a sequence)', () => {
    const c = new AdvertCodec({ auth: pass });
    const p = c.encode({ ...msg });
    expect(c.decode(p).ok).toBe(true);
    expect(c.decode(p).ok).toBe(true);
  });
});
