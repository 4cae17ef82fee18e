import { describe, expect, it } from 'vitest';
import { crc32Hash, md5Hash, oneAtATimeHash } from '../../../src/routing/hashes.ts';
import { KetamaContinuum } from '../../../src/routing/ketama.ts';
import { ModulaDistribution } from '../../../src/routing/distribution.ts';
import { ServerSpecError, parseServerSpec, serverName } from '../../../src/routing/servers.ts';

const b = (s: string) => Buffer.from(s);

describe('key hashes (values from libmemcached 1.1 through PHP Memcached)', () => {
  it('md5: first four digest bytes, little-endian', () => {
    // md5("key0") = 21 f4 02 f2 ...
    expect(md5Hash(b("key0"))).toBe(0xf202f421);
  });

  it('one-at-a-time adds bytes as signed chars', () => {
    expect(oneAtATimeHash(b(''))).toBe(0);
    expect(oneAtATimeHash(b('a'))).toBe(0xca2e9442);
    // a byte >= 0x80 is sign-extended, as in libmemcached's C
    expect(oneAtATimeHash(Buffer.from([0xe9]))).not.toBe(oneAtATimeHash(Buffer.from([0x69])));
  });

  it('crc32 keeps bits 16..30 of the CRC-32', () => {
    // crc32("123456789") = 0xcbf43926
    expect(crc32Hash(b('123456789'))).toBe((0xcbf43926 >>> 16) & 0x7fff);
  });
});

describe('ketama continuum', () => {
  const spec = (host: string, port = 11211, weight = 1) => ({ host, port, weight });

  it('gives each of n equal servers 160 points, also where double precision would give 156', () => {
    for (const n of [1, 2, 3, 7, 14]) {
      const servers = Array.from({ length: n }, (_, i) => spec(`10.0.0.${i + 1}`));
      expect(new KetamaContinuum(servers).points).toBe(160 * n);
    }
  });

  it('shares points by weight, counted in single precision as libmemcached does', () => {
    expect(new KetamaContinuum([spec('a', 11211, 1), spec('b', 11211, 3)]).points).toBe(80 + 240);
    // 3/25 of 40 x 5 digests is 24 in double precision, 23 in float
    const weighted = [10, 3, 3, 1, 8].map((w, i) => spec(`h${i}`, 11211, w));
    expect(new KetamaContinuum(weighted).points).toBe((80 + 23 + 23 + 7 + 63) * 4);
  });

  it('wraps a hash above the last point to the first', () => {
    const k = new KetamaContinuum([spec('a'), spec('b')]);
    expect(k.serverForHash(0xffffffff)).toBe(k.serverForHash(0));
  });

  it('refuses an empty pool', () => {
    expect(() => new KetamaContinuum([])).toThrow(RangeError);
  });

  it('moves only the keys of a removed server', () => {
    const servers = [spec('a'), spec('b'), spec('c'), spec('d')];
    const before = new KetamaContinuum(servers);
    const after = new KetamaContinuum(servers.filter((s) => s.host !== 'c'));
    let moved = 0;
    for (let i = 0; i < 10_000; i++) {
      const key = b(`k${i}`);
      const was = servers[before.serverFor(key)]!.host;
      const now = servers.filter((s) => s.host !== 'c')[after.serverFor(key)]!.host;
      if (was !== 'c') expect(now).toBe(was);
      else moved++;
    }
    expect(moved).toBeGreaterThan(1500);
  });
});

describe('modula', () => {
  it('is hash % servers', () => {
    const m = new ModulaDistribution([{ host: 'a', port: 1, weight: 1 }, { host: 'b', port: 1, weight: 9 }, { host: 'c', port: 1, weight: 1 }]);
    expect(m.serverFor(b('a'))).toBe(0xca2e9442 % 3);
  });
});

