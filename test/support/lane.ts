/**
 * Integration files run two at a time, but never two of the same lane: one file of the `timed` lane (namespaces,
 * fault injection, floods: what measures time or loads the machine) beside one of the `loopback` lane (the
 * loopback suites). Each test process takes its lane's lock before its file's tests and frees it after; the
 * lock is a directory per lane and vitest run (the forks share the parent's pid), with its holder's pid inside,
 * so a holder that died is seen and replaced.
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

async function acquire(dir: string): Promise<void> {
  for (const deadline = Date.now() + WAIT_MS; Date.now() < deadline; await new Promise((r) => setTimeout(r, 100))) {
    try {
      mkdirSync(dir);
      writeFileSync(join(dir, 'pid'), String(process.pid));
      held = dir;
      return;
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
  throw new Error(`waited ${WAIT_MS / 60_000} min for the test lane lock ${dir}`);
}

beforeAll(async ({}, suite) => {
  const file = 'filepath' in suite ? String(suite.filepath) : '';
  process.env.HAVED_TEST_LANE = laneOf(file); // freePort picks from this lane's block of ports
  await acquire(join(tmpdir(), `haved-test-lane-${process.ppid}-${laneOf(file)}`));
}, WAIT_MS + 10_000);

afterAll(() => {
  if (held) rmSync(held, { recursive: true, force: true });
  held = null;
});
