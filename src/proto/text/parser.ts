import type {
  CloseCommand, GetCommand, GetOp, OtherCommand, ProtocolError, QuitCommand, StoreOp, TextCommand, VersionCommand,
} from './commands.ts';
import { KEY_MAX_LENGTH, KeyLengthCheck, keysFit, keyViews } from './key-list.ts';
import { parseI32, parseU32, parseU64 } from './numbers.ts';
import { allocReleasable, release } from '../releasable-buffer.ts';
import { Replies } from './replies.ts';
import { NO_LF, Tokens, UNSURE } from './tokens.ts';

export interface TextParserOptions {
  /** Largest value accepted by storage commands (memcached's -I), in bytes. */
  maxItemSize: number;
  /**
   * Longest multiget line buffered before the connection is closed (default 16 MiB). memcached
   * lets get/gets lines grow until realloc fails; this bounds one connection's memory instead.
   */
  maxLineLength?: number;
}

const DEFAULT_MAX_LINE_LENGTH = 16 * 1024 * 1024;

const LF = 0x0a;
const CR = 0x0d;
const SP = 0x20;
/** A partial line longer than this without \n closes the connection (except get/gets). */
const LINE_LIMIT = 2048;
/** memcached refuses <bytes> above INT_MAX - 2 (it adds the \r\n to an int). */
const MAX_VALUE_LENGTH = 2 ** 31 - 1 - 2;
/** memcached's MFLAG_MAX_OPT_LENGTH: most words (ntokens) a meta command may have. */
const META_MAX_TOKENS = 20;
const MIN_CAPACITY = 16 * 1024;
/** An emptied read buffer larger than this is dropped rather than kept for reuse. */
const KEEP_CAPACITY = 64 * 1024;
/**
 * The search for \n may run past the bytes pushed into what follows them in the caller's buffer
 * (a find there is ignored); past this many such bytes, the parser searches a view that ends
 * at the pushed bytes instead.
 */
const STALE_TAIL_LIMIT = 64 * 1024;

const EMPTY = Buffer.alloc(0);
const EMPTY_VIEW = new DataView(EMPTY.buffer, EMPTY.byteOffset, 0);

/**
 * The words of the line being parsed, shared by every parser of the thread: a line is split and read in one go,
 * before its command is emitted, and nothing reads them afterwards.
 */
const TOKENS = new Tokens();

/** Emptied buffers kept for the thread's parsers, at most this many. */
const SPARE_LIMIT = 8;
/**
 * Buffers of unfinished commands (MIN_CAPACITY to KEEP_CAPACITY bytes) that their parser emptied, for the next
 * parser that must keep bytes: like memcached's per-thread read buffers, a connection holds a buffer of its own
 * only while a command of it is unfinished, so idle connections cost no buffer.
 */
const spares: Buffer[] = [];

/** A spare buffer of at least `size` bytes, or null. */
function takeSpare(size: number): Buffer | null {
  for (let i = spares.length - 1; i >= 0; i--) {
    const b = spares[i];
    if (b.length >= size) {
      spares[i] = spares[spares.length - 1];
      spares.pop();
      return b;
    }
  }
  return null;
}

/** Keeps an emptied buffer for another parser, or gives it back (at once, when it is a large one). */
function giveSpare(b: Buffer): void {
  if (b.length <= KEEP_CAPACITY && spares.length < SPARE_LIMIT) spares.push(b);
  else release(b);
}

/** Spare buffers the thread's parsers hold (for tests). */
export function spareBuffers(): number {
  return spares.length;
}
const word = (s: string): Buffer => Buffer.from(s, 'latin1');
const W = {
  get: word('get'), gets: word('gets'), gat: word('gat'), gats: word('gats'), bget: word('bget'),
  set: word('set'), add: word('add'), replace: word('replace'), append: word('append'),
  prepend: word('prepend'), cas: word('cas'), incr: word('incr'), decr: word('decr'),
  delete: word('delete'), touch: word('touch'), stats: word('stats'), shutdown: word('shutdown'),
  slabs: word('slabs'), cache_memlimit: word('cache_memlimit'), flush_all: word('flush_all'),
  version: word('version'), quit: word('quit'), lru_crawler: word('lru_crawler'), watch: word('watch'),
  verbosity: word('verbosity'), lru: word('lru'), noreply: word('noreply'), graceful: word('graceful'),
  zero: word('0'), http: word('HTTP/'), getSp: word('get '), getsSp: word('gets '), refresh_certs: word('refresh_certs'),
} as const;

