/**
 * repcache's private memory at start, the same way each time: `bin/run-node scripts/bench/idle-rss.ts [--runs N]
 * [--fill] [repcache flags...]` starts bin/repcache N times (default 5) with the flags (no -t: its default), reads RssAnon and VmRSS
 * from /proc/PID/status 1.5 s after its port answers (and, with --fill, again 1.5 s after filling -m with 100-byte
 * items as the memory bench does; with --quiet also 25 s later, once a quiet server has given memory back), stops it,
 * and prints each start and the medians. With --memcached it does the same to Debian's memcached (`-t 1` and the
 * same flags), for the comparison. Loopback only.
 */
import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import { fillWithPreload, median, repoRoot, startMemcached, startRepcache, statusMB, type Proc } from './lib.ts';

const SETTLE_MS = 1500;
const QUIET_MS = 25_000;

let runs = 5;
let fill = false;
let quiet = false;
let memcached = false;
const flags: string[] = [];
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === '--runs') runs = Number(argv[++i]);
  else if (argv[i] === '--fill') fill = true;
  else if (argv[i] === '--quiet') quiet = true;
  else if (argv[i] === '--memcached') memcached = true;
  else flags.push(argv[i]);
}
const memoryMB = Number(flags[flags.indexOf('-m') + 1]) || 64;
const server = memcached ? 'memcached -t 1' : 'repcache';

// as bench.ts: a source changed since `npm ci` would load Node's TypeScript stripper into the daemon
execFileSync(resolve(repoRoot, 'bin/run-node'), ['scripts/compile-cache.ts'], { cwd: repoRoot, stdio: 'ignore' });

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const read = (p: Proc) => ({ anon: statusMB(p.child.pid!, 'RssAnon'), rss: statusMB(p.child.pid!, 'VmRSS') });
const samples: Record<'idle' | 'full' | 'full, quiet', Array<{ anon: number; rss: number }>> = { idle: [], full: [], 'full, quiet': [] };

for (let i = 0; i < runs; i++) {
  const p = memcached ? await startMemcached(['-t', '1', ...flags]) : await startRepcache(flags, undefined, { asGiven: true });
  try {
    await sleep(SETTLE_MS);
    const idle = read(p);
    samples.idle.push(idle);
    let line = `start ${i + 1}: idle RssAnon ${idle.anon.toFixed(1)} MB, VmRSS ${idle.rss.toFixed(1)} MB`;
    if (fill) {
      await fillWithPreload(p, memoryMB, () => {});
      await sleep(SETTLE_MS);
      const full = read(p);
      samples.full.push(full);
      line += `; full RssAnon ${full.anon.toFixed(1)} MB, VmRSS ${full.rss.toFixed(1)} MB`;
      if (quiet) {
        await sleep(QUIET_MS);
        const q = read(p);
        samples['full, quiet'].push(q);
        line += `; ${QUIET_MS / 1000} s later ${q.anon.toFixed(1)} MB`;
      }
    }
    console.log(line);
  } finally {
    await p.stop();
  }
}
for (const state of ['idle', 'full', 'full, quiet'] as const) {
  const s = samples[state];
  if (s.length === 0) continue;
  console.log(`${server} ${flags.join(' ')} ${state}: RssAnon median ${median(s.map((x) => x.anon)).toFixed(1)} MB` +
    ` (${Math.min(...s.map((x) => x.anon)).toFixed(1)}–${Math.max(...s.map((x) => x.anon)).toFixed(1)}), VmRSS median ${median(s.map((x) => x.rss)).toFixed(1)} MB`);
}
