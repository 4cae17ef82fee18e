/**
 * Hybrid logical clock used as the cluster-wide item version (memcached's CAS value).
 *
 * Layout of the 64-bit value: milliseconds since 2020-01-01 (42 bits) | counter (12 bits) | node id (10 bits).
 * Versions from different nodes never collide (node id in the low bits), compare by time first, and a node that
 * observes a remote version never issues a smaller one afterwards, so clocks need not agree for convergence.
 */
export const NODE_ID_BITS = 10n;
export const COUNTER_BITS = 12n;
export const MAX_NODE_ID = (1 << Number(NODE_ID_BITS)) - 1;
const MAX_COUNTER = (1 << Number(COUNTER_BITS)) - 1;
const SHIFT_MS = NODE_ID_BITS + COUNTER_BITS;
export const HLC_EPOCH_MS = 1_577_836_800_000;

const F_MS = 0;
const F_COUNTER = 1;
const F_NODE = 2;
const F_FIELDS = 3;

/**
 * The clock's state (last ms, counter, node id) is in a SharedArrayBuffer (`buffer`): clocks built on the same
 * buffer in several threads (repcache -t N) are one clock, provided every use holds the same lock (the store lock).
 */
export class HybridClock {
  readonly buffer: SharedArrayBuffer;
  readonly #nowMs: () => number;
  readonly #f: Float64Array;
  /** encodeVersion(ms, 0, node) for #baseMs and #baseNode, cached: a version is then one BigInt addition. */
  #base = 0n;
  #baseMs = -1;
  #baseNode = -1;

  /** `shared`: another clock's buffer, to be the same clock (its node id wins over `nodeId`). */
  constructor(nodeId: number, nowMs: () => number = Date.now, shared?: SharedArrayBuffer) {
    checkNodeId(nodeId);
    this.#nowMs = nowMs;
    this.buffer = shared ?? new SharedArrayBuffer(F_FIELDS * 8);
    this.#f = new Float64Array(this.buffer, 0, F_FIELDS);
    if (shared === undefined) this.#f[F_NODE] = nodeId;
  }

  get nodeId(): number {
    return this.#f[F_NODE];
  }

  /** Switch to another node id (after a collision with a peer); later versions carry the new one. */
  setNodeId(nodeId: number): void {
    checkNodeId(nodeId);
    this.#f[F_NODE] = nodeId;
  }

  /** A fresh version, greater than every version issued or observed so far. */
  now(): bigint {
    this.#advance();
    const f = this.#f;
    if (f[F_MS] !== this.#baseMs || f[F_NODE] !== this.#baseNode) {
      this.#baseMs = f[F_MS];
      this.#baseNode = f[F_NODE];
      this.#base = encodeVersion(this.#baseMs, 0, this.#baseNode);
    }
    return this.#base + BigInt(f[F_COUNTER] << Number(NODE_ID_BITS));
  }

  /** now() as two u32 words, low at u32[i] and high at u32[i + 1] (a store's CAS field): no BigInt. */
  writeNow(u32: Uint32Array, i: number): void {
    this.#advance();
    const f = this.#f;
    const ms = f[F_MS];
    // ms has 42 bits: its low 10 share the low word with the counter and node id, the rest is the high word.
    // (Not ms % 1024: ms is past 2^31, where V8's % is a floating-point call.)
    const high = Math.floor(ms / 1024);
    u32[i] = (((ms - high * 1024) << 22) | (f[F_COUNTER] << 10) | f[F_NODE]) >>> 0;
    u32[i + 1] = high;
  }

  #advance(): void {
    const f = this.#f;
    const pt = this.#nowMs() - HLC_EPOCH_MS;
    if (pt > f[F_MS]) {
      f[F_MS] = pt;
      f[F_COUNTER] = 0;
    } else if (++f[F_COUNTER] > MAX_COUNTER) {
      f[F_MS]++;
      f[F_COUNTER] = 0;
    }
  }

  /** The version a local event `delayMs` from now will carry at the latest (flush_all with a delay). */
  at(delayMs: number): bigint {
    const v = this.now();
    return delayMs > 0 ? encodeVersion(versionMs(v) + delayMs, 0, this.nodeId) : v;
  }

  /** Merge a version seen from a peer: later local versions sort after it. */
  observe(version: bigint): void {
    this.observeWords(Number(version >> 32n), Number(version & 0xffffffffn));
  }

  /** observe() for a version given as its high and low u32 words (the receiver's hot path: no BigInt). */
  observeWords(high: number, low: number): void {
    const f = this.#f;
    const ms = high * 1024 + (low >>> 22);
    if (ms < f[F_MS]) return;
    const counter = (low >>> 10) & MAX_COUNTER;
    if (ms > f[F_MS]) {
      f[F_MS] = ms;
      f[F_COUNTER] = counter;
    } else if (counter > f[F_COUNTER]) f[F_COUNTER] = counter;
  }
}

function checkNodeId(nodeId: number): void {
  if (!Number.isInteger(nodeId) || nodeId < 0 || nodeId > MAX_NODE_ID) throw new RangeError(`node id must be 0..${MAX_NODE_ID}, got ${nodeId}`);
}

export function encodeVersion(ms: number, counter: number, nodeId: number): bigint {
  return (BigInt(ms) << SHIFT_MS) | (BigInt(counter) << NODE_ID_BITS) | BigInt(nodeId);
}

/** Milliseconds since the HLC epoch carried by a version. */
export function versionMs(version: bigint): number {
  return Number(version >> SHIFT_MS);
}

export function versionNode(version: bigint): number {
  return Number(version & BigInt(MAX_NODE_ID));
}
