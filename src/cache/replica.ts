import type { ChangeStream } from './changes.ts';
import { keyView, murmur3 } from './hash.ts';
import { checkKey, type Handle, type ItemTable } from './items.ts';
import { S_SWEEP_BUCKET, S_SWEEP_FROM } from './shared-scalars.ts';
import { B_ITFLAGS, B_NKEY, F_CAS_HI, F_CAS_LO, F_EXPTIME, HEADER_BYTES, IT_LINKED, KEY_MAX_LENGTH, memcachedItemTotal } from './layout.ts';

export type RemoteResult = 'APPLIED' | 'STALE' | 'TOO_LARGE' | 'NO_MEMORY';

/**
 * The store as replication sees it: the change stream it subscribes to, items read for sending (versions as u32
 * words, key and value copied out together, a remembered handle checked instead of a lookup), and changes from
 * peers applied by newest-version-wins, without the client path's stats, LRU bumps or memcached's edge cases.
 */
export class Replica {
  readonly changes: ChangeStream;
  readonly #t: ItemTable;

  constructor(table: ItemTable, changes: ChangeStream) {
    this.#t = table;
    this.changes = changes;
  }

  get itemCount(): number {
    return this.#t.itemCount;
  }

  /** Changes whenever a slab page moves to another class; a handle kept across a change may point inside an item. */
  get layoutVersion(): number {
    return this.#t.layoutVersion;
  }

  itemFlags(h: Handle): number {
    return this.#t.itemFlags(h);
  }

  itemVersion(h: Handle): bigint {
    return this.#t.itemVersion(h);
  }

  itemVersionHigh(h: Handle): number {
    return this.#t.itemVersionHigh(h);
  }

  itemVersionLow(h: Handle): number {
    return this.#t.itemVersionLow(h);
  }

  itemTtl(h: Handle): number {
    return this.#t.itemTtl(h);
  }

  itemKeyLength(h: Handle): number {
    return this.#t.itemKeyLength(h);
  }

  itemValueLength(h: Handle): number {
    return this.#t.itemValueLength(h);
  }

  itemKey(h: Handle): Buffer {
    return this.#t.itemKey(h);
  }

  /** Copies the key and then the value into target at offset; returns the offset after them. */
  copyKeyAndValue(h: Handle, target: Buffer, offset: number): number {
    return this.#t.copyKeyAndValue(h, target, offset);
  }

  /** Live items in chunks, for a full sync (see ItemTable.scan). */
  scan(cursor: number, limit: number, fn: (h: Handle) => void): number {
    return this.#t.scan(cursor, limit, fn);
  }

  /**
   * h if it still holds the live item whose key is src[start, start + n) with version (high, low), else -1: a
   * cheap check of a handle a change record remembered (under the same layoutVersion). Replaced, deleted, evicted
   * and expired items fail it.
   */
  itemStillAtFrom(h: Handle, src: Uint8Array, start: number, n: number, high: number, low: number): Handle | -1 {
    const t = this.#t;
    const bytes = t.bytes;
    const u32 = t.u32;
    const at = h * 8;
    if ((bytes[at + B_ITFLAGS] & IT_LINKED) === 0 || u32[h * 2 + F_CAS_LO] !== low || u32[h * 2 + F_CAS_HI] !== high) return -1;
    if (bytes[at + B_NKEY] !== n) return -1;
    for (let i = 0; i < n; i++) if (bytes[at + HEADER_BYTES + i] !== src[start + i]) return -1;
    return t.isLive(h) ? h : -1;
  }

  /** Look up without touching LRU or stats; -1 if missing/expired. */
  peek(key: Buffer): Handle | -1 {
    return this.#t.peek(key);
  }

  /**
   * Store a replicated item keeping the given version; applied only if it is newer than the existing item's (or
   * there is none). ttlSeconds: remaining TTL, 0 = never, negative = already expired.
   */
  applyRemote(key: Buffer, flags: number, ttlSeconds: number, data: Buffer, version: bigint): RemoteResult {
    return this.applyRemoteFrom(key, 0, key.length, data, 0, data.length, flags, ttlSeconds, Number(version >> 32n), Number(version & 0xffffffffn));
  }

