import { Socket } from 'node:net';
import { readDirect } from './direct-write.ts';

interface StreamHandle { useUserBuffer?: unknown }

/** Node's own Socket fields for the `onread` option (net.js kBuffer, kBufferCb), found by their descriptions. */
let onreadKeys: { buffer: symbol; callback: symbol } | null | undefined;

function onreadKeysOf(socket: Socket): { buffer: symbol; callback: symbol } | null {
  if (onreadKeys !== undefined) return onreadKeys;
  const symbols = Object.getOwnPropertySymbols(socket);
  const buffer = symbols.find((s) => s.description === 'kBuffer');
  const callback = symbols.find((s) => s.description === 'kBufferCb');
  onreadKeys = buffer && callback ? { buffer, callback } : null;
  return onreadKeys;
}

/**
 * Gives an accepted socket (from a server with pauseOnConnect, not reading yet) what Node's `onread` option gives a
 * new one: its reads land in `buffer` and go to `onBytes` (straight from the handle where readDirect can, else
 * through Node's read path), and pause() stops reading at once. Unlike adoptWithUserBuffer it keeps the Socket:
 * no second Socket per connection, whose re-wrapping costs a connection about 5 KiB of memory for good (measured:
 * 500 idle connections on a bare server, with and without it). The buffer may be shared by every connection of a
 * thread: a read is handed over before the next one lands. Returns false (nothing changed) where Node's fields or
 * the handle are not what is expected; the caller then re-wraps or uses 'data' events.
 */
export function readInPlace(raw: Socket, buffer: Buffer, onBytes: (n: number) => void): boolean {
  const handle = (raw as unknown as { _handle: StreamHandle | null })._handle;
  if (raw.constructor !== Socket || !handle || typeof handle.useUserBuffer !== 'function') return false;
  const keys = onreadKeysOf(raw);
  const fields = raw as unknown as Record<symbol, unknown>;
  if (keys === null || fields[keys.buffer] !== null || fields[keys.callback] !== null) return false;
  fields[keys.buffer] = buffer;
  fields[keys.callback] = onBytes;
  (handle.useUserBuffer as (b: Buffer) => void).call(handle, buffer);
  readDirect(raw, onBytes);
  return true;
}

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

/**
 * An accepted socket (from a server with pauseOnConnect) whose reads land in the shared `buffer` and go to
 * `onBytes(buffer, n)`: on the Socket itself (readInPlace), else on a re-wrapped one (adoptWithUserBuffer, read
 * straight from the handle), else through 'data' events (`onBytes(chunk, chunk.length)`). Returns the Socket to use.
 */
export function readIntoShared(raw: Socket, buffer: Buffer, onBytes: (buf: Buffer, n: number) => void): Socket {
  const onShared = (n: number) => onBytes(buffer, n);
  if (readInPlace(raw, buffer, onShared)) return raw;
  const adopted = adoptWithUserBuffer(raw, buffer, onShared);
  if (adopted !== null) {
    readDirect(adopted, onShared);
    return adopted;
  }
  raw.on('data', (chunk: Buffer) => onBytes(chunk, chunk.length));
  return raw;
}
