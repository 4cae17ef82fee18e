import type { SlabStore, StoreMode } from '../cache/store.ts';
import type { OtherCommand } from '../proto/text/commands.ts';
import { itemTotalSize, slabClassFor } from './admin.ts';
import type { DispatchHost } from './dispatch.ts';
import type { OutBuffer } from './out-buffer.ts';
import { R } from './replies.ts';

const KEY_MAX = 250;
const OPAQUE_MAX = 32;

const e = (s: string) => Buffer.from(`CLIENT_ERROR ${s}\r\n`, 'latin1');
const ERR = {
  format: e('bad command line format'),
  invalidFlag: e('invalid flag'),
  duplicateFlag: e('duplicate flag'),
  opaque: e('opaque token too long'),
  keyDecode: e('error decoding key'),
  mTokenLength: e('incorrect length for M token'),
  msMode: e('invalid mode for ms M token'),
  maMode: e('invalid mode for ma M token'),
  badToken: e('bad token in command line format'),
  invalidOrDuplicate: e('invalid or duplicate flag'),
};

/** Flags each meta command accepts (memcached 1.6.18 protocol.txt), P and L are proxy hints and ignored. */
/** Flags that carry a number; a malformed one is refused before anything is looked up. */
const NUMERIC: Record<string, string> = { mg: 'NRTE', ms: 'TCEN', md: 'CTE', ma: 'NJDTCE' };

const VALID: Record<string, string> = {
  mg: 'bcfhklOqstuvENRTPL',
  ms: 'bcCEFIkOqsSTMNPL',
  md: 'bCEIkOqTxPL',
  ma: 'bCENJDTMOqtcvkPL',
};

class MetaError extends Error {
  override name = 'MetaError';
  readonly reply: Buffer;
  constructor(reply: Buffer) {
    super(reply.toString('latin1').trim());
    this.reply = reply;
  }
}

interface Parsed {
  key: Buffer;
  /** what a malformed numeric flag answers: it differs between commands in memcached 1.6.18 */
  numErr: Buffer;
  /** the key as the client wrote it (base64 text with b) */
  rawKey: string;
  flags: Map<string, string>;
  order: string[];
}

function parseFlags(cmd: string, tokens: string[], first: number): Parsed {
  const rawKey = tokens[1];
  if (rawKey === undefined || rawKey.length > KEY_MAX) throw new MetaError(ERR.format);
  const flags = new Map<string, string>();
  const order: string[] = [];
  const valid = VALID[cmd];
  for (let i = first; i < tokens.length; i++) {
    const t = tokens[i];
    const f = t[0];
    if (!valid.includes(f)) throw new MetaError(ERR.invalidFlag);
    if (flags.has(f)) throw new MetaError(ERR.duplicateFlag);
    if (f === 'O' && t.length - 1 > OPAQUE_MAX) throw new MetaError(ERR.opaque);
    flags.set(f, t.slice(1));
    order.push(f);
  }
  let key: Buffer;
  if (flags.has('b')) {
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(rawKey) || rawKey.length % 4 !== 0) throw new MetaError(ERR.keyDecode);
    key = Buffer.from(rawKey, 'base64');
  } else {
    key = Buffer.from(rawKey, 'latin1');
  }
  const unsigned = cmd === 'ma' || cmd === 'md';
  const numErr = unsigned ? ERR.invalidOrDuplicate : ERR.badToken;
  const numeric = NUMERIC[cmd];
  for (const [f, v] of flags) {
    if (numeric.includes(f) && !(unsigned ? /^\d+$/ : /^-?\d+$/).test(v)) throw new MetaError(numErr);
    if (f === 'F' && !/^\d+$/.test(v)) throw new MetaError(ERR.format);
  }
  return { key, rawKey, flags, order, numErr };
}

/** Decimal number token; throws the given error when it is not one. */
function num(s: string | undefined, dflt: number, err: Buffer): number {
  if (s === undefined) return dflt;
  if (!/^-?\d+$/.test(s)) throw new MetaError(err);
  return Number(s);
}

function u64(s: string | undefined, dflt: bigint, err: Buffer): bigint {
  if (s === undefined) return dflt;
  if (!/^\d{1,20}$/.test(s)) throw new MetaError(err);
  const v = BigInt(s);
  if (v > 0xffffffffffffffffn) throw new MetaError(err);
  return v;
}

