import * as fs from 'node:fs';
import * as path from 'node:path';
import { crc32 } from 'node:zlib';
import { KEY_MAX_LENGTH } from './layout.ts';
import type { SlabStore } from './store.ts';

/**
 * Warm restart (-e FILE): the store saved on a graceful stop and loaded at the next start, as memcached's memory
 * file does. Not an image of the arena: the live items, class by class from the LRU tail to its head, so that
 * loading them in order rebuilds every LRU, and every counter (curr_items, bytes, slab pages) is what linking
 * them makes it.
 *
 *   header   "RCWARM\r\n"  u32 format version  u32 settings length  settings (JSON)  u32 crc32(version..settings)
 *   blocks   u32 payload length (> 0)  u32 records  payload  u32 crc32(length..payload)
 *   trailer  u32 0  u32 total records  u32 crc32(0, total)  "RCWEND\r\n"
 *   record   u8 key length  u8 marks  u16 0  u32 flags  u32 value length  u32 cas high  u32 cas low
 *            u32 exptime (unix seconds, 0 = never)  u32 last access (unix seconds)  key  value
 *
 * All numbers little-endian. The file is written beside its final name and renamed into place once complete and
 * synced, so a crash while saving leaves the previous file or none, never a torn one; a file torn anyway (a disk
 * that lied) has no trailer and is refused. Everything is checked before the first item is loaded: a refused file
 * leaves the store empty, never half loaded.
 */

export const WARM_MAGIC = Buffer.from('RCWARM\r\n', 'latin1');
export const WARM_END = Buffer.from('RCWEND\r\n', 'latin1');
export const WARM_FORMAT_VERSION = 1;
const RECORD_HEADER = 28;
/** Records are written in blocks of about this many bytes (a larger item makes a block of its own). */
const BLOCK_BYTES = 1 << 20;

/** The options that must match between the run that saved a file and the one loading it (memcached checks the same). */
export interface WarmSettings {
  /** -m, bytes */
  memoryLimitBytes: number;
  /** -I */
  pageSize: number;
  /** -f */
  growthFactor: number;
  /** -n */
  minChunk: number;
  /** -o slab_chunk_max */
  slabChunkMax: number;
  /** not -C */
  casEnabled: boolean;
}

const SETTING_FLAGS: Record<keyof WarmSettings, string> = {
  memoryLimitBytes: '-m',
  pageSize: '-I',
  growthFactor: '-f',
  minChunk: '-n',
  slabChunkMax: '-o slab_chunk_max',
  casEnabled: '-C',
};

/** A memory file that cannot be loaded; the subclasses name why. */
export class WarmFileError extends Error {
  override name = 'WarmFileError';
}
/** Ends before its trailer (a torn or cut file). */
export class WarmFileTruncatedError extends WarmFileError {
  override name = 'WarmFileTruncatedError';
}
/** Not a memory file of ours, or of another format version. */
export class WarmFileFormatError extends WarmFileError {
  override name = 'WarmFileFormatError';
}
/** Saved with other memory options (-m, -I, -f, -n, slab_chunk_max, -C). */
export class WarmFileSettingsError extends WarmFileError {
  override name = 'WarmFileSettingsError';
}
/** A checksum does not match: the file was changed or damaged after it was written. */
export class WarmFileCorruptError extends WarmFileError {
  override name = 'WarmFileCorruptError';
}

export interface SaveResult {
  items: number;
  bytes: number;
}

/** Saves every live item of the store to `file` (through FILE.tmp, renamed into place). */
export function saveWarmFile(store: SlabStore, settings: WarmSettings, file: string, savedAt = Math.floor(Date.now() / 1000)): SaveResult {
  const tmp = `${file}.tmp`;
  const fd = fs.openSync(tmp, 'w', 0o600);
  let written = 0;
  let items = 0;
  try {
    const put = (buf: Buffer) => {
      let off = 0;
      while (off < buf.length) off += fs.writeSync(fd, buf, off, buf.length - off);
      written += buf.length;
    };
    put(encodeHeader(settings, savedAt));
    let block = Buffer.allocUnsafe(BLOCK_BYTES + 8);
    let used = 8;
    let count = 0;
    const flush = () => {
      if (count === 0) return;
      put(sealBlock(block.subarray(0, used), count));
      used = 8;
      count = 0;
    };
    store.forEachByLru((h) => {
      const nkey = store.itemKeyLength(h);
      const nbytes = store.itemValueLength(h);
      const size = RECORD_HEADER + nkey + nbytes;
      if (used + size > block.length) {
        flush();
        if (size + 8 > block.length) block = Buffer.allocUnsafe(size + 8);
      }
      const [casHigh, casLow] = store.itemCasWords(h);
      let o = used;
      block[o] = nkey;
      block[o + 1] = store.itemMarks(h);
      block.writeUInt16LE(0, o + 2);
      block.writeUInt32LE(store.itemFlags(h), o + 4);
      block.writeUInt32LE(nbytes, o + 8);
      block.writeUInt32LE(casHigh, o + 12);
      block.writeUInt32LE(casLow, o + 16);
      block.writeUInt32LE(store.unixTime(store.itemExptime(h)), o + 20);
      block.writeUInt32LE(store.itemAccessUnix(h), o + 24);
      o += RECORD_HEADER;
      o += store.copyKeyTo(h, block, o);
      o += store.copyValue(h, block, o);
      used = o;
      count++;
      items++;
      if (used >= BLOCK_BYTES) flush();
    });
    flush();
    put(encodeTrailer(items));
    fs.fsyncSync(fd);
  } catch (err) {
    fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw err;
  }
  fs.closeSync(fd);
  fs.renameSync(tmp, file);
  syncDirectory(path.dirname(file));
  return { items, bytes: written };
}

