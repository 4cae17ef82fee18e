import { describe, expect, it } from 'vitest';
import { SharedPrefixStats } from '../../../src/server/shared-prefix-stats.ts';
import { PrefixStats } from '../../../src/server/stats.ts';

const k = (s: string) => Buffer.from(s, 'latin1');

describe('SharedPrefixStats (stats detail with repcache -t N)', () => {
  it('counts as PrefixStats does, in the order prefixes came, and two workers count into one table', () => {
    const a = new SharedPrefixStats(':');
    const b = new SharedPrefixStats(':', a.buffer);
    const plain = new PrefixStats(':');
    const ops: Array<(p: { get(k: Buffer, h: boolean): void; set(k: Buffer): void; del(k: Buffer): void }) => void> = [
      (p) => p.set(k('user:1')), (p) => p.get(k('user:1'), true), (p) => p.get(k('user:2'), false), (p) => p.set(k('sess:x')),
      (p) => p.del(k('user:1')), (p) => p.get(k('nocolon'), true), (p) => p.set(k(':empty')), (p) => p.get(k('sess:x:y'), true),
    ];
    ops.forEach((op, i) => { op(i % 2 === 0 ? a : b); op(plain); });
    expect(a.dump()).toBe(plain.dump());
    expect(b.dump()).toBe('PREFIX user get 2 hit 1 set 1 del 1\r\nPREFIX sess get 1 hit 1 set 1 del 0\r\nPREFIX  get 0 hit 0 set 1 del 0\r\nEND\r\n');
    b.clear();
    expect(a.dump()).toBe('END\r\n');
    a.set(k('again:1'));
    expect(b.dump()).toBe('PREFIX again get 0 hit 0 set 1 del 0\r\nEND\r\n');
  });

  it('is bounded: past its prefixes (or their bytes) a new prefix is not counted, those it holds still are', () => {
    const p = new SharedPrefixStats(':');
    for (let i = 0; i < 5000; i++) p.set(k(`p${i}:x`));
    p.set(k('p0:y'));
    const lines = p.dump().split('\r\n');
    expect(lines.length - 2).toBe(768);
    expect(lines[0]).toBe('PREFIX p0 get 0 hit 0 set 2 del 0');
    const long = new SharedPrefixStats(':');
    for (let i = 0; i < 400; i++) long.set(k(`${String(i).padStart(249, 'x')}:v`));
    expect(long.dump().split('\r\n').length - 2).toBe(Math.floor((64 * 1024) / 249));
  });
});
