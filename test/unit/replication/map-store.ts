import { ChangeKind, ChangeStream } from '../../../src/cache/changes.ts';
import { parseU64, U64_MAX } from '../../../src/cache/numeric.ts';
import type { ReplicaStore } from '../../../src/replication/replica-store.ts';

interface Entry { key: Buffer; flags: number; data: Buffer; cas: bigint; expAtMs: number }

/**
 * A tiny Map-backed store with the replica face of SlabStore, for in-process link tests. Like the slab store it
 * publishes its local writes to its change stream (without item hints: the sender looks keys up).
 */
export class MapStore implements ReplicaStore {
  readonly slots: (Entry | null)[] = [];
  readonly index = new Map<string, number>();
  readonly changes = new ChangeStream();
  nextCas: () => bigint;
  now = () => Date.now();

  constructor(nextCas: () => bigint) {
    this.nextCas = nextCas;
  }

  /** No version floor here: a peer's flush_all falls back to removing the older items one by one. */
  flushOlderThan(): boolean {
    return false;
  }

  #slot(key: Buffer): number {
    const i = this.index.get(key.toString('latin1'));
    if (i === undefined) return -1;
    const e = this.slots[i]!;
    if (e.expAtMs && e.expAtMs <= this.now()) {
      this.#remove(i);
      return -1;
    }
    return i;
  }

  #remove(i: number): void {
    this.index.delete(this.slots[i]!.key.toString('latin1'));
    this.slots[i] = null;
  }

  #put(key: Buffer, flags: number, ttl: number, data: Buffer, cas: bigint): void {
    const e = { key: Buffer.from(key), flags, data: Buffer.from(data), cas, expAtMs: ttl ? this.now() + ttl * 1000 : 0 };
    const i = this.#slot(key);
    if (i >= 0) this.slots[i] = e;
    else {
      this.slots.push(e);
      this.index.set(key.toString('latin1'), this.slots.length - 1);
    }
  }

  /** Local write (what the cache server does), returns the new cas. */
  set(key: string, value: string, ttl = 0): bigint {
    const cas = this.nextCas();
    const k = Buffer.from(key);
    this.#put(k, 0, ttl, Buffer.from(value), cas);
    if (this.changes.active) this.changes.item(ChangeKind.SET, k, 0, k.length, 0, 0, 0, 0);
    return cas;
  }

  /**
   * Local incr/decr with memcached's rules (decr clamps at 0, incr wraps at 2^64, a shorter number is padded with
   * spaces in place), published as an ARITH record like SlabStore.arith. Returns the new value, or null for a
   * missing or non-numeric item.
   */
  incr(key: string, delta: bigint, incr = true): bigint | null {
    const k = Buffer.from(key);
    const i = this.#slot(k);
    if (i < 0) return null;
    const e = this.slots[i]!;
    const prior = parseU64(e.data, 0, e.data.length);
    if (prior < 0n) return null;
    const value = incr ? (prior + delta) & U64_MAX : prior < delta ? 0n : prior - delta;
    const digits = value.toString();
    const priorCas = e.cas;
    e.data = Buffer.from(digits.length < e.data.length ? digits.padEnd(e.data.length, ' ') : digits);
    e.cas = this.nextCas();
    if (this.changes.active) this.changes.arith(k, 0, k.length, 0, Number(e.cas >> 32n), Number(e.cas & 0xffffffffn), 0, incr, priorCas, prior, value);
    return value;
  }

  del(key: string): boolean {
    const k = Buffer.from(key);
    const i = this.#slot(k);
    if (i < 0) return false;
    this.#remove(i);
    const v = this.nextCas();
    if (this.changes.active) this.changes.deleted(k, 0, k.length, Number(v >> 32n), Number(v & 0xffffffffn));
    return true;
  }

  value(key: string): string | undefined {
    const i = this.#slot(Buffer.from(key));
    return i < 0 ? undefined : this.slots[i]!.data.toString();
  }

  peek(key: Buffer): number {
    return this.#slot(key);
  }
  readonly layoutVersion = 0;
  itemStillAtFrom(): number {
    return -1;
  }
  itemFlags(h: number): number {
    return this.slots[h]!.flags;
  }
  itemCas(h: number): bigint {
    return this.slots[h]!.cas;
  }
  itemVersion(h: number): bigint {
    return this.slots[h]!.cas;
  }
  itemVersionHigh(h: number): number {
    return Number(this.slots[h]!.cas >> 32n);
  }
  itemVersionLow(h: number): number {
    return Number(this.slots[h]!.cas & 0xffffffffn);
  }
  itemTtl(h: number): number {
    const e = this.slots[h]!;
    return e.expAtMs ? Math.max(1, Math.ceil((e.expAtMs - this.now()) / 1000)) : 0;
  }
  itemValueLength(h: number): number {
    return this.slots[h]!.data.length;
  }
  itemKeyLength(h: number): number {
    return this.slots[h]!.key.length;
  }
  copyKeyAndValue(h: number, target: Buffer, offset: number): number {
    const e = this.slots[h]!;
    const at = offset + e.key.copy(target, offset);
    return at + e.data.copy(target, at);
  }
  itemKey(h: number): Buffer {
    return Buffer.from(this.slots[h]!.key);
  }
  applyRemote(key: Buffer, flags: number, ttl: number, data: Buffer, cas: bigint): 'APPLIED' | 'STALE' {
    const i = this.#slot(key);
    if (i >= 0 && this.slots[i]!.cas >= cas) return 'STALE';
    this.#put(key, flags, ttl, data, cas);
    return 'APPLIED';
  }
  applyRemoteFrom(
    keySrc: Buffer, keyStart: number, nkey: number, valueSrc: Buffer, valueStart: number, nbytes: number,
    flags: number, ttl: number, high: number, low: number,
  ): 'APPLIED' | 'STALE' {
    const key = Buffer.from(keySrc.subarray(keyStart, keyStart + nkey));
    return this.applyRemote(key, flags, ttl, Buffer.from(valueSrc.subarray(valueStart, valueStart + nbytes)), (BigInt(high) << 32n) | BigInt(low));
  }
  applyRemoteDelete(key: Buffer, cas: bigint): boolean {
    const i = this.#slot(key);
    if (i < 0 || this.slots[i]!.cas > cas) return false;
    this.#remove(i);
    return true;
  }
  scan(cursor: number, limit: number, fn: (h: number) => void): number {
    let i = cursor;
    for (let n = 0; i < this.slots.length && n < limit; i++) {
      if (this.slots[i] && this.#slot(this.slots[i]!.key) === i) {
        fn(i);
        n++;
      }
    }
    return i >= this.slots.length ? 0 : i;
  }
  applyRemoteTouch(key: Buffer, ttl: number, cas: bigint): boolean {
    const i = this.#slot(key);
    if (i < 0 || this.slots[i]!.cas !== cas) return false;
    this.slots[i]!.expAtMs = ttl ? this.now() + ttl * 1000 : 0;
    return true;
  }
  get itemCount(): number {
    return this.index.size;
  }
}
