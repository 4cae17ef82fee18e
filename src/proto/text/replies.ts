/** memcached's text-protocol replies: constant lines encoded once, and small encoders for the rest. */

const line = (s: string): Buffer => Buffer.from(`${s}\r\n`, 'latin1');

/** Every fixed reply of memcached 1.6.18's text protocol, `\r\n` included. */
export const Replies = {
  STORED: line('STORED'),
  NOT_STORED: line('NOT_STORED'),
  EXISTS: line('EXISTS'),
  NOT_FOUND: line('NOT_FOUND'),
  DELETED: line('DELETED'),
  TOUCHED: line('TOUCHED'),
  OK: line('OK'),
  END: line('END'),
  ERROR: line('ERROR'),
  RESET: line('RESET'),
  MN: line('MN'),
  EN: line('EN'),
  HD: line('HD'),
  NS: line('NS'),
  NF: line('NF'),
  EX: line('EX'),

  BAD_FORMAT: line('CLIENT_ERROR bad command line format'),
  BAD_DELETE_FORMAT: line('CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]'),
  BAD_LINE: line('CLIENT_ERROR bad command line'),
  BAD_TERMINATION: line('CLIENT_ERROR bad command line termination'),
  BAD_DATA_CHUNK: line('CLIENT_ERROR bad data chunk'),
  NON_NUMERIC: line('CLIENT_ERROR cannot increment or decrement non-numeric value'),
  INVALID_DELTA: line('CLIENT_ERROR invalid numeric delta argument'),
  INVALID_EXPTIME: line('CLIENT_ERROR invalid exptime argument'),
  FLUSH_DISABLED: line('CLIENT_ERROR flush_all not allowed'),
  CACHEDUMP_DISABLED: line('CLIENT_ERROR stats cachedump not allowed'),
  ILLEGAL_SLAB_ID: line('CLIENT_ERROR Illegal slab id'),
  DETAIL_USAGE: line('CLIENT_ERROR usage: stats detail on|off|dump'),
  SLAB_REASSIGN_DISABLED: line('CLIENT_ERROR slab reassignment disabled'),
  LRU_CRAWLER_DISABLED: line('CLIENT_ERROR lru crawler disabled'),
  SLEEP_TOO_LONG: line('CLIENT_ERROR sleep must be one second or less'),
  WATCH_DISABLED: line('CLIENT_ERROR watch commands not allowed'),
  INVALID_SHUTDOWN_MODE: line('CLIENT_ERROR invalid shutdown mode'),
  UNAUTHENTICATED: line('CLIENT_ERROR unauthenticated'),
  AUTH_FAILURE: line('CLIENT_ERROR authentication failure'),
  BAD_AUTH_TOKEN: line('CLIENT_ERROR bad authentication token format'),
  META_BAD_TOKEN: line('CLIENT_ERROR bad token in command line format'),
  META_INVALID_FLAG: line('CLIENT_ERROR invalid flag'),
  META_DUPLICATE_FLAG: line('CLIENT_ERROR duplicate flag'),
  META_OPAQUE_TOO_LONG: line('CLIENT_ERROR opaque token too long'),
  META_FLAGS_TOO_LONG: line('CLIENT_ERROR options flags too long'),
  META_FLAGS_ARE_TOO_LONG: line('CLIENT_ERROR options flags are too long'),
  META_INVALID_OR_DUPLICATE_FLAG: line('CLIENT_ERROR invalid or duplicate flag'),
  META_KEY_DECODE: line('CLIENT_ERROR error decoding key'),
  META_M_TOKEN_LENGTH: line('CLIENT_ERROR incorrect length for M token'),
  META_MS_MODE: line('CLIENT_ERROR invalid mode for ms M token'),
  META_MA_MODE: line('CLIENT_ERROR invalid mode for ma M token'),
  META_INVALID_DELTA: line('CLIENT_ERROR invalid numeric delta value'),
  META_INVALID_INITIAL: line('CLIENT_ERROR invalid numeric initial value'),

  TOO_LARGE: line('SERVER_ERROR object too large for cache'),
  OUT_OF_MEMORY_STORING: line('SERVER_ERROR out of memory storing object'),
  OUT_OF_MEMORY: line('SERVER_ERROR out of memory'),
  OUT_OF_MEMORY_READING: line('SERVER_ERROR out of memory reading request'),
  OUT_OF_MEMORY_STATS: line('SERVER_ERROR out of memory writing stats'),
  OUT_OF_MEMORY_GET: line('SERVER_ERROR out of memory writing get response'),
  META_OUT_OF_MEMORY_ALLOC: line('SERVER_ERROR Out of memory allocating new item'),
  SHUTDOWN_DISABLED: line('ERROR: shutdown not enabled'),
  TOO_MANY_CONNECTIONS: line('ERROR Too many open connections'),
  METADUMP_DISABLED: line('ERROR metadump not allowed'),
} as const;

