import { S_CAS_COUNTER } from './shared-scalars.ts';
import { F_CAS_HI, F_CAS_LO } from './layout.ts';
import type { ItemLiveness } from './liveness.ts';

const TWO_32 = 2 ** 32;

/** A source of item versions other than memcached's counter (replication's hybrid logical clock). */
export interface VersionSource {
  /** A fresh version, greater than every earlier one. */
  now(): bigint;
  /** The same as now(), written as two u32 words (low at u32[i], high at u32[i + 1]): no BigInt per store. */
  writeNow(u32: Uint32Array, i: number): void;
  /** The version a local event `delayMs` from now will carry at the latest (a delayed flush_all's). */
  at(delayMs: number): bigint;
}

/**
 * Hands out CAS values: memcached's counter 1, 2, 3 ..., or the versions of a
 * VersionSource when one is given. Values are written as two u32 words, so
 * stores need no BigInt.
 */
export class CasCounter {
  /** Whether values come from the counter (no VersionSource), which observe() keeps ahead of peers' versions. */
  readonly counting: boolean;
  readonly #u32: Uint32Array;
  readonly #versions: VersionSource | undefined;
  /** The counter, in the store's shared scalars (shared-scalars.ts). */
  readonly #s: Float64Array;

  constructor(u32: Uint32Array, versions: VersionSource | undefined, scalars: Float64Array) {
    this.#u32 = u32;
    this.#s = scalars;
    this.#versions = versions;
    this.counting = versions === undefined;
  }

  /** Gives item h a fresh CAS. */
  assign(h: number): void {
    if (this.#versions !== undefined) {
      this.#versions.writeNow(this.#u32, h * 2 + F_CAS_LO);
      return;
    }
    const c = ++this.#s[S_CAS_COUNTER];
    this.#u32[h * 2 + F_CAS_LO] = c >>> 0;
    this.#u32[h * 2 + F_CAS_HI] = Math.floor(c / TWO_32);
  }

  /** flush_all: a fresh CAS becomes the watermark below which items count as flushed. */
  setFlushWatermark(liveness: ItemLiveness): void {
    if (this.#versions !== undefined) {
      const c = this.#versions.now();
      liveness.setOldestCas(Number(c >> 32n), Number(c & 0xffffffffn));
      return;
    }
    const c = ++this.#s[S_CAS_COUNTER];
    liveness.setOldestCas(Math.floor(c / TWO_32), c >>> 0);
  }

  /**
   * A fresh version in out (low word at 0, high at 1) for a change that has no item to carry it (a delete's
   * tombstone); 0 without a VersionSource, whose counter is the clients' CAS and must not skip.
   */
  nextVersion(out: Uint32Array): void {
    if (this.#versions !== undefined) this.#versions.writeNow(out, 0);
    else out[0] = out[1] = 0;
  }

  /** A flush_all's version, taking effect in delayMs (0 without a VersionSource, as nextVersion()). */
  versionAfter(delayMs: number): bigint {
    return this.#versions !== undefined ? this.#versions.at(delayMs) : 0n;
  }

  /** A version seen from a peer: keeps the counter ahead of it so later local writes win. Only when counting. */
  observe(high: number, low: number): void {
    const cas = high * TWO_32 + low;
    if (cas > this.#s[S_CAS_COUNTER] && cas <= Number.MAX_SAFE_INTEGER) this.#s[S_CAS_COUNTER] = cas;
  }
}