/** The words of W that are not command names. */
const NOT_COMMANDS = new Set(['noreply', 'graceful', 'zero', 'http', 'getSp', 'getsSp']);
/** Every command name the parser knows (meta commands, `m` and two letters, aside): a table to test against. */
export const TEXT_COMMAND_NAMES: readonly string[] = Object.keys(W).filter((w) => !NOT_COMMANDS.has(w));

const error = (reply: Buffer): ProtocolError => Object.freeze({ kind: 'error', reply, close: false });
const E = {
  ERROR: error(Replies.ERROR),
  BAD_FORMAT: error(Replies.BAD_FORMAT),
  BAD_DELETE_FORMAT: error(Replies.BAD_DELETE_FORMAT),
  BAD_DATA_CHUNK: error(Replies.BAD_DATA_CHUNK),
  INVALID_DELTA: error(Replies.INVALID_DELTA),
  INVALID_EXPTIME: error(Replies.INVALID_EXPTIME),
  META_FLAGS_TOO_LONG: error(Replies.META_FLAGS_TOO_LONG),
  /** An error whose reply noreply suppressed. */
  SILENT: error(EMPTY),
} as const;
const VERSION: VersionCommand = Object.freeze({ kind: 'version' });
const QUIT: QuitCommand = Object.freeze({ kind: 'quit' });
const closeFor = (reason: string): CloseCommand => Object.freeze({ kind: 'close', reason });
const CLOSE_HTTP = closeFor('HTTP request line');
const CLOSE_LONG_LINE = closeFor(`line longer than ${LINE_LIMIT} bytes without \\n`);
const CLOSE_HUGE_LINE = closeFor('multiget line longer than maxLineLength');

/**
 * A get: its keys stay in the line, src[keyStart, keyEnd) (one key, or several separated by spaces when `multi`);
 * the `keys` views are made only if read.
 */
class LineGet implements GetCommand {
  readonly kind = 'get';
  readonly multi: boolean;
  readonly op: GetOp;
  readonly exptime: number;
  readonly src: Buffer;
  readonly srcView: DataView;
  readonly keyStart: number;
  readonly keyEnd: number;

  constructor(multi: boolean, op: GetOp, exptime: number, src: Buffer, srcView: DataView, keyStart: number, keyEnd: number) {
    this.multi = multi;
    this.op = op;
    this.exptime = exptime;
    this.src = src;
    this.srcView = srcView;
    this.keyStart = keyStart;
    this.keyEnd = keyEnd;
  }

  get keys(): Buffer[] {
    return this.multi ? keyViews(this.src, this.keyStart, this.keyEnd) : [this.src.subarray(this.keyStart, this.keyEnd)];
  }
}

/**
 * Incremental parser for memcached's text protocol (1.6.18's proto_text.c, byte for byte): bytes
 * in, TextCommand messages out. Keys and values are views into the pushed bytes, valid until
 * push() returns: copy what you keep. The parser copies an unfinished command's bytes before
 * push() returns, so the caller may overwrite its chunk (connections share one read buffer).
 * After `quit` or a `close` command the parser ignores further input. onCommand must not throw
 * (a throw leaves the parser mid-command: drop the connection).
 *
 * Values up to maxItemSize are buffered whole and emitted as `store` (the store decides the
 * exact limit including item overhead, as memcached's item_size_ok does); larger ones are
 * skipped without buffering and emitted as `too_large`.
 */
