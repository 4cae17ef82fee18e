import { describe as suite, expect, it } from 'vitest';
import type { TextCommand } from '../../../src/proto/text/commands.ts';
import { spareBuffers, TextParser } from '../../../src/proto/text/parser.ts';
import { describe, parseAll, parseCommands } from './text-describe.ts';
import { fixtures, randomPipeline, rng, splitIndependent } from './text-fixtures.ts';

const bytes = (s: string): Buffer => Buffer.from(s, 'latin1');
const SMALL = 8 * 1024;

/** Cuts `all` into consecutive pieces of 1..maxPiece bytes, sizes drawn from r. */
function randomPieces(all: Buffer, r: () => number, maxPiece: number): Buffer[] {
  const pieces: Buffer[] = [];
  for (let i = 0; i < all.length;) {
    const n = 1 + Math.floor(r() * maxPiece);
    pieces.push(all.subarray(i, i + n));
    i += n;
  }
  return pieces;
}

suite('TextParser: byte fixtures (checked against memcached 1.6.18)', () => {
  for (const f of fixtures) {
    it(f.name, () => {
      expect(parseAll(f.chunks.map(bytes))).toEqual(f.expect);
    });
  }
});

suite('TextParser: splitting the input anywhere gives the same commands', () => {
  const small = splitIndependent.filter((f) => f.chunks[0].length <= SMALL);
  const large = splitIndependent.filter((f) => f.chunks[0].length > SMALL);

  it('at every offset of every small fixture', () => {
    for (const f of small) {
      const all = bytes(f.chunks[0]);
      for (let i = 1; i < all.length; i++) {
        const got = parseAll([all.subarray(0, i), all.subarray(i)]);
        if (got.join('\n') !== f.expect.join('\n')) expect({ fixture: f.name, split: i, got }).toEqual({ fixture: f.name, split: i, got: f.expect });
      }
    }
  });

  it('one byte at a time', () => {
    for (const f of small) {
      const all = bytes(f.chunks[0]);
      const pieces = Array.from({ length: all.length }, (_, i) => all.subarray(i, i + 1));
      expect(parseAll(pieces), f.name).toEqual(f.expect);
    }
  });

  it('at every pair of offsets of the pipeline', () => {
    const f = fixtures.find((x) => x.name === 'pipeline')!;
    const all = bytes(f.chunks[0]);
    for (let i = 1; i < all.length; i++) {
      for (let j = i; j < all.length; j++) {
        const got = parseAll([all.subarray(0, i), all.subarray(i, j), all.subarray(j)]);
        if (got.join('\n') !== f.expect.join('\n')) expect({ i, j, got }).toEqual({ i, j, got: f.expect });
      }
    }
  });

  it('large values at the interesting offsets and in 64 KiB reads', () => {
    for (const f of large) {
      const all = bytes(f.chunks[0]);
      const nl = all.indexOf(0x0a);
      const offsets = [1, nl - 1, nl, nl + 1, nl + 2, all.length >> 1, all.length - 12, all.length - 11, all.length - 10, all.length - 1];
      for (const i of offsets) expect(parseAll([all.subarray(0, i), all.subarray(i)]), `${f.name} @${i}`).toEqual(f.expect);
      const reads: Buffer[] = [];
      for (let i = 0; i < all.length; i += 65536) reads.push(all.subarray(i, i + 65536));
      expect(parseAll(reads), f.name).toEqual(f.expect);
    }
  });

  it('all small fixtures back to back in one stream', () => {
    const open = small.filter((f) => !f.expect.some((e) => e === 'close' || e === 'quit'));
    const stream = bytes(open.map((f) => f.chunks[0]).join(''));
    expect(parseAll([stream])).toEqual(open.flatMap((f) => f.expect));
  });
});

