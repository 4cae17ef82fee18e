import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { crc32 } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SlabStore } from '../../../src/cache/store.ts';
import {
  loadWarmFile,
  saveWarmFile,
  WarmFileCorruptError,
  WarmFileError,
  WarmFileFormatError,
  WarmFileSettingsError,
  WarmFileTruncatedError,
  type LoadResult,
} from '../../../src/cache/warm-file.ts';
import { defaultServerConfig, storeOptionsFor } from '../../../src/server/config.ts';
import { FakeCacheTime } from '../../support/fake-clock.ts';
import { getValue, k, MB, set, stat, STARTED } from './helpers.ts';

let dir: string;
let file: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warm-file-'));
  file = path.join(dir, 'memory');
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

function storeAt(started: number, over: Partial<typeof defaultServerConfig> = {}): { store: SlabStore; clock: FakeCacheTime; settings: ReturnType<typeof storeOptionsFor> } {
  const clock = new FakeCacheTime(started);
  const settings = storeOptionsFor({ ...defaultServerConfig, ...over }, clock.clock);
  return { store: new SlabStore(settings), clock, settings };
}

function item(store: SlabStore, key: string): { value: string; flags: number; cas: bigint; ttl: number } | null {
  const h = store.peek(k(key));
  if (h === -1) return null;
  const out = Buffer.alloc(store.itemValueLength(h));
  store.copyValue(h, out, 0);
  return { value: out.toString('latin1'), flags: store.itemFlags(h), cas: store.itemCas(h), ttl: store.itemTtl(h) };
}

function expectRefused(r: LoadResult, cls: new (...a: never[]) => WarmFileError): void {
  expect(r.outcome).toBe('refused');
  if (r.outcome === 'refused') expect(r.error).toBeInstanceOf(cls);
}

/** A small saved file: three items, one of them with flags and a TTL. */
function smallFile(): Buffer {
  const { store, settings } = storeAt(STARTED);
  set(store, 'a', 'alpha', 7, 0);
  set(store, 'b', 'bravo', 0, 3600);
  set(store, 'c', Buffer.alloc(40, 1), 0xffffffff, 0);
  saveWarmFile(store, settings, file);
  return fs.readFileSync(file);
}