export class TextParser {
  readonly #maxItemSize: number;
  readonly #maxLineLength: number;
  readonly #emit: (cmd: TextCommand) => void;
  readonly #t = TOKENS;
  /** Unparsed bytes are #buf[#start, #end); #buf is a caller's chunk while push() runs, else #own. */
  #buf: Buffer = EMPTY;
  #start = 0;
  #end = 0;
  #own: Buffer = EMPTY;
  /** Bytes from #start a storage command needs (line + data + \r\n) before it is parsed again. */
  #need = 0;
  /** Bytes of a too-large data block still to drop. */
  #swallow = 0;
  /** Bytes from #start already searched for \n without finding one. */
  #scanned = 0;
  #closed = false;
  /** Set by pause(): commands stay unparsed in the buffer until resume(). */
  #paused = false;
  /** lend() gave #own away: the parser must move what it holds out of it before it parses again. */
  #lent = false;
  /** The key lengths of a multiget line that grows over many reads, checked as it arrives (made on first need). */
  #keyCheck: KeyLengthCheck | null = null;
  /** Bytes from the current line's start that #keyCheck has seen (0: none). */
  #keysChecked = 0;
  /** A DataView of #viewed, made again only when the buffer changes (a connection pushes the same one each time). */
  #viewed: Buffer = EMPTY;
  #dataView: DataView = EMPTY_VIEW;

  constructor(opts: TextParserOptions, onCommand: (cmd: TextCommand) => void) {
    this.#maxItemSize = opts.maxItemSize;
    this.#maxLineLength = opts.maxLineLength ?? DEFAULT_MAX_LINE_LENGTH;
    this.#emit = onCommand;
  }

  /** Bytes held waiting for the rest of a command. */
  get pending(): number {
    return this.#end - this.#start;
  }

  /** Size of the buffer this parser holds of its own (0 once it has nothing unfinished). */
  get ownCapacity(): number {
    return this.#own.length;
  }

