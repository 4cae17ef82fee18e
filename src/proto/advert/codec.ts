import { createHmac, timingSafeEqual } from 'node:crypto';
import { isIPv6 } from 'node:net';
import { AdvertDecodeError, AdvertEncodeError, AdvertKind, AuthType } from './types.ts';
import type { AdvertAuth, AdvertKindName, AdvertMessage, AdvertVip, DecodeResult } from './types.ts';

/**
 * Wire layout (big-endian). VRRP is IP protocol 112, which node:dgram cannot send, so this is haved's own
 * UDP payload; it does not interoperate with keepalived or routers.
 *
 *   0  u16  magic 0x6876 ("hv")        12 u32  primary address (IPv4)
 *   2  u8   version (1)                16 u64  sequence
 *   3  u8   kind (1 ADVERT, 2 HELLO)   24 ...  node id (UTF-8, length at 11)
 *   4  u8   VRID                          [u8 length + successor id]   when flags bit 0
 *   5  u8   priority                      vip count × (u32 address, u8 prefix)
 *   6  u16  advert interval, centisec     auth trailer: none 0 bytes | PASS 8 bytes | HMAC-SHA256 32 bytes
 *   8  u8   flags (bit 0 successor, bit 1 IPv6)
 *   9  u8   auth type (0 none, 1 PASS, 2 HMAC)
 *  10  u8   vip count
 *  11  u8   node id length
 *
 * With the IPv6 flag the u32 at 12 is zero, the 16-byte primary address follows the node id (before the
 * successor), and each VIP is (16-byte address, u8 prefix): one address family per advert, as in VRRPv3.
 *
 * The HMAC covers every byte before the trailer, auth type included, so it cannot be downgraded.
 */
export const ADVERT_MAGIC = 0x6876;
export const ADVERT_VERSION = 1;
export const HEADER_BYTES = 24;
const FLAG_SUCCESSOR = 0x01;
const FLAG_IPV6 = 0x02;
const PASS_BYTES = 8;
const HMAC_BYTES = 32;

const kindByCode = new Map<number, AdvertKindName>(
  Object.entries(AdvertKind).map(([name, code]) => [code, name as AdvertKindName]),
);

function trailerBytes(auth: AdvertAuth): number {
  return auth.type === 'PASS' ? PASS_BYTES : auth.type === 'HMAC' ? HMAC_BYTES : 0;
}

function ipv4ToU32(text: string, field: string): number {
  const parts = text.split('.');
  if (parts.length !== 4) throw new AdvertEncodeError(`${field}: not an IPv4 address: ${text}`);
  let n = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) throw new AdvertEncodeError(`${field}: not an IPv4 address: ${text}`);
    n = n * 256 + Number(p);
  }
  return n;
}

function u32ToIpv4(n: number): string {
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

/** 16 bytes of an IPv6 address (a zone like `%eth0` is dropped), or null when it is not one. */
export function ipv6ToBytes(text: string): Buffer | null {
  const t = text.replace(/%.*$/, '');
  if (!isIPv6(t)) return null;
  let words: string[];
  const [head, tail] = t.split('::') as [string, string | undefined];
  const part = (x: string) => (x === '' ? [] : x.split(':'));
  const v4 = (xs: string[]) => {
    const last = xs[xs.length - 1];
    if (last === undefined || !last.includes('.')) return xs;
    const n = last.split('.').map(Number);
    return [...xs.slice(0, -1), ((n[0] << 8) | n[1]).toString(16), ((n[2] << 8) | n[3]).toString(16)];
  };
  if (tail === undefined) words = v4(part(head));
  else {
    const h = part(head);
    const tl = v4(part(tail));
    words = [...h, ...Array<string>(8 - h.length - tl.length).fill('0'), ...tl];
  }
  const out = Buffer.alloc(16);
  words.forEach((w, i) => out.writeUInt16BE(parseInt(w, 16), i * 2));
  return out;
}

/** RFC 5952-ish text of 16 bytes (what node:net prints: lower case, longest zero run as `::`). */
export function bytesToIpv6(b: Uint8Array): string {
  const words: number[] = [];
  for (let i = 0; i < 16; i += 2) words.push((b[i] << 8) | b[i + 1]);
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  const hex = (xs: number[]) => xs.map((w) => w.toString(16)).join(':');
  return best < 0 ? hex(words) : `${hex(words.slice(0, best))}::${hex(words.slice(best + bestLen))}`;
}

function ipv6Field(text: string, field: string): Buffer {
  const b = ipv6ToBytes(text);
  if (!b) throw new AdvertEncodeError(`${field}: not an IPv6 address: ${text}`);
  return b;
}

function passBytes(password: string): Buffer {
  const out = Buffer.alloc(PASS_BYTES);
  Buffer.from(password, 'utf8').copy(out, 0, 0, PASS_BYTES);
  return out;
}

function hmac(key: string | Uint8Array, data: Uint8Array): Buffer {
  return createHmac('sha256', key).update(data).digest();
}

function checkInt(value: number, min: number, max: number, field: string): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new AdvertEncodeError(`${field} must be an integer in ${min}..${max}, got ${value}`);
  }
}