describe('warm file round trip', () => {
  it('brings back every item with its value, flags, CAS, TTL less the time down, LRU order and stats', () => {
    const a = storeAt(STARTED);
    a.clock.advance(10);
    set(a.store, 'plain', 'v1', 0, 0);
    set(a.store, 'flagged', 'v2', 0xdeadbeef, 0);
    set(a.store, 'ttl', 'v3', 1, 1000);
    set(a.store, 'short', 'gone', 0, 50); // expires while the node is down
    set(a.store, 'big', Buffer.alloc(700 * 1024, 0x61), 0, 0); // chunked: larger than the largest class
    for (let i = 0; i < 200; i++) set(a.store, `lru${i}`, `value-${i}`, i, 0);
    getValue(a.store, 'lru3'); // fetched: keeps its mark
    a.store.delete(k('lru5'));
    const before = new Map<string, ReturnType<typeof item>>();
    for (const key of ['plain', 'flagged', 'ttl', 'big', ...Array.from({ length: 200 }, (_, i) => `lru${i}`)]) before.set(key, item(a.store, key));
    const dumpBefore = a.store.cachedump(1, 0);
    const saved = saveWarmFile(a.store, a.settings, file);
    expect(saved.items).toBe(a.store.itemCount);
    expect(fs.existsSync(`${file}.tmp`)).toBe(false);

    // Down for 100 s: the new run's clock starts 100 s + the time the old one ran later.
    const b = storeAt(STARTED + 10 + 100);
    const r = loadWarmFile(b.store, b.settings, file);
    expect(r.outcome).toBe('loaded');
    if (r.outcome !== 'loaded') return;
    expect(r.items).toBe(a.store.itemCount - 1);
    expect(r.expired).toBe(1);
    expect(item(b.store, 'short')).toBeNull();
    expect(item(b.store, 'lru5')).toBeNull();
    for (const [key, was] of before) {
      const now = item(b.store, key);
      if (key === 'ttl') {
        expect(now).toEqual({ ...was, ttl: was!.ttl - 100 });
      } else {
        expect(now).toEqual(was);
      }
    }
    expect(b.store.itemMarks(b.store.peek(k('lru3')))).toBe(a.store.itemMarks(a.store.peek(k('lru3'))));
    // The same LRU order (cachedump lists most recent first; its times are absolute, so they match too).
    expect(b.store.cachedump(1, 0)).toEqual((dumpBefore as string[]).filter((l) => !l.startsWith('ITEM short ')));
    // Stats as linking those items makes them.
    a.store.delete(k('short'));
    const ga = a.store.statsGeneral();
    const gb = b.store.statsGeneral();
    expect(stat(gb, 'curr_items')).toBe(stat(ga, 'curr_items'));
    expect(stat(gb, 'bytes')).toBe(stat(ga, 'bytes'));
    expect(stat(gb, 'total_items')).toBe(0);
    expect(stat(b.store.statsSlabs(), 'total_malloced')).toBe(stat(a.store.statsSlabs(), 'total_malloced'));
    // A new write gets a CAS above every loaded one.
    set(b.store, 'new', 'x');
    const maxCas = [...before.values()].reduce((m, v) => (v && v.cas > m ? v.cas : m), 0n);
    expect(item(b.store, 'new')!.cas).toBeGreaterThan(maxCas);
    // The loaded file is gone: a crash later cannot bring back what this run changes.
    expect(fs.existsSync(file)).toBe(false);
  });

  it('an empty store saves and loads as empty', () => {
    const a = storeAt(STARTED);
    saveWarmFile(a.store, a.settings, file);
    const b = storeAt(STARTED + 5);
    const r = loadWarmFile(b.store, b.settings, file);
    expect(r).toMatchObject({ outcome: 'loaded', items: 0 });
  });

  it('a missing file is a cold start', () => {
    const b = storeAt(STARTED);
    expect(loadWarmFile(b.store, b.settings, file)).toEqual({ outcome: 'absent' });
  });

  it('flushed items are not saved', () => {
    const a = storeAt(STARTED);
    a.clock.advance(5);
    set(a.store, 'x', '1');
    a.clock.advance(2);
    a.store.flushAll(0);
    set(a.store, 'y', '2');
    expect(saveWarmFile(a.store, a.settings, file).items).toBe(1);
  });

  it('a stale temporary file from a crash during an earlier save is replaced', () => {
    fs.writeFileSync(`${file}.tmp`, 'half a file');
    const a = storeAt(STARTED);
    set(a.store, 'x', '1');
    saveWarmFile(a.store, a.settings, file);
    expect(fs.existsSync(`${file}.tmp`)).toBe(false);
    const b = storeAt(STARTED + 1);
    expect(loadWarmFile(b.store, b.settings, file)).toMatchObject({ outcome: 'loaded', items: 1 });
  });
});