  /**
   * Feed bytes as they arrive, split anywhere: chunk[0, length), the whole chunk by default
   * (a connection passes its read buffer and the bytes read, with no view per read). Calls
   * onCommand synchronously for each complete command.
   */
  push(chunk: Buffer, length = chunk.length): void {
    if (this.#closed || length === 0) return;
    if (this.#swallow > 0) {
      const n = Math.min(this.#swallow, length);
      this.#swallow -= n;
      if (n === length) return;
      chunk = chunk.subarray(n, length);
      length -= n;
    }
    if (this.#start === this.#end) {
      this.#buf = chunk;
      this.#start = 0;
      this.#end = length;
      this.#scanned = 0;
    } else {
      this.#append(chunk, length);
    }
    if (!this.#paused) this.#parse();
    this.#settle();
  }

  /**
   * Emits no more commands after the current one until resume(); what is pushed meanwhile is kept. A server pauses
   * a connection whose replies the client does not read, so that its requests wait in the socket, not in memory.
   */
  pause(): void {
    this.#paused = true;
  }

  get paused(): boolean {
    return this.#paused;
  }

  /** Emits the commands held since pause() (onCommand may pause again). */
  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    if (this.#closed || this.#start === this.#end) return;
    this.#parse();
    this.#settle();
  }

  /**
   * Hands the parser's buffer that `view` (a command's bytes, e.g. a multiget's keys) is part of over to the
   * caller, who may keep it: the parser moves on to another. False when the bytes are not in the parser's own
   * buffer (they are in the caller's chunk, which the caller must copy from).
   */
  lend(view: Uint8Array): boolean {
    if (this.#own === EMPTY || view.buffer !== this.#own.buffer) return false;
    this.#lent = true;
    return true;
  }

  /** After parsing: drops what is done, and copies what is left out of the caller's chunk. */
  #settle(): void {
    if (this.#closed) this.#start = this.#end;
    if (this.#lent) {
      // the borrower has it now: what is still unparsed in it is copied out below (#keep)
      this.#lent = false;
      if (this.#dataView.buffer === this.#own.buffer) {
        this.#viewed = EMPTY;
        this.#dataView = EMPTY_VIEW;
      }
      this.#own = EMPTY;
    }
    if (this.#start === this.#end) {
      this.#buf = EMPTY;
      this.#start = this.#end = 0;
      if (this.#own !== EMPTY) this.#dropOwn();
    } else if (this.#buf !== this.#own) {
      this.#keep();
    }
  }

  /** Lets an emptied #own go, with the DataView of it that #viewOf() may still hold. */
  #dropOwn(): void {
    this.#forget(this.#own);
    this.#own = EMPTY;
  }

  /** Gives an own buffer no longer used back (to the spares, or at once when it is a large one), with the DataView of it. */
  #forget(own: Buffer): void {
    if (own === EMPTY) return;
    if (this.#dataView.buffer === own.buffer) {
      this.#viewed = EMPTY;
      this.#dataView = EMPTY_VIEW;
    }
    giveSpare(own);
  }

  /** Appends chunk[0, len) to the held bytes, which are in #own. */
  #append(chunk: Buffer, len: number): void {
    if (this.#end + len <= this.#own.length) {
      chunk.copy(this.#own, this.#end, 0, len);
      this.#end += len;
      return;
    }
    const held = this.#end - this.#start;
    const total = held + len;
    if (total > this.#own.length) {
      this.#moveToOwn(total);
    } else {
      this.#own.copyWithin(0, this.#start, this.#end);
      this.#start = 0;
      this.#end = held;
    }
    chunk.copy(this.#own, held, 0, len);
    this.#end = total;
  }

  /** Copies an unfinished command out of the caller's chunk, which may be overwritten once push() returns. */
  #keep(): void {
    const held = this.#end - this.#start;
    if (held > this.#own.length) {
      this.#moveToOwn(held);
      return;
    }
    this.#buf.copy(this.#own, 0, this.#start, this.#end);
    this.#buf = this.#own;
    this.#start = 0;
    this.#end = held;
  }

  /** Moves the held bytes to the start of a new #own with room for at least `size` bytes. */
  #moveToOwn(size: number): void {
    // A known data block gets exactly its size; a growing line doubles.
    const cap = Math.max(size, this.#need, this.#need > 0 ? 0 : 2 * this.#own.length, MIN_CAPACITY);
    const next = (cap <= KEEP_CAPACITY ? takeSpare(cap) : null) ?? allocReleasable(cap);
    const held = this.#end - this.#start;
    this.#buf.copy(next, 0, this.#start, this.#end);
    this.#forget(this.#own);
    this.#own = next;
    this.#buf = next;
    this.#start = 0;
    this.#end = held;
  }

  #parse(): void {
    const end = this.#end;
    const b = this.#buf.length - end > STALE_TAIL_LIMIT ? this.#buf.subarray(0, end) : this.#buf;
    let pos = this.#start;
    while (pos < end && !this.#closed && !this.#paused) {
      if (this.#swallow > 0) {
        const n = Math.min(this.#swallow, end - pos);
        this.#swallow -= n;
        pos += n;
        continue;
      }
      if (this.#need > end - pos) break;
      // Most lines are split on the way to their \n; the rest are searched, then split.
      let nl = this.#scanned === 0 ? this.#t.splitLine(b, pos, end) : UNSURE;
      const split = nl >= 0;
      if (nl === UNSURE) {
        nl = b.indexOf(LF, pos + this.#scanned);
        if (nl >= end) nl = NO_LF;
      }
      if (nl === NO_LF) {
        this.#scanned = end - pos;
        if (end - pos > LINE_LIMIT) this.#lineTooLong(b, pos, end);
        break;
      }
      this.#scanned = 0;
      pos = this.#line(b, pos, nl, split);
      this.#keysChecked = 0;
    }
    this.#start = pos;
  }

  /** memcached's try_read_command_ascii: only a large multiget may grow past the limit. */
  #lineTooLong(b: Buffer, pos: number, end: number): void {
    let p = pos;
    while (p < end && b[p] === SP) p++;
    const multiget = startsWith(b, p, end, W.getSp) || startsWith(b, p, end, W.getsSp);
    if (p - pos > 100 || !multiget) this.#close(CLOSE_LONG_LINE);
    else if (end - pos > this.#maxLineLength) this.#close(CLOSE_HUGE_LINE);
    else this.#checkKeysSoFar(b, pos, end);
  }

  /**
   * Checks the key lengths of a growing multiget line as its bytes arrive, so that the read that completes it
   * need not go through megabytes at once. The last byte waits: it may be the \r before the \n.
   */
  #checkKeysSoFar(b: Buffer, pos: number, end: number): void {
    const check = (this.#keyCheck ??= new KeyLengthCheck());
    if (this.#keysChecked === 0) check.reset();
    check.feed(b, pos + this.#keysChecked, end - 1);
    this.#keysChecked = end - 1 - pos;
  }

  #close(cmd: CloseCommand | QuitCommand): void {
    this.#closed = true;
    this.#emit(cmd);
  }

  /**
   * Handles the line b[ls, nl) (already in #t when `split`) and returns where parsing continues (ls again: waiting
   * for data).
   */
  #line(b: Buffer, ls: number, nl: number, split: boolean): number {
    const le = nl - ls > 1 && b[nl - 1] === CR ? nl - 1 : nl;
    const next = nl + 1;
    const t = this.#t;
    const n = split ? t.count : t.split(b, ls, le);
    if (n === 0 || t.length(0) < 2) return this.#fail(E.ERROR, next);
    const ntokens = n + 1;
    const c0 = b[t.start[0]];
    if (c0 === 0x6d /* m */ && t.length(0) === 2) return this.#meta(b, ls, le, next);
    switch (c0) {
      case 0x67: /* g */ {
        if (ntokens < 3) return this.#fail(E.ERROR, next);
        if (t.is(b, 0, W.get)) return this.#get(b, 'get', ls, le, next);
        if (t.is(b, 0, W.gets)) return this.#get(b, 'gets', ls, le, next);
        if (t.is(b, 0, W.gat)) return this.#get(b, 'gat', ls, le, next);
        if (t.is(b, 0, W.gats)) return this.#get(b, 'gats', ls, le, next);
        return this.#fail(E.ERROR, next);
      }
      case 0x73: /* s */
        if (t.is(b, 0, W.set)) return this.#store(b, 'set', ls, next);
        if (t.is(b, 0, W.stats)) return this.#stats(b, next);
        if (t.is(b, 0, W.shutdown)) return this.#shutdown(b, next);
        if (t.is(b, 0, W.slabs)) return this.#other(b, ls, le, next);
        return this.#fail(E.ERROR, next);
      case 0x61: /* a */
        if (t.is(b, 0, W.add)) return this.#store(b, 'add', ls, next);
        if (t.is(b, 0, W.append)) return this.#store(b, 'append', ls, next);
        return this.#fail(E.ERROR, next);
      case 0x63: /* c */
        if (t.is(b, 0, W.cas)) return this.#store(b, 'cas', ls, next);
        if (t.is(b, 0, W.cache_memlimit)) {
          if (ntokens !== 3 && ntokens !== 4) return this.#fail(E.ERROR, next);
          return this.#other(b, ls, le, next);
        }
        return this.#fail(E.ERROR, next);
      case 0x69: /* i */
        if (t.is(b, 0, W.incr)) return this.#arith(b, 'incr', next);
        return this.#fail(E.ERROR, next);
      case 0x64: /* d */
        if (t.is(b, 0, W.delete)) return this.#delete(b, next);
        if (t.is(b, 0, W.decr)) return this.#arith(b, 'decr', next);
        return this.#fail(E.ERROR, next);
      case 0x74: /* t */
        if (t.is(b, 0, W.touch)) return this.#touch(b, next);
        return this.#fail(E.ERROR, next);
    }
    if (t.is(b, 0, W.replace)) return this.#store(b, 'replace', ls, next);
    if (t.is(b, 0, W.prepend)) return this.#store(b, 'prepend', ls, next);
    if (t.is(b, 0, W.bget)) return ntokens < 3 ? this.#fail(E.ERROR, next) : this.#get(b, 'get', ls, le, next);
    if (t.is(b, 0, W.flush_all)) return this.#flush(b, next);
    if (t.is(b, 0, W.version)) return this.#ok(VERSION, next);
    if (t.is(b, 0, W.quit)) {
      this.#close(QUIT);
      return next;
    }
    if (t.is(b, 0, W.lru_crawler) || t.is(b, 0, W.watch)) return this.#other(b, ls, le, next);
    if (t.is(b, 0, W.verbosity)) return this.#verbosity(b, next);
    if (t.is(b, 0, W.lru)) return ntokens < 3 ? this.#fail(E.ERROR, next) : this.#other(b, ls, le, next);
    if (t.startsWith(b, n - 1, W.http)) {
      this.#close(CLOSE_HTTP);
      return next;
    }
    if (t.is(b, 0, W.refresh_certs)) return this.#other(b, ls, le, next);
    return this.#fail(E.ERROR, next);
  }

  #ok(cmd: TextCommand, next: number): number {
    this.#emit(cmd);
    return next;
  }

  #fail(err: ProtocolError, next: number, noreply = false): number {
    this.#emit(noreply ? E.SILENT : err);
    return next;
  }

  /** set_noreply_maybe(): the last word is exactly `noreply`. */
  #noreply(b: Buffer): boolean {
    return this.#t.is(b, this.#t.count - 1, W.noreply);
  }

  #keyTooLong(i: number): boolean {
    return this.#t.length(i) > KEY_MAX_LENGTH;
  }

  #view(b: Buffer, i: number): Buffer {
    return b.subarray(this.#t.start[i], this.#t.end[i]);
  }

  #store(b: Buffer, op: StoreOp, ls: number, next: number): number {
    const t = this.#t;
    const ntokens = t.count + 1;
    const withCas = op === 'cas';
    if (withCas ? ntokens !== 7 && ntokens !== 8 : ntokens !== 6 && ntokens !== 7) return this.#fail(E.ERROR, next);
    const noreply = this.#noreply(b);
    if (this.#keyTooLong(1)) return this.#fail(E.BAD_FORMAT, next, noreply);
    const flags = parseU32(b, t.start[2], t.end[2]);
    const exptime = parseI32(b, t.start[3], t.end[3]);
    const bytes = parseI32(b, t.start[4], t.end[4]);
    if (flags !== flags || exptime !== exptime || bytes !== bytes) return this.#fail(E.BAD_FORMAT, next, noreply);
    let cas = 0n;
    if (withCas) {
      const v = parseU64(b, t.start[5], t.end[5]);
      if (v === null) return this.#fail(E.BAD_FORMAT, next, noreply);
      cas = v;
    }
    if (bytes < 0 || bytes > MAX_VALUE_LENGTH) return this.#fail(E.BAD_FORMAT, next, noreply);
    if (bytes > this.#maxItemSize) {
      this.#swallow = bytes + 2;
      return this.#ok({ kind: 'too_large', op, key: this.#view(b, 1), noreply }, next);
    }
    if (!this.#haveData(ls, next, bytes)) return ls;
    const after = next + bytes + 2;
    if (b[next + bytes] !== CR || b[next + bytes + 1] !== LF) return this.#fail(E.BAD_DATA_CHUNK, after, noreply);
    const data = b.subarray(next, next + bytes);
    return this.#ok({ kind: 'store', op, key: this.#view(b, 1), flags, exptime, cas, noreply, data }, after);
  }

  /** True when the data block after the line is complete; else remembers how much to wait for. */
  #haveData(ls: number, dataStart: number, bytes: number): boolean {
    const need = dataStart + bytes + 2 - ls;
    if (this.#end - ls < need) {
      this.#need = need;
      return false;
    }
    this.#need = 0;
    return true;
  }

  #get(b: Buffer, op: GetOp, ls: number, le: number, next: number): number {
    const t = this.#t;
    let first = 1;
    let exptime = 0;
    if (op === 'gat' || op === 'gats') {
      exptime = parseI32(b, t.start[1], t.end[1]);
      if (exptime !== exptime) return this.#fail(E.INVALID_EXPTIME, next);
      first = 2;
    }
    if (t.count - first === 1 && !t.truncated) {
      if (this.#keyTooLong(first)) return this.#fail(E.BAD_FORMAT, next);
      return this.#ok(new LineGet(false, op, exptime, b, this.#viewOf(b), t.start[first], t.end[first]), next);
    }
    // Every key is checked before any is looked up, so a bad one fails the whole line (no VALUE before the error).
    const from = t.count > first ? t.start[first] : le;
    // (a long line's first bytes were checked as they arrived: only the rest is left)
    const fits = this.#keysChecked > 0 ? this.#keyCheck!.feed(b, ls + this.#keysChecked, le) : keysFit(b, from, le);
    if (!fits) return this.#fail(E.BAD_FORMAT, next);
    return this.#ok(new LineGet(true, op, exptime, b, this.#viewOf(b), from, le), next);
  }

  #viewOf(b: Buffer): DataView {
    if (b !== this.#viewed) {
      this.#viewed = b;
      this.#dataView = new DataView(b.buffer, b.byteOffset, b.byteLength);
    }
    return this.#dataView;
  }

