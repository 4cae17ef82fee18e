import { parseU64, U64_MAX } from '../cache/numeric.ts';
import type { ReplicaStore } from './replica-store.ts';
import type { HybridClock } from './hlc.ts';
import { versionNode } from './hlc.ts';

/** One node's part of a counter: the sum of its increments and decrements on one base, as of its operation `version`. */
export interface CounterPart {
  version: bigint;
  sum: bigint;
}

/**
 * A counter (PROTOCOL.md, Counters): an item whose value was set by a write with version `base` to `baseValue`,
 * plus each node's part (keyed by node id). Its value is display(baseValue + the parts' sums). It describes the
 * store item only while that item's version is `itemVersion` (every incr/decr and every applied part gives the
 * item a new version; any other write makes the record stale).
 */
export interface Counter {
  base: bigint;
  baseValue: bigint;
  itemVersion: bigint;
  parts: Map<number, CounterPart>;
}

/** Parts received for a base this node does not hold yet (a mesh: the part outran its base). */
interface Pending {
  base: bigint;
  parts: Map<number, CounterPart>;
}

export type CounterResult = 'applied' | 'stale' | 'pending' | 'non-numeric';

const PENDING_MAX = 65_536;

/** A counter's total as clients read it: below 0 reads 0 (decr clamps), at 2^64 and above wraps (incr wraps). */
export function display(total: bigint): bigint {
  return total < 0n ? 0n : total & U64_MAX;
}

export function totalOf(c: Counter): bigint {
  let t = c.baseValue;
  for (const p of c.parts.values()) t += p.sum;
  return t;
}

/**
 * The counters of a node's store: incr/decr replicate as each node's running sum per base rather than as the
 * resulting value, so concurrent increments on several nodes add up on every node, while a later set, add,
 * replace, cas, append, prepend or delete (a newer base) wins over them (newest version wins, by base).
 */
export class Counters {
  readonly #store: ReplicaStore;
  readonly #hlc: HybridClock;
  /** Whether a part for this base of this key may not be kept: a newer delete or flush shadows it. */
  readonly #shadowed: (key: Buffer, base: bigint) => boolean;
  readonly #live = new Map<string, Counter>();
  /**
   * The same counters by their item's version: versions are unique, so an item's version alone says whether it is
   * a counter, without reading its key (the hot paths ask this of every item they send or overwrite).
   */
  readonly #byVersion = new Map<bigint, Counter>();
  readonly #pending = new Map<string, Pending>();
  #pruneAt = 1024;

  constructor(store: ReplicaStore, hlc: HybridClock, shadowed: (key: Buffer, base: bigint) => boolean) {
    this.#store = store;
    this.#hlc = hlc;
    this.#shadowed = shadowed;
  }

  /** Keys with parts waiting for their base. */
  get pending(): number {
    return this.#pending.size;
  }

  /** Counters and pending parts remembered; 0 means every item is a plain value (the hot paths check this first). */
  get size(): number {
    return this.#live.size + this.#pending.size;
  }

  /** The counter live item h is, if it is one. */
  of(h: number): Counter | undefined {
    return this.#live.size === 0 ? undefined : this.#byVersion.get(this.#store.itemVersion(h));
  }

  /** Records c as key k's counter, now held by the item version `itemVersion`. */
  #track(k: string, c: Counter, itemVersion: bigint): void {
    if (this.#byVersion.get(c.itemVersion) === c) this.#byVersion.delete(c.itemVersion);
    c.itemVersion = itemVersion;
    this.#byVersion.set(itemVersion, c);
    this.#live.set(k, c);
  }

  #forget(k: string): void {
    const c = this.#live.get(k);
    if (c === undefined) return;
    this.#live.delete(k);
    if (this.#byVersion.get(c.itemVersion) === c) this.#byVersion.delete(c.itemVersion);
  }

