/**
 * The Node floor for the cache benchmark: a server on repcache's own connection I/O path (reads into a user
 * buffer delivered straight from the handle, replies through DirectWriter) that does no cache work at all.
 * Every get is answered with a 1024-byte hit for the asked key and every set with STORED, which is what
 * memcaslap's default load (64-byte keys, 1024-byte values, 90% get, every get a hit) gets from a real server:
 * same bytes in, same bytes out. Its CPU per op is what any Node server with this I/O pays before parsing,
 * hashing or copying a value. Only for memcaslap's well-formed `get <key>` and `set ...` lines.
 *
 * Usage: io-floor.ts <port> [--reuse-port]
 * With --reuse-port it listens with SO_REUSEPORT, so that two of them on one port are the floor of repcache -t 2's
 * two event loops (the kernel spreads the connections over them, as over repcache's workers).
 */
import { createServer, Socket } from 'node:net';
import { DirectWriter, readDirect, WRITE_DONE, WRITE_PENDING } from '../../src/net/direct-write.ts';

const VALUE_LENGTH = 1024;
const HEAD = Buffer.from('VALUE ', 'latin1');
/** The rest of a hit after the key: flags, length, the value and the end marker. */
const TAIL = Buffer.concat([Buffer.from(` 0 ${VALUE_LENGTH}\r\n`), Buffer.alloc(VALUE_LENGTH, 0x78), Buffer.from('\r\nEND\r\n')]);
const STORED = Buffer.from('STORED\r\n', 'latin1');
const GET = 0x67;
const LF = 0x0a;
const SP = 0x20;
const OUT_SIZE = 256 * 1024;
/** Replies of one read; replaced when a write the kernel did not take at once still holds it. */
let out = Buffer.allocUnsafe(OUT_SIZE);

function serve(raw: Socket): void {
  const handle = (raw as unknown as { _handle: unknown })._handle;
  (raw as unknown as { _handle: unknown })._handle = null;
  raw.destroy();
  const buf = Buffer.allocUnsafe(16 * 1024);
  /** Bytes of a line that a read cut short (rare: memcaslap's requests are small). */
  let carry: Buffer | null = null;
  let skip = 0;
  let o = 0;
  /** Answers the complete requests in src[0, end) into out[0, o); returns the bytes consumed. */
  const consume = (src: Buffer, end: number): number => {
    let p = 0;
    o = 0;
    while (p < end) {
      if (skip > 0) {
        const k = Math.min(skip, end - p);
        skip -= k;
        p += k;
        continue;
      }
      const nl = src.indexOf(LF, p);
      if (nl === -1 || nl >= end) break;
      if (src[p] === GET) {
        o += HEAD.copy(out, o);
        o += src.copy(out, o, p + 4, nl - 1);
        o += TAIL.copy(out, o);
      } else {
        let q = nl - 2;
        while (src[q] !== SP) q--;
        skip = Number(src.toString('latin1', q + 1, nl - 1)) + 2;
        o += STORED.copy(out, o);
      }
      p = nl + 1;
    }
    return p;
  };
  const onBytes = (n: number): undefined => {
    const src = carry === null ? buf : Buffer.concat([carry, buf.subarray(0, n)]);
    const end = carry === null ? n : src.length;
    const used = consume(src, end);
    carry = used < end ? Buffer.from(src.subarray(used, end)) : null;
    if (o === 0) return undefined;
    const r = writer ? writer.write(out.subarray(0, o)) : socket.write(Buffer.from(out.subarray(0, o))) ? WRITE_DONE : WRITE_PENDING;
    if (r === WRITE_PENDING) {
      // like repcache: stop reading until the kernel has taken the replies
      out = Buffer.allocUnsafe(OUT_SIZE);
      socket.pause();
    } else if (r < 0) {
      socket.destroy();
    }
    return undefined;
  };
  const options = { handle, onread: { buffer: buf, callback: onBytes } };
  const socket = new Socket(options as unknown as ConstructorParameters<typeof Socket>[0]);
  // Without the stream binding (or with REPCACHE_STREAM_WRITES=1) replies go through socket.write, as repcache's do.
  const writable = DirectWriter.handleOf(socket);
  const writer = writable ? new DirectWriter(writable, (status) => (status < 0 ? socket.destroy() : socket.resume())) : null;
  if (!writer) socket.on('drain', () => socket.resume());
  readDirect(socket, onBytes);
  socket.on('error', () => socket.destroy());
  socket.resume();
}

createServer({ noDelay: true, pauseOnConnect: true }, serve).listen({ port: Number(process.argv[2]), host: '127.0.0.1', reusePort: process.argv[3] === '--reuse-port' });
