import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../support/fake-clock.ts';
import { collectAllGarbage, giveMemoryBack, IDLE_MS, IdleMemoryReducer, QUIET_WORK } from '../../../src/server/idle-memory.ts';
import { OutBuffer, spareReplyBufferBytes } from '../../../src/net/out-buffer.ts';

describe('IdleMemoryReducer', () => {
  it('collects once at start, then once after each busy spell that is followed by IDLE_MS of quiet', () => {
    const clock = new FakeClock();
    let work = 0;
    let collections = 0;
    const r = new IdleMemoryReducer(() => work, clock, () => collections++);
    r.start();
    expect(collections).toBe(1);
    // quiet since start, health checks included: nothing new to give back
    for (let i = 0; i < 5; i++) {
      work += 70;
      clock.advance(IDLE_MS);
    }
    expect(collections).toBe(1);
    // busy: more than QUIET_WORK at every check, no collection
    for (let i = 0; i < 5; i++) {
      work += QUIET_WORK + 1;
      clock.advance(IDLE_MS);
    }
    expect(collections).toBe(1);
    work += QUIET_WORK; // one quiet interval after the spell
    clock.advance(IDLE_MS);
    expect(collections).toBe(2);
    clock.advance(10 * IDLE_MS); // still quiet: once per spell
    expect(collections).toBe(2);
    work = 0; // stats reset
    clock.advance(IDLE_MS);
    clock.advance(IDLE_MS);
    expect(collections).toBe(3);
    r.stop();
    work += 10 * QUIET_WORK;
    clock.advance(5 * IDLE_MS);
    expect(collections).toBe(3);
    expect(clock.nextDeadline()).toBe(null);
  });
});

describe('collectAllGarbage', () => {
  it('does nothing where V8 does not expose gc (bin/run-node does)', () => {
    expect((globalThis as { gc?: unknown }).gc).toBe(undefined);
    expect(collectAllGarbage()).toBe(false);
  });
});

describe('giveMemoryBack', () => {
  it('lets the spare large reply buffers go', () => {
    const out = new OutBuffer();
    out.reserve(200_000);
    out.advance(200_000);
    out.take();
    out.recycle();
    expect(spareReplyBufferBytes()).toBeGreaterThan(0);
    giveMemoryBack();
    expect(spareReplyBufferBytes()).toBe(0);
  });
});

describe('dropCompileCacheCopies', () => {
  it("writes the compile cache's entries of the modules loaded so far now, not only at exit", () => {
    const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));
    const dir = mkdtempSync(join(tmpdir(), 'compile-cache-'));
    try {
      // the child counts the cache's files before it exits (Node writes them at exit too)
      const probe = `
        import { readdirSync } from 'node:fs';
        import { dropCompileCacheCopies } from './src/server/idle-memory.ts';
        const files = () => readdirSync(process.env.NODE_COMPILE_CACHE, { recursive: true }).length;
        const before = files();
        dropCompileCacheCopies();
        console.log(JSON.stringify({ before, after: files() }));
      `;
      const out = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', probe], {
        cwd: repoRoot, env: { ...process.env, NODE_COMPILE_CACHE: dir }, encoding: 'utf8',
      }).trim()) as { before: number; after: number };
      expect(out.after).toBeGreaterThan(out.before + 2);
      expect(readdirSync(dir, { recursive: true }).length).toBeGreaterThanOrEqual(out.after);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