  /**
   * A local incr (`incr`) or decr of `key` (synchronously, from the store's change stream): the item went from
   * version `priorVersion` and value `prior` to `version` and `value`. This node's part takes the operation: an
   * incr adds its delta to the total (from 0 if the total is below 0: it read 0), a decr subtracts what it took
   * off the value it read (never more than that value: decr clamps at 0 where it runs).
   */
  local(key: Buffer, incr: boolean, priorVersion: bigint, prior: bigint, version: bigint, value: bigint): void {
    const k = key.toString('latin1');
    let c = this.#live.get(k);
    if (c === undefined || c.itemVersion !== priorVersion) {
      // The item was a plain value (or was overwritten since): it is the base. (Pruned first: the store already
      // gave the item its new version, so the new record would look stale.)
      if (this.#live.size >= this.#pruneAt) this.prune();
      this.#forget(k);
      c = { base: priorVersion, baseValue: prior, itemVersion: priorVersion, parts: new Map() };
    }
    const node = versionNode(version);
    const p = c.parts.get(node);
    const total = totalOf(c);
    const change = incr ? (total < 0n ? -total : 0n) + ((value - prior) & U64_MAX) : value - prior;
    c.parts.set(node, { version, sum: (p?.sum ?? 0n) + change });
    this.#track(k, c, version);
  }

  /** A peer's part: applied if this node holds its base; kept if the base has not arrived yet; else dropped. */
  remote(key: Buffer, base: bigint, version: bigint, sum: bigint): CounterResult {
    this.#hlc.observe(version);
    this.#hlc.observe(base);
    const store = this.#store;
    const k = key.toString('latin1');
    const node = versionNode(version);
    const h = store.peek(key);
    if (h >= 0) {
      const itemVersion = store.itemVersion(h);
      let c = this.#live.get(k);
      if (c !== undefined && c.itemVersion !== itemVersion) {
        this.#forget(k);
        c = undefined;
      }
      const localBase = c === undefined ? itemVersion : c.base;
      if (localBase === base) {
        if (c === undefined) {
          const prior = this.#valueOf(h);
          if (prior < 0n) return 'non-numeric';
          if (this.#live.size >= this.#pruneAt) this.prune();
          c = { base, baseValue: prior, itemVersion, parts: new Map() };
          this.#track(k, c, itemVersion);
        }
        const p = c.parts.get(node);
        if (p !== undefined && p.version >= version) return 'stale';
        c.parts.set(node, { version, sum });
        this.#write(k, key, h, c);
        return 'applied';
      }
      if (localBase > base) return 'stale';
    }
    if (this.#shadowed(key, base)) return 'stale';
    let q = this.#pending.get(k);
    if (q !== undefined && q.base > base) return 'stale';
    if (q === undefined || q.base < base) {
      if (q === undefined && this.#pending.size >= PENDING_MAX) this.#pending.delete(this.#pending.keys().next().value!);
      q = { base, parts: new Map() };
      this.#pending.set(k, q);
    }
    const p = q.parts.get(node);
    if (p === undefined || p.version < version) q.parts.set(node, { version, sum });
    return 'pending';
  }

  /**
   * Before a peer's set of `key` with version (high, low) is applied, if the present item is a counter: the set
   * must be newer than its base, not than its latest increment ('stale': it is not), and then the counter is
   * removed first ('replace': its item's version is newer than its base, so the store alone would refuse the set).
   * 'plain': no counter there, the store decides.
   */
  beforeSet(key: Buffer, high: number, low: number): 'stale' | 'replace' | 'plain' {
    if (this.#live.size === 0) return 'plain';
    const h = this.#store.peek(key);
    if (h < 0) return 'plain';
    const c = this.of(h);
    if (c === undefined) return 'plain';
    if (((BigInt(high) << 32n) | BigInt(low)) <= c.base) return 'stale';
    this.#forget(key.toString('latin1'));
    this.#store.applyRemoteDelete(key, this.#store.itemVersion(h));
    return 'replace';
  }

  /** After a peer's set of `key` with `version` was applied: parts that waited for this base join it. */
  afterSet(key: Buffer, version: bigint): void {
    if (this.#pending.size === 0) return;
    const k = key.toString('latin1');
    const q = this.#pending.get(k);
    if (q === undefined || q.base > version) return;
    this.#pending.delete(k);
    if (q.base < version) return;
    const h = this.#store.peek(key);
    if (h < 0 || this.#store.itemVersion(h) !== version) return;
    const prior = this.#valueOf(h);
    if (prior < 0n) return;
    const c: Counter = { base: version, baseValue: prior, itemVersion: version, parts: q.parts };
    this.#track(k, c, version);
    this.#write(k, key, h, c);
  }

  /**
   * A peer's delete of `key` with `version`: a counter is removed if its base is not newer (the store alone
   * compares the latest increment's version); parts waiting for an older base are dropped.
   */
  beforeDelete(key: Buffer, version: bigint): void {
    const k = key.toString('latin1');
    const q = this.#pending.get(k);
    if (q !== undefined && q.base <= version) this.#pending.delete(k);
    const h = this.#store.peek(key);
    if (h < 0) return;
    const c = this.of(h);
    if (c === undefined || c.base > version) return;
    this.#forget(k);
    this.#store.applyRemoteDelete(key, this.#store.itemVersion(h));
  }

  /** A touch names a counter by its base: the version of the item to touch, or `version` itself. */
  touchVersion(key: Buffer, version: bigint): bigint {
    const h = this.#store.peek(key);
    if (h < 0) return version;
    const c = this.of(h);
    return c !== undefined && c.base === version ? c.itemVersion : version;
  }

  /**
   * The counters whose base is older than `version` and whose item is still live, as [key, item version]: a flush of
   * that version removes them, though their item's version (their latest increment's) may be newer.
   */
  basedBefore(version: bigint): Array<[Buffer, bigint]> {
    const store = this.#store;
    const out: Array<[Buffer, bigint]> = [];
    for (const [k, c] of this.#live) {
      if (c.base >= version) continue;
      const key = Buffer.from(k, 'latin1');
      const h = store.peek(key);
      if (h >= 0 && store.itemVersion(h) === c.itemVersion) out.push([key, c.itemVersion]);
    }
    return out;
  }

  /** Forgets counters whose item is gone or was overwritten (expired, evicted, deleted, set). */
  prune(): void {
    const store = this.#store;
    for (const [k, c] of this.#live) {
      const h = store.peek(Buffer.from(k, 'latin1'));
      if (h < 0 || store.itemVersion(h) !== c.itemVersion) this.#forget(k);
    }
    this.#pruneAt = Math.max(1024, this.#live.size * 2);
  }

  /** Forgets everything (a flush removed the items). */
  clear(): void {
    this.#live.clear();
    this.#byVersion.clear();
    this.#pending.clear();
  }

  #valueOf(h: number): bigint {
    const store = this.#store;
    const klen = store.itemKeyLength(h);
    const b = Buffer.allocUnsafe(klen + store.itemValueLength(h));
    store.copyKeyAndValue(h, b, 0);
    return parseU64(b, klen, b.length - klen);
  }

  /**
   * Writes counter c's value into item h with a fresh local version (so every node's CAS changes on every applied
   * part), keeping its flags and TTL. Like memcached's in-place incr, a shorter number is padded with spaces.
   */
  #write(k: string, key: Buffer, h: number, c: Counter): void {
    const store = this.#store;
    let digits = display(totalOf(c)).toString();
    const length = store.itemValueLength(h);
    if (digits.length < length) digits = digits.padEnd(length, ' ');
    const version = this.#hlc.now();
    const r = store.applyRemote(key, store.itemFlags(h), store.itemTtl(h), Buffer.from(digits, 'latin1'), version);
    if (r === 'APPLIED') this.#track(k, c, version);
  }
}
