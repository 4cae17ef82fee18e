import { KEY_HASHES, type KeyHash } from './hashes.ts';
import { KetamaContinuum } from './ketama.ts';
import type { ServerSpec } from './servers.ts';

export type DistributionKind = 'ketama' | 'modula';

/** Places a key on one server of a fixed list (the index in that list). Pure: no sockets, no liveness. */
export interface Distribution {
  serverFor(key: Uint8Array): number;
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
}

export function createDistribution(kind: DistributionKind, servers: readonly ServerSpec[], keyHash?: KeyHash): Distribution {
  return kind === 'ketama' ? new KetamaContinuum(servers) : new ModulaDistribution(servers, keyHash);
}
