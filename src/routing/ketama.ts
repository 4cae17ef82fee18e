import { hash } from 'node:crypto';
import { md5Hash } from './hashes.ts';
import { DEFAULT_PORT, type ServerSpec } from './servers.ts';

const POINTS_PER_SERVER = 160;
const POINTS_PER_DIGEST = 4;

/**
 * libmemcached's MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED continuum, byte for byte (also twemproxy's `distribution:
 * ketama` with `hash: md5`, PHP Memcached with OPT_LIBKETAMA_COMPATIBLE, pylibmc's `ketama_weighted`):
 * - a server gets floor(weight/total × 40 × servers) digests, computed in single precision as libmemcached's
 *   C does (in double precision 7 equal servers would get 39 instead of 40: the npm `hashring` package does
 *   that, so it disagrees with libmemcached on about 2 % of keys at 7 or 14 servers);
 * - digest i of a server is md5(`host-i`) when its port is 11211, else md5(`host:port-i`), and gives 4 points:
 *   bytes 4a..4a+3 read little-endian;
 * - points are sorted by value, ties by server index; a key (md5, first 4 bytes little-endian) goes to the
 *   first point at or after its hash, wrapping to the first point.
 */
export class KetamaContinuum {
  readonly #values: Uint32Array;
  readonly #servers: Uint16Array;

  constructor(servers: readonly ServerSpec[]) {
    if (servers.length === 0 || servers.length > 0xffff) throw new RangeError(`ketama needs 1..65535 servers, got ${servers.length}`);
    const total = servers.reduce((t, s) => t + s.weight, 0);
    const points: { value: number; server: number }[] = [];
    servers.forEach((s, index) => {
      const digests = pointsFor(s.weight, total, servers.length) / POINTS_PER_DIGEST;
      const prefix = s.port === DEFAULT_PORT ? s.host : `${s.host}:${s.port}`;
      for (let i = 0; i < digests; i++) {
        const d = hash('md5', `${prefix}-${i}`, 'buffer');
        for (let a = 0; a < POINTS_PER_DIGEST; a++) points.push({ value: d.readUInt32LE(a * 4), server: index });
      }
    });
    points.sort((x, y) => x.value - y.value || x.server - y.server);
    this.#values = Uint32Array.from(points, (p) => p.value);
    this.#servers = Uint16Array.from(points, (p) => p.server);
  }

  get points(): number {
    return this.#values.length;
  }

  /** Index (in the constructor's list) of the server that holds `key`. */
  serverFor(key: Uint8Array): number {
    return this.serverForHash(md5Hash(key));
  }

  serverForHash(h: number): number {
    return this.#servers[this.#pointFor(h)]!;
  }

  /** The key's hash on the continuum (md5). */
  hash(key: Uint8Array): number {
    return md5Hash(key);
  }

  /**
   * The first server at or after the key's point that is not `skip` (a replica on the next distinct server
   * clockwise); -1 when every point is skip's.
   */
  serverForExcept(key: Uint8Array, skip: number): number {
    return this.serverForHashExcept(md5Hash(key), skip);
  }

  serverForHashExcept(h: number, skip: number): number {
    const servers = this.#servers;
    const start = this.#pointFor(h);
    for (let i = 0; i < servers.length; i++) {
      const s = servers[(start + i) % servers.length]!;
      if (s !== skip) return s;
    }
    return -1;
  }

  /** Index of the first point at or after h, wrapping to 0. */
  #pointFor(h: number): number {
    const values = this.#values;
    let lo = 0;
    let hi = values.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (values[mid]! < h) lo = mid + 1;
      else hi = mid;
    }
    return lo === values.length ? 0 : lo;
  }
}

/** libmemcached: floor((float)(pct * 160 / 4 * (float)live) + 1e-10) * 4, with pct = (float)w / (float)total. */
function pointsFor(weight: number, total: number, live: number): number {
  const f = Math.fround;
  const pct = f(f(weight) / f(total));
  return Math.floor(f(f(f(pct * POINTS_PER_SERVER) / 4) * f(live)) + 1e-10) * POINTS_PER_DIGEST;
}

