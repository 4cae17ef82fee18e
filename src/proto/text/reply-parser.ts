/**
 * Incremental parser for what a memcached server sends back on the text protocol: bytes in, one reply
 * element at a time out. An element is one line, or a line and its data block (`VALUE`, meta's `VA`).
 * It does not need to know the requests: every element says how long it is. Grouping elements into the
 * reply to one request (a get's VALUEs up to END, `stats` up to END) is the caller's business.
 *
 * Pure: no sockets, no timers. The element's bytes are a view of the pushed chunk or of the parser's own
 * buffer, valid only during the callback.
 */

/** The kinds of element a server sends, by the line's first word. */
export const Reply = {
  VALUE: 1, END: 2, STAT: 3, STORED: 4, NOT_STORED: 5, EXISTS: 6, NOT_FOUND: 7, DELETED: 8, TOUCHED: 9,
  OK: 10, NUMBER: 11, VERSION: 12, ERROR: 13, CLIENT_ERROR: 14, SERVER_ERROR: 15, RESET: 16,
  VA: 17, HD: 18, EN: 19, NF: 20, NS: 21, EX: 22, MN: 23, ME: 24,
} as const;
export type ReplyKind = (typeof Reply)[keyof typeof Reply];

const NAMES = new Map<number, string>(Object.entries(Reply).map(([k, v]) => [v, k]));
export const replyName = (kind: number): string => NAMES.get(kind) ?? `kind ${kind}`;

/** The element just parsed. One object, rewritten for each element: read it in the callback. */
export interface ReplyElement {
  kind: ReplyKind;
  /** The element's bytes are buf[start, end): its line with \r\n and, for VALUE and VA, the data block with its \r\n. */
  buf: Buffer;
  start: number;
  end: number;
  /** VALUE: the key is buf[keyStart, keyEnd). */
  keyStart: number;
  keyEnd: number;
  /** VALUE and VA: the data is buf[dataStart, dataEnd) (without its \r\n); else both are `end`. */
  dataStart: number;
  dataEnd: number;
}

/** The server sent something that is not memcached's text protocol: the connection cannot be trusted any more. */
export class ReplyProtocolError extends Error {
  override name = 'ReplyProtocolError';
}

export interface ReplyParserOptions {
  /** Longest data block accepted (default 1 GiB, memcached's largest -I). */
  maxValueLength?: number;
  /** Longest line without \n (default 64 KiB: STAT and ME lines are short). */
  maxLineLength?: number;
}

const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;
const EMPTY = Buffer.alloc(0);
const MIN_CAPACITY = 16 * 1024;
/** An emptied buffer larger than this is dropped, not kept. */
const KEEP_CAPACITY = 256 * 1024;

/**
 * Feed it what a server sends, split anywhere; it calls onElement once per complete element. A malformed
 * element throws ReplyProtocolError from push(); the parser is then unusable (close the connection).
 */
export class ReplyParser {
  readonly #onElement: (e: ReplyElement) => void;
  readonly #maxValue: number;
  readonly #maxLine: number;
  readonly #e: ReplyElement = { kind: Reply.END, buf: EMPTY, start: 0, end: 0, keyStart: 0, keyEnd: 0, dataStart: 0, dataEnd: 0 };
  /** Held bytes of an unfinished element: #own[0, #held). */
  #own: Buffer = EMPTY;
  #held = 0;
  /** Bytes an element whose line is parsed needs in all (line + data + \r\n) before it is complete; 0 = unknown. */
  #need = 0;
  #broken = false;

  constructor(onElement: (e: ReplyElement) => void, opts: ReplyParserOptions = {}) {
    this.#onElement = onElement;
    this.#maxValue = opts.maxValueLength ?? 1024 * 1024 * 1024;
    this.#maxLine = opts.maxLineLength ?? 64 * 1024;
  }

  /** Bytes held for an element not complete yet. */
  get pending(): number {
    return this.#held;
  }

