import { describe, expect, it } from 'vitest';
import { parseI32, parseU32, parseU64 } from '../../../src/proto/text/numbers.ts';

const at = <T>(f: (b: Buffer, s: number, e: number) => T) => (s: string): T => {
  // Embed the token between other bytes to check the range is honoured.
  const b = Buffer.from(`#${s}#`, 'latin1');
  return f(b, 1, b.length - 1);
};
const u32 = at(parseU32);
const i32 = at(parseI32);
const u64 = at(parseU64);

describe('memcached number parsing (safe_strtoul/strtol/strtoull)', () => {
  it('uint32 like safe_strtoul: 64-bit parse, then truncation', () => {
    expect(u32('0')).toBe(0);
    expect(u32('65535')).toBe(65535);
    expect(u32('4294967295')).toBe(4294967295);
    expect(u32('4294967296')).toBe(0);
    expect(u32('4294967297')).toBe(1);
    expect(u32('18446744073709551615')).toBe(4294967295);
    expect(u32('18446744073709551616')).toBeNaN();
    expect(u32('000000000000000000000000007')).toBe(7);
    expect(u32('+7')).toBe(7);
    expect(u32('-0')).toBe(0);
    expect(u32('-1')).toBeNaN();
    expect(u32('-9223372036854775808')).toBeNaN();
    expect(u32('-9223372036854775809')).toBe(4294967295); // strtoul wraps to 2^63 - 1
    expect(u32('\t 8')).toBe(8);
    expect(u32('9\tjunk')).toBe(9);
    expect(u32('9\r')).toBe(9);
    expect(u32('1x')).toBeNaN();
    expect(u32('x')).toBeNaN();
    expect(u32('')).toBeNaN();
    expect(u32('-')).toBeNaN();
    expect(u32(' ')).toBeNaN();
  });

  it('int32 like safe_strtol: 64-bit parse, then truncation', () => {
    expect(i32('0')).toBe(0);
    expect(i32('-0')).toBe(0);
    expect(i32('-5')).toBe(-5);
    expect(i32('2592000')).toBe(2592000);
    expect(i32('2147483647')).toBe(2147483647);
    expect(i32('2147483648')).toBe(-2147483648);
    expect(i32('4294967295')).toBe(-1);
    expect(i32('4294967297')).toBe(1);
    expect(i32('9999999999')).toBe(1410065407);
    expect(i32('9223372036854775807')).toBe(-1);
    expect(i32('9223372036854775808')).toBeNaN();
    expect(i32('-9223372036854775808')).toBe(0);
    expect(i32('-9223372036854775809')).toBeNaN();
    expect(i32('12a')).toBeNaN();
  });

  it('uint64 like safe_strtoull', () => {
    expect(u64('0')).toBe(0n);
    expect(u64('18446744073709551615')).toBe(18446744073709551615n);
    expect(u64('18446744073709551616')).toBeNull();
    expect(u64('9007199254740993')).toBe(9007199254740993n);
    expect(u64('-0')).toBe(0n);
    expect(u64('-1')).toBeNull();
    expect(u64('-18446744073709551615')).toBe(1n);
    expect(u64('1x')).toBeNull();
    expect(u64('')).toBeNull();
  });
});