  #delete(b: Buffer, next: number): number {
    const t = this.#t;
    const ntokens = t.count + 1;
    if (ntokens < 3 || ntokens > 5) return this.#fail(E.ERROR, next);
    let noreply = false;
    if (ntokens > 3) {
      const holdIsZero = t.is(b, 2, W.zero);
      noreply = this.#noreply(b);
      const valid = (ntokens === 4 && (holdIsZero || noreply)) || (ntokens === 5 && holdIsZero && noreply);
      if (!valid) return this.#fail(E.BAD_DELETE_FORMAT, next, noreply);
    }
    if (this.#keyTooLong(1)) return this.#fail(E.BAD_FORMAT, next, noreply);
    return this.#ok({ kind: 'delete', key: this.#view(b, 1), noreply }, next);
  }

  #arith(b: Buffer, op: 'incr' | 'decr', next: number): number {
    const t = this.#t;
    const ntokens = t.count + 1;
    if (ntokens !== 4 && ntokens !== 5) return this.#fail(E.ERROR, next);
    const noreply = this.#noreply(b);
    if (this.#keyTooLong(1)) return this.#fail(E.BAD_FORMAT, next, noreply);
    const delta = parseU64(b, t.start[2], t.end[2]);
    if (delta === null) return this.#fail(E.INVALID_DELTA, next, noreply);
    return this.#ok({ kind: 'arith', op, key: this.#view(b, 1), delta, noreply }, next);
  }