suite('TextParser: buffering', () => {
  it('hands out views of the pushed chunk when a command arrives whole', () => {
    const chunk = bytes('set k 1 2 5\r\nhello\r\n');
    const [cmd] = parseCommands(chunk);
    expect(cmd.kind).toBe('store');
    if (cmd.kind !== 'store') return;
    expect(cmd.data.buffer).toBe(chunk.buffer);
    expect(cmd.data.byteOffset).toBe(chunk.byteOffset + 13);
    expect(cmd.key.buffer).toBe(chunk.buffer);
  });

  it('reports the bytes it holds', () => {
    const p = new TextParser({ maxItemSize: 1024 }, () => {});
    p.push(bytes('get k'));
    expect(p.pending).toBe(5);
    p.push(bytes('\r\nset k 0 0 10\r\nabc'));
    expect(p.pending).toBe(17);
    p.push(bytes('defghij\r\n'));
    expect(p.pending).toBe(0);
  });

  it('holds a buffer of its own only while a command is unfinished (as memcached with per-thread read buffers)', () => {
    const seen: string[] = [];
    const p = new TextParser({ maxItemSize: 1024 }, (c) => seen.push(describe(c)));
    expect(p.ownCapacity).toBe(0); // nothing before the first partial command
    p.push(bytes('version\r\n'));
    expect(p.ownCapacity).toBe(0); // a whole command is read where it arrived
    p.push(bytes('set k 0 0 5\r\nab'));
    expect(p.ownCapacity).toBeGreaterThan(0);
    p.push(bytes('cde\r\n'));
    expect(seen).toEqual(['version', 'set k 0 0 ="abcde"']);
    expect(p.ownCapacity).toBe(0); // answered: an idle connection's parser holds nothing
  });

  it('parsers share the emptied buffers, so many idle connections cost none and interleaved partial commands stay apart', () => {
    const seen: string[][] = [[], [], []];
    const ps = seen.map((out) => new TextParser({ maxItemSize: 100_000 }, (c) => out.push(describe(c))));
    const before = spareBuffers();
    // each holds part of a command at once
    ps.forEach((p, i) => p.push(bytes(`set k${i} 0 0 3\r\nv`)));
    ps.forEach((p) => expect(p.ownCapacity).toBeGreaterThan(0));
    ps.forEach((p, i) => p.push(bytes(`${i}${i}\r\n`)));
    expect(seen).toEqual([['set k0 0 0 ="v00"'], ['set k1 0 0 ="v11"'], ['set k2 0 0 ="v22"']]);
    ps.forEach((p) => expect(p.ownCapacity).toBe(0));
    const spare = spareBuffers();
    expect(spare).toBeGreaterThanOrEqual(Math.min(before + 1, 8));
    expect(spare).toBeLessThanOrEqual(8); // a bounded number per thread, not one per connection
    // the next partial command takes a spare rather than a new buffer
    ps[0].push(bytes('get lon'));
    expect(spareBuffers()).toBe(spare - 1);
    ps[0].push(bytes('g\r\n'));
    expect(spareBuffers()).toBe(spare);
    // a large value's buffer (above 64 KiB) is given back, not kept
    const big = 70_000;
    ps[1].push(bytes(`set big 0 0 ${big}\r\nx`));
    ps[1].push(Buffer.alloc(big - 1, 0x78));
    ps[1].push(bytes('\r\n'));
    expect(seen[1].at(-1)).toBe(`set big 0 0 =<${big} bytes>`);
    expect(spareBuffers()).toBe(spare);
  });

  it('does not buffer a swallowed too-large value', () => {
    const seen: string[] = [];
    const p = new TextParser({ maxItemSize: 10 }, (c) => seen.push(describe(c)));
    p.push(bytes('set k 0 0 100000\r\n'));
    for (let i = 0; i < 10; i++) {
      p.push(Buffer.alloc(10000, 0x76));
      expect(p.pending).toBe(0);
    }
    p.push(bytes('\r\nversion\r\n'));
    expect(seen).toEqual(['too_large set k', 'version']);
  });

  it('assembles a 1 MiB value arriving in 1000-byte reads into one buffer', () => {
    const value = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < value.length; i++) value[i] = (i * 7) & 0xff;
    const stream = Buffer.concat([bytes(`set big 0 0 ${value.length}\r\n`), value, bytes('\r\n')]);
    let got: Buffer | null = null;
    const p = new TextParser({ maxItemSize: 1024 * 1024 }, (c) => {
      if (c.kind === 'store') got = Buffer.from(c.data);
    });
    for (let i = 0; i < stream.length; i += 1000) p.push(stream.subarray(i, i + 1000));
    expect(got).not.toBeNull();
    expect(got!.equals(value)).toBe(true);
    expect(p.pending).toBe(0);
  });

  it('keeps a growing multiget line without rescanning it', () => {
    const seen: TextCommand[] = [];
    const p = new TextParser({ maxItemSize: 1024 }, (c) => seen.push(c));
    p.push(bytes('get'));
    for (let i = 0; i < 5000; i++) p.push(bytes(` key${i}`));
    expect(p.pending).toBe(38893);
    p.push(bytes('\r\n'));
    expect(seen).toHaveLength(1);
    const [cmd] = seen;
    expect(cmd.kind === 'get' && cmd.keys.length).toBe(5000);
  });

  it('closes a multiget line that outgrows maxLineLength', () => {
    const seen: string[] = [];
    const p = new TextParser({ maxItemSize: 1024, maxLineLength: 10_000 }, (c) => seen.push(describe(c)));
    p.push(bytes(`get ${'k '.repeat(4000)}`));
    expect(seen).toEqual([]);
    p.push(bytes('k '.repeat(1000)));
    expect(seen).toEqual(['close']);
    expect(p.pending).toBe(0);
  });

  it('ignores everything after quit or close', () => {
    for (const first of ['quit\r\nversion\r\n', 'GET / HTTP/1.1\r\nversion\r\n', `incr${' '.repeat(3000)}`]) {
      const seen: string[] = [];
      const p = new TextParser({ maxItemSize: 1024 }, (c) => seen.push(describe(c)));
      p.push(bytes(first));
      p.push(bytes('version\r\n'));
      expect(seen).toHaveLength(1);
      expect(p.pending).toBe(0);
    }
  });

  it('joins a line split across pushes', () => {
    const keys: string[] = [];
    const p2 = new TextParser({ maxItemSize: 1024 }, (c) => {
      if (c.kind === 'get') keys.push(c.keys.map((k) => k.toString()).join(','));
    });
    p2.push(bytes('get a'));
    p2.push(bytes('b c\r\nget d'));
    p2.push(bytes('\r\n'));
    expect(keys).toEqual(['ab,c', 'd']);
  });
});

