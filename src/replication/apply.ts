import { backgroundClock, type Clock } from '../clock.ts';
import type { Logger } from '../log.ts';
import type { ItemFrame } from '../proto/replication/codec.ts';
import type { HybridClock } from './hlc.ts';
import type { Tombstones } from './tombstones.ts';
import type { ReplicaStore } from './replica-store.ts';
import { Counters } from './counters.ts';

/**
 * Applies changes received from peers with newest-version-wins rules: a SET older than the item, than a
 * remembered delete (tombstone) or than the flush epoch is dropped; deletes leave tombstones; a flush removes
 * what is older than its version. Every version seen advances the local hybrid clock.
 */
export class RemoteApplier {
  readonly tombstones: Tombstones;
  /** incr/decr as operations: each node's part of each counter (counters.ts). */
  readonly counters: Counters;
  readonly #store: ReplicaStore;
  readonly #hlc: HybridClock;
  readonly #logger: Logger;
  readonly #clock: Clock;
  #flushEpoch = 0n;
  applied = 0;
  stale = 0;

  /** `clock` runs the delayed flushes; tests pass a FakeClock. */
  constructor(store: ReplicaStore, hlc: HybridClock, tombstones: Tombstones, logger: Logger, clock: Clock = backgroundClock) {
    this.#store = store;
    this.#hlc = hlc;
    this.tombstones = tombstones;
    this.#logger = logger;
    this.#clock = clock;
    this.counters = new Counters(store, hlc, (key, base) => base < this.#flushEpoch || tombstones.shadows(key, base));
  }

  /** Items older than this version were flushed (by a local or a remote flush_all). */
  get flushEpoch(): bigint {
    return this.#flushEpoch;
  }

  /** A local flush_all: the store already flushed; older remote writes arriving later are refused. */
  localFlush(version: bigint, delaySeconds: number): void {
    const raise = () => {
      if (version > this.#flushEpoch) this.#flushEpoch = version;
    };
    if (delaySeconds <= 0) raise();
    else this.#clock.setTimer(delaySeconds * 1000, raise);
  }

  set(key: Buffer, flags: number, ttl: number, value: Buffer, version: bigint): void {
    this.#setFrom(key, 0, key.length, value, 0, value.length, flags, ttl, Number(version >> 32n), Number(version & 0xffffffffn));
  }

  /** A SET or SYNC_ITEM frame, applied straight from the receive buffer. */
  item(f: ItemFrame): void {
    const b = f.bytes;
    this.#setFrom(b, f.keyStart, f.keyLength, b, f.valueStart, f.valueLength, f.flags, f.ttl, f.versionHigh, f.versionLow);
  }

  /** The version comes as its high and low u32 words: no BigInt unless a flush or a delete happened. */
  #setFrom(
    keySrc: Buffer, keyStart: number, nkey: number, valueSrc: Buffer, valueStart: number, nbytes: number,
    flags: number, ttl: number, high: number, low: number,
  ): void {
    this.#hlc.observeWords(high, low);
    const tombstones = this.tombstones;
    if (this.#flushEpoch !== 0n || tombstones.size > 0) {
      const version = (BigInt(high) << 32n) | BigInt(low);
      if (version < this.#flushEpoch || tombstones.shadows(keySrc.subarray(keyStart, keyStart + nkey), version)) {
        this.stale++;
        return;
      }
    }
    const counters = this.counters;
    if (counters.size > 0 && counters.beforeSet(keySrc.subarray(keyStart, keyStart + nkey), high, low) === 'stale') {
      this.stale++;
      return;
    }
    const r = this.#store.applyRemoteFrom(keySrc, keyStart, nkey, valueSrc, valueStart, nbytes, flags, ttl, high, low);
    if (r === 'APPLIED') {
      this.applied++;
      if (tombstones.size > 0) tombstones.clear(keySrc.subarray(keyStart, keyStart + nkey));
      if (counters.pending > 0) counters.afterSet(keySrc.subarray(keyStart, keyStart + nkey), (BigInt(high) << 32n) | BigInt(low));
    } else if (r === 'STALE') this.stale++;
    else this.#logger.debug({ key: keySrc.toString('latin1', keyStart, keyStart + nkey), result: r }, 'replication: remote item not stored');
  }

  delete(key: Buffer, version: bigint): void {
    this.#hlc.observe(version);
    if (this.counters.size > 0) this.counters.beforeDelete(key, version);
    this.#store.applyRemoteDelete(key, version);
    this.tombstones.record(key, version);
  }

  /** A touch applies only to the version that was touched (a counter's: its base). */
  touch(key: Buffer, ttl: number, version: bigint): void {
    this.#store.applyRemoteTouch(key, ttl, this.counters.size > 0 ? this.counters.touchVersion(key, version) : version);
  }

  /** A peer's part of a counter (COUNTER frame). */
  counter(key: Buffer, base: bigint, version: bigint, sum: bigint): void {
    const r = this.counters.remote(key, base, version, sum);
    if (r === 'applied') this.applied++;
    else if (r === 'stale') this.stale++;
    else if (r === 'non-numeric') this.#logger.debug({ key: key.toString('latin1') }, 'replication: counter part for a value that is not a number');
  }

  /**
   * A flush_all from a peer removes every item older than its version. A delayed flush carries a version in the
   * future: it is observed only when it runs, so writes until then stay older and writes after it are newer.
   */
  flush(version: bigint, delaySeconds: number): void {
    const run = () => {
      this.#hlc.observe(version);
      if (version <= this.#flushEpoch) return;
      this.#flushEpoch = version;
      const store = this.#store;
      // the store marks everything older dead at once (no scan under the lock: repcache -t N's workers would wait
      // for it) and frees it in steps; a counter is as old as its base, its item as its latest increment
      const doomed: [Buffer, bigint][] = [];
      if (store.flushOlderThan(version)) {
        if (this.counters.size > 0) doomed.push(...this.counters.basedBefore(version));
      } else {
        let cursor = 0;
        do {
          cursor = store.scan(cursor, 4096, (h) => {
            const c = this.counters.size > 0 ? this.counters.of(h) : undefined;
            if ((c === undefined ? store.itemVersion(h) : c.base) < version) doomed.push([store.itemKey(h), store.itemVersion(h)]);
          });
        } while (cursor !== 0);
      }
      for (const [k, v] of doomed) store.applyRemoteDelete(k, v);
      if (this.counters.size > 0) this.counters.prune();
      this.#logger.info({ removed: doomed.length }, 'replication: flush_all from a peer applied');
    };
    if (delaySeconds > 0) this.#clock.setTimer(delaySeconds * 1000, run);
    else run();
  }
}