/** Return flags common to every meta reply: O (opaque), k (key), b (key is base64). */
function echoFlag(f: string, p: Parsed, out: OutBuffer): boolean {
  switch (f) {
    case 'O': out.latin1(` O${p.flags.get('O')}`); return true;
    case 'k': out.latin1(p.flags.has('b') ? ` k${p.rawKey} b` : ` k${p.rawKey}`); return true;
    case 'b': return true;
    default: return false;
  }
}

function itemFlag(f: string, store: SlabStore, h: number, out: OutBuffer): void {
  switch (f) {
    case 'f': out.latin1(' f'); out.uint(store.itemFlags(h)); break;
    case 't': { const ttl = store.itemTtl(h); out.latin1(' t'); if (ttl === 0) out.latin1('-1'); else out.uint(ttl); break; }
    case 'c': out.latin1(' c'); out.bigint(store.itemCas(h)); break;
    case 's': out.latin1(' s'); out.uint(store.itemValueLength(h)); break;
    case 'h': out.latin1(' h0'); break;
    case 'l': out.latin1(' l0'); break;
  }
}

/** Writes the reply code, then the requested return flags and \r\n. */
function head(code: string, p: Parsed, out: OutBuffer, store: SlabStore | null, h: number): void {
  out.latin1(code);
  for (const f of p.order) {
    if (echoFlag(f, p, out)) continue;
    if (store && h >= 0) itemFlag(f, store, h, out);
  }
  out.crlf();
}

function value(store: SlabStore, h: number, out: OutBuffer): void {
  const len = store.itemValueLength(h);
  const buf = out.reserve(len + 2);
  store.copyValue(h, buf, out.offset);
  out.advance(len);
  out.crlf();
}

function mg(p: Parsed, out: OutBuffer, host: DispatchHost): void {
  const store = host.store;
  const ttl = p.flags.get('T');
  const h = ttl !== undefined ? store.getAndTouch(p.key, num(ttl, 0, p.numErr)) : store.get(p.key);
  if (h < 0) {
    if (!p.flags.has('q')) out.bytes(R.EN);
    return;
  }
  if (ttl !== undefined) host.onMutation?.({ op: 'touch', key: p.key, exptime: num(ttl, 0, p.numErr) });
  if (p.flags.has('v')) {
    out.latin1('VA ');
    out.uint(store.itemValueLength(h));
    head('', p, out, store, h);
    value(store, h, out);
  } else {
    head('HD', p, out, store, h);
  }
}

const MS_MODES: Record<string, StoreMode> = { E: 'add', A: 'append', P: 'prepend', R: 'replace', S: 'set' };

function ms(p: Parsed, data: Buffer, out: OutBuffer, host: DispatchHost): void {
  const store = host.store;
  const m = p.flags.get('M');
  if (m !== undefined && m.length !== 1) throw new MetaError(ERR.mTokenLength);
  let mode: StoreMode = MS_MODES[(m ?? 'S').toUpperCase()];
  if (!mode) throw new MetaError(ERR.msMode);
  const cas = p.flags.has('C') ? u64(p.flags.get('C'), 0n, p.numErr) : 0n;
  if (p.flags.has('C') && mode === 'set') mode = 'cas';
  const flags = num(p.flags.get('F'), 0, ERR.format);
  const exptime = num(p.flags.get('T'), 0, p.numErr);
  const res = store.store(mode, p.key, flags, exptime, data, cas);
  switch (res) {
    case 'STORED': {
      host.onMutation?.({ op: mode, key: p.key, exptime });
      if (p.flags.has('q')) return;
      const h = p.flags.has('c') ? store.peek(p.key) : -1;
      out.latin1('HD');
      for (const f of p.order) {
        if (echoFlag(f, p, out)) continue;
        if (f === 'c' && h >= 0) { out.latin1(' c'); out.bigint(store.itemCas(h)); }
      }
      out.crlf();
      return;
    }
    case 'NOT_STORED': return head('NS', p, out, null, -1);
    case 'EXISTS': return head('EX', p, out, null, -1);
    case 'NOT_FOUND': return head('NF', p, out, null, -1);
    case 'TOO_LARGE': out.bytes(R.TOO_LARGE); return;
    case 'NO_MEMORY': out.bytes(R.NO_MEMORY); return;
  }
}

function md(p: Parsed, out: OutBuffer, host: DispatchHost): void {
  const store = host.store;
  const h = store.peek(p.key);
  if (h < 0) return head('NF', p, out, null, -1);
  if (p.flags.has('C') && store.itemCas(h) !== u64(p.flags.get('C'), 0n, p.numErr)) return head('EX', p, out, null, -1);
  store.delete(p.key);
  host.onMutation?.({ op: 'delete', key: p.key });
  if (!p.flags.has('q')) head('HD', p, out, null, -1);
}