export const CRLF = Buffer.from('\r\n', 'latin1');
const VALUE_ = Buffer.from('VALUE ', 'latin1');

const MAX_U32_DIGITS = 10;
const MAX_U64_DIGITS = 20;

/** Writes n (a non-negative safe integer) as decimal at off; returns the offset after it. */
export function writeDecimal(buf: Buffer, off: number, n: number): number {
  if (n < 10) {
    buf[off] = 0x30 + n;
    return off + 1;
  }
  if (n <= 0x7fffffff) return writeInt31(buf, off, n);
  let digits = 1;
  for (let t = n; t >= 10; t = Math.floor(t / 10)) digits++;
  let p = off + digits;
  for (let t = n; p > off; t = Math.floor(t / 10)) buf[--p] = 0x30 + (t % 10);
  return off + digits;
}

/** writeDecimal() for 10 <= n < 2^31 (flags and lengths, on every hit): integer division, no float loop. */
function writeInt31(buf: Buffer, off: number, n: number): number {
  const digits = n < 100 ? 2 : n < 1000 ? 3 : n < 10000 ? 4 : n < 100000 ? 5 : n < 1000000 ? 6
    : n < 10000000 ? 7 : n < 100000000 ? 8 : n < 1000000000 ? 9 : 10;
  let p = off + digits;
  let t = n | 0;
  while (p > off) {
    const q = (t / 10) | 0;
    buf[--p] = 0x30 + t - q * 10;
    t = q;
  }
  return off + digits;
}

function writeU64(buf: Buffer, off: number, n: bigint): number {
  if (n <= BigInt(Number.MAX_SAFE_INTEGER)) return writeDecimal(buf, off, Number(n));
  return off + buf.write(n.toString(), off, 'latin1');
}

/** Bytes valueHeader() needs at most for a key of this length. */
export const valueHeaderMaxLength = (keyLength: number): number =>
  VALUE_.length + keyLength + 1 + MAX_U32_DIGITS + 1 + MAX_U32_DIGITS + 1 + MAX_U64_DIGITS + 2;

/** Keys up to this long are copied byte by byte: cheaper than a Buffer#copy call. */
const SHORT_KEY = 24;

/**
 * Writes `VALUE <key> <flags> <bytes>[ <cas>]\r\n` into buf at off (room: valueHeaderMaxLength),
 * the key being src[keyStart, keyEnd); returns the offset after it. cas null leaves the cas out
 * (get, gat).
 */
export function writeValueHeader(
  buf: Buffer, off: number, src: Buffer, keyStart: number, keyEnd: number, flags: number, bytes: number, cas: bigint | null,
): number {
  // "VALUE " byte by byte: a Buffer#copy call costs more than the six stores
  buf[off] = 0x56;
  buf[off + 1] = 0x41;
  buf[off + 2] = 0x4c;
  buf[off + 3] = 0x55;
  buf[off + 4] = 0x45;
  buf[off + 5] = 0x20;
  let p = off + 6;
  const n = keyEnd - keyStart;
  if (n <= SHORT_KEY) {
    for (let i = 0; i < n; i++) buf[p + i] = src[keyStart + i];
  } else {
    src.copy(buf, p, keyStart, keyEnd);
  }
  p += n;
  buf[p++] = 0x20;
  p = writeDecimal(buf, p, flags);
  buf[p++] = 0x20;
  p = writeDecimal(buf, p, bytes);
  if (cas !== null) {
    buf[p++] = 0x20;
    p = writeU64(buf, p, cas);
  }
  buf[p++] = 0x0d;
  buf[p++] = 0x0a;
  return p;
}

/** The `VALUE k f b [c]\r\n` line of a get/gets/gat/gats hit. */
export function valueHeader(key: Buffer, flags: number, bytes: number, cas: bigint | null): Buffer {
  const buf = Buffer.allocUnsafe(valueHeaderMaxLength(key.length));
  return buf.subarray(0, writeValueHeader(buf, 0, key, 0, key.length, flags, bytes, cas));
}

/** The reply to incr/decr: the new value and `\r\n`. */
export function numberReply(n: bigint): Buffer {
  const buf = Buffer.allocUnsafe(MAX_U64_DIGITS + 2);
  let p = writeU64(buf, 0, n);
  buf[p++] = 0x0d;
  buf[p++] = 0x0a;
  return buf.subarray(0, p);
}

/** One `STAT <name> <value>\r\n` line. */
export function statLine(name: string, value: string | number | bigint): Buffer {
  return Buffer.from(`STAT ${name} ${value}\r\n`, 'latin1');
}

/** `VERSION <version>\r\n`. */
export function versionReply(version: string): Buffer {
  return line(`VERSION ${version}`);
}
