import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const runNode = fileURLToPath(new URL('../../../bin/run-node', import.meta.url));
/** (run-node takes the entry point relative to the package's root) */
const child = 'test/support/abandoned-lock-child.ts';

describe('repcache -t N: a thread that dies holding the store lock (cache/LOCKING.md)', () => {
  it('stops the process within moments, status 70 and a fatal line, where the main thread would have waited for ever', async () => {
    const t0 = Date.now();
    const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      execFile(runNode, [child], { env: { ...process.env, HAVED_LOG_JSON: '1' }, timeout: 20_000, killSignal: 'SIGKILL' }, (err, out, errOut) => {
        resolve({ code: err === null ? 0 : (err as { code?: number }).code ?? null, stdout: out, stderr: errOut });
      });
    });
    expect(stdout, stderr).toContain('listening');
    expect(stdout).toContain('thread died: a bug inside a section');
    expect(stdout).toMatch(/"level":60.*a thread died holding the store lock/);
    expect(code).toBe(70);
    // the server's timer meets the lock within a tick (250 ms): far from the 20 s this test allows
    expect(Date.now() - t0).toBeLessThan(15_000);
  }, 30_000);
});
