import { execa } from 'execa';
import type { NotifySpawner } from '../core/notify-queue.ts';
import { resolveUser } from '../../system/users.ts';

/**
 * Starts a notify script in its own process group. When the queue's timeout aborts `signal`, the group gets
 * SIGTERM and, a second later, SIGKILL. Never rejects for a script failure: the exit code is the result.
 */
export const execaNotifySpawner: NotifySpawner = async (job, signal) => {
  const [file, ...args] = job.argv;
  if (!file) return { code: null, detail: 'empty command' };
  const r = await execa(file, args, {
    reject: false,
    cancelSignal: signal,
    killDescendants: true,
    forceKillAfterDelay: 1000,
    stdio: 'ignore',
    ...(job.user ? resolveUser(job.user) : {}),
  });
  if (r.exitCode !== undefined) return { code: r.exitCode, detail: `exit ${r.exitCode}` };
  const code = (r as { code?: string }).code;
  return { code: null, detail: r.signal ? `killed by ${r.signal}` : code ? `spawn ${code}` : (r.shortMessage ?? 'failed') };
};
