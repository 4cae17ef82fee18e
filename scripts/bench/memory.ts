/**
 * Where repcache's private memory goes, next to memcached's (-t 1), at -m 64 and -m 1024, idle and full of
 * 100-byte items: RssAnon from /proc/PID/status, and for repcache a breakdown from /proc/PID/smaps (the slab
 * arena's mapping, malloc's main heap, the other anonymous mappings), `stats` (the hash index) and V8's heap
 * statistics (scripts/bench/probe.mjs). Then what a connection costs, what the replication log adds, and how far
 * `stats bytes` runs past `limit_maxbytes`.
 */
import { readFileSync } from 'node:fs';
import {
  Conn, fillWithPreload, freePort, pin, startMemcached, startProbedRepcache, startRepcache, statusMB, type BenchRow, type BenchSection, type Proc,
} from './lib.ts';

const SIZES = [64, 1024];
const CONNECTIONS = 500;
const MB = 1024 * 1024;

export interface Mapping { start: string; sizeKB: number; anonKB: number; name: string }

/** The anonymous part of every mapping in /proc/PID/smaps (KiB). */
export function parseSmaps(text: string): Mapping[] {
  const out: Mapping[] = [];
  let cur: Mapping | null = null;
  for (const line of text.split('\n')) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (m) {
      cur = { start: m[1], sizeKB: Number((BigInt(`0x${m[2]}`) - BigInt(`0x${m[1]}`)) / 1024n), anonKB: 0, name: m[3] };
      out.push(cur);
    } else if (cur && line.startsWith('Anonymous:')) {
      cur.anonKB = Number(line.split(/\s+/)[1]);
    }
  }
  return out;
}

export interface Breakdown {
  rssAnon: number;
  /** Slab pages handed to classes (`stats slabs` total_malloced). */
  slabs: number;
  /** The hash index's bucket array (`stats` hash_bytes). */
  hashIndex: number;
  /** V8's heap, resident (total_physical_size). */
  v8Heap: number;
  /** The rest: malloc (Node's and V8's own allocations, I/O buffers), old hash tables not yet freed, stacks, code. */
  rest: number;
  /** malloc's main arena (the brk heap), a part of `rest` unless the hash index sits in it. */
  mallocHeap: number;
  /** Other anonymous mappings of 1 MiB or more, besides the slab arena and the brk heap (for the log). */
  bigMappings: string[];
}

export function breakdown(maps: Mapping[], v: { rssAnonMB: number; totalMalloced: number; hashBytes: number; v8HeapMB: number }): Breakdown {
  const slabArena = maps.filter((m) => m.name === '').sort((a, b) => b.anonKB - a.anonKB)[0];
  const heap = maps.find((m) => m.name === '[heap]');
  const slabs = v.totalMalloced / MB;
  const hashIndex = v.hashBytes / MB;
  return {
    rssAnon: v.rssAnonMB, slabs, hashIndex, v8Heap: v.v8HeapMB, rest: v.rssAnonMB - slabs - hashIndex - v.v8HeapMB,
    mallocHeap: (heap?.anonKB ?? 0) / 1024,
    bigMappings: maps
      .filter((m) => m !== heap && m.anonKB >= 1024)
      .map((m) => `${(m.anonKB / 1024).toFixed(1)} of ${(m.sizeKB / 1024).toFixed(1)} MiB${m === slabArena ? ' (the largest)' : ''}`),
  };
}

const smaps = (pid: number) => parseSmaps(readFileSync(`/proc/${pid}/smaps`, 'utf8'));
const mb = (x: number) => +x.toFixed(1);

/** `stats` and `stats slabs` together. */
async function statsOf(p: Proc): Promise<Map<string, string>> {
  const c = await Conn.open(p.port);
  try {
    const slabs = await c.request('stats slabs\r\n', 'END\r\n');
    const all = await c.stats();
    for (const m of slabs.matchAll(/^STAT (total_malloced) (\d+)\r$/gm)) all.set(m[1], m[2]);
    return all;
  } finally {
    c.close();
  }
}

/** RssAnon growth per connection (KiB) with CONNECTIONS more connections open, each having had one request answered. */
async function perConnectionKB(p: Proc): Promise<number> {
  const before = statusMB(p.child.pid!, 'RssAnon');
  const conns = await Promise.all(Array.from({ length: CONNECTIONS }, () => Conn.open(p.port)));
  try {
    await Promise.all(conns.map((c) => c.request('get nothing-here\r\n', 'END\r\n')));
    await new Promise((r) => setTimeout(r, 200));
    return ((statusMB(p.child.pid!, 'RssAnon') - before) * 1024) / CONNECTIONS;
  } finally {
    for (const c of conns) c.close();
  }
}