/** Serialises one advert, trailer included. Throws AdvertEncodeError on a field out of range. */
export function encodeAdvert(msg: AdvertMessage, auth: AdvertAuth): Buffer {
  checkInt(msg.vrid, 1, 255, 'vrid');
  checkInt(msg.priority, 0, 255, 'priority');
  const centis = Math.round(msg.advertIntMs / 10);
  checkInt(centis, 1, 0xffff, 'advert interval (centiseconds)');
  if (msg.vips.length > 255) throw new AdvertEncodeError(`at most 255 VIPs, got ${msg.vips.length}`);
  if (msg.sequence < 0n || msg.sequence > 0xffff_ffff_ffff_ffffn) throw new AdvertEncodeError('sequence out of u64 range');
  const nodeId = Buffer.from(msg.nodeId, 'utf8');
  if (nodeId.length < 1 || nodeId.length > 255) throw new AdvertEncodeError('node id must be 1..255 bytes');
  const successor = msg.successor === null ? null : Buffer.from(msg.successor, 'utf8');
  if (successor && (successor.length < 1 || successor.length > 255)) {
    throw new AdvertEncodeError('successor id must be 1..255 bytes');
  }
  if (auth.type === 'PASS' && Buffer.byteLength(auth.password) > PASS_BYTES) {
    throw new AdvertEncodeError('PASS password longer than 8 bytes');
  }

  const six = isIPv6(msg.primaryAddress.replace(/%.*$/, ''));
  const vipBytes = six ? 17 : 5;
  const bodyLength = HEADER_BYTES + nodeId.length + (six ? 16 : 0) + (successor ? 1 + successor.length : 0) + vipBytes * msg.vips.length;
  const buf = Buffer.alloc(bodyLength + trailerBytes(auth));
  buf.writeUInt16BE(ADVERT_MAGIC, 0);
  buf[2] = ADVERT_VERSION;
  buf[3] = AdvertKind[msg.kind];
  buf[4] = msg.vrid;
  buf[5] = msg.priority;
  buf.writeUInt16BE(centis, 6);
  buf[8] = (successor ? FLAG_SUCCESSOR : 0) | (six ? FLAG_IPV6 : 0);
  buf[9] = AuthType[auth.type];
  buf[10] = msg.vips.length;
  buf[11] = nodeId.length;
  if (!six) buf.writeUInt32BE(ipv4ToU32(msg.primaryAddress, 'primary address'), 12);
  buf.writeBigUInt64BE(msg.sequence, 16);
  let off = HEADER_BYTES + nodeId.copy(buf, HEADER_BYTES);
  if (six) off += ipv6Field(msg.primaryAddress, 'primary address').copy(buf, off);
  if (successor) {
    buf[off++] = successor.length;
    off += successor.copy(buf, off);
  }
  for (const vip of msg.vips) {
    checkInt(vip.prefix, 0, six ? 128 : 32, 'VIP prefix');
    if (six) ipv6Field(vip.address, 'VIP').copy(buf, off);
    else buf.writeUInt32BE(ipv4ToU32(vip.address, 'VIP'), off);
    buf[off + vipBytes - 1] = vip.prefix;
    off += vipBytes;
  }
  if (auth.type === 'PASS') passBytes(auth.password).copy(buf, off);
  else if (auth.type === 'HMAC') hmac(auth.key, buf.subarray(0, off)).copy(buf, off);
  return buf;
}

/** The VRID of a datagram that looks like an advert (to pick the instance and its key), else null. */
export function peekVrid(buf: Uint8Array): number | null {
  if (buf.length < HEADER_BYTES || ((buf[0] << 8) | buf[1]) !== ADVERT_MAGIC || buf[2] !== ADVERT_VERSION) return null;
  return buf[4] === 0 ? null : buf[4];
}

function fail(code: ConstructorParameters<typeof AdvertDecodeError>[0], message: string): DecodeResult {
  return { ok: false, error: new AdvertDecodeError(code, message) };
}

