import type { ServerConfig } from './config.ts';

/** The -o settings a client's command changes at run time (`slabs automove`, `lru tune|mode|temp_ttl`, `lru_crawler sleep|tocrawl`). */
const RUNTIME_EXTENDED = [
  'slab_automove', 'slab_automove_ratio', 'hot_lru_pct', 'warm_lru_pct', 'hot_max_factor', 'warm_max_factor', 'no_modern', 'temporary_ttl',
  'lru_crawler_tocrawl', 'lru_crawler_sleep',
] as const;

/** What a client's command may change of a server's settings: memcached keeps them in its one `settings`, for every thread. */
export interface RuntimeSettings {
  /** `lru_crawler enable|disable` */
  lruCrawler: boolean;
  /** `cache_memlimit` */
  memoryLimitMB: number;
  /** `verbosity` */
  verbosity: number;
  /** `stats detail on|off` */
  detail: boolean;
  /** RUNTIME_EXTENDED's values (null: unset) */
  extended: Record<string, string | true | null>;
}

/** The settings of `config` (and the host's verbosity and detail) a client's command may have changed. */
export function runtimeSettingsOf(config: ServerConfig, verbosity: number, detail: boolean): RuntimeSettings {
  const extended: Record<string, string | true | null> = {};
  for (const k of RUNTIME_EXTENDED) extended[k] = config.extended[k] ?? null;
  return { lruCrawler: config.lruCrawler, memoryLimitMB: config.memoryLimitMB, verbosity, detail, extended };
}

/** Writes `s` into `config` (its verbosity and detail are the host's to take). */
export function applyRuntimeSettings(config: ServerConfig, s: RuntimeSettings): void {
  config.lruCrawler = s.lruCrawler;
  config.memoryLimitMB = s.memoryLimitMB;
  for (const k of RUNTIME_EXTENDED) {
    const v = s.extended[k];
    if (v === null || v === undefined) delete config.extended[k];
    else config.extended[k] = v;
  }
}

const I_GENERATION = 0;
const I_LENGTH = 1;
const HEADER = 8;
/** Far more than the JSON of RuntimeSettings can take (a few hundred bytes). */
const BYTES = 4096;

/**
 * repcache -t N: the runtime settings every worker follows (cache/LOCKING.md). Each worker keeps its own copy of the
 * server's config; the one whose client changed a setting publishes them all here, and every worker adopts them at
 * its next command or timer (before it reads a setting). Written and read under the store lock: the generation word
 * is read outside it only as a hint (Atomics), the JSON only under it.
 */
export class SharedSettings {
  readonly #words: Int32Array;
  readonly #bytes: Uint8Array;
  /** The generation this worker last published or adopted: none at first, as the first worker serves before the last is up. */
  #seen = 0;

  constructor(buffer: SharedArrayBuffer) {
    this.#words = new Int32Array(buffer, 0, 2);
    this.#bytes = new Uint8Array(buffer, HEADER);
  }

  static allocate(): SharedArrayBuffer {
    return new SharedArrayBuffer(HEADER + BYTES);
  }

  /** Whether another worker published settings this one has not adopted yet (read on every command: a plain read, under the lock or as a hint). */
  get changed(): boolean {
    return this.#words[I_GENERATION] !== this.#seen;
  }

  /** Under the store lock: publishes this worker's settings for the others. */
  publish(s: RuntimeSettings): void {
    const json = Buffer.from(JSON.stringify(s));
    if (json.length > this.#bytes.length) throw new RangeError(`runtime settings of ${json.length} bytes do not fit ${this.#bytes.length}`);
    this.#bytes.set(json);
    Atomics.store(this.#words, I_LENGTH, json.length);
    this.#seen = Atomics.add(this.#words, I_GENERATION, 1) + 1;
  }

  /** Under the store lock: the settings another worker published since this one last looked, or null. */
  adopt(): RuntimeSettings | null {
    const generation = Atomics.load(this.#words, I_GENERATION);
    if (generation === this.#seen) return null;
    this.#seen = generation;
    const n = Atomics.load(this.#words, I_LENGTH);
    return JSON.parse(Buffer.from(this.#bytes.subarray(0, n)).toString()) as RuntimeSettings;
  }
}
