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
 * worker publishes its counters for `stats`, see worker-counters.ts). -t 1 uses the plain dispatchers.
 */
export class LockedDispatcher extends Dispatcher {
  readonly #locked: <T>(f: () => T) => T;

  constructor(host: DispatchHost, lock: StoreLock, after: () => void) {
    super(host);
    this.#locked = underLock(lock, after);
  }

  override handle(cmd: TextCommand, out: OutBuffer, conn: unknown): ReturnType<Dispatcher['handle']> {
    return this.#locked(() => super.handle(cmd, out, conn));
  }

  override resumeGet(u: UnfinishedGet, out: OutBuffer): ReturnType<Dispatcher['resumeGet']> {
    return this.#locked(() => super.resumeGet(u, out));
  }
}

export class LockedBinaryDispatcher extends BinaryDispatcher {
  readonly #locked: <T>(f: () => T) => T;

  constructor(host: DispatchHost, lock: StoreLock, after: () => void) {
    super(host);
    this.#locked = underLock(lock, after);
  }

  override handle(req: BinaryRequest, out: OutBuffer, stream: BinaryStream, authenticated = true): ReturnType<BinaryDispatcher['handle']> {
    return this.#locked(() => super.handle(req, out, stream, authenticated));
  }
}

function underLock(lock: StoreLock, after: () => void): <T>(f: () => T) => T {
  return (f) => {
    lock.acquire();
    try {
      return f();
    } finally {
      after();
      lock.release();
    }
  };
}
