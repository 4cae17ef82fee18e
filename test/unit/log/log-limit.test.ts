import { describe, expect, it } from 'vitest';
import type { Logger } from '../../../src/log.ts';
import { RateLimitedLog, quoteBytes } from '../../../src/log-limit.ts';

function recorder() {
  const lines: { fields: Record<string, unknown>; message: string }[] = [];
  const log = { warn: (fields: Record<string, unknown>, message: string) => lines.push({ fields, message }) } as unknown as Logger;
  return { log, lines };
}

describe('quoteBytes', () => {
  it('keeps printable ASCII and escapes the rest', () => {
    expect(quoteBytes(Buffer.from('get k\r\n\x00\xff\\', 'latin1'))).toBe('get k\\x0d\\x0a\\x00\\xff\\x5c');
  });

  it('cuts long input and says how long it was', () => {
    expect(quoteBytes('a'.repeat(100), 4)).toBe('aaaa... (100 bytes)');
  });

  it('reads a string as bytes', () => {
    expect(quoteBytes('\u00e9')).toBe('\\xe9');
  });
});

describe('RateLimitedLog', () => {
  it('logs the first occurrence at once and then one line per interval with the count', () => {
    let now = 0;
    const { log, lines } = recorder();
    const limited = new RateLimitedLog(log, { intervalMs: 1000, now: () => now });
    for (let i = 0; i < 5000; i++) {
      limited.warn('bad-auth', 'advert dropped: bad auth', { from: '198.18.0.9' });
      now += 1; // 5 s of flood
    }
    expect(lines.length).toBe(5);
    expect(lines[0]).toEqual({ fields: { from: '198.18.0.9', reason: 'bad-auth', count: 1, total: 1 }, message: 'advert dropped: bad auth' });
    expect(lines[1]!.fields.count).toBe(1000);
    expect(limited.counts()).toEqual({ 'bad-auth': 5000 });
  });

  it('limits each reason on its own', () => {
    const { log, lines } = recorder();
    const limited = new RateLimitedLog(log, { now: () => 0 });
    limited.warn('a', 'a');
    limited.warn('b', 'b');
    limited.warn('a', 'a');
    expect(lines.map((l) => l.message)).toEqual(['a', 'b']);
    expect(limited.counts()).toEqual({ a: 2, b: 1 });
  });

  it('flush writes what the interval held back, once', () => {
    const { log, lines } = recorder();
    const limited = new RateLimitedLog(log, { now: () => 0 });
    limited.warn('a', 'a');
    limited.warn('a', 'a');
    limited.warn('a', 'a');
    limited.flush();
    limited.flush();
    expect(lines).toHaveLength(2);
    expect(lines[1]!.fields).toMatchObject({ reason: 'a', count: 2, total: 3 });
  });
});