/**
 * Parses and authenticates one datagram (no replay check: see ReplayWindow). Never throws for bad input.
 */
export function decodeAdvert(input: Uint8Array, auth: AdvertAuth): DecodeResult {
  const buf = Buffer.isBuffer(input) ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  if (buf.length >= 2 && buf.readUInt16BE(0) !== ADVERT_MAGIC) return fail('BAD_MAGIC', 'not a haved advert (bad magic)');
  if (buf.length >= 3 && buf[2] !== ADVERT_VERSION) return fail('BAD_VERSION', `unsupported advert version ${buf[2]}`);
  if (buf.length < HEADER_BYTES) return fail('TRUNCATED', `advert truncated: ${buf.length} bytes, header needs ${HEADER_BYTES}`);

  const kind = kindByCode.get(buf[3]);
  if (kind === undefined) return fail('BAD_KIND', `unknown advert kind ${buf[3]}`);
  const flags = buf[8];
  const authType = buf[9];
  if (authType !== AuthType[auth.type]) {
    return fail('AUTH_MISMATCH', `auth type ${authType} in advert, ${AuthType[auth.type]} (${auth.type}) configured`);
  }
  const vipCount = buf[10];
  const nodeIdLength = buf[11];
  const six = (flags & FLAG_IPV6) !== 0;
  const vipBytes = six ? 17 : 5;
  let off = HEADER_BYTES + nodeIdLength + (six ? 16 : 0);
  let successorLength = 0;
  if (flags & FLAG_SUCCESSOR) {
    if (buf.length < off + 1) return fail('TRUNCATED', 'advert truncated in the successor id');
    successorLength = buf[off];
    off += 1 + successorLength;
  }
  const bodyLength = off + vipBytes * vipCount;
  const total = bodyLength + trailerBytes(auth);
  if (buf.length < total) return fail('TRUNCATED', `advert truncated: ${buf.length} bytes, expected ${total}`);
  if (buf.length > total) return fail('TRAILING_BYTES', `advert has ${buf.length - total} trailing bytes`);

  if (auth.type === 'PASS') {
    if (!timingSafeEqual(buf.subarray(bodyLength, total), passBytes(auth.password))) {
      return fail('BAD_AUTH', 'PASS authentication mismatch');
    }
  } else if (auth.type === 'HMAC') {
    if (!timingSafeEqual(buf.subarray(bodyLength, total), hmac(auth.key, buf.subarray(0, bodyLength)))) {
      return fail('BAD_AUTH', 'HMAC authentication failed');
    }
  }

  const vrid = buf[4];
  const centis = buf.readUInt16BE(6);
  if (vrid === 0) return fail('BAD_FIELD', 'VRID 0');
  if (centis === 0) return fail('BAD_FIELD', 'advert interval 0');
  if (nodeIdLength === 0) return fail('BAD_FIELD', 'empty node id');
  if ((flags & ~(FLAG_SUCCESSOR | FLAG_IPV6)) !== 0) return fail('BAD_FIELD', `unknown flags 0x${flags.toString(16)}`);
  if (flags & FLAG_SUCCESSOR && successorLength === 0) return fail('BAD_FIELD', 'empty successor id');

  const nodeId = buf.toString('utf8', HEADER_BYTES, HEADER_BYTES + nodeIdLength);
  let p = HEADER_BYTES + nodeIdLength;
  const primaryAddress = six ? bytesToIpv6(buf.subarray(p, (p += 16))) : u32ToIpv4(buf.readUInt32BE(12));
  let successor: string | null = null;
  if (flags & FLAG_SUCCESSOR) {
    successor = buf.toString('utf8', p + 1, p + 1 + successorLength);
    p += 1 + successorLength;
  }
  const vips: AdvertVip[] = [];
  for (let i = 0; i < vipCount; i++, p += vipBytes) {
    const prefix = buf[p + vipBytes - 1];
    if (prefix > (six ? 128 : 32)) return fail('BAD_FIELD', `VIP prefix ${prefix}`);
    vips.push({ address: six ? bytesToIpv6(buf.subarray(p, p + 16)) : u32ToIpv4(buf.readUInt32BE(p)), prefix });
  }
  return {
    ok: true,
    message: {
      kind,
      vrid,
      priority: buf[5],
      advertIntMs: centis * 10,
      nodeId,
      primaryAddress,
      vips,
      successor,
      sequence: buf.readBigUInt64BE(16),
    },
  };
}
