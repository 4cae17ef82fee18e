/**
 * memcached's text-protocol authentication (-Y, proto_text.c try_read_command_asciiauth): before anything else a
 * connection sends `set <anykey> <flags> <exptime> <bytes>\r\n` whose data block is `user password\r\n`; any other
 * line is answered `CLIENT_ERROR unauthenticated`. Pure: bytes in, steps out.
 *
 * Bounds a stranger cannot raise: a line without a newline after MAX_LINE bytes closes the connection (as
 * memcached); a data block longer than MAX_DATA is refused without being read (memcached would try to buffer it).
 */

/** memcached closes a connection that sends this many bytes without a newline before authenticating. */
export const MAX_LINE = 2048;
/** The longest `user password` block read: credentials, not items. */
export const MAX_DATA = 1024;

export const AuthReplies = {
  UNAUTHENTICATED: Buffer.from('CLIENT_ERROR unauthenticated\r\n', 'latin1'),
  FAILURE: Buffer.from('CLIENT_ERROR authentication failure\r\n', 'latin1'),
  TERMINATION: Buffer.from('CLIENT_ERROR bad command line termination\r\n', 'latin1'),
  TOKEN_FORMAT: Buffer.from('CLIENT_ERROR bad authentication token format\r\n', 'latin1'),
  STORED: Buffer.from('STORED\r\n', 'latin1'),
} as const;

export type AuthStep =
  /** answer this and go on reading */
  | { kind: 'reply'; reply: Buffer }
  /** an attempt: check them, answer STORED or FAILURE */
  | { kind: 'credentials'; user: Buffer; pass: Buffer }
  /** a data block longer than MAX_DATA: answer FAILURE and close */
  | { kind: 'too_long'; length: number }
  /** no newline within MAX_LINE bytes: close without a reply */
  | { kind: 'close' };

const SPACE = 0x20;
const LF = 0x0a;
const CR = 0x0d;

/** Space-separated tokens of b[start, end), as memcached's tokenize_command (runs of spaces are one separator). */
function tokens(b: Buffer, start: number, end: number): Buffer[] {
  const out: Buffer[] = [];
  let s = start;
  for (let i = start; i <= end; i++) {
    if (i === end || b[i] === SPACE) {
      if (i > s) out.push(b.subarray(s, i));
      s = i + 1;
    }
  }
  return out;
}

/** memcached's safe_strtoul on a token: digits (an optional +), then nothing or whitespace; -1 when not one. */
function byteCount(tok: Buffer): number {
  const m = /^\+?(\d+)\s*$/.exec(tok.toString('latin1'));
  if (!m) return -1;
  const n = Number(m[1]);
  return n > 0xffffffff ? -1 : n;
}

/**
 * Reads authentication attempts from a stream split anywhere. push() bytes, then take() steps until it returns
 * null (more bytes needed). After a successful attempt, rest() is what followed it: ordinary commands.
 */
export class AsciiAuthReader {
  #buf: Buffer = Buffer.alloc(0);
  #pos = 0;
  /** the data block's length (with its \r\n) once a `set` line was read; -1 while reading a line */
  #dataLength = -1;

  /** Keeps a copy of chunk (what an unauthenticated client sends is small and bounded). */
  push(chunk: Uint8Array): void {
    const left = this.#buf.length - this.#pos;
    const next = Buffer.allocUnsafe(left + chunk.length);
    this.#buf.copy(next, 0, this.#pos);
    next.set(chunk, left);
    this.#buf = next;
    this.#pos = 0;
  }

  /** How many bytes are held (an unfinished line or data block). */
  get pending(): number {
    return this.#buf.length - this.#pos;
  }

  /** The bytes not consumed yet. */
  rest(): Buffer {
    return this.#buf.subarray(this.#pos);
  }

  take(): AuthStep | null {
    const b = this.#buf;
    if (this.#dataLength < 0) {
      const eol = b.indexOf(LF, this.#pos);
      if (eol < 0) return b.length - this.#pos > MAX_LINE ? { kind: 'close' } : null;
      const end = eol > this.#pos && b[eol - 1] === CR ? eol - 1 : eol;
      const t = tokens(b, this.#pos, end);
      this.#pos = eol + 1;
      const n = t.length >= 5 && t[0].toString('latin1') === 'set' ? byteCount(t[4]) : -1;
      if (n < 0) return { kind: 'reply', reply: AuthReplies.UNAUTHENTICATED };
      if (n > MAX_DATA) return { kind: 'too_long', length: n };
      this.#dataLength = n + 2;
    }
    if (b.length - this.#pos < this.#dataLength) return null;
    const start = this.#pos;
    const end = start + this.#dataLength - 2;
    this.#pos += this.#dataLength;
    this.#dataLength = -1;
    if (b[end] !== CR || b[end + 1] !== LF) return { kind: 'reply', reply: AuthReplies.TERMINATION };
    const t = tokens(b, start, end);
    if (t.length < 2) return { kind: 'reply', reply: AuthReplies.TOKEN_FORMAT };
    return { kind: 'credentials', user: Buffer.from(t[0]), pass: Buffer.from(t[1]) };
  }
}
