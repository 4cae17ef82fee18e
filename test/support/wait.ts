import { readFileSync } from 'node:fs';

/** Polls `cond` every `stepMs` until true; throws with `what` after timeoutMs. Resolves the elapsed ms. */
export async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 10_000, stepMs = 20): Promise<number> {
  const start = performance.now();
  for (;;) {
    if (await cond()) return performance.now() - start;
    if (performance.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

/** The process exists and is not a zombie waiting to be reaped. */
export function isRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return false;
  }
}

/** Lets `turns` turns of the event loop pass: the promise chains that fake time started (VIP work, notify) run. */
export async function settleTurns(turns: number): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise((r) => setImmediate(r));
}

/**
 * Resolves `p` (a daemon's stop or reload) while `step` makes fake time run, as long as `p` needs it (at most
 * `maxSteps` steps); then awaits it, so its rejection reaches the caller.
 */
export async function whileTimeRuns<T>(p: Promise<T>, step: () => Promise<void>, maxSteps = 500): Promise<T> {
  let settled = false;
  void p.then(() => (settled = true), () => (settled = true));
  for (let i = 0; i < maxSteps && !settled; i++) await step();
  return p;
}