export type LoadResult =
  | { outcome: 'absent' }
  | { outcome: 'loaded'; items: number; expired: number; dropped: number; savedAt: number; bytes: number }
  | { outcome: 'refused'; error: WarmFileError; movedTo: string | null };

/**
 * Loads `file` into an empty store, then removes it: a crash later must not bring back what this run changes since
 * (memcached removes its metadata file the same way). A file that cannot be loaded is moved to FILE.refused and
 * the store stays empty (a cold start). I/O errors other than a missing file are thrown.
 */
export function loadWarmFile(store: SlabStore, settings: WarmSettings, file: string): LoadResult {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { outcome: 'absent' };
    throw err;
  }
  let result: LoadResult;
  try {
    const reader = new FileReader(fd);
    const savedAt = readHeader(reader, settings);
    const blocksAt = reader.offset;
    // First pass: every checksum and the trailer, before anything is loaded.
    forEachBlock(reader, () => {});
    reader.offset = blocksAt;
    let items = 0;
    let expired = 0;
    let dropped = 0;
    forEachBlock(reader, (payload, count) => {
      let o = 0;
      for (let i = 0; i < count; i++) {
        const nkey = payload[o];
        const nbytes = payload.readUInt32LE(o + 8);
        const exptime = payload.readUInt32LE(o + 20);
        const keyAt = o + RECORD_HEADER;
        const key = payload.subarray(keyAt, keyAt + nkey);
        const value = payload.subarray(keyAt + nkey, keyAt + nkey + nbytes);
        const ok = store.restoreItem(key, payload.readUInt32LE(o + 4), exptime, payload.readUInt32LE(o + 24), payload.readUInt32LE(o + 12), payload.readUInt32LE(o + 16), payload[o + 1], value);
        if (ok) items++;
        else if (exptime !== 0 && exptime <= store.unixTime(store.now)) expired++;
        else dropped++;
        o = keyAt + nkey + nbytes;
      }
    });
    result = { outcome: 'loaded', items, expired, dropped, savedAt, bytes: reader.offset };
  } catch (err) {
    if (!(err instanceof WarmFileError)) {
      fs.closeSync(fd);
      throw err;
    }
    result = { outcome: 'refused', error: err, movedTo: null };
  }
  fs.closeSync(fd);
  if (result.outcome === 'loaded') {
    store.resetStats();
    fs.rmSync(file, { force: true });
  } else if (result.outcome === 'refused') {
    const movedTo = `${file}.refused`;
    try {
      fs.renameSync(file, movedTo);
      result.movedTo = movedTo;
    } catch {
      fs.rmSync(file, { force: true });
    }
  }
  return result;
}

// ------------------------------------------------------------------ codec

export function encodeHeader(settings: WarmSettings, savedAt: number): Buffer {
  const json = Buffer.from(JSON.stringify({ settings: pickSettings(settings), savedAt }), 'utf8');
  const out = Buffer.alloc(WARM_MAGIC.length + 8 + json.length + 4);
  WARM_MAGIC.copy(out, 0);
  out.writeUInt32LE(WARM_FORMAT_VERSION, 8);
  out.writeUInt32LE(json.length, 12);
  json.copy(out, 16);
  out.writeUInt32LE(crc32(out.subarray(8, 16 + json.length)), 16 + json.length);
  return out;
}

/** block[0, 8) is left free for the length and count. */
function sealBlock(block: Buffer, count: number): Buffer {
  block.writeUInt32LE(block.length - 8, 0);
  block.writeUInt32LE(count, 4);
  const crc = Buffer.allocUnsafe(4);
  crc.writeUInt32LE(crc32(block), 0);
  return Buffer.concat([block, crc]);
}

function encodeTrailer(items: number): Buffer {
  const out = Buffer.alloc(12 + WARM_END.length);
  out.writeUInt32LE(0, 0);
  out.writeUInt32LE(items, 4);
  out.writeUInt32LE(crc32(out.subarray(0, 8)), 8);
  WARM_END.copy(out, 12);
  return out;
}

function pickSettings(s: WarmSettings): WarmSettings {
  return {
    memoryLimitBytes: s.memoryLimitBytes,
    pageSize: s.pageSize,
    growthFactor: s.growthFactor,
    minChunk: s.minChunk,
    slabChunkMax: s.slabChunkMax,
    casEnabled: s.casEnabled,
  };
}

