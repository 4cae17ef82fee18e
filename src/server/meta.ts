import type { Handle, SlabStore, StoreMode } from '../cache/store.ts';
import { IT_FETCHED, IT_KEY_BINARY, IT_STALE, IT_TOKEN_SENT, memcachedItemTotal } from '../cache/layout.ts';
import type { OtherCommand } from '../proto/text/commands.ts';
import { MetaCommandError, parseMetaFlags, type MetaFlags } from '../proto/text/meta-flags.ts';
import { Replies } from '../proto/text/replies.ts';
import type { DispatchHost } from './host.ts';
import type { OutBuffer } from '../net/out-buffer.ts';

/**
 * memcached 1.6.18's meta commands (mg, ms, md, ma, mn, me), reply for reply: which flags each command
 * reads, the order of the return flags (the request's), what `q` hides, and the error each failure gives.
 */

const KEY_MAX = 250;
/** memcached's MFLAG_MAX_OPT_LENGTH, counted in tokens plus one (its tokenizer's end marker). */
const MAX_TOKENS = 20;
/** Longest O token, the O included. */
const OPAQUE_MAX = 32;
const EMPTY = Buffer.alloc(0);

const MS_MODES: Record<string, StoreMode> = { E: 'add', A: 'append', P: 'prepend', R: 'replace', S: 'set' };

/** Meta protocol commands; returns false for commands it does not implement (answered ERROR). */
export function handleMeta(cmd: OtherCommand, out: OutBuffer, host: DispatchHost): boolean {
  const name = cmd.name;
  if (name.length !== 2 || name[0] !== 'm') return false;
  if (name === 'mn') {
    out.bytes(Replies.MN);
    return true;
  }
  const run = COMMANDS[name];
  if (run === undefined && name !== 'me') return false;
  let line = cmd.line.toString('latin1');
  // A NUL ends the line, as C's strlen() in memcached's tokenizer (the parser's tokens stop there too).
  const nul = line.indexOf('\0');
  if (nul >= 0) line = line.slice(0, nul);
  const tokens = line.split(' ').filter((t) => t.length > 0);
  const mark = out.length;
  try {
    if (name === 'me') me(tokens, out, host);
    else if (tokens.length < 2) out.bytes(Replies.ERROR);
    else run!(tokens, cmd, out, host);
  } catch (err) {
    if (!(err instanceof MetaCommandError)) throw err;
    out.rewind(mark);
    out.bytes(err.reply);
  }
  return true;
}

type Command = (tokens: string[], cmd: OtherCommand, out: OutBuffer, host: DispatchHost) => void;

const COMMANDS: Record<string, Command> = { mg, ms, md, ma };

/** Every meta command answered here (others are answered ERROR). */
export const META_COMMAND_NAMES: readonly string[] = ['mn', 'me', ...Object.keys(COMMANDS)];

/** The checks before the flags: key length, token count (errors of their own for each command). */
function checkLine(tokens: string[], tooLong: Buffer): void {
  if (tokens[1].length > KEY_MAX) throw new MetaCommandError(Replies.BAD_FORMAT);
  if (tokens.length + 1 > MAX_TOKENS) throw new MetaCommandError(tooLong);
}

/** md and ma answer every flag error alike. */
function flagsOrInvalid(tokens: string[]): MetaFlags {
  try {
    return parseMetaFlags(tokens[1], tokens.slice(2));
  } catch (err) {
    if (err instanceof MetaCommandError) throw new MetaCommandError(Replies.META_INVALID_OR_DUPLICATE_FLAG);
    throw err;
  }
}

/** Refuses an O token that is too long before the command does anything. */
function checkOpaque(f: MetaFlags): void {
  for (const t of f.tokens) if (t[0] === 'O' && t.length > OPAQUE_MAX) throw new MetaCommandError(Replies.META_OPAQUE_TOO_LONG);
}

