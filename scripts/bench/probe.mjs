/**
 * Opt-in measurement probe for a daemon under benchmark, loaded before the daemon's own code:
 *
 *   BENCH_PROBE_OUT=/tmp/x.jsonl NODE_OPTIONS="--import=$PWD/scripts/bench/probe.mjs" bin/repcache ...
 *
 * It observes every garbage collection (perf_hooks 'gc' entries: the main thread's pause, from GC prologue to
 * epilogue) and the event loop's delay, and on each SIGUSR2 appends one JSON line to BENCH_PROBE_OUT: the GC
 * pauses and loop delays since the previous line, the process's RssAnon, process.memoryUsage() and V8's heap and
 * heap-space statistics. With BENCH_PROBE_GC=1 it then forces a full collection and adds what is left after it
 * (`afterGc`; with BENCH_PROBE_PAUSES=0 it does not observe GC pauses, whose records would add to the heap it
 * measures): the difference is garbage, SharedArrayBuffers no longer used among it. (bin/run-node exposes gc();
 * without it the probe turns it on only then: a flag of its own would change the compile cache's key.)
 * Nothing of it exists in a daemon started without it. Plain JavaScript, so loading it does not bring in Node's
 * TypeScript stripper (tens of MB of RSS that would blur the memory figures).
 */
import { appendFileSync, readFileSync } from 'node:fs';
import { constants, monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import { getHeapSpaceStatistics, getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

const out = process.env.BENCH_PROBE_OUT;
if (out) {
  const KINDS = {
    [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
    [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
    [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
    [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
  };
  const fresh = () => ({ count: 0, totalMs: 0, maxMs: 0, maxKind: '', byKind: {}, over1ms: 0, over5ms: 0, pauses: [] });
  let gc = fresh();
  // BENCH_PROBE_PAUSES=0: no GC observer, for memory figures. Its entries are objects in the heap measured: over the
  // thousands of collections of filling -m 1024 they grew the old generation by about 6 MB.
  if (process.env.BENCH_PROBE_PAUSES !== '0') new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const kind = KINDS[e.detail?.kind] ?? String(e.detail?.kind);
      gc.count++;
      gc.totalMs += e.duration;
      if (e.duration > 1) gc.over1ms++;
      if (e.duration > 5) gc.over5ms++;
      if (gc.pauses.length < 100_000) gc.pauses.push(e.duration);
      const k = (gc.byKind[kind] ??= { count: 0, maxMs: 0 });
      k.count++;
      if (e.duration > k.maxMs) k.maxMs = e.duration;
      if (e.duration > gc.maxMs) {
        gc.maxMs = e.duration;
        gc.maxKind = kind;
      }
    }
  }).observe({ entryTypes: ['gc'] });
  const RESOLUTION_MS = 20;
  const loop = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  loop.enable();
  const mb = (n) => +(n / 1048576).toFixed(2);
  const pct = (xs, p) => (xs.length ? +[...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil((p * xs.length) / 100) - 1)].toFixed(3) : 0);
  const rssAnonMB = () => +(Number(/RssAnon:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1]) / 1024).toFixed(2);
  process.on('SIGUSR2', () => {
    const spaces = Object.fromEntries(getHeapSpaceStatistics().map((s) => [s.space_name, { sizeMB: mb(s.space_size), usedMB: mb(s.space_used_size) }]));
    const h = getHeapStatistics();
    const m = process.memoryUsage();
    const line = {
      time: Date.now(),
      gc: { ...gc, pauses: undefined, totalMs: +gc.totalMs.toFixed(2), maxMs: +gc.maxMs.toFixed(3), p50Ms: pct(gc.pauses, 50), p99Ms: pct(gc.pauses, 99) },
      // The histogram holds the time between the monitor's timer ticks: its resolution is not delay.
      loopDelayMs: Object.fromEntries([['p50', loop.percentile(50)], ['p99', loop.percentile(99)], ['max', loop.max]].map(([k, v]) => [k, +Math.max(0, v / 1e6 - RESOLUTION_MS).toFixed(3)])),
      rssAnonMB: rssAnonMB(),
      memoryMB: Object.fromEntries(Object.entries(m).map(([k, v]) => [k, mb(v)])),
      heapMB: { total: mb(h.total_heap_size), used: mb(h.used_heap_size), physical: mb(h.total_physical_size), malloced: mb(h.malloced_memory), peakMalloced: mb(h.peak_malloced_memory), external: mb(h.external_memory) },
      spaces,
    };
    if (process.env.BENCH_PROBE_GC === '1') {
      if (typeof globalThis.gc === 'function') globalThis.gc();
      else {
        setFlagsFromString('--expose-gc');
        runInNewContext('gc')();
      }
      const after = getHeapStatistics();
      line.afterGc = { rssAnonMB: rssAnonMB(), heapPhysicalMB: mb(after.total_physical_size), heapUsedMB: mb(after.used_heap_size) };
    }
    appendFileSync(out, `${JSON.stringify(line)}\n`);
    gc = fresh();
    loop.reset();
  });
}
