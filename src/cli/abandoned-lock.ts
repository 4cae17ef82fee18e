import { isMainThread } from 'node:worker_threads';
import type { AbandonedLockPolicy, HeldStoreLock } from '../cache/store-lock.ts';
import type { Logger } from '../log.ts';

/** sysexits' EX_SOFTWARE: the store may be half changed by the thread that died. */
export const EX_SOFTWARE = 70;

/**
 * A holder that kept the store lock this long is taken for dead (a worker thread that ran out of memory or was
 * terminated inside a command releases nothing). Far above any hold the store makes: a command, a crawl of the
 * whole cache, a metadump of it.
 */
export const STORE_LOCK_STUCK_MS = 60_000;

/**
 * What a thread of repcache -t N does when the store lock's holder died holding it (cache/LOCKING.md): the main
 * thread says so and ends the process (without saving -e's file: the store may be half changed), so that its
 * supervisor starts a clean one rather than a node whose every thread waits for ever behind ports that still
 * accept; another thread serves nothing more and waits for that end.
 */
export function abandonedLockPolicy(logger: Logger, lock: SharedArrayBuffer, mainThread = isMainThread, exit: (code: number) => never = process.exit): AbandonedLockPolicy {
  if (!mainThread) {
    const word = new Int32Array(lock, 0, 1);
    return {
      stuckAfterMs: 0,
      abandoned: () => {
        for (;;) Atomics.wait(word, 0, Atomics.load(word, 0));
      },
    };
  }
  return {
    stuckAfterMs: STORE_LOCK_STUCK_MS,
    abandoned: () => {
      logger.fatal('a thread died holding the store lock (or held it past its time): the store may be half changed, exiting');
      logger.flush();
      return exit(EX_SOFTWARE);
    },
  };
}

/**
 * In a thread whose holds of the store lock span a callback (the replication thread): an uncaught exception ends
 * the thread before the microtask that would release the lock runs, so the lock is abandoned first.
 */
export function abandonOnUncaughtException(lock: HeldStoreLock): void {
  process.on('uncaughtExceptionMonitor', () => {
    if (lock.held) lock.abandon();
  });
}
