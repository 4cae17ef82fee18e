/** What one probe of a check returned. */
export type ProbeResult = 'ok' | 'fail' | 'timeout';

/** Upper bounds (seconds) of the probe duration buckets: 1 ms .. 10 s, Prometheus' usual spread. */
export const PROBE_DURATION_BOUNDS_S: readonly number[] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * What a tracker's probes returned and how long they took, kept as counters (a few numbers per check, no
 * samples): results per kind and cumulative duration buckets, read by `haved dump` and the metrics endpoint.
 */
export class ProbeStats {
  readonly results: Record<ProbeResult, number> = { ok: 0, fail: 0, timeout: 0 };
  /** counts[i] = probes that took <= PROBE_DURATION_BOUNDS_S[i] (cumulative). */
  readonly #le = new Array<number>(PROBE_DURATION_BOUNDS_S.length).fill(0);
  #count = 0;
  #sumS = 0;

  record(result: ProbeResult, ms: number): void {
    this.results[result]++;
    const s = Math.max(0, ms) / 1000;
    this.#count++;
    this.#sumS += s;
    for (let i = PROBE_DURATION_BOUNDS_S.length - 1; i >= 0 && s <= PROBE_DURATION_BOUNDS_S[i]!; i--) this.#le[i]!++;
  }

  snapshot(): { results: Record<ProbeResult, number>; duration: { count: number; sumSeconds: number; le: number[] } } {
    return { results: { ...this.results }, duration: { count: this.#count, sumSeconds: this.#sumS, le: [...this.#le] } };
  }
}
