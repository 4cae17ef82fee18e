import { describe, expect, it } from 'vitest';
import { dropSpareReplyBuffers, OutBuffer, spareReplyBufferBytes } from '../../../src/net/out-buffer.ts';

describe('OutBuffer', () => {
  it('writes numbers, bytes and strings', () => {
    const out = new OutBuffer();
    out.latin1('VALUE ');
    out.bytes(Buffer.from('k'));
    out.byte(32);
    out.uint(0);
    out.byte(32);
    out.uint(4294967295);
    out.byte(32);
    out.bigint(18446744073709551615n);
    out.byte(32);
    out.bigint(12n);
    out.crlf();
    expect(out.take().toString()).toBe('VALUE k 0 4294967295 18446744073709551615 12\r\n');
    expect(out.length).toBe(0);
  });

  /** Takes 5000 batches of varied length; `keep(i)` says which stay held (the others are recycled). */
  function takeBatches(out: OutBuffer, keep: (i: number) => boolean): Array<[Buffer, string]> {
    const held: Array<[Buffer, string]> = [];
    for (let i = 0; i < 5000; i++) {
      const s = `reply-${i}-${'x'.repeat(i % 97)}\r\n`;
      out.latin1(s);
      const b = out.take();
      if (keep(i)) held.push([b, s]);
      else out.recycle();
    }
    return held;
  }

  it('never rewrites bytes it handed out', () => {
    const taken = takeBatches(new OutBuffer(), () => true);
    expect(taken.length).toBe(5000);
    for (const [b, s] of taken) expect(b.toString('latin1')).toBe(s);
  });

  it('starts over where a recycled batch was, in the same memory', () => {
    const out = new OutBuffer();
    out.latin1('first\r\n');
    const first = out.take();
    out.recycle();
    out.latin1('second\r\n');
    const second = out.take();
    expect(second.toString()).toBe('second\r\n');
    expect(second.buffer).toBe(first.buffer);
    expect(second.byteOffset).toBe(first.byteOffset);
  });

  it('hands out the same view again for a batch of the same length at the start', () => {
    const out = new OutBuffer();
    out.latin1('VALUE a 0 1\r\nx\r\nEND\r\n');
    const first = out.take();
    out.recycle();
    out.latin1('STORED\r\n');
    expect(out.take().toString()).toBe('STORED\r\n');
    out.recycle();
    out.latin1('VALUE b 0 1\r\ny\r\nEND\r\n');
    const second = out.take();
    expect(second).toBe(first);
    expect(second.toString()).toBe('VALUE b 0 1\r\ny\r\nEND\r\n');
  });

  it('never hands out a view of a slab it has replaced', () => {
    const out = new OutBuffer();
    out.latin1('old reply\r\n');
    out.take();
    out.recycle();
    // a batch larger than a slab replaces the slab twice: to grow, then after the take
    const buf = out.reserve(100_000);
    buf.fill(0x61, out.offset, out.offset + 100_000);
    out.advance(100_000);
    out.take();
    out.latin1('new reply\r\n');
    const next = out.take();
    expect(next.toString()).toBe('new reply\r\n');
    out.recycle();
    // and when a full slab is replaced by take()
    for (let i = 0; i < 20; i++) {
      out.latin1(`held ${i}`.padEnd(4000, '.'));
      out.take();
    }
    out.latin1('new reply\r\n'.replace('new', 'end'));
    expect(out.take().toString()).toBe('end reply\r\n');
  });

  it('never rewrites a batch that was not recycled, before or after recycled ones', () => {
    // every 7th batch is held (a write the kernel did not finish); the others are recycled
    const held = takeBatches(new OutBuffer(), (i) => i % 7 === 3);
    for (const [b, s] of held) expect(b.toString('latin1')).toBe(s);
  });

  it('ignores a recycle() that does not follow a take()', () => {
    const out = new OutBuffer();
    out.latin1('held');
    const held = out.take();
    out.latin1('pending');
    out.recycle();
    expect(out.take().toString()).toBe('pending');
    for (let i = 0; i < 10; i++) {
      out.latin1(`later-${i}`);
      out.take();
      out.recycle();
    }
    expect(held.toString()).toBe('held');
  });

  it('grows for a batch larger than a slab and keeps earlier bytes of the batch', () => {
    const out = new OutBuffer();
    out.latin1('head ');
    const big = Buffer.alloc(300_000, 0x61);
    const buf = out.reserve(big.length);
    big.copy(buf, out.offset);
    out.advance(big.length);
    out.latin1(' tail');
    const b = out.take();
    expect(b.length).toBe(5 + big.length + 5);
    expect(b.subarray(0, 5).toString()).toBe('head ');
    expect(b.subarray(-5).toString()).toBe(' tail');
  });

  it('rewinds to a mark and clears', () => {
    const out = new OutBuffer();
    out.latin1('keep');
    const mark = out.length;
    out.latin1('drop');
    out.rewind(mark);
    expect(out.take().toString()).toBe('keep');
    out.latin1('gone');
    out.clear();
    expect(out.take().length).toBe(0);
  });
});

describe('OutBuffer with large batches', () => {
  const large = (out: OutBuffer, fill: number, n = 100_000): void => {
    out.latin1('VALUE ');
    const buf = out.reserve(n);
    buf.fill(fill, out.offset, out.offset + n);
    out.advance(n);
  };

  it('reuses a large buffer the kernel took, and goes back to its slab after it', () => {
    const out = new OutBuffer();
    out.latin1('small\r\n');
    const small = out.take();
    out.recycle();
    large(out, 0x61);
    const first = out.take();
    expect(first.length).toBe(100_006);
    out.recycle();
    expect(spareReplyBufferBytes()).toBeGreaterThan(0);
    large(out, 0x62);
    const second = out.take();
    expect(second.buffer).toBe(first.buffer);
    expect(second[99_999]).toBe(0x62);
    out.recycle();
    out.latin1('small\r\n');
    const again = out.take();
    expect(again.buffer).toBe(small.buffer);
    out.recycle();
  });

  it('never reuses a large batch that was not recycled', () => {
    const out = new OutBuffer();
    large(out, 0x61);
    const held = out.take();
    large(out, 0x62);
    const next = out.take();
    out.recycle();
    large(out, 0x63);
    out.take();
    out.recycle();
    expect(next.buffer).not.toBe(held.buffer);
    expect(held.subarray(6).every((b) => b === 0x61)).toBe(true);
  });

  it('keeps at most 1 MB of spare large buffers, and none after dropSpareReplyBuffers()', () => {
    const out = new OutBuffer();
    for (const n of [100_000, 200_000, 400_000, 900_000, 3_000_000, 100_000]) {
      large(out, 0x61, n);
      out.take();
      out.recycle();
      expect(spareReplyBufferBytes()).toBeLessThanOrEqual(1024 * 1024);
    }
    dropSpareReplyBuffers();
    expect(spareReplyBufferBytes()).toBe(0);
  });

  it('a batch that outgrows a large buffer moves to a larger one with its bytes', () => {
    const out = new OutBuffer();
    large(out, 0x61, 100_000);
    large(out, 0x62, 100_000);
    large(out, 0x63, 100_000);
    const b = out.take();
    expect(b.length).toBe(300_018);
    expect(b[6]).toBe(0x61);
    expect(b[100_012]).toBe(0x62);
    expect(b[300_017]).toBe(0x63);
    out.recycle();
  });
});