export const memoryBench: BenchSection = {
  name: 'memory',
  description: `private memory (RssAnon) at -m ${SIZES.join(' and -m ')}, idle and full of 100-byte items, repcache's broken down; per connection; replication log; stats bytes`,
  async run(log) {
    const rows: BenchRow[] = [];
    const row = (metric: string, memcached: number | string | undefined, repcache: number | string, extra: Partial<BenchRow> = {}) =>
      rows.push({ section: 'memory', metric, memcached, repcache, ...extra });
    for (const m of SIZES) {
      const mc = await startMemcached(['-t', '1', '-m', String(m)]);
      const rc = await startProbedRepcache(['-m', String(m)], { forceGc: true });
      try {
        for (const p of [mc, rc]) pin(p.child.pid, '0');
        await new Promise((r) => setTimeout(r, 500));
        for (const state of ['idle', 'full'] as const) {
          if (state === 'full') {
            log(`  memcached -m ${m}:`);
            await fillWithPreload(mc, m, log);
            log(`  repcache -m ${m}:`);
            await fillWithPreload(rc, m, log);
          }
          const ms = await statsOf(mc);
          const rs = await statsOf(rc);
          const maps = smaps(rc.child.pid!);
          const rAnon = statusMB(rc.child.pid!, 'RssAnon');
          const mAnon = statusMB(mc.child.pid!, 'RssAnon');
          const probe = await rc.probe(); // after the figures above: it ends with a full GC
          const b = breakdown(maps, {
            rssAnonMB: rAnon, totalMalloced: Number(rs.get('total_malloced')), hashBytes: Number(rs.get('hash_bytes')), v8HeapMB: probe.heapMB.physical,
          });
          const mRest = mAnon - (Number(ms.get('total_malloced')) + Number(ms.get('hash_bytes'))) / MB;
          const target = state === 'full' ? { target: `<= ${mb(mAnon + 20)}`, ok: b.rssAnon <= mAnon + 20 } : { target: '<= 10', ok: b.rssAnon <= 10 };
          row(`-m ${m} ${state}: RssAnon MB`, mb(mAnon), mb(b.rssAnon), target);
          row(`-m ${m} ${state}:   slab pages (total_malloced)`, mb(Number(ms.get('total_malloced')) / MB), mb(b.slabs));
          row(`-m ${m} ${state}:   hash index (hash_bytes)`, mb(Number(ms.get('hash_bytes')) / MB), mb(b.hashIndex));
          row(`-m ${m} ${state}:   V8 heap (physical)`, undefined, mb(b.v8Heap));
          row(`-m ${m} ${state}:   the rest (malloc, stacks, ...)`, mb(mRest), mb(b.rest));
          const freed = probe.afterGc ? probe.rssAnonMB - probe.afterGc.rssAnonMB : NaN;
          row(`-m ${m} ${state}:   garbage: RssAnon a full GC frees`, undefined, mb(freed));
          log(`  -m ${m} ${state}: repcache RssAnon ${mb(b.rssAnon)} MiB = slabs ${mb(b.slabs)} + hash ${mb(b.hashIndex)} (power ${rs.get('hash_power_level')}) + V8 heap ${mb(b.v8Heap)}` +
            ` + rest ${mb(b.rest)} (brk heap ${mb(b.mallocHeap)}; anonymous mappings >= 1 MiB: ${b.bigMappings.join(', ') || 'none'});` +
            ` a full GC then frees ${mb(freed)} MiB (V8 heap ${probe.afterGc?.heapPhysicalMB ?? '?'} MiB after it);` +
            ` memcached ${mb(mAnon)} MiB = slabs ${mb(Number(ms.get('total_malloced')) / MB)} + hash ${mb(Number(ms.get('hash_bytes')) / MB)} (power ${ms.get('hash_power_level')}) + rest ${mb(mRest)}`);
          if (state === 'full') {
            const over = (s: Map<string, string>) => Number(s.get('bytes')) / Number(s.get('limit_maxbytes'));
            row(`-m ${m} full: stats bytes / limit_maxbytes`, `${over(ms).toFixed(3)}x`, `${over(rs).toFixed(3)}x`, { target: '<= 1x', ok: over(rs) <= 1 });
            row(`-m ${m} full: items held`, Number(ms.get('curr_items')), Number(rs.get('curr_items')), { ratio: Number(rs.get('curr_items')) / Number(ms.get('curr_items')) });
          }
        }
      } finally {
        await Promise.all([mc.stop(), rc.stop()]);
      }
    }
    // Connections, on fresh servers of their own: in a server that has been filled, malloc reuses what the filling
    // freed and hides the cost; and what the connections leave behind would blur the figures above.
    {
      const [mc, rc] = [await startMemcached(['-t', '1', '-m', '64']), await startRepcache(['-m', '64'])];
      try {
        for (const p of [mc, rc]) pin(p.child.pid, '0');
        const [km, kr] = [await perConnectionKB(mc), await perConnectionKB(rc)];
        row(`RssAnon KiB per connection (${CONNECTIONS} open, one request each)`, mb(km), mb(kr));
      } finally {
        await Promise.all([mc.stop(), rc.stop()]);
      }
    }
    // The replication log: a node with a replication port keeps a ring of its last repl_queue changes.
    const m = SIZES[0];
    const plain = await startRepcache(['-m', String(m)]);
    const repl = await startRepcache(['-m', String(m), '-X', String(await freePort())]);
    try {
      for (const p of [plain, repl]) pin(p.child.pid, '0');
      log(`  repcache -m ${m} without and with a replication port:`);
      await fillWithPreload(plain, m, log);
      await fillWithPreload(repl, m, log);
      const [a, b] = [statusMB(plain.child.pid!, 'RssAnon'), statusMB(repl.child.pid!, 'RssAnon')];
      row(`-m ${m} full: RssAnon MB without -> with a replication port`, undefined, `${mb(a)} -> ${mb(b)} (+${mb(b - a)})`);
    } finally {
      await Promise.all([plain.stop(), repl.stop()]);
    }
    return rows;
  },
};
