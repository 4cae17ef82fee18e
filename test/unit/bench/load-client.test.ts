/** The cache benchmark's load generator: its reply counting must hold for any split of the stream. */
import { describe, expect, it } from 'vitest';
import { dueBy, keyOf, parseArgs, percentile, ReplyCounter } from '../../../scripts/bench/load-client.ts';

const hit = (key: string, value: string) => `VALUE ${key} 0 ${value.length}\r\n${value}\r\nEND\r\n`;

describe('ReplyCounter', () => {
  const stream = [
    hit('key:00000001', 'v'.repeat(100)),
    'STORED\r\n',
    'END\r\n', // a miss
    `VALUE a 0 5\r\nEND\r\n\r\nVALUE b 1 3 77\r\nabc\r\nEND\r\n`, // a value that looks like an end, then a gets value
    'SERVER_ERROR out of memory storing object\r\n',
    hit('k', ''),
  ].join('');

  it('counts replies, values, misses and errors in one chunk', () => {
    const c = new ReplyCounter();
    expect(c.push(Buffer.from(stream, 'latin1'))).toBe(6);
    expect(c.replies).toBe(6);
    expect(c.values).toBe(4);
    expect(c.others).toBe(2); // the miss and the error
  });

  it('counts the same whatever the split', () => {
    const bytes = Buffer.from(stream, 'latin1');
    for (let at = 1; at < bytes.length; at++) {
      const c = new ReplyCounter();
      const n = c.push(bytes.subarray(0, at)) + c.push(bytes.subarray(at));
      expect([n, c.values, c.others], `split at ${at}`).toEqual([6, 4, 2]);
    }
    const byByte = new ReplyCounter();
    for (const b of bytes) byByte.push(Buffer.from([b]));
    expect([byByte.replies, byByte.values, byByte.others]).toEqual([6, 4, 2]);
  });

  it('does not count a reply before its end', () => {
    const c = new ReplyCounter();
    expect(c.push(Buffer.from('VALUE k 0 3\r\nabc\r\n'))).toBe(0);
    expect(c.push(Buffer.from('EN'))).toBe(0);
    expect(c.push(Buffer.from('D\r\n'))).toBe(1);
  });
});

describe('load-client helpers', () => {
  it('takes nearest-rank percentiles of ascending samples', () => {
    const xs = Float64Array.from({ length: 1000 }, (_, i) => i + 1);
    expect(percentile(xs, 50)).toBe(500);
    expect(percentile(xs, 99)).toBe(990);
    expect(percentile(xs, 99.9)).toBe(999);
    expect(percentile(xs, 100)).toBe(1000);
    expect(percentile([7], 99.9)).toBe(7);
    expect(percentile([], 50)).toBeNaN();
  });

  it('schedules requests evenly: the first at once, then one every 1/rate', () => {
    expect(dueBy(0, 10_000)).toBe(1);
    expect(dueBy(0.099, 10_000)).toBe(1);
    expect(dueBy(0.1, 10_000)).toBe(2);
    expect(dueBy(1000, 10_000)).toBe(10_001);
  });

  it('writes keys of one width, so reply sizes are known in advance', () => {
    expect(keyOf(0)).toBe('key:00000000');
    expect(keyOf(7_063_552)).toHaveLength(keyOf(0).length);
  });

  it('refuses unknown flags, values that are not numbers and a missing port', () => {
    expect(parseArgs(['open-loop', '--port', '1', '--rate', '500']).args.rate).toBe(500);
    expect(() => parseArgs(['open-loop', '--port', '1', '--rte', '500'])).toThrow(/bad argument --rte/);
    expect(() => parseArgs(['open-loop', '--port', 'x'])).toThrow(/bad argument --port x/);
    expect(() => parseArgs(['open-loop'])).toThrow(/usage/);
    expect(() => parseArgs(['closed-loop', '--port', '1'])).toThrow(/usage/);
  });
});