/**
 * Parses the chunks the way a connection feeds them: each is copied to the start of one read buffer, shared
 * with other connections, and pushed as (buffer, length), with stale bytes after it (full of lines of their
 * own). After a push() that leaves a command unfinished, other connections' reads overwrite the pushed bytes.
 */
function parseAllFromReadBuffer(chunks: readonly Buffer[], maxItemSize = 1024 * 1024): string[] {
  const out: string[] = [];
  const p = new TextParser({ maxItemSize }, (c) => out.push(describe(c)));
  const stale = bytes('get stale\r\nset stale 0 0 1\r\nx\r\n\n\r\n');
  let readBuffer = Buffer.alloc(16 * 1024, stale);
  for (const c of chunks) {
    if (c.length > readBuffer.length) readBuffer = Buffer.alloc(c.length + 100, stale);
    c.copy(readBuffer, 0);
    p.push(readBuffer, c.length);
    // what the parser still needs it must have copied
    if (p.pending > 0) readBuffer.fill(stale, 0, c.length);
  }
  return out;
}

suite('TextParser: a prefix of a reused read buffer', () => {
  it('gives the same commands as exact chunks, split anywhere, with stale lines after the pushed bytes', () => {
    const r = rng(0xb0ff);
    for (const f of fixtures) {
      const all = f.chunks.map(bytes);
      expect(parseAllFromReadBuffer(all), f.name).toEqual(f.expect);
      if (f.chunks.length !== 1 || f.splitSensitive) continue;
      const one = all[0];
      for (let round = 0; round < 20; round++) {
        const got = parseAllFromReadBuffer(randomPieces(one, r, round < 10 ? 8 : 200));
        if (got.join('\n') !== f.expect.join('\n')) expect({ fixture: f.name, round, got }).toEqual({ fixture: f.name, round, got: f.expect });
      }
    }
  }, 30_000); // megabyte values in 8-byte reads: a few seconds

  it('random pipelines in random reads', () => {
    const r = rng(0xfeed);
    const MAX = 300;
    for (let round = 0; round < 200; round++) {
      const f = randomPipeline(r, MAX, { tooLarge: true });
      const chunks = randomPieces(Buffer.from(f.chunks[0], 'latin1'), r, 64);
      expect(parseAllFromReadBuffer(chunks, MAX), `round ${round}`).toEqual(f.expect);
    }
  });

  it('ignores everything after the pushed length, even a whole command', () => {
    const seen: string[] = [];
    const p = new TextParser({ maxItemSize: 1024 }, (c) => seen.push(describe(c)));
    const b = bytes('get a\r\nget b\r\n');
    p.push(b, 3);
    expect(seen).toEqual([]);
    p.push(bytes(' c\r\n'));
    expect(seen).toEqual(['get c']);
  });
});

suite('TextParser: random pipelines (property)', () => {
  it('200 random pipelines split into random chunks parse as the sum of their commands', () => {
    const r = rng(0x5eed);
    const MAX = 300;
    for (let round = 0; round < 200; round++) {
      const f = randomPipeline(r, MAX);
      const chunks = randomPieces(Buffer.from(f.chunks[0], 'latin1'), r, 64);
      expect(parseAll(chunks, MAX), `round ${round}`).toEqual(f.expect);
    }
  });
});

