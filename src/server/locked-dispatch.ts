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

  constructor(host: DispatchHost, lock: StoreLock, before: () => void, after: () => void) {
    super(host);
    this.#lock = lock;
    this.#before = before;
    this.#after = after;
  }

  // try/finally written out rather than a wrapper taking a closure: no allocation per command
  override handle(cmd: TextCommand, out: OutBuffer, conn: unknown): ReturnType<Dispatcher['handle']> {
    this.#lock.acquire();
    try {
      this.#before();
      return super.handle(cmd, out, conn);
    } finally {
      release(this.#lock, this.#after);
    }
  }

  override resumeGet(u: UnfinishedGet, out: OutBuffer): ReturnType<Dispatcher['resumeGet']> {
    this.#lock.acquire();
    try {
      this.#before();
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

  constructor(host: DispatchHost, lock: StoreLock, before: () => void, after: () => void) {
    super(host);
    this.#lock = lock;
    this.#before = before;
    this.#after = after;
  }

  override handle(req: BinaryRequest, out: OutBuffer, stream: BinaryStream, authenticated = true): ReturnType<BinaryDispatcher['handle']> {
    this.#lock.acquire();
    try {
      this.#before();
      return super.handle(req, out, stream, authenticated);
    } finally {
      release(this.#lock, this.#after);
    }
  }
}

/** `after` (the worker's counters for `stats`) runs last under the lock. */
function release(lock: StoreLock, after: () => void): void {
  try {
    after();
  } finally {
    lock.release();
  }
}