function opaque(t: string, out: OutBuffer): void {
  if (t.length > OPAQUE_MAX) throw new MetaCommandError(Replies.META_OPAQUE_TOO_LONG);
  out.latin1(` ${t}`);
}

function keyFlag(key: Buffer, binary: boolean, out: OutBuffer): void {
  out.latin1(binary ? ` k${key.toString('base64')} b` : ` k${key.toString('latin1')}`);
}

/** The return flags every reply carries: O (opaque) and k (key). */
function echoFlags(f: MetaFlags, out: OutBuffer): void {
  for (const t of f.tokens) {
    if (t[0] === 'O') opaque(t, out);
    else if (t[0] === 'k') keyFlag(f.key, f.keyBinary, out);
  }
}

function ttlFlag(store: SlabStore, h: Handle, out: OutBuffer): void {
  const exptime = store.itemExptime(h);
  out.latin1(exptime === 0 ? ' t-1' : ` t${(exptime - store.now) >>> 0}`);
}

function mg(tokens: string[], _cmd: OtherCommand, out: OutBuffer, host: DispatchHost): void {
  checkLine(tokens, Replies.META_FLAGS_ARE_TOO_LONG);
  const f = parseMetaFlags(tokens[1], tokens.slice(2));
  const store = host.store;
  let h = store.findLive(f.key);
  let created = false;
  if (h < 0 && f.vivify && store.vivify(f.key, EMPTY) === 'STORED') {
    h = store.lastWritten;
    created = true; // memcached does not mark a vivified item's key as base64: k prints its bytes
  }
  if (h < 0) {
    store.countMetaGet(-1, false, false);
    checkOpaque(f); // even when q hides the EN
    if (!f.noReply) noItem('EN', f, out);
    return;
  }
  const marks = store.itemMarks(h);
  let won = false;
  let touched = false;
  if (f.value) {
    out.latin1('VA ');
    out.uint(store.itemValueLength(h));
  } else {
    out.latin1('HD');
  }
  for (const t of f.tokens) {
    switch (t[0]) {
      case 'T':
        touched = true;
        // a touch of its own, unless this command just created the item (whose change is recorded already)
        if (created) store.setItemExptime(h, store.storeTime(f.exptime));
        else store.touchItem(h, store.storeTime(f.exptime));
        break;
      case 'N':
        if (created) {
          store.setItemExptime(h, store.storeTime(f.autovivExptime));
          won = true;
        }
        break;
      case 'R': {
        const exptime = store.itemExptime(h);
        if ((marks & IT_TOKEN_SENT) === 0 && !created && exptime !== 0 && exptime < store.storeTime(f.recacheTime)) won = true;
        break;
      }
      case 's': out.latin1(' s'); out.uint(store.itemValueLength(h)); break;
      case 't': ttlFlag(store, h, out); break;
      case 'c': out.latin1(' c'); out.bigint(store.itemCas(h)); break;
      case 'f': out.latin1(' f'); out.uint(store.itemFlags(h)); break;
      case 'l': out.latin1(' l'); out.uint(store.itemIdleSeconds(h)); break;
      case 'h': out.latin1((marks & IT_FETCHED) !== 0 ? ' h1' : ' h0'); break;
      case 'O': opaque(t, out); break;
      case 'k': keyFlag(f.key, (marks & IT_KEY_BINARY) !== 0, out); break;
    }
  }
  if ((marks & IT_TOKEN_SENT) !== 0) out.latin1(' Z');
  if ((marks & IT_STALE) !== 0) {
    out.latin1(' X');
    if ((marks & IT_TOKEN_SENT) === 0) won = true;
  }
  if (won) {
    out.latin1(' W');
    store.mark(h, IT_TOKEN_SENT);
  }
  out.crlf();
  if (f.value) {
    const len = store.itemValueLength(h);
    const buf = out.reserve(len + 2);
    store.copyValue(h, buf, out.offset);
    out.advance(len);
    out.crlf();
  }
  store.countMetaGet(h, touched, !f.noUpdate);
}

