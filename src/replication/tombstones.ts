/**
 * Versions of recent deletes, so that an older SET arriving later (out of order, or after a partition heals)
 * cannot resurrect a deleted key. Bounded in count and age: the oldest tombstones go first.
 */
export class Tombstones {
  readonly maxEntries: number;
  readonly lifetimeMs: number;
  readonly #nowMs: () => number;
  readonly #map = new Map<string, { version: bigint; atMs: number }>();

  constructor(maxEntries: number, lifetimeMs: number, nowMs: () => number = Date.now) {
    this.maxEntries = maxEntries;
    this.lifetimeMs = lifetimeMs;
    this.#nowMs = nowMs;
  }

  get size(): number {
    return this.#map.size;
  }

  record(key: Buffer, version: bigint): void {
    const k = key.toString('latin1');
    const old = this.#map.get(k);
    if (old && old.version >= version) return;
    this.#map.delete(k); // re-insert: Map order is age order
    this.#map.set(k, { version, atMs: this.#nowMs() });
    this.prune();
  }

  /** The delete version for key, 0n when none is remembered. */
  versionOf(key: Buffer): bigint {
    const t = this.#map.get(key.toString('latin1'));
    if (!t) return 0n;
    if (this.#nowMs() - t.atMs > this.lifetimeMs) {
      this.#map.delete(key.toString('latin1'));
      return 0n;
    }
    return t.version;
  }

  /** A write with `version` is older than the remembered delete of key. */
  shadows(key: Buffer, version: bigint): boolean {
    return this.#map.size > 0 && this.versionOf(key) >= version;
  }

  /** A newer write supersedes the tombstone. */
  clear(key: Buffer): void {
    if (this.#map.size > 0) this.#map.delete(key.toString('latin1'));
  }

  prune(): void {
    const now = this.#nowMs();
    for (const [k, t] of this.#map) {
      if (this.#map.size <= this.maxEntries && now - t.atMs <= this.lifetimeMs) break;
      this.#map.delete(k);
    }
  }

  *entries(): IterableIterator<[Buffer, bigint]> {
    const now = this.#nowMs();
    for (const [k, t] of this.#map) if (now - t.atMs <= this.lifetimeMs) yield [Buffer.from(k, 'latin1'), t.version];
  }
}
