import { describe, expect, it } from 'vitest';
import { bytesToIpv6, ipv6ToBytes } from '../../../src/proto/advert/codec.ts';
import { AdvertEncodeError, decodeAdvert, encodeAdvert } from '../../../src/proto/advert/index.ts';
import type { AdvertAuth, AdvertMessage } from '../../../src/proto/advert/index.ts';
import { addressRank, outranks } from '../../../src/ha/core/priority.ts';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const none: AdvertAuth = { type: 'none' };
const msg6: AdvertMessage = {
  kind: 'ADVERT',
  vrid: 51,
  priority: 150,
  advertIntMs: 1000,
  nodeId: 'n1',
  primaryAddress: 'fe80::1',
  vips: [{ address: '2001:db8::10', prefix: 64 }],
  successor: 'n2',
  sequence: 0x0102030405060708n,
};

// magic ver kind vrid prio int flags(successor|IPv6) auth nvip nid  primary(0)  sequence  node  primary6  succ  vip6 prefix
const BODY6 =
  '6876 01 01 33 96 0064 03 00 01 02 00000000 0102030405060708 6e31 fe800000000000000000000000000001 026e32 20010db8000000000000000000000010 40';

describe('advert codec: IPv6', () => {
  it('an IPv6 primary address sets the IPv6 flag; addresses are 16 bytes', () => {
    const buf = encodeAdvert(msg6, none);
    expect(buf).toEqual(hex(BODY6));
    expect(decodeAdvert(buf, none)).toEqual({ ok: true, message: msg6 });
  });

  it('drops the zone of a link-local primary address', () => {
    const buf = encodeAdvert({ ...msg6, primaryAddress: 'fe80::1%eth0' }, none);
    expect(decodeAdvert(buf, none)).toEqual({ ok: true, message: msg6 });
  });

  it('round-trips with HMAC, without successor, many VIPs of every shape', () => {
    const m = { ...msg6, successor: null, vips: ['::', '::1', '2001:db8::', '2001:db8:0:1::ffff:1', '::ffff:198.18.0.1', '2001:db8:1:2:3:4:5:6'].map((address, i) => ({ address, prefix: 120 + i })) };
    const auth: AdvertAuth = { type: 'HMAC', key: 'k3y' };
    const r = decodeAdvert(encodeAdvert(m, auth), auth);
    expect(r.ok && r.message.vips.map((v) => v.address)).toEqual(['::', '::1', '2001:db8::', '2001:db8:0:1::ffff:1', '::ffff:c612:1', '2001:db8:1:2:3:4:5:6']);
  });

  it('refuses a VIP of the other family or a prefix over 128', () => {
    expect(() => encodeAdvert({ ...msg6, vips: [{ address: '198.18.0.1', prefix: 32 }] }, none)).toThrow(AdvertEncodeError);
    expect(() => encodeAdvert({ ...msg6, vips: [{ address: '2001:db8::1', prefix: 129 }] }, none)).toThrow(AdvertEncodeError);
  });

  it('a truncated IPv6 advert or a prefix over 128 is dropped', () => {
    const buf = encodeAdvert(msg6, none);
    expect(decodeAdvert(buf.subarray(0, buf.length - 1), none)).toMatchObject({ ok: false, error: { code: 'TRUNCATED' } });
    const bad = Buffer.from(buf);
    bad[bad.length - 1] = 129;
    expect(decodeAdvert(bad, none)).toMatchObject({ ok: false, error: { code: 'BAD_FIELD' } });
  });

  it('text <-> bytes matches what node:net accepts and prints', () => {
    expect(ipv6ToBytes('2001:db8::1')!.toString('hex')).toBe('20010db8000000000000000000000001');
    expect(ipv6ToBytes('198.18.0.1')).toBeNull();
    expect(bytesToIpv6(hex('20010db8000000010000000000000000'))).toBe('2001:db8:0:1::');
    expect(bytesToIpv6(hex('00010000000100000000000000000001'))).toBe('1:0:1::1');
  });
});

describe('election tie-break on IPv6 primary addresses', () => {
  it('compares the addresses as 128-bit integers', () => {
    expect(addressRank('fe80::2') > addressRank('fe80::1')).toBe(true);
    expect(addressRank('fe80::1:0') > addressRank('fe80::ffff')).toBe(true);
    expect(outranks({ priority: 100, primaryAddress: 'fe80::2%eth0', nodeId: 'a' }, { priority: 100, primaryAddress: 'fe80::1%eth0', nodeId: 'b' })).toBe(true);
    expect(addressRank('198.18.0.2')).toBe(0xc6120002n);
  });
});
