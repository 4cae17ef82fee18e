/**
 * `npm run bench [-- section...] [--repcached-tarball PATH]`: runs the benchmark sections (scripts/bench/*.ts;
 * those marked onlyWhenNamed, parts of another section measured alone, only when named)
 * against Debian's memcached (and, for replication, repcached built from its tarball) measured in the same run,
 * then prints one table. Loopback only.
 */
import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import { cacheBench, peerCostBench } from './bench/cache.ts';
import { failoverBench } from './bench/failover.ts';
import { memoryBench } from './bench/memory.ts';
import { proxyBench } from './bench/proxy.ts';
import { formatTable, repoRoot, stopEverything, type BenchRow, type BenchSection } from './bench/lib.ts';
import { replicationBench } from './bench/replication.ts';
import { withoutRepcachedOption } from './bench/repcached.ts';

const sections: BenchSection[] = [cacheBench, peerCostBench, memoryBench, replicationBench, failoverBench, proxyBench];

const wanted = withoutRepcachedOption(process.argv.slice(2));
const unknown = wanted.filter((w) => !sections.some((s) => s.name === w));
if (unknown.length) {
  console.error(`unknown section(s): ${unknown.join(', ')}; known: ${sections.map((s) => s.name).join(', ')}`);
  process.exit(2);
}

// A source changed since `npm ci` would make every daemon load Node's TypeScript stripper (about 15-25 MB of
// RSS): measure the daemons as installed.
execFileSync(resolve(repoRoot, 'bin/run-node'), ['scripts/compile-cache.ts'], { cwd: repoRoot, stdio: 'inherit' });

const rows: BenchRow[] = [];
let failed = false;
for (const s of sections.filter((x) => (wanted.length === 0 && !x.onlyWhenNamed) || wanted.includes(x.name))) {
  console.log(`== ${s.name}: ${s.description}`);
  try {
    rows.push(...(await s.run((line) => console.log(line))));
  } catch (err) {
    failed = true;
    console.error(`section ${s.name} failed: ${(err as Error).stack ?? err}`);
  }
}
stopEverything();
console.log(`\n${formatTable(rows)}`);
process.exit(failed ? 1 : 0);