describe('server specs', () => {
  it('reads magent, twemproxy and bracketed IPv6 forms', () => {
    expect(parseServerSpec('10.0.0.1')).toEqual({ host: '10.0.0.1', port: 11211, weight: 1 });
    expect(parseServerSpec('10.0.0.1:11212,3')).toEqual({ host: '10.0.0.1', port: 11212, weight: 3 });
    expect(parseServerSpec('cache1:11212:2')).toEqual({ host: 'cache1', port: 11212, weight: 2 });
    expect(parseServerSpec('[2001:db8::1]:11213')).toEqual({ host: '2001:db8::1', port: 11213, weight: 1 });
    expect(serverName(parseServerSpec('[2001:db8::1]'))).toBe('[2001:db8::1]:11211');
  });

  it.each([
    ['', /no host/],
    [':11211', /no host/],
    ['a:0', /port must be 1..65535/],
    ['a:70000', /port must be 1..65535/],
    ['a:x', /port must be/],
    ['a:1,0', /weight must be a positive integer/],
    ['a:1,-2', /weight must be/],
    ['a:1:2:3', /expected host\[:port\]\[,weight\]/],
    ['a:1:2,3', /expected host/],
    ['[2001:db8::1', /missing '\]'/],
    ['[2001:db8::1]x', /expected ':' after '\]'/],
  ])('refuses %j', (text, message) => {
    expect(() => parseServerSpec(text)).toThrow(ServerSpecError);
    expect(() => parseServerSpec(text)).toThrow(message);
  });
});

describe('placement on the next distinct server (backup pools that mirror the main pool)', () => {
  const spec = (host: string) => ({ host, port: 11211, weight: 1 });
  const keys = Array.from({ length: 2000 }, (_, i) => b(`key:${i}`));

  it('ketama: the key goes where it would, unless that is the skipped server; then to the next one clockwise', () => {
    const k = new KetamaContinuum([spec('a'), spec('b'), spec('c')]);
    const two = new KetamaContinuum([spec('a'), spec('c')]);
    for (const key of keys) {
      const home = k.serverFor(key);
      expect(k.serverForExcept(key, (home + 1) % 3)).toBe(home);
      const other = k.serverForExcept(key, home);
      expect(other).not.toBe(home);
      // what is clockwise after b's points with b skipped is where a ring without b puts the key
      if (home === 1) expect(['a', 'c'][two.serverFor(key)]).toBe(['a', 'b', 'c'][other]);
    }
    expect(new KetamaContinuum([spec('a')]).serverForExcept(keys[0], 0)).toBe(-1);
  });

  it('modula: the next server in the list', () => {
    const m = new ModulaDistribution([spec('a'), spec('b'), spec('c')]);
    for (const key of keys.slice(0, 200)) {
      const home = m.serverFor(key);
      expect(m.serverForExcept(key, home)).toBe((home + 1) % 3);
      expect(m.serverForExcept(key, (home + 1) % 3)).toBe(home);
    }
    expect(new ModulaDistribution([spec('a')]).serverForExcept(keys[0], 0)).toBe(-1);
  });
});

describe('md5FirstWord (the JavaScript MD5 behind md5Hash)', () => {
  it('equals node:crypto for keys of every length up to 300 bytes, binary bytes included', async () => {
    const { hash } = await import('node:crypto');
    const { md5FirstWord } = await import('../../../src/routing/md5.ts');
    let seed = 7;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) & 0xff;
    for (let n = 0; n <= 300; n++) {
      for (let r = 0; r < 4; r++) {
        const k = Buffer.from(Array.from({ length: n }, rnd));
        expect(md5FirstWord(k), `length ${n}`).toBe(hash('md5', k, 'buffer').readUInt32LE(0));
      }
    }
    expect(md5FirstWord(Buffer.alloc(1 << 20, 0x61))).toBe(hash('md5', Buffer.alloc(1 << 20, 0x61), 'buffer').readUInt32LE(0));
  });
});