/** Checks magic, version, checksum and settings; returns the time the file was saved. */
function readHeader(r: FileReader, settings: WarmSettings): number {
  const magic = r.read(WARM_MAGIC.length, 'the header');
  if (!magic.equals(WARM_MAGIC)) throw new WarmFileFormatError('not a repcache memory file (bad magic)');
  const head = r.read(8, 'the header');
  const version = head.readUInt32LE(0);
  const len = head.readUInt32LE(4);
  if (len > r.remaining()) throw new WarmFileTruncatedError('the file ends inside its header');
  const json = r.read(len, 'the header');
  const crc = r.read(4, 'the header').readUInt32LE(0);
  if (crc32(Buffer.concat([head, json])) !== crc) throw new WarmFileCorruptError('header checksum mismatch');
  if (version !== WARM_FORMAT_VERSION) throw new WarmFileFormatError(`format version ${version}, this repcache reads version ${WARM_FORMAT_VERSION}`);
  let meta: { settings?: Partial<WarmSettings>; savedAt?: number };
  try {
    meta = JSON.parse(json.toString('utf8')) as typeof meta;
  } catch {
    throw new WarmFileCorruptError('header is not valid JSON');
  }
  const saved = meta.settings ?? {};
  for (const k of Object.keys(SETTING_FLAGS) as Array<keyof WarmSettings>) {
    if (saved[k] !== settings[k]) {
      throw new WarmFileSettingsError(`saved with ${SETTING_FLAGS[k]} ${describe(k, saved[k])}, started with ${SETTING_FLAGS[k]} ${describe(k, settings[k])}`);
    }
  }
  return typeof meta.savedAt === 'number' ? meta.savedAt : 0;
}

function describe(k: keyof WarmSettings, v: unknown): string {
  if (k === 'casEnabled') return v === true ? 'off (CAS on)' : v === false ? 'on (CAS off)' : String(v);
  if (k === 'memoryLimitBytes' && typeof v === 'number') return `${v / 1024 / 1024} MB`;
  return String(v);
}

/** Reads blocks up to and including the trailer, checking each checksum and the records' framing. */
function forEachBlock(r: FileReader, fn: (payload: Buffer, count: number) => void): void {
  let total = 0;
  for (;;) {
    const head = r.read(8, 'a block');
    const len = head.readUInt32LE(0);
    const count = head.readUInt32LE(4);
    if (len === 0) {
      const crc = r.read(4, 'the trailer').readUInt32LE(0);
      if (crc32(head) !== crc) throw new WarmFileCorruptError('trailer checksum mismatch');
      if (count !== total) throw new WarmFileCorruptError(`trailer counts ${count} items, the blocks hold ${total}`);
      if (!r.read(WARM_END.length, 'the trailer').equals(WARM_END)) throw new WarmFileCorruptError('bad end marker');
      if (r.remaining() !== 0) throw new WarmFileCorruptError(`${r.remaining()} bytes after the end marker`);
      return;
    }
    if (len + 4 > r.remaining()) throw new WarmFileTruncatedError(`the file ends inside a block at byte ${r.offset - 8}`);
    const payload = r.read(len, 'a block');
    const crc = r.read(4, 'a block').readUInt32LE(0);
    if (crc32(payload, crc32(head)) !== crc) throw new WarmFileCorruptError(`block checksum mismatch at byte ${r.offset - len - 12}`);
    checkRecords(payload, count);
    fn(payload, count);
    total += count;
  }
}

function checkRecords(payload: Buffer, count: number): void {
  let o = 0;
  for (let i = 0; i < count; i++) {
    if (o + RECORD_HEADER > payload.length) throw new WarmFileCorruptError('a block holds fewer records than it counts');
    const nkey = payload[o];
    const end = o + RECORD_HEADER + nkey + payload.readUInt32LE(o + 8);
    if (nkey === 0 || nkey > KEY_MAX_LENGTH || end > payload.length) throw new WarmFileCorruptError('a record overruns its block');
    o = end;
  }
  if (o !== payload.length) throw new WarmFileCorruptError('a block holds more bytes than its records');
}

class FileReader {
  offset = 0;
  readonly #fd: number;
  readonly #size: number;

  constructor(fd: number) {
    this.#fd = fd;
    this.#size = fs.fstatSync(fd).size;
  }

  remaining(): number {
    return this.#size - this.offset;
  }

  read(n: number, what: string): Buffer {
    if (n > this.remaining()) throw new WarmFileTruncatedError(`the file ends inside ${what} (at byte ${this.#size})`);
    const buf = Buffer.allocUnsafe(n);
    let got = 0;
    while (got < n) {
      const k = fs.readSync(this.#fd, buf, got, n - got, this.offset + got);
      if (k === 0) throw new WarmFileTruncatedError(`the file ends inside ${what}`);
      got += k;
    }
    this.offset += n;
    return buf;
  }
}

function syncDirectory(dir: string): void {
  let fd: number | null = null;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch {
    /* not every file system syncs a directory */
  } finally {
    if (fd !== null) fs.closeSync(fd);
  }
}