  /**
   * applyRemote() with the key at keySrc[keyStart, +nkey), the value at valueSrc[valueStart, +nbytes) and the
   * version as its high and low u32 words: a replicated frame is applied straight from the receive buffer,
   * without a view per key and value or a BigInt.
   */
  applyRemoteFrom(
    keySrc: Buffer, keyStart: number, nkey: number, valueSrc: Buffer, valueStart: number, nbytes: number,
    flags: number, ttlSeconds: number, casHigh: number, casLow: number,
  ): RemoteResult {
    if (nkey === 0 || nkey > KEY_MAX_LENGTH) checkKey(keySrc.subarray(keyStart, keyStart + nkey));
    const t = this.#t;
    const now = (t.now = t.clock.now());
    if (memcachedItemTotal(nkey, nbytes, flags, t.casEnabled) > t.pageSize) return 'TOO_LARGE';
    const kv = keyView(keySrc);
    const hv = murmur3(kv, keyStart, nkey);
    const old = t.lookup(kv, keyStart, nkey, hv, false);
    const u32 = t.u32;
    if (old !== 0) {
      const oh = u32[old * 2 + F_CAS_HI];
      if (oh > casHigh || (oh === casHigh && u32[old * 2 + F_CAS_LO] >= casLow)) return 'STALE';
    }
    const exptime = ttlSeconds === 0 ? 0 : ttlSeconds < 0 ? 1 : now + ttlSeconds;
    // Checked here rather than in observe(): with a VersionSource (always, under replication) the call
    // never runs and so takes nothing from V8's inlining budget for this function.
    if (t.cas.counting) t.cas.observe(casHigh, casLow);
    // A newer version of a key usually has the same size: rewrite its chunk instead of allocating, unlinking
    // and relinking (each a hash-chain walk).
    if (old !== 0 && t.fitsInPlace(old, nkey, nbytes)) {
      t.overwrite(old, flags >>> 0, exptime, valueSrc, valueStart, nbytes, false);
      u32[old * 2 + F_CAS_LO] = casLow;
      u32[old * 2 + F_CAS_HI] = casHigh;
      return 'APPLIED';
    }
    const h = t.allocator.allocateFrom(keySrc, keyStart, nkey, flags >>> 0, exptime, nbytes, now, old);
    if (h === 0) return 'NO_MEMORY';
    t.values.writeFrom(h, 0, valueSrc, valueStart, nbytes);
    u32[h * 2 + F_CAS_LO] = casLow;
    u32[h * 2 + F_CAS_HI] = casHigh;
    if (old !== 0) t.links.unlink(old, hv);
    t.links.link(h, hv);
    return 'APPLIED';
  }

  /**
   * A flush_all from a peer: every item whose version is below `version` is dead from now on, for every thread (a
   * version floor, checked on each lookup as flush_all's own marks are), and the store's flush sweep frees them in
   * steps, as after a local flush_all. False when items carry no version (-C): the caller removes them itself.
   */
  flushOlderThan(version: bigint): boolean {
    const t = this.#t;
    if (!t.casEnabled) return false;
    t.liveness.raiseVersionFloor(Number(version >> 32n), Number(version & 0xffffffffn));
    const s = t.scalars;
    const now = t.clock.now();
    // a sweep under way starts its pass again, for the items it passed; one due later (a delayed flush_all's) is
    // left to come: until then a lookup finds the flushed items dead
    if (s[S_SWEEP_FROM] === 0 || s[S_SWEEP_FROM] <= now) {
      s[S_SWEEP_FROM] = Math.max(now, 1);
      s[S_SWEEP_BUCKET] = 0;
    }
    return true;
  }

  /** Delete a replicated item only if its version <= the given one. */
  applyRemoteDelete(key: Buffer, version: bigint): boolean {
    const t = this.#t;
    t.now = t.clock.now();
    const kv = keyView(key);
    const hv = murmur3(kv, 0, key.length);
    const h = t.lookup(kv, 0, key.length, hv, false);
    if (h === 0 || t.u64[h] > version) return false;
    t.links.unlink(h, hv);
    return true;
  }

  /**
   * A replicated touch: sets the remaining TTL (0 = never) if the item still has the touched version. Like the
   * other replicated changes it is not a client command, so no stats count it.
   */
  applyRemoteTouch(key: Buffer, ttlSeconds: number, version: bigint): boolean {
    const t = this.#t;
    const now = (t.now = t.clock.now());
    const kv = keyView(key);
    const h = t.lookup(kv, 0, key.length, murmur3(kv, 0, key.length), false);
    if (h === 0 || t.u64[h] !== version) return false;
    t.u32[h * 2 + F_EXPTIME] = ttlSeconds === 0 ? 0 : now + ttlSeconds;
    t.lru.bumpIfStale(h, now);
    return true;
  }
}
