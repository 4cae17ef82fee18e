import type { ChangeStream } from '../cache/changes.ts';
import type { StoreLock } from '../cache/store-lock.ts';
import type { BinaryRequest } from '../proto/binary/codec.ts';
import type { OutBuffer } from '../net/out-buffer.ts';
import type { TextCommand } from '../proto/text/commands.ts';
import { BinaryDispatcher, type BinaryStream } from './binary-dispatch.ts';
import { Dispatcher, type UnfinishedGet } from './dispatch.ts';
import type { DispatchHost } from './host.ts';

/**
 * The dispatchers of a worker thread of repcache -t N: each call runs under the store lock (cache/LOCKING.md),
 * and the reply, values included, is in `out` before the lock is released; `after` runs last under the lock (the
 * worker publishes its counters for `stats`, see worker-counters.ts), and `before` first (it adopts the settings another
 * worker's client changed, see shared-settings.ts). -t 1 uses the plain dispatchers.
 */
export class LockedDispatcher extends Dispatcher {
  readonly #lock: StoreLock;
  readonly #before: () => void;
  readonly #after: () => void;
  readonly #changes: ChangeStream;

  constructor(host: DispatchHost, lock: StoreLock, before: () => void, after: () => void) {
    super(host);
    this.#lock = lock;
    this.#before = before;
    this.#after = after;
    this.#changes = host.store.changes;
  }

  // try/finally written out rather than a wrapper taking a closure: no allocation per command
  override handle(cmd: TextCommand, out: OutBuffer, conn: unknown): ReturnType<Dispatcher['handle']> {
    enter(this.#lock, this.#before, this.#changes);
    try {
      return super.handle(cmd, out, conn);
    } finally {
      release(this.#lock, this.#after);
    }
  }

  override resumeGet(u: UnfinishedGet, out: OutBuffer): ReturnType<Dispatcher['resumeGet']> {
    enter(this.#lock, this.#before, this.#changes);
    try {
      return super.resumeGet(u, out);
    } finally {
      release(this.#lock, this.#after);
    }
  }
}

export class LockedBinaryDispatcher extends BinaryDispatcher {
  readonly #lock: StoreLock;
  readonly #before: () => void;
  readonly #after: () => void;
  readonly #changes: ChangeStream;

  constructor(host: DispatchHost, lock: StoreLock, before: () => void, after: () => void) {
    super(host);
    this.#lock = lock;
    this.#before = before;
    this.#after = after;
    this.#changes = host.store.changes;
  }

  override handle(req: BinaryRequest, out: OutBuffer, stream: BinaryStream, authenticated = true): ReturnType<BinaryDispatcher['handle']> {
    enter(this.#lock, this.#before, this.#changes);
    try {
      return super.handle(req, out, stream, authenticated);
    } finally {
      release(this.#lock, this.#after);
    }
  }
}

/** Waits for room in the change log at most this long per command (ChangeStream.hasRoom): the replication thread notes within a millisecond or two. */
const ROOM_WAIT_MS = 500;
const ROOM_WAIT_SLICE_MS = 50;

/**
 * Takes the lock for a command; `before` runs first under it. With replication the change log must have room for
 * the command's records: if the replication thread has not noted enough of the older ones yet, the lock is let go
 * while it does (bounded: past ROOM_WAIT_MS the command goes on, and the records it pushes out unnoted are counted
 * as repl_log_overruns).
 */
function enter(lock: StoreLock, before: () => void, changes: ChangeStream): void {
  lock.acquire();
  before();
  if (changes.hasRoom()) return;
  const until = performance.now() + ROOM_WAIT_MS;
  do {
    lock.release();
    changes.waitForRoom(ROOM_WAIT_SLICE_MS);
    lock.acquire();
    before();
  } while (!changes.hasRoom() && performance.now() < until);
}

/** `after` (the worker's counters for `stats`) runs last under the lock. */
function release(lock: StoreLock, after: () => void): void {
  try {
    after();
  } finally {
    lock.release();
  }
}
