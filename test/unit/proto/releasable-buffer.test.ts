import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { allocReleasable, release, RELEASABLE_MIN } from '../../../src/proto/releasable-buffer.ts';

const anonKB = () => Number(/RssAnon:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))![1]);

describe('releasable buffers', () => {
  it('give their memory back on release, without a garbage collection', () => {
    const b = allocReleasable(64 * 1024 * 1024);
    b.fill(1);
    const filled = anonKB();
    release(b);
    expect(filled - anonKB()).toBeGreaterThan(48 * 1024);
    // a released buffer reads as empty, never as stale bytes
    expect(b.length).toBe(0);
  });

  it('are plain buffers below the threshold, and release() leaves other buffers alone', () => {
    const small = allocReleasable(RELEASABLE_MIN - 1);
    release(small);
    expect(small.length).toBe(RELEASABLE_MIN - 1);
    // a view of a releasable buffer releases all of it
    const big = allocReleasable(RELEASABLE_MIN);
    release(big.subarray(1, 10));
    expect(big.length).toBe(0);
    const plain = Buffer.alloc(RELEASABLE_MIN * 2);
    release(plain);
    expect(plain.length).toBe(RELEASABLE_MIN * 2);
  });
});
