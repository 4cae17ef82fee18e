import { Counter, Gauge, type Metric, type Registry } from 'prom-client';

export type Labels = Record<string, string | number>;
export interface Sample {
  labels?: Labels;
  value: number;
}
/** Read at scrape time: one value (no labels) or one sample per label set. Non-finite values are left out. */
export type Reader = () => number | readonly Sample[];

const samples = (r: number | readonly Sample[]): readonly Sample[] => (typeof r === 'number' ? [{ value: r }] : r);

/**
 * A gauge whose values are read from state when scraped (nothing is recorded in between: no per-request
 * cost). Label sets that disappeared (a removed instance, a closed link) disappear from the output too.
 */
export function gauge(registry: Registry, name: string, help: string, labelNames: readonly string[], read: Reader): void {
  new Gauge({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      this.reset();
      if (labelNames.length === 0) this.remove(); // an unlabelled metric prints 0 after reset(): absent state prints nothing
      for (const s of samples(read())) if (Number.isFinite(s.value)) this.set(s.labels ?? {}, s.value);
    },
  });
}

/** A counter read from a counter the state already keeps (monotonic there). */
export function counter(registry: Registry, name: string, help: string, labelNames: readonly string[], read: Reader): void {
  new Counter({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      this.reset();
      if (labelNames.length === 0) this.remove();
      for (const s of samples(read())) if (Number.isFinite(s.value) && s.value >= 0) this.inc(s.labels ?? {}, s.value);
    },
  });
}

/** Cumulative bucket counts as the state keeps them (see ha/probe-stats.ts), bounds in seconds. */
export interface HistogramSample {
  labels: Labels;
  /** counts[i] = observations <= bounds[i] (cumulative). */
  counts: readonly number[];
  count: number;
  sum: number;
}

/**
 * A histogram whose buckets the state keeps itself (prom-client's Histogram can only be fed one observation
 * at a time, in this process): exposed through the registry like any other metric.
 */
export function stateHistogram(
  registry: Registry,
  name: string,
  help: string,
  bounds: readonly number[],
  read: () => readonly HistogramSample[],
): void {
  const metric = {
    name,
    help,
    type: 'histogram',
    aggregator: 'sum',
    async get() {
      const values: { metricName: string; labels: Labels; value: number }[] = [];
      for (const s of read()) {
        bounds.forEach((le, i) => values.push({ metricName: `${name}_bucket`, labels: { ...s.labels, le }, value: s.counts[i] ?? 0 }));
        values.push({ metricName: `${name}_bucket`, labels: { ...s.labels, le: '+Inf' }, value: s.count });
        values.push({ metricName: `${name}_sum`, labels: s.labels, value: s.sum });
        values.push({ metricName: `${name}_count`, labels: s.labels, value: s.count });
      }
      return { name, help, type: 'histogram', aggregator: 'sum', values };
    },
    reset() {},
  };
  registry.registerMetric(metric as unknown as Metric);
}

/** One sample per possible state: 1 for the current one, 0 for the others (state labels stay stable). */
export function oneHot(labels: Labels, key: string, states: readonly string[], current: string): Sample[] {
  return states.map((s) => ({ labels: { ...labels, [key]: s }, value: s === current ? 1 : 0 }));
}
