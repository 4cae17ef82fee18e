import { parseI32, parseU32, parseU64 } from './numbers.ts';
import { Replies } from './replies.ts';

/** A meta command refused with one of memcached's error lines (`reply`, \r\n included). */
export class MetaCommandError extends Error {
  override name = 'MetaCommandError';
  readonly reply: Buffer;
  constructor(reply: Buffer) {
    super(reply.toString('latin1').trim());
    this.reply = reply;
  }
}

/** What a meta command's flags ask for, as memcached 1.6.18's _meta_flag_preparse() reads them. */
export interface MetaFlags {
  /** The key, base64-decoded when the `b` flag is given. */
  key: Buffer;
  keyBinary: boolean;
  /** The flag tokens in request order: the reply's return flags follow this order. */
  tokens: string[];
  noReply: boolean;
  value: boolean;
  vivify: boolean;
  setStale: boolean;
  noUpdate: boolean;
  hasCas: boolean;
  /** T was given; exptime holds it (a protocol exptime, as sent). */
  newTtl: boolean;
  exptime: number;
  /** N's protocol exptime. */
  autovivExptime: number;
  /** R's protocol exptime. */
  recacheTime: number;
  clientFlags: number;
  reqCas: bigint;
  /** M's character, '' when none. */
  mode: string;
  delta: bigint;
  initial: bigint;
}

const BASE64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const DECODE = new Int16Array(256).fill(-1);
for (let i = 0; i < 64; i++) DECODE[BASE64.charCodeAt(i)] = i;
DECODE[0x3d] = 0; // '='

/**
 * memcached's base64_decode(): characters outside the alphabet are skipped, the rest must come in
 * groups of four, and decoding stops after the first group with padding. null where memcached
 * returns 0 (which it treats as a failure, so an empty result is one too).
 */
export function decodeBase64Key(token: string): Buffer | null {
  let count = 0;
  for (let i = 0; i < token.length; i++) if (DECODE[token.charCodeAt(i) & 0xff] >= 0) count++;
  if (count === 0 || count % 4 !== 0) return null;
  const out: number[] = [];
  const block = [0, 0, 0, 0];
  let n = 0;
  let pad = 0;
  for (let i = 0; i < token.length; i++) {
    const c = token.charCodeAt(i) & 0xff;
    const v = DECODE[c];
    if (v < 0) continue;
    if (c === 0x3d) pad++;
    block[n++] = v;
    if (n < 4) continue;
    out.push(((block[0] << 2) | (block[1] >> 4)) & 0xff, ((block[1] << 4) | (block[2] >> 2)) & 0xff, ((block[2] << 6) | block[3]) & 0xff);
    n = 0;
    if (pad === 0) continue;
    if (pad > 2) return null;
    out.length -= pad;
    break;
  }
  return out.length === 0 ? null : Buffer.from(out);
}

const tail = (t: string): Buffer => Buffer.from(t.slice(1), 'latin1');
const i32 = (t: string): number => {
  const b = tail(t);
  return parseI32(b, 0, b.length);
};
const u32 = (t: string): number => {
  const b = tail(t);
  return parseU32(b, 0, b.length);
};
const u64 = (t: string): bigint | null => {
  const b = tail(t);
  return parseU64(b, 0, b.length);
};

/**
 * Reads the flag tokens of a meta command the way memcached 1.6.18 does: every command accepts the same
 * flags (each command then uses the ones it knows); a repeated or unknown flag stops at once, while a
 * malformed value is remembered and the rest still read, so the error reported is the last one found.
 * `defaultError` is the command's reply for an error that sets none of its own (a bad F). Throws
 * MetaCommandError.
 */
export function parseMetaFlags(keyToken: string, flagTokens: string[], defaultError: Buffer = Replies.BAD_FORMAT): MetaFlags {
  const f: MetaFlags = {
    key: Buffer.from(keyToken, 'latin1'), keyBinary: false, tokens: flagTokens,
    noReply: false, value: false, vivify: false, setStale: false, noUpdate: false, hasCas: false, newTtl: false,
    exptime: 0, autovivExptime: 0, recacheTime: 0, clientFlags: 0, reqCas: 0n, mode: '', delta: 1n, initial: 0n,
  };
  const seen = new Set<number>();
  let error: Buffer | null = null;
  const fail = (reply: Buffer): void => { error = reply; };
  for (const t of flagTokens) {
    const o = t.charCodeAt(0);
    if (o >= 127 || seen.has(o)) throw new MetaCommandError(Replies.META_DUPLICATE_FLAG);
    seen.add(o);
    switch (t[0]) {
      case 'b': {
        const key = decodeBase64Key(keyToken);
        if (key === null) fail(Replies.META_KEY_DECODE);
        else f.key = key;
        f.keyBinary = true;
        break;
      }
      case 'N': case 'T': case 'R': {
        const v = i32(t);
        if (v !== v) { fail(Replies.META_BAD_TOKEN); break; }
        if (t[0] === 'N') { f.vivify = true; f.autovivExptime = v; }
        else if (t[0] === 'T') { f.newTtl = true; f.exptime = v; }
        else f.recacheTime = v;
        break;
      }
      case 'l': case 'O': case 'P': case 'L': case 'k': case 's': case 't': case 'c': case 'f': case 'h':
        break;
      case 'v': f.value = true; break;
      case 'u': f.noUpdate = true; break;
      case 'q': f.noReply = true; break;
      case 'I': f.setStale = true; break;
      case 'F': {
        const v = u32(t);
        if (v !== v) error ??= defaultError;
        else f.clientFlags = v;
        break;
      }
      case 'C': {
        const v = u64(t);
        if (v === null) fail(Replies.META_BAD_TOKEN);
        else { f.reqCas = v; f.hasCas = true; }
        break;
      }
      case 'M':
        if (t.length !== 2) fail(Replies.META_M_TOKEN_LENGTH);
        else f.mode = t[1];
        break;
      case 'J': case 'D': {
        const v = u64(t);
        if (v === null) fail(t[0] === 'J' ? Replies.META_INVALID_INITIAL : Replies.META_INVALID_DELTA);
        else if (t[0] === 'J') f.initial = v;
        else f.delta = v;
        break;
      }
      default:
        throw new MetaCommandError(Replies.META_INVALID_FLAG);
    }
  }
  if (error !== null) throw new MetaCommandError(error);
  return f;
}