function ms(tokens: string[], cmd: OtherCommand, out: OutBuffer, host: DispatchHost): void {
  // the parser has answered the errors found before the data block (key, token count, length)
  const f = parseMetaFlags(tokens[1], tokens.slice(3));
  let mode = MS_MODES[f.mode || 'S'];
  if (mode === undefined) throw new MetaCommandError(Replies.META_MS_MODE);
  checkOpaque(f);
  if (f.hasCas && (mode === 'set' || mode === 'replace')) mode = 'cas';
  const store = host.store;
  if (cmd.tooLarge) {
    store.unlink(f.key);
    throw new MetaCommandError(Replies.TOO_LARGE);
  }
  if (cmd.badChunk) throw new MetaCommandError(Replies.BAD_DATA_CHUNK);
  const data = cmd.data ?? EMPTY;
  const stale = f.setStale && mode === 'cas' ? staleTarget(store, f) : null;
  const res = stale ? store.store('set', f.key, f.clientFlags, f.exptime, data, 0n) : store.store(mode, f.key, f.clientFlags, f.exptime, data, f.reqCas);
  let h: Handle | -1 = -1;
  if (res === 'STORED') {
    h = store.lastWritten;
    if (f.keyBinary) store.mark(h, IT_KEY_BINARY);
    if (stale) {
      store.setItemExptime(h, stale.exptime);
      store.mark(h, IT_STALE | stale.tokenSent);
    }
    if (f.noReply) return;
  }
  switch (res) {
    case 'STORED': out.latin1('HD'); break;
    case 'NOT_STORED': out.latin1('NS'); break;
    case 'EXISTS': out.latin1('EX'); break;
    case 'NOT_FOUND': out.latin1('NF'); break;
    case 'TOO_LARGE': out.bytes(Replies.TOO_LARGE); return;
    case 'NO_MEMORY': out.bytes(Replies.OUT_OF_MEMORY_STORING); return;
  }
  for (const t of f.tokens) {
    if (t[0] === 'O') out.latin1(` ${t}`);
    else if (t[0] === 'k') keyFlag(f.key, f.keyBinary, out);
    else if (t[0] === 'c') { out.latin1(' c'); out.bigint(h >= 0 ? store.itemCas(h) : 0n); }
  }
  out.crlf();
}

/**
 * ms with I and a CAS older than the item's: the value is stored anyway, marked stale, keeping the item's
 * exptime and recache token. null when the CAS is not older, or 0 (a plain cas store then decides).
 */
function staleTarget(store: SlabStore, f: MetaFlags): { exptime: number; tokenSent: number } | null {
  const h = store.findLive(f.key);
  if (h < 0 || f.reqCas === 0n || !(f.reqCas < store.itemCas(h))) return null;
  return { exptime: store.itemExptime(h), tokenSent: store.itemMarks(h) & IT_TOKEN_SENT };
}

function md(tokens: string[], _cmd: OtherCommand, out: OutBuffer, host: DispatchHost): void {
  checkLine(tokens, Replies.META_FLAGS_TOO_LONG);
  const f = flagsOrInvalid(tokens);
  checkOpaque(f);
  const store = host.store;
  const h = store.findLive(f.key);
  let code: string;
  if (h < 0) {
    store.delete(f.key); // counts the miss
    code = 'NF';
  } else if (f.hasCas && store.itemCas(h) !== f.reqCas) {
    code = 'EX';
  } else if (f.setStale) {
    if (f.newTtl) store.setItemExptime(h, store.storeTime(f.exptime));
    store.mark(h, IT_STALE, IT_TOKEN_SENT);
    store.renewCas(h);
    code = 'HD';
  } else {
    store.delete(f.key);
    code = 'HD';
  }
  if (code !== 'HD' || !f.noReply) noItem(code, f, out);
}

