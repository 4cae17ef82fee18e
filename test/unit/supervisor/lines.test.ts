import { describe, expect, it } from 'vitest';
import { LineSplitter } from '../../../src/supervisor/lines.ts';

function split(chunks: string[], maxLine = 8): string[] {
  const out: string[] = [];
  const s = new LineSplitter(maxLine, (l) => out.push(l));
  for (const c of chunks) s.push(c);
  s.end();
  return out;
}

describe('LineSplitter', () => {
  it('splits on \\n and \\r\\n at every split point, drops empty lines, keeps the unterminated tail', () => {
    const text = 'one\r\ntwo\n\nthree\nfour';
    for (let i = 0; i <= text.length; i++) {
      expect(split([text.slice(0, i), text.slice(i)], 100)).toEqual(['one', 'two', 'three', 'four']);
    }
  });

  it('cuts lines longer than maxLine', () => {
    expect(split(['0123456789\nab\n'])).toEqual(['01234567…', 'ab']);
  });

  it('flushes an overlong unterminated line after the complete lines before it', () => {
    expect(split(['a\n0123456789'])).toEqual(['a', '01234567…']);
  });

  it('bounds what it buffers when no newline comes', () => {
    const out: string[] = [];
    const s = new LineSplitter(8, (l) => out.push(l));
    s.push('0123');
    s.push('456789');
    expect(out).toEqual(['01234567…']);
    s.push('x');
    s.end();
    expect(out).toEqual(['01234567…', 'x']);
  });
});
