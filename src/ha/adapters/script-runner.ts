import { execa } from 'execa';
import { resolveUser } from '../../system/users.ts';

export interface ScriptResult {
  ok: boolean;
  exitCode: number | null;
  timedOut: boolean;
  /** Short reason for logs, e.g. "exit 1", "timed out after 1000 ms", "spawn ENOENT". */
  reason: string;
}

export interface RunOptions {
  timeoutMs: number;
  /** "user" or "user group" / "user:group" as in keepalived's script_user. */
  user?: string | null;
  env?: NodeJS.ProcessEnv;
}

/**
 * Runs scripts in their own process group; on timeout the whole group gets SIGTERM, then SIGKILL 2 s later
 * (keepalived's rule), so a script that forks cannot outlive its timeout.
 */
export async function runScript(argv: readonly string[], opts: RunOptions): Promise<ScriptResult> {
  const [file, ...args] = argv;
  if (!file) return { ok: false, exitCode: null, timedOut: false, reason: 'empty command' };
  const ids = opts.user ? resolveUser(opts.user) : {};
  const r = await execa(file, args, {
    reject: false,
    timeout: opts.timeoutMs,
    killDescendants: true,
    forceKillAfterDelay: 2000,
    stdio: 'ignore',
    env: opts.env,
    ...ids,
  });
  if (r.timedOut) return { ok: false, exitCode: null, timedOut: true, reason: `timed out after ${opts.timeoutMs} ms` };
  if (r.exitCode === 0) return { ok: true, exitCode: 0, timedOut: false, reason: 'exit 0' };
  if (r.exitCode !== undefined) return { ok: false, exitCode: r.exitCode, timedOut: false, reason: `exit ${r.exitCode}` };
  const code = (r as { code?: string }).code;
  return { ok: false, exitCode: null, timedOut: false, reason: r.signal ? `killed by ${r.signal}` : code ? `spawn ${code}` : (r.shortMessage ?? 'failed') };
}