function ma(tokens: string[], _cmd: OtherCommand, out: OutBuffer, host: DispatchHost): void {
  checkLine(tokens, Replies.META_FLAGS_TOO_LONG);
  const f = flagsOrInvalid(tokens);
  let incr: boolean;
  switch (f.mode) {
    case '': case 'I': case '+': incr = true; break;
    case 'D': case '-': incr = false; break;
    default: throw new MetaCommandError(Replies.META_MA_MODE);
  }
  const store = host.store;
  const r = store.arith(f.key, incr, f.delta, f.reqCas, !f.vivify);
  let value: bigint;
  let created = false;
  if (typeof r === 'bigint') {
    value = r;
  } else if (r === 'NOT_FOUND' && f.vivify) {
    const stored = store.vivify(f.key, Buffer.from(f.initial.toString(), 'latin1'));
    if (stored === 'NO_MEMORY' || stored === 'TOO_LARGE') throw new MetaCommandError(Replies.META_OUT_OF_MEMORY_ALLOC);
    if (stored !== 'STORED') return noItem('NS', f, out);
    value = f.initial;
    created = true;
  } else {
    switch (r) {
      case 'NON_NUMERIC': throw new MetaCommandError(Replies.NON_NUMERIC);
      case 'NO_MEMORY': throw new MetaCommandError(Replies.OUT_OF_MEMORY);
      case 'EXISTS': return noItem('EX', f, out);
      default: return noItem('NF', f, out);
    }
  }
  const h = store.lastWritten;
  const digits = value.toString();
  const start = out.length;
  out.latin1(f.value ? `VA ${digits.length}` : 'HD');
  for (const t of f.tokens) {
    switch (t[0]) {
      case 'c': out.latin1(' c'); out.bigint(store.itemCas(h)); break;
      case 't': ttlFlag(store, h, out); break;
      // a touch of its own: a counter's increments replicate as operations, which carry no TTL
      case 'T': store.touchItem(h, store.storeTime(f.exptime)); break;
      case 'N': if (created) store.setItemExptime(h, store.storeTime(f.autovivExptime)); break;
      case 'O': opaque(t, out); break;
      case 'k': keyFlag(f.key, f.keyBinary, out); break;
    }
  }
  if (f.value) {
    out.crlf();
    out.latin1(digits);
  }
  out.crlf();
  // q hides the reply to a change, not to a vivify; the flags above still took effect (T, a bad O)
  if (f.noReply && !created) out.rewind(start);
}

/** A reply without an item: the code and the O and k flags. */
function noItem(code: string, f: MetaFlags, out: OutBuffer): void {
  out.latin1(code);
  echoFlags(f, out);
  out.crlf();
}

/** `me <key> [b]`: memcached's item debug line (ITEM_ntotal and slab class as memcached computes them). */
function me(tokens: string[], out: OutBuffer, host: DispatchHost): void {
  if (tokens.length < 2 || tokens[1].length > KEY_MAX) throw new MetaCommandError(Replies.BAD_FORMAT);
  const key = tokens[2] === 'b' ? parseMetaFlags(tokens[1], ['b']).key : Buffer.from(tokens[1], 'latin1');
  host.counters.cmdMeta++; // memcached 1.6 counts cmd_meta here only (and in its proxy)
  const store = host.store;
  const h = store.peek(key);
  if (h < 0) {
    out.bytes(Replies.EN);
    return;
  }
  const size = memcachedItemTotal(key.length, store.itemValueLength(h), store.itemFlags(h), host.config.casEnabled);
  const cls = store.slabClassFor(size);
  const exptime = store.itemExptime(h);
  const marks = store.itemMarks(h);
  const fetched = (marks & IT_FETCHED) !== 0 ? 'yes' : 'no';
  const keyText = key.toString((marks & IT_KEY_BINARY) !== 0 ? 'base64' : 'latin1');
  // memcached prints current_time - exptime here: negative for an item that has not expired
  out.latin1(`ME ${keyText} exp=${exptime === 0 ? -1 : store.now - exptime} la=${store.itemIdleSeconds(h)} cas=${store.itemCas(h)} fetch=${fetched} cls=${cls} size=${size}\r\n`);
}