  push(chunk: Buffer, length = chunk.length): void {
    if (this.#broken) throw new ReplyProtocolError('parser used after a protocol error');
    if (length === 0) return;
    if (this.#held === 0) {
      const used = this.#parse(chunk, 0, length);
      if (used < length) this.#keep(chunk, used, length);
      return;
    }
    // Complete the held element first, with as few bytes of the chunk as it needs when that is known.
    const take = this.#need > 0 ? Math.min(length, this.#need - this.#held) : length;
    this.#append(chunk, 0, take);
    const used = this.#parse(this.#own, 0, this.#held);
    if (used < this.#held) {
      // still incomplete: everything taken is held
      this.#own.copyWithin(0, used, this.#held);
      this.#held -= used;
      if (take < length) this.push(chunk.subarray(take, length));
      return;
    }
    this.#held = 0;
    this.#need = 0;
    if (this.#own.length > KEEP_CAPACITY) this.#own = EMPTY;
    if (take < length) this.push(chunk.subarray(take, length));
  }

  #keep(chunk: Buffer, from: number, to: number): void {
    this.#held = 0;
    this.#append(chunk, from, to);
  }

  #append(chunk: Buffer, from: number, to: number): void {
    const n = to - from;
    if (this.#held + n > this.#own.length) {
      const size = Math.max(this.#need, 2 * this.#own.length, this.#held + n, MIN_CAPACITY);
      const next = Buffer.allocUnsafe(size);
      this.#own.copy(next, 0, 0, this.#held);
      this.#own = next;
    }
    chunk.copy(this.#own, this.#held, from, to);
    this.#held += n;
  }

  /** Parses complete elements of b[pos, end); returns where the first incomplete one starts. */
  #parse(b: Buffer, pos: number, end: number): number {
    while (pos < end) {
      const nl = b.indexOf(LF, pos);
      if (nl < 0 || nl >= end) {
        if (end - pos > this.#maxLine) this.#fail(`a line longer than ${this.#maxLine} bytes without \\n`);
        this.#need = 0;
        return pos;
      }
      const lineEnd = nl + 1;
      const le = nl > pos && b[nl - 1] === CR ? nl - 1 : nl;
      const e = this.#e;
      e.buf = b;
      e.start = pos;
      const kind = this.#kind(b, pos, le);
      e.kind = kind;
      if (kind === Reply.VALUE || kind === Reply.VA) {
        const bytes = kind === Reply.VALUE ? this.#valueLine(b, pos, le) : this.#vaLine(b, pos, le);
        const total = lineEnd + bytes + 2;
        if (total > end) {
          this.#need = total - pos;
          return pos;
        }
        if (b[total - 2] !== CR || b[total - 1] !== LF) this.#fail(`${replyName(kind)} data block of ${bytes} bytes not followed by \\r\\n`);
        e.dataStart = lineEnd;
        e.dataEnd = lineEnd + bytes;
        e.end = total;
      } else {
        e.dataStart = e.dataEnd = e.end = lineEnd;
        e.keyStart = e.keyEnd = lineEnd;
      }
      this.#need = 0;
      pos = e.end;
      this.#onElement(e);
    }
    return pos;
  }

  /** `VALUE <key> <flags> <bytes> [<cas>]`: sets the key range, returns <bytes>. */
  #valueLine(b: Buffer, ls: number, le: number): number {
    const e = this.#e;
    let p = ls + 6;
    const keyStart = p;
    while (p < le && b[p] !== SP) p++;
    e.keyStart = keyStart;
    e.keyEnd = p;
    if (p === keyStart || p >= le) this.#fail('VALUE line without key, flags and length');
    p = skipNumber(b, p + 1, le); // flags
    if (p < 0 || b[p] !== SP) this.#fail('VALUE line with bad flags');
    const bytes = this.#number(b, p + 1, le, 'VALUE');
    return bytes;
  }

  /** `VA <bytes> <flags>*`: returns <bytes>. */
  #vaLine(b: Buffer, ls: number, le: number): number {
    const e = this.#e;
    e.keyStart = e.keyEnd = ls;
    return this.#number(b, ls + 3, le, 'VA');
  }

  /** The decimal at b[p..] up to a space or le. */
  #number(b: Buffer, p: number, le: number, what: string): number {
    let n = 0;
    const s = p;
    for (; p < le && b[p] !== SP; p++) {
      const d = b[p] - 0x30;
      if (d < 0 || d > 9) this.#fail(`${what} line with a bad length`);
      n = n * 10 + d;
    }
    if (p === s || n > this.#maxValue) this.#fail(`${what} line with a bad length`);
    return n;
  }