  #touch(b: Buffer, next: number): number {
    const t = this.#t;
    const ntokens = t.count + 1;
    if (ntokens !== 4 && ntokens !== 5) return this.#fail(E.ERROR, next);
    const noreply = this.#noreply(b);
    if (this.#keyTooLong(1)) return this.#fail(E.BAD_FORMAT, next, noreply);
    const exptime = parseI32(b, t.start[2], t.end[2]);
    if (exptime !== exptime) return this.#fail(E.INVALID_EXPTIME, next, noreply);
    return this.#ok({ kind: 'touch', key: this.#view(b, 1), exptime, noreply }, next);
  }

  #flush(b: Buffer, next: number): number {
    const t = this.#t;
    const ntokens = t.count + 1;
    if (ntokens < 2 || ntokens > 4) return this.#fail(E.ERROR, next);
    const noreply = this.#noreply(b);
    let delay = 0;
    if (ntokens !== (noreply ? 3 : 2)) {
      delay = parseI32(b, t.start[1], t.end[1]);
      if (delay !== delay) return this.#fail(E.INVALID_EXPTIME, next, noreply);
    }
    return this.#ok({ kind: 'flush_all', delay: delay > 0 ? delay : 0, noreply }, next);
  }

  #verbosity(b: Buffer, next: number): number {
    const t = this.#t;
    const ntokens = t.count + 1;
    if (ntokens !== 3 && ntokens !== 4) return this.#fail(E.ERROR, next);
    const noreply = this.#noreply(b);
    const level = parseU32(b, t.start[1], t.end[1]);
    if (level !== level) return this.#fail(E.BAD_FORMAT, next, noreply);
    return this.#ok({ kind: 'verbosity', level, noreply }, next);
  }

  #shutdown(b: Buffer, next: number): number {
    const t = this.#t;
    if (t.count === 1) return this.#ok({ kind: 'shutdown', graceful: false, validMode: true }, next);
    const graceful = t.count === 2 && t.is(b, 1, W.graceful);
    return this.#ok({ kind: 'shutdown', graceful, validMode: graceful }, next);
  }

  #stats(b: Buffer, next: number): number {
    const t = this.#t;
    const args: string[] = [];
    for (let i = 1; i < t.count; i++) args.push(t.latin1(b, i));
    return this.#ok({ kind: 'stats', args }, next);
  }

  #otherCommand(b: Buffer, ls: number, le: number): OtherCommand {
    const t = this.#t;
    const tokens: string[] = [];
    for (let i = 1; i < t.count; i++) tokens.push(t.latin1(b, i));
    return { kind: 'other', name: t.latin1(b, 0), tokens, line: b.subarray(ls, le) };
  }

  #other(b: Buffer, ls: number, le: number, next: number): number {
    return this.#ok(this.#otherCommand(b, ls, le), next);
  }

  /** Meta commands: only ms needs the parser (its data block); the rest go to the server as is. */
  #meta(b: Buffer, ls: number, le: number, next: number): number {
    const t = this.#t;
    switch (b[t.start[0] + 1]) {
      case 0x67: case 0x64: case 0x61: case 0x65: case 0x6e: // mg md ma me mn
        return this.#other(b, ls, le, next);
      case 0x73: // ms <key> <datalen> <flags>*
        break;
      default:
        return this.#fail(E.ERROR, next);
    }
    const ntokens = t.count + 1;
    if (ntokens < 3) return this.#fail(E.ERROR, next);
    // Meta errors ignore q (memcached's out_errstring); none of these swallow the data block.
    if (this.#keyTooLong(1) || ntokens === 3) return this.#fail(E.BAD_FORMAT, next);
    if (ntokens > META_MAX_TOKENS) return this.#fail(E.META_FLAGS_TOO_LONG, next);
    const bytes = parseI32(b, t.start[2], t.end[2]);
    if (bytes !== bytes || bytes < 0 || bytes > MAX_VALUE_LENGTH) return this.#fail(E.BAD_FORMAT, next);
    if (bytes > this.#maxItemSize) {
      this.#swallow = bytes + 2;
      const cmd = this.#otherCommand(b, ls, le);
      cmd.tooLarge = true;
      return this.#ok(cmd, next);
    }
    if (!this.#haveData(ls, next, bytes)) return ls;
    const after = next + bytes + 2;
    const cmd = this.#otherCommand(b, ls, le);
    // a flag error is answered before a bad data block: the server decides
    if (b[next + bytes] !== CR || b[next + bytes + 1] !== LF) cmd.badChunk = true;
    else cmd.data = b.subarray(next, next + bytes);
    return this.#ok(cmd, after);
  }
}

function startsWith(b: Buffer, p: number, end: number, prefix: Uint8Array): boolean {
  if (end - p < prefix.length) return false;
  for (let k = 0; k < prefix.length; k++) if (b[p + k] !== prefix[k]) return false;
  return true;
}
