/**
 * Replies written straight to a socket's stream handle, the way Node's own net.Socket#_writeGeneric does it,
 * minus the Writable bookkeeping: no WriteWrap per reply when the kernel takes the bytes at once (the usual case
 * for a reply), no afterWrite nextTick, no 'drain'. Node exposes the needed pieces only through the deprecated
 * process.binding('stream_wrap'); when they are missing (or REPCACHE_STREAM_WRITES=1), handleOf() returns null
 * and callers use socket.write().
 */

interface WriteReq {
  handle: unknown;
  oncomplete: (status: number) => void;
  async: boolean;
  /** Keeps the bytes alive while the kernel has not taken them all. */
  buffer: Buffer | null;
}

interface StreamWrapBinding {
  WriteWrap: new () => WriteReq;
  streamBaseState: Int32Array;
  kLastWriteWasAsync: number;
  kReadBytesOrError: number;
}

export interface WritableHandle {
  writeBuffer(req: WriteReq, data: Buffer): number;
}

/**
 * The feature check: the binding, when `load` returns one of the shape used here; null when it throws (a Node
 * without process.binding, or without this binding) or returns anything else, and then the callers fall back to
 * socket.write. (Measured with `npm run bench -- cache`: direct writes take about a fifth off the server's CPU
 * per op, so they stay where Node still has them.)
 */
export function streamWrapBinding(load: () => unknown): StreamWrapBinding | null {
  try {
    const b = load() as Partial<StreamWrapBinding> | null | undefined;
    if (!b || typeof b.WriteWrap !== 'function' || !(b.streamBaseState instanceof Int32Array) || typeof b.kLastWriteWasAsync !== 'number' || typeof b.kReadBytesOrError !== 'number') return null;
    return b as StreamWrapBinding;
  } catch {
    return null;
  }
}

const binding = streamWrapBinding(() => (process as unknown as { binding(name: string): unknown }).binding('stream_wrap'));

export const directWriteAvailable = binding !== null && process.env.REPCACHE_STREAM_WRITES !== '1';

/** Outcome of write(): done (kernel took everything), pending (oncomplete follows), or a negative errno. */
export const WRITE_DONE = 0;
export const WRITE_PENDING = 1;

/**
 * A write request the kernel did not need, kept for the next write of any connection of the thread: a request
 * is bound to a connection only while its write is pending, so an idle connection holds none.
 */
let spareReq: WriteReq | null = null;

/** One per connection. A request bound to a pending write is left to Node and replaced. */
export class DirectWriter {
  readonly #handle: WritableHandle;
  readonly #onComplete: (status: number) => void;

  constructor(handle: WritableHandle, onComplete: (status: number) => void) {
    this.#handle = handle;
    this.#onComplete = onComplete;
  }

  static handleOf(socket: unknown): WritableHandle | null {
    const h = (socket as { _handle?: Partial<WritableHandle> | null })._handle;
    return directWriteAvailable && h && typeof h.writeBuffer === 'function' ? (h as WritableHandle) : null;
  }

  write(data: Buffer): number {
    const b = binding!;
    let req = spareReq;
    if (req === null) {
      req = new b.WriteWrap();
      req.async = false;
      req.buffer = null;
    } else {
      spareReq = null;
    }
    req.handle = this.#handle;
    req.oncomplete = this.#onComplete;
    const err = this.#handle.writeBuffer(req, data);
    // (a spare keeps the last writer's handle and callback until the next write: one connection at most)
    if (err !== 0) {
      spareReq = req;
      return err < 0 ? err : -1;
    }
    if (b.streamBaseState[b.kLastWriteWasAsync] === 0) {
      spareReq = req;
      return WRITE_DONE;
    }
    req.async = true;
    req.buffer = data;
    return WRITE_PENDING;
  }
}

interface ReadableHandle {
  onread: (this: ReadableHandle, arrayBuffer: unknown) => unknown;
}

/**
 * Delivers a socket's reads of data (from a Socket made with the `onread` option) straight from the handle:
 * Node's onStreamRead, which sits between the handle and the `onread` callback, does per-read bookkeeping this
 * server does not use (socket timeouts, the buffer generator call). End of stream and errors still go through
 * it, so the Socket's 'end', 'error' and 'close' work as usual; the handle keeps reading into the same buffer.
 * Returns false (nothing changed) where the handle is not what we expect.
 */
export function readDirect(socket: unknown, onBytes: (n: number) => void): boolean {
  if (!directWriteAvailable) return false;
  const h = (socket as { _handle?: Partial<ReadableHandle> | null })._handle;
  if (!h || typeof h.onread !== 'function') return false;
  const state = binding!.streamBaseState;
  const k = binding!.kReadBytesOrError;
  const viaNode = h.onread;
  h.onread = function (arrayBuffer: unknown): unknown {
    const n = state[k];
    if (n <= 0) return viaNode.call(this, arrayBuffer);
    onBytes(n);
    return undefined;
  };
  return true;
}
