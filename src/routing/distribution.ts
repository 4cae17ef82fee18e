import { KEY_HASHES, type KeyHash } from './hashes.ts';
import { KetamaContinuum } from './ketama.ts';
import type { ServerSpec } from './servers.ts';

export type DistributionKind = 'ketama' | 'modula';

/** Places a key on one server of a fixed list (the index in that list). Pure: no sockets, no liveness. */
export interface Distribution {
  serverFor(key: Uint8Array): number;
  /** Where the key goes when server `skip` is not an option (the next server along); -1 if none is left. */
  serverForExcept(key: Uint8Array, skip: number): number;
  /** The key's hash: two distributions of the same kind and hash place a key by the same value. */
  hash(key: Uint8Array): number;
  serverForHash(h: number): number;
  serverForHashExcept(h: number, skip: number): number;
}

/**
 * libmemcached's MEMCACHED_DISTRIBUTION_MODULA: hash(key) % servers, weights ignored. With the default
 * one-at-a-time hash this is PHP Memcached's and pylibmc's default placement; with crc32, the PECL memcache one.
 */
export class ModulaDistribution implements Distribution {
  readonly #count: number;
  readonly #hash: (key: Uint8Array) => number;

  constructor(servers: readonly ServerSpec[], keyHash: KeyHash = 'one_at_a_time') {
    if (servers.length === 0) throw new RangeError('modula needs at least one server');
    this.#count = servers.length;
    this.#hash = KEY_HASHES[keyHash];
  }

  serverFor(key: Uint8Array): number {
    return this.#hash(key) % this.#count;
  }

  serverForExcept(key: Uint8Array, skip: number): number {
    return this.serverForHashExcept(this.#hash(key), skip);
  }

  hash(key: Uint8Array): number {
    return this.#hash(key);
  }

  serverForHash(h: number): number {
    return h % this.#count;
  }

  serverForHashExcept(h: number, skip: number): number {
    if (this.#count === 1) return skip === 0 ? -1 : 0;
    const s = h % this.#count;
    return s === skip ? (s + 1) % this.#count : s;
  }
}

export function createDistribution(kind: DistributionKind, servers: readonly ServerSpec[], keyHash?: KeyHash): Distribution {
  return kind === 'ketama' ? new KetamaContinuum(servers) : new ModulaDistribution(servers, keyHash);
}