describe('bad memory files: refused with a named error, the store stays empty, the file is moved aside', () => {
  it('truncated at every byte', () => {
    const whole = smallFile();
    const b = storeAt(STARTED + 1);
    for (let n = 0; n < whole.length; n++) {
      fs.writeFileSync(file, whole.subarray(0, n));
      const r = loadWarmFile(b.store, b.settings, file);
      expect(r.outcome, `cut at ${n}`).toBe('refused');
      if (r.outcome === 'refused') expect(r.error, `cut at ${n}`).toBeInstanceOf(WarmFileError);
      if (n > 0 && r.outcome === 'refused') expect(r.error).toBeInstanceOf(WarmFileTruncatedError);
      expect(b.store.itemCount).toBe(0);
      expect(fs.existsSync(file)).toBe(false);
      expect(fs.existsSync(`${file}.refused`)).toBe(true);
    }
  });

  it('every single bit flipped', { timeout: 60_000 }, () => {
    const whole = smallFile();
    const b = storeAt(STARTED + 1); // a refused file leaves it empty: one store serves every try
    for (let byte = 0; byte < whole.length; byte++) {
      for (let bit = 0; bit < 8; bit++) {
        const bad = Buffer.from(whole);
        bad[byte] ^= 1 << bit;
        fs.writeFileSync(file, bad);
        const r = loadWarmFile(b.store, b.settings, file);
        expect(r.outcome, `byte ${byte} bit ${bit}`).toBe('refused');
        if (r.outcome === 'refused') expect(r.error).toBeInstanceOf(WarmFileError);
        expect(b.store.itemCount).toBe(0);
      }
    }
  });

  it('wrong magic', () => {
    const bad = smallFile();
    bad.write('XX', 0, 'latin1');
    fs.writeFileSync(file, bad);
    const b = storeAt(STARTED + 1);
    expectRefused(loadWarmFile(b.store, b.settings, file), WarmFileFormatError);
  });

  it('another format version (with a valid checksum)', () => {
    const bad = smallFile();
    bad.writeUInt32LE(2, 8);
    const len = bad.readUInt32LE(12);
    bad.writeUInt32LE(crc32(bad.subarray(8, 16 + len)), 16 + len);
    fs.writeFileSync(file, bad);
    const b = storeAt(STARTED + 1);
    const r = loadWarmFile(b.store, b.settings, file);
    expectRefused(r, WarmFileFormatError);
    if (r.outcome === 'refused') expect(r.error.message).toBe('format version 2, this repcache reads version 1');
  });

  it('records that lie about their lengths, under valid checksums, are refused, not loaded', () => {
    const whole = smallFile();
    const blockAt = 16 + whole.readUInt32LE(12) + 4;
    const len = whole.readUInt32LE(blockAt);
    const reseal = (mutate: (payload: Buffer, head: Buffer) => void): Buffer => {
      const bad = Buffer.from(whole);
      const head = bad.subarray(blockAt, blockAt + 8);
      const payload = bad.subarray(blockAt + 8, blockAt + 8 + len);
      mutate(payload, head);
      bad.writeUInt32LE(crc32(payload, crc32(head)), blockAt + 8 + len);
      return bad;
    };
    const b = storeAt(STARTED + 1);
    const cases: Array<[string, Buffer]> = [
      ['a key length of 0', reseal((p) => (p[0] = 0))],
      ['a value past the block', reseal((p) => p.writeUInt32LE(1 << 30, 8))],
      ['one record more than the block holds', reseal((_p, h) => h.writeUInt32LE(h.readUInt32LE(4) + 1, 4))],
      ['one record fewer', reseal((_p, h) => h.writeUInt32LE(h.readUInt32LE(4) - 1, 4))],
    ];
    for (const [what, bad] of cases) {
      fs.writeFileSync(file, bad);
      const r = loadWarmFile(b.store, b.settings, file);
      expectRefused(r, WarmFileCorruptError);
      expect(b.store.itemCount, what).toBe(0);
    }
  });

  it('trailing garbage after the end marker', () => {
    fs.writeFileSync(file, Buffer.concat([smallFile(), Buffer.from('x')]));
    const b = storeAt(STARTED + 1);
    expectRefused(loadWarmFile(b.store, b.settings, file), WarmFileCorruptError);
  });

  it.each([
    [{ memoryLimitMB: 128 }, 'saved with -m 64 MB, started with -m 128 MB'],
    [{ growthFactor: 1.5 }, 'saved with -f 1.25, started with -f 1.5'],
    [{ minChunk: 96 }, 'saved with -n 48, started with -n 96'],
    [{ pageSize: 2 * MB, slabChunkMax: MB }, 'saved with -I 1048576, started with -I 2097152'],
    [{ casEnabled: false }, 'saved with -C off (CAS on), started with -C on (CAS off)'],
  ])('saved with other memory options %o', (over, message) => {
    smallFile();
    const b = storeAt(STARTED + 1, over);
    const r = loadWarmFile(b.store, b.settings, file);
    expectRefused(r, WarmFileSettingsError);
    if (r.outcome === 'refused') {
      expect(r.error.message).toBe(message);
      expect(r.movedTo).toBe(`${file}.refused`);
    }
    expect(b.store.itemCount).toBe(0);
  });
});
