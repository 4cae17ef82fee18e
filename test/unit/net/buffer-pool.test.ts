import { describe, expect, it } from 'vitest';
import { BufferPool } from '../../../src/net/buffer-pool.ts';

const KB = 1024;
const pool = () => new BufferPool({ minSize: 128 * KB, maxSize: 1024 * KB, capBytes: 1024 * KB });

describe('BufferPool', () => {
  it('hands out powers of two from minSize that hold the request', () => {
    const p = pool();
    expect(p.take(1).length).toBe(128 * KB);
    expect(p.take(128 * KB).length).toBe(128 * KB);
    expect(p.take(128 * KB + 1).length).toBe(256 * KB);
    expect(p.take(700 * KB).length).toBe(1024 * KB);
  });

  it('reuses a buffer given back, and never hands out one that is still lent', () => {
    const p = pool();
    const a = p.take(200 * KB);
    const b = p.take(200 * KB);
    expect(b).not.toBe(a);
    p.give(a);
    expect(p.freeBytes).toBe(256 * KB);
    const c = p.take(200 * KB);
    expect(c).toBe(a);
    expect(p.freeBytes).toBe(0);
    // b is still lent: a new buffer, not b
    const d = p.take(200 * KB);
    expect(d).not.toBe(b);
    expect(d).not.toBe(c);
  });

  it('ignores a buffer given back twice, or never lent', () => {
    const p = pool();
    const a = p.take(100 * KB);
    p.give(a);
    p.give(a);
    expect(p.freeBytes).toBe(128 * KB);
    p.give(Buffer.allocUnsafeSlow(128 * KB));
    expect(p.freeBytes).toBe(128 * KB);
    const first = p.take(100 * KB);
    const second = p.take(100 * KB);
    expect(first).toBe(a);
    expect(second).not.toBe(a);
  });

  it('never holds more than its cap of free buffers', () => {
    const p = pool();
    const lent = Array.from({ length: 20 }, (_, i) => p.take((128 << (i % 4)) * KB));
    for (const b of lent) {
      p.give(b);
      expect(p.freeBytes).toBeLessThanOrEqual(1024 * KB);
    }
    expect(p.freeBytes).toBeGreaterThan(0);
    p.drop();
    expect(p.freeBytes).toBe(0);
  });

  it('serves a huge request but does not keep it', () => {
    const p = pool();
    const huge = p.take(5 * 1024 * KB);
    expect(huge.length).toBe(8 * 1024 * KB);
    huge[huge.length - 1] = 7;
    p.give(huge);
    expect(p.freeBytes).toBe(0);
    expect(p.take(5 * 1024 * KB)).not.toBe(huge);
  });
});