suite('TextParser: pause and resume', () => {
  it('holds the rest of a read from pause() on, and emits it on resume(), whatever is pushed meanwhile', () => {
    const seen: string[] = [];
    const p: TextParser = new TextParser({ maxItemSize: 1024 }, (c) => {
      seen.push(describe(c));
      if (seen.length === 1) p.pause();
    });
    const shared = Buffer.alloc(64);
    const n = shared.write('get a\r\nset b 0 0 1\r\nx\r\nversion\r\nget', 'latin1');
    p.push(shared, n);
    expect(seen).toHaveLength(1);
    expect(p.paused).toBe(true);
    // the caller's buffer is reused: what the parser holds must be its own copy
    shared.fill(0x7a);
    p.push(bytes(' c\r\n'));
    expect(seen).toHaveLength(1);
    p.resume();
    expect(seen).toEqual(parseCommands(bytes('get a\r\nset b 0 0 1\r\nx\r\nversion\r\nget c\r\n')).map(describe));
    expect(p.pending).toBe(0);
  });

  it('may pause again while resume() emits', () => {
    const seen: string[] = [];
    const p: TextParser = new TextParser({ maxItemSize: 1024 }, (c) => {
      seen.push(describe(c));
      p.pause();
    });
    p.push(bytes('version\r\nversion\r\nversion\r\n'));
    for (let i = 1; i <= 3; i++) {
      expect(seen).toHaveLength(i);
      p.resume();
    }
    expect(seen).toHaveLength(3);
    expect(p.pending).toBe(0);
  });
});

suite('TextParser: multigets keep their keys in the line', () => {
  it('gives the line and range, checks every key first, and makes `keys` only when read', () => {
    const seen: TextCommand[] = [];
    const p = new TextParser({ maxItemSize: 1024 }, (c) => seen.push(c));
    const keys = Array.from({ length: 40 }, (_, i) => `k${i}`);
    p.push(bytes(`get  ${keys.join('  ')} \r\n`));
    const [cmd] = seen;
    expect(cmd.kind === 'get' && cmd.multi).toBe(true);
    if (cmd.kind !== 'get') return;
    expect(cmd.src!.toString('latin1', cmd.keyStart, cmd.keyEnd).trim().split(/ +/)).toEqual(keys);
    expect(cmd.keys.map((k) => k.toString())).toEqual(keys);
    p.push(bytes(`get a ${'x'.repeat(251)} b\r\n`));
    const err = seen[1];
    expect(err.kind === 'error' && err.reply.toString()).toBe('CLIENT_ERROR bad command line format\r\n');
  });
});

suite('TextParser: a multiget line that grows over many reads', () => {
  const run = (pieces: string[]): string[] => {
    const seen: string[] = [];
    const p = new TextParser({ maxItemSize: 1024 }, (c) => seen.push(c.kind === 'get' ? `get ${c.keys.length}` : describe(c)));
    for (const piece of pieces) p.push(bytes(piece));
    return seen;
  };
  const keys = (n: number, len = 8) => Array.from({ length: n }, (_, i) => String(i).padStart(len, 'k')).join(' ');

  it('checks its keys as they arrive, and the rest when it ends, with the same result as in one piece', () => {
    const long = 'x'.repeat(251);
    const exact = 'y'.repeat(250);
    for (const line of [`get ${keys(2000)} ${long} ${keys(10)}\r\n`, `get ${keys(2000)} ${exact}\r\n`, `get ${keys(2000)} ${long}\r\n`, `get ${keys(2000)}\0 ${long}\r\n`]) {
      const whole = run([line]);
      for (const size of [1000, 4096, 16384]) {
        const pieces = [];
        for (let i = 0; i < line.length; i += size) pieces.push(line.slice(i, i + size));
        expect(run(pieces), `${size}-byte pieces`).toEqual(whole);
      }
      // the \r of the end alone at the end of a read
      expect(run([line.slice(0, -1), '\n'])).toEqual(whole);
      expect(run([line.slice(0, -2), '\r', '\n'])).toEqual(whole);
    }
  });

  it('can lend the buffer holding it to a multiget that waits, and goes on in another', () => {
    let lent: Buffer | null = null;
    const seen: string[] = [];
    const p: TextParser = new TextParser({ maxItemSize: 1024 }, (c) => {
      seen.push(describe(c));
      if (c.kind === 'get' && c.multi && lent === null) {
        expect(p.lend(c.src!)).toBe(true);
        lent = c.src;
        p.pause();
      }
    });
    const line = `get ${keys(5000)}\r\n`;
    for (let i = 0; i < line.length; i += 16384) p.push(bytes(line.slice(i, i + 16384) + (i + 16384 >= line.length ? 'version\r\n' : '')));
    expect(lent).not.toBeNull();
    const copy = Buffer.from(lent!);
    p.push(bytes(`get ${keys(3000)}\r\n`));
    p.resume();
    // the lent bytes were not written over, and the parser went on
    expect(Buffer.from(lent!).equals(copy)).toBe(true);
    expect(seen).toHaveLength(3);
    expect(seen[1]).toBe(describe(parseCommands(bytes('version\r\n'))[0]));
    // the caller's chunk is not the parser's to lend
    const q = new TextParser({ maxItemSize: 1024 }, (c) => {
      if (c.kind === 'get') expect(q.lend(c.src!)).toBe(false);
    });
    q.push(bytes('get a b c\r\n'));
  });
});
