/**
 * `npm run fuzz` against the running daemons, briefly (20,000 generated and mutated inputs each; the figures in
 * README, Reliability come from runs of a million): repcache's text and binary ports (and UDP), repcache-proxy,
 * the replication port of a node with a live peer, and haved's advert port. Each must stay up, answer after every
 * batch, keep its RSS within 64 MB, and count what it refused.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../support/daemon.ts';
import { rootSkipReason } from '../support/root.ts';

function fuzz(target: string, inputs = 20_000): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const p = spawn(join(repoRoot, 'bin/run-node'), ['scripts/fuzz/fuzz.ts', target, '--inputs', String(inputs), '--seed', '5'], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (out += d));
    const t = setTimeout(() => p.kill('SIGKILL'), 100_000);
    p.on('exit', (code) => {
      clearTimeout(t);
      resolve({ code, out });
    });
  });
}

const line = (out: string) => out.split('\n').find((l) => l.startsWith('fuzz ')) ?? out;

describe('fuzzing the running daemons', () => {
  it.each([
    ['text', /udp_bad_datagrams [1-9]/],
    ['binary', /total_connections [1-9]/],
    ['proxy', /cmd_get [1-9]/],
    ['repl', /repl_refused_garbage [1-9]\d*.*repl_peer_0_state streaming/],
  ])('%s: up, answering and bounded after every batch', async (target, counted) => {
    const r = await fuzz(target);
    console.log(line(r.out));
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/20000 inputs .* 0 crashes/);
    expect(line(r.out)).toMatch(counted);
  }, 120_000);

  it.skipIf(rootSkipReason())('advert: haved drops and counts forged, damaged, replayed and oversized adverts, and answers its control socket', async () => {
    const r = await fuzz('advert');
    console.log(line(r.out));
    expect(r.code, r.out).toBe(0);
    const dropped = JSON.parse(/; (\{.*\})$/.exec(line(r.out))![1]!) as Record<string, number>;
    for (const reason of ['NOT_A_PEER', 'BAD_AUTH', 'TRUNCATED', 'REPLAYED']) expect(dropped[reason], reason).toBeGreaterThan(0);
  }, 120_000);
});