  #kind(b: Buffer, s: number, e: number): ReplyKind {
    const n = e - s;
    const c = b[s];
    // meta codes: two letters, alone or followed by flags
    const code2 = n === 2 || (n > 2 && b[s + 2] === SP);
    const c1 = b[s + 1];
    switch (c) {
      case 0x56: // V
        if (n > 6 && prefix(b, s, e, W.VALUE_)) return Reply.VALUE;
        if (code2 && c1 === 0x41) return Reply.VA;
        if (word(b, s, e, W.VERSION)) return Reply.VERSION;
        break;
      case 0x45: // E
        if (n === 3 && c1 === 0x4e && b[s + 2] === 0x44) return Reply.END;
        if (code2 && c1 === 0x4e) return Reply.EN;
        if (code2 && c1 === 0x58) return Reply.EX;
        if (prefix(b, s, e, W.ERROR)) return Reply.ERROR; // also "ERROR <reason>" and "ERROR: ..."
        if (word(b, s, e, W.EXISTS)) return Reply.EXISTS;
        break;
      case 0x53: // S
        if (word(b, s, e, W.STORED)) return Reply.STORED;
        if (n > 5 && prefix(b, s, e, W.STAT_)) return Reply.STAT;
        if (word(b, s, e, W.SERVER_ERROR)) return Reply.SERVER_ERROR;
        break;
      case 0x4e: // N
        if (code2 && c1 === 0x46) return Reply.NF;
        if (code2 && c1 === 0x53) return Reply.NS;
        if (word(b, s, e, W.NOT_FOUND)) return Reply.NOT_FOUND;
        if (word(b, s, e, W.NOT_STORED)) return Reply.NOT_STORED;
        break;
      case 0x48: // H
        if (code2 && c1 === 0x44) return Reply.HD;
        break;
      case 0x4d: // M
        if (code2 && c1 === 0x4e) return Reply.MN;
        if (n > 3 && c1 === 0x45 && b[s + 2] === SP) return Reply.ME;
        break;
      case 0x44: // D
        if (word(b, s, e, W.DELETED)) return Reply.DELETED;
        break;
      case 0x54: // T
        if (word(b, s, e, W.TOUCHED)) return Reply.TOUCHED;
        break;
      case 0x4f: // O
        if (word(b, s, e, W.OK)) return Reply.OK;
        break;
      case 0x43: // C
        if (word(b, s, e, W.CLIENT_ERROR)) return Reply.CLIENT_ERROR;
        break;
      case 0x52: // R
        if (word(b, s, e, W.RESET)) return Reply.RESET;
        break;
      default:
        if (c >= 0x30 && c <= 0x39 && isDigits(b, s, e)) return Reply.NUMBER;
    }
    return this.#fail(`unexpected reply line "${printable(b, s, e)}"`);
  }

  #fail(why: string): never {
    this.#broken = true;
    this.#held = 0;
    throw new ReplyProtocolError(why);
  }
}

const W = Object.fromEntries(
  ['VALUE ', 'VERSION', 'ERROR', 'EXISTS', 'STORED', 'STAT ', 'SERVER_ERROR', 'NOT_FOUND', 'NOT_STORED', 'DELETED', 'TOUCHED', 'OK', 'CLIENT_ERROR', 'RESET']
    .map((w) => [w.replace(' ', '_'), Buffer.from(w, 'latin1')]),
) as Record<'VALUE_' | 'VERSION' | 'ERROR' | 'EXISTS' | 'STORED' | 'STAT_' | 'SERVER_ERROR' | 'NOT_FOUND' | 'NOT_STORED' | 'DELETED' | 'TOUCHED' | 'OK' | 'CLIENT_ERROR' | 'RESET', Buffer>;

/** b[s, e) starts with w. */
function prefix(b: Buffer, s: number, e: number, w: Buffer): boolean {
  if (e - s < w.length) return false;
  for (let i = 0; i < w.length; i++) if (b[s + i] !== w[i]) return false;
  return true;
}

/** b[s, e) is the word w, alone or followed by a space. */
function word(b: Buffer, s: number, e: number, w: Buffer): boolean {
  return prefix(b, s, e, w) && (e - s === w.length || b[s + w.length] === SP);
}

function skipNumber(b: Buffer, p: number, le: number): number {
  const s = p;
  while (p < le && b[p] >= 0x30 && b[p] <= 0x39) p++;
  return p === s ? -1 : p;
}

function isDigits(b: Buffer, s: number, e: number): boolean {
  // incr/decr's reply; memcached pads a shorter result with spaces in place (up to 20 digits + spaces)
  let digits = 0;
  for (let i = s; i < e; i++) {
    const c = b[i];
    if (c >= 0x30 && c <= 0x39) digits++;
    else if (c !== SP || digits === 0) return false;
  }
  return digits > 0;
}

/** At most 60 bytes of a line, non-printable bytes as \xNN, for an error message. */
function printable(b: Buffer, s: number, e: number): string {
  let out = '';
  for (let i = s; i < Math.min(e, s + 60); i++) {
    const c = b[i];
    out += c >= 0x20 && c < 0x7f && c !== 0x22 && c !== 0x5c ? String.fromCharCode(c) : `\\x${c.toString(16).padStart(2, '0')}`;
  }
  return e - s > 60 ? `${out}...` : out;
}
