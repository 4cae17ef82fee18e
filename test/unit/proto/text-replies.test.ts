import { describe, expect, it } from 'vitest';
import { Replies, numberReply, statLine, valueHeader, valueHeaderMaxLength, versionReply, writeDecimal, writeValueHeader } from '../../../src/proto/text/replies.ts';

const s = (b: Buffer) => b.toString('latin1');

describe('text replies', () => {
  it('every constant is one line ending in \\r\\n', () => {
    for (const [name, b] of Object.entries(Replies)) {
      expect(s(b), name).toMatch(/^[^\r\n]+\r\n$/);
    }
    expect(s(Replies.BAD_DELETE_FORMAT)).toBe('CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n');
    expect(s(Replies.TOO_LARGE)).toBe('SERVER_ERROR object too large for cache\r\n');
  });

  it('valueHeader with and without cas', () => {
    expect(s(valueHeader(Buffer.from('foo'), 0, 3, null))).toBe('VALUE foo 0 3\r\n');
    expect(s(valueHeader(Buffer.from('foo'), 4294967295, 1048576, 1n))).toBe('VALUE foo 4294967295 1048576 1\r\n');
    expect(s(valueHeader(Buffer.from('k'), 10, 0, 18446744073709551615n))).toBe('VALUE k 10 0 18446744073709551615\r\n');
    expect(s(valueHeader(Buffer.from('k'), 7, 10, 0n))).toBe('VALUE k 7 10 0\r\n');
  });

  it('writeValueHeader fits in valueHeaderMaxLength at an offset', () => {
    const key = Buffer.alloc(250, 'k');
    const buf = Buffer.alloc(5 + valueHeaderMaxLength(key.length));
    const end = writeValueHeader(buf, 5, key, 0, key.length, 4294967295, 4294967295, 18446744073709551615n);
    expect(end).toBe(buf.length);
    expect(s(buf.subarray(5, end))).toBe(`VALUE ${'k'.repeat(250)} 4294967295 4294967295 18446744073709551615\r\n`);
  });

  it('writeValueHeader takes the key from inside a larger buffer, short and long', () => {
    for (const n of [1, 23, 24, 25, 64, 250]) {
      const key = 'abcdefghijklmnopqrstuvwxyz'.repeat(10).slice(0, n);
      const src = Buffer.from(`get ${key} tail`, 'latin1');
      const buf = Buffer.alloc(valueHeaderMaxLength(n) + 1, 0x2e);
      const end = writeValueHeader(buf, 1, src, 4, 4 + n, 5, 6, null);
      expect(s(buf.subarray(0, end + 1)), String(n)).toBe(`.VALUE ${key} 5 6\r\n.`);
    }
  });

  it('writeDecimal at every digit-count boundary up to 2^53', () => {
    const values = [0, 1, 9, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, Number.MAX_SAFE_INTEGER];
    for (let p = 10; p <= 1e15; p *= 10) values.push(p - 1, p, p + 1);
    const buf = Buffer.alloc(40, 0x2e);
    for (const n of values) {
      buf.fill(0x2e);
      const end = writeDecimal(buf, 3, n);
      expect(s(buf.subarray(0, end + 1)), String(n)).toBe(`...${n}.`);
    }
  });

  it('numberReply, statLine, versionReply', () => {
    expect(s(numberReply(0n))).toBe('0\r\n');
    expect(s(numberReply(18446744073709551615n))).toBe('18446744073709551615\r\n');
    expect(s(numberReply(1234567890123n))).toBe('1234567890123\r\n');
    expect(s(statLine('curr_items', 5))).toBe('STAT curr_items 5\r\n');
    expect(s(statLine('version', '1.6.18'))).toBe('STAT version 1.6.18\r\n');
    expect(s(statLine('total_items', 2n ** 40n))).toBe('STAT total_items 1099511627776\r\n');
    expect(s(versionReply('1.6.18'))).toBe('VERSION 1.6.18\r\n');
  });
});
