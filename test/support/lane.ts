/**
 * Integration files run two at a time, but never two of the same lane: one file of the `timed` lane (namespaces,
 * fault injection, floods: what measures time or loads the machine) beside one of the `loopback` lane (the
 * loopback suites). Each test process takes its lane's lock before its file's tests and frees it after; the
 * lock is a directory per lane and vitest run (the forks share the parent's pid), with its holder's pid inside,
 * so a holder that died is seen and replaced. The -t 4 pass, which runs last, takes either lane.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';

const TIMED = new Set(
  `chaos haved-witness haved-split-brain e2e-haved e2e-lab haved-two-node-keywords haved-ipv6 lab-script proxy-seed003
   haved-failover haved-reload haved-control haved-metrics haved-garp npm-start haved-advert-errors
   replication-pair-netns server-abuse fuzz-daemons`.split(/\s+/).filter(Boolean),
);

export const laneOf = (file: string): 'timed' | 'loopback' => (TIMED.has(basename(file, '.test.ts')) ? 'timed' : 'loopback');

const WAIT_MS = 30 * 60_000;
let held: string | null = null;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Takes the first of `dirs` that is free (waiting while none is); returns its index. */
async function acquire(dirs: string[]): Promise<number> {
  for (const deadline = Date.now() + WAIT_MS; Date.now() < deadline; await new Promise((r) => setTimeout(r, 100))) {
    for (const [i, dir] of dirs.entries()) {
      try {
        mkdirSync(dir);
        writeFileSync(join(dir, 'pid'), String(process.pid));
        held = dir;
        return i;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        let owner = NaN;
        try {
          owner = Number(readFileSync(join(dir, 'pid'), 'utf8'));
        } catch {
          continue; // being created or removed right now
        }
        if (owner > 0 && !alive(owner)) rmSync(dir, { recursive: true, force: true });
      }
    }
  }
  throw new Error(`waited ${WAIT_MS / 60_000} min for a test lane lock (${dirs.join(', ')})`);
}

beforeAll(async ({}, suite) => {
  const file = 'filepath' in suite ? String(suite.filepath) : '';
  // The -t 4 pass (project integration-t4) runs after every other integration file, when the timed lane is idle:
  // its loopback files take whichever lane is free, two at a time.
  const lanes: Array<'timed' | 'loopback'> = laneOf(file) === 'loopback' && process.env.REPCACHE_TEST_THREADS ? ['loopback', 'timed'] : [laneOf(file)];
  const taken = await acquire(lanes.map((lane) => join(tmpdir(), `haved-test-lane-${process.ppid}-${lane}`)));
  process.env.HAVED_TEST_LANE = lanes[taken]; // freePort picks from this lane's block of ports
}, WAIT_MS + 10_000);

afterAll(() => {
  if (held) rmSync(held, { recursive: true, force: true });
  held = null;
});
