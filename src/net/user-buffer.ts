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