function ma(p: Parsed, out: OutBuffer, host: DispatchHost): void {
  const store = host.store;
  const m = p.flags.get('M');
  if (m !== undefined && m.length !== 1) throw new MetaError(ERR.mTokenLength);
  const mm = m ?? 'I';
  if (!'Ii+Dd-'.includes(mm)) throw new MetaError(ERR.maMode);
  const incr = !'Dd-'.includes(mm);
  const delta = u64(p.flags.get('D'), 1n, p.numErr);
  const initial = u64(p.flags.get('J'), 0n, p.numErr);
  const vivify = p.flags.has('N') ? num(p.flags.get('N'), 0, p.numErr) : -1;
  const ttl = p.flags.has('T') ? num(p.flags.get('T'), 0, p.numErr) : -1;
  const compare = p.flags.has('C') ? u64(p.flags.get('C'), 0n, p.numErr) : -1n;
  const key = p.key;
  const existing = store.peek(key);
  if (existing >= 0 && compare >= 0n && store.itemCas(existing) !== compare) {
    return head('EX', p, out, null, -1);
  }
  let result: bigint;
  if (existing < 0) {
    if (vivify < 0) return head('NF', p, out, null, -1);
    const r = store.store('add', key, 0, vivify, Buffer.from(initial.toString()), 0n);
    if (r !== 'STORED') return head('NS', p, out, null, -1);
    host.onMutation?.({ op: 'add', key, exptime: vivify });
    result = initial;
  } else {
    const r = store.arith(key, incr, delta);
    if (r === 'NOT_FOUND') return head('NF', p, out, null, -1);
    if (r === 'NON_NUMERIC') { out.bytes(R.NON_NUMERIC); return; }
    if (r === 'NO_MEMORY') { out.bytes(R.ARITH_NO_MEMORY); return; }
    host.onMutation?.({ op: incr ? 'incr' : 'decr', key });
    result = r;
    if (ttl >= 0 && store.touch(key, ttl)) host.onMutation?.({ op: 'touch', key, exptime: ttl });
  }
  const h = store.peek(key);
  if (p.flags.has('v')) {
    const text = result.toString();
    out.latin1(`VA ${text.length}`);
    head('', p, out, store, h);
    out.latin1(text);
    out.crlf();
  } else if (!p.flags.has('q')) {
    head('HD', p, out, store, h);
  }
}

/** memcached's ITEM_ntotal and slab class, for `me`. */
function me(p: Parsed, out: OutBuffer, host: DispatchHost): void {
  const store = host.store;
  const h = store.peek(p.key);
  if (h < 0) { out.bytes(R.EN); return; }
  const size = itemTotalSize(p.key.length, store.itemValueLength(h), store.itemFlags(h), host.config.casEnabled);
  const cls = slabClassFor(store, size);
  const ttl = store.itemTtl(h);
  out.latin1(`ME ${p.rawKey} exp=${ttl === 0 ? -1 : ttl} la=0 cas=${store.itemCas(h)} fetch=no cls=${cls} size=${size}\r\n`);
}

/** Meta protocol commands; returns false for commands it does not implement (answered ERROR). */
export function handleMeta(cmd: OtherCommand, out: OutBuffer, host: DispatchHost): boolean {
  const name = cmd.name;
  if (name.length !== 2 || name[0] !== 'm') return false;
  if (name === 'mn') {
    out.bytes(R.MN);
    return true;
  }
  if (!(name in VALID) && name !== 'me') return false;
  const tokens = cmd.line.toString('latin1').split(' ').filter((t) => t.length > 0);
  const mark = out.length;
  try {
    if (tokens.length < 2) { out.bytes(R.ERROR); return true; }
    if (name === 'me') {
      me(parseFlags('md', tokens, 2), out, host);
      return true;
    }
    if (name === 'ms') {
      if (cmd.tooLarge) { out.bytes(R.TOO_LARGE); return true; }
      if (tokens.length < 3 || !/^\d+$/.test(tokens[2])) throw new MetaError(ERR.format);
      const p = parseFlags(name, tokens, 3);
      ms(p, cmd.data ?? Buffer.alloc(0), out, host);
      return true;
    }
    const p = parseFlags(name, tokens, 2);
    if (name === 'mg') mg(p, out, host);
    else if (name === 'md') md(p, out, host);
    else ma(p, out, host);
    return true;
  } catch (err) {
    if (!(err instanceof MetaError)) throw err;
    out.rewind(mark);
    out.bytes(err.reply);
    return true;
  }
}
