import { Socket } from 'node:net';

interface StreamHandle { useUserBuffer?: unknown }

/**
 * Re-wraps an accepted socket (from a server with pauseOnConnect) so reads land in a buffer we
 * supply and reach `onRead` directly, skipping a Buffer allocation and the stream machinery per
 * read. Node only honours `onread` in the Socket constructor, hence the handle transfer. Returns
 * null where the handle cannot be moved, and the caller falls back to 'data' events.
 */
export function adoptWithUserBuffer(raw: Socket, buffer: Buffer, onRead: (n: number, buf: Buffer) => void): Socket | null {
  const r = raw as unknown as { _handle: StreamHandle | null };
  const handle = r._handle;
  if (!handle || typeof handle.useUserBuffer !== 'function') return null;
  r._handle = null;
  raw.destroy();
  // `handle` is how Node's own child_process passes sockets; @types/node does not declare it.
  const opts = { handle, onread: { buffer, callback: onRead } };
  return new Socket(opts as unknown as ConstructorParameters<typeof Socket>[0]);
}

interface ReadingHandle extends StreamHandle { readStop?: unknown; reading?: boolean }

/**
 * adoptWithUserBuffer for a socket that is already reading (accepted without pauseOnConnect, its first bytes
 * read through 'data' events): its handle stops reading first, so the new Socket starts it again. Only a plain
 * TCP socket with nothing buffered qualifies; otherwise null and the caller keeps 'data' events.
 */
export function adoptReadingWithUserBuffer(raw: unknown, buffer: Buffer, onRead: (n: number, buf: Buffer) => void): Socket | null {
  if (!(raw instanceof Socket) || raw.constructor !== Socket || raw.readableLength > 0 || raw.destroyed) return null;
  const handle = (raw as unknown as { _handle: ReadingHandle | null })._handle;
  if (!handle || typeof handle.useUserBuffer !== 'function' || typeof handle.readStop !== 'function') return null;
  (handle.readStop as () => number).call(handle);
  // Node's own flag for "readStart was called": the new Socket starts reading only when it is false.
  handle.reading = false;
  return adoptWithUserBuffer(raw, buffer, onRead);
}
