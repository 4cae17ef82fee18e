/**
 * What bin/repcache and bin/repcache-proxy share as Unix daemons: memcached's `-d` (the parent returns once the
 * detached child listens, or exits with the child's error), the pid file, dropping root to `-u USER`, and
 * startup errors that carry their exit code.
 */
import { unlinkSync, writeFileSync } from 'node:fs';

/** sysexits.h, as memcached exits. */
export const EX_OSERR = 71;

export class StartupError extends Error {
  override name = 'StartupError';
  readonly exitCode: number;
  constructor(message: string, exitCode: number) {
    super(message);
    this.exitCode = exitCode;
  }
}

interface DaemonMessage { type: 'ready' | 'error'; message?: string; exitCode?: number }

/** The daemon child's line back to the parent of `-d` (a no-op in a process started without -d). */
export class DaemonChild {
  readonly #env: string;

  constructor(env: string) {
    this.#env = env;
  }

  get isChild(): boolean {
    return process.env[this.#env] === '1' && typeof process.send === 'function';
  }

  /** Tells the waiting parent how the start went, then lets go of it. */
  tell(m: DaemonMessage): Promise<void> {
    return new Promise<void>((resolve) => {
      if (!this.isChild || !process.connected) return resolve();
      process.send!(m, () => {
        if (process.connected) process.disconnect();
        resolve();
      });
    });
  }

  /** Parent side of -d: re-spawn detached with stdio on /dev/null, wait for the child to listen or fail. */
  daemonize(name: string, argv: readonly string[]): Promise<number> {
    // child_process is loaded only here: a daemon that is not -d does not carry it
    const child = process.getBuiltinModule('node:child_process').spawn(process.execPath, [...process.execArgv, process.argv[1]!, ...argv], {
      detached: true,
      stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
      env: { ...process.env, [this.#env]: '1' },
    });
    return new Promise((resolve) => {
      const done = (code: number, message?: string) => {
        if (message) process.stderr.write(`${message}\n`);
        child.removeAllListeners();
        if (child.connected) child.disconnect();
        child.unref();
        resolve(code);
      };
      child.on('message', (m: DaemonMessage) => (m.type === 'ready' ? done(0) : done(m.exitCode ?? 1, m.message)));
      child.on('exit', (code, signal) => done(code || 1, `${name}: daemon exited (${signal ?? code}) before it was ready`));
      child.on('error', (err) => done(EX_OSERR, `${name}: cannot start the daemon: ${err.message}`));
    });
  }

  /**
   * Runs the daemon's start-up as `name` (its process title, so `pgrep -x NAME` and `killall NAME` find it), then
   * tells a waiting parent; a failure is reported with its exit code (1 and the stack when it is not a StartupError).
   */
  async start(name: string, run: () => Promise<void>): Promise<void> {
    process.title = name;
    try {
      await run();
      await this.tell({ type: 'ready' });
    } catch (err) {
      const code = err instanceof StartupError ? err.exitCode : 1;
      const message = err instanceof StartupError ? err.message : `${name}: ${(err as Error).stack ?? err}`;
      await this.tell({ type: 'error', message, exitCode: code });
      process.stderr.write(`${message}\n`);
      process.exit(code);
    }
  }
}

/** Writes the pid file (null path: none); the returned function removes it, as does the process's exit. */
export function writePidFile(path: string | null, describeError: (err: Error) => string): () => void {
  if (!path) return () => {};
  try {
    writeFileSync(path, `${process.pid}\n`);
  } catch (err) {
    throw new StartupError(describeError(err as Error), EX_OSERR);
  }
  let written = true;
  const remove = () => {
    if (!written) return;
    written = false;
    try {
      unlinkSync(path);
    } catch {
      /* already gone or no longer ours to remove */
    }
  };
  process.once('exit', remove);
  return remove;
}

/** Switches to the user's uid and gid (nothing to do when already that user). */
export function dropPrivileges(user: { uid: number; gid: number; name: string }, prefix = ''): void {
  if (user.uid === process.getuid?.()) return;
  try {
    process.setgroups?.([user.gid]);
    process.setgid!(user.gid);
    process.setuid!(user.uid);
  } catch (err) {
    throw new StartupError(`${prefix}failed to assume identity of user ${user.name}: ${(err as Error).message}`, EX_OSERR);
  }
}

/**
 * SIGTERM and SIGINT call the returned setter's handler (until set: exit 0, nothing to drain yet); SIGHUP is
 * ignored, as a daemon's terminal hanging up must not stop it. `more` are stop signals too (repcache's SIGUSR1,
 * memcached's graceful stop).
 */
export function onStopSignals(more: readonly NodeJS.Signals[] = []): (handler: (why: string) => void) => void {
  let onSignal: (why: string) => void = () => process.exit(0);
  for (const s of more) process.on(s, () => onSignal(s));
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGHUP', () => { /* ignored */ });
  return (handler) => (onSignal = handler);
}
