/** UNIX socket files: a stale one removed before binding, and a new one created with its mode from the start. */
import { isMainThread } from 'node:worker_threads';

// node:fs is taken when a socket file is made, not imported (see server/auth-file.ts): most nodes have no -s
const fs = () => process.getBuiltinModule('node:fs');

/** Removes the socket file at `path` before binding, as memcached does; a file of another kind is left (the bind then fails). */
export function removeStaleSocket(path: string): void {
  try {
    if (fs().lstatSync(path).isSocket()) fs().unlinkSync(path);
  } catch {
    // nothing there
  }
}

/**
 * Runs `bind`, which must create the socket file synchronously (net.Server.listen with a path binds before it
 * returns), under the umask that gives the new file `mode`, as memcached's -a does: the socket never exists with
 * wider permissions than `mode`, not even until the chmod that follows a successful listen. A worker thread cannot
 * change the process's umask: there only that chmod sets the mode.
 */
export function bindWithMode<T>(mode: number, bind: () => T): T {
  const previous = isMainThread ? process.umask(~mode & 0o777) : null;
  try {
    return bind();
  } finally {
    if (previous !== null) process.umask(previous);
  }
}

/**
 * Listens on the UNIX socket `path` (listen() must bind synchronously, as net.Server.listen does) with `mode`, as
 * memcached's -s and -a: a stale socket file removed first, the new one bound under its mode's umask, and the mode
 * set once it listens (a worker thread's socket, whose umask could not be set, gets it only then).
 */
export async function listenUnixSocket(path: string, mode: number, listen: () => Promise<void>): Promise<void> {
  removeStaleSocket(path);
  await bindWithMode(mode, listen);
  fs().chmodSync(path, mode);
}
