/**
 * Large transient buffers whose memory goes back to the OS when released, not when the garbage collector gets to
 * them: each lives in a resizable ArrayBuffer, and shrinking that to nothing has V8 discard its pages at once. An
 * idle process runs no collection for many seconds, and a hostile client can make a connection buffer a 16 MB
 * line several times over; with these, the memory is back as soon as the line is done.
 *
 * A released buffer's views read as empty (the engine bounds-checks them), never as stale bytes. Only for
 * buffers that no pending I/O refers to: a socket write in progress holds a raw pointer.
 */

/** Buffers at least this large are worth a resizable ArrayBuffer of their own. */
export const RELEASABLE_MIN = 64 * 1024;

export function allocReleasable(size: number): Buffer {
  if (size < RELEASABLE_MIN) return Buffer.allocUnsafe(size);
  const ab = new ArrayBuffer(size, { maxByteLength: size });
  return Buffer.from(ab, 0, size);
}

/** Gives the buffer from allocReleasable() that `view` is part of back; a no-op for any other. */
export function release(view: Uint8Array): void {
  const ab = view.buffer as ArrayBuffer;
  if (ab.resizable) ab.resize(0);
}
