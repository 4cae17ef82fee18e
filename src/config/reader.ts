import { isIPv4, isIPv6 } from 'node:net';
import { ConfigError, FatalConfigError } from './errors.ts';
import { KEEPALIVED_KEYWORDS } from './keywords.ts';
import { suggest } from './suggest.ts';
import { isBrace, splitArgv, whereOf, type Token } from './lexer.ts';
import type { NotifyCommand } from './model.ts';

/** Blocks that only exist at the top level: meeting one inside a block means a '}' is missing. */
const TOP_LEVEL = new Set(['global_defs', 'vrrp_instance', 'vrrp_script', 'vrrp_sync_group', 'virtual_server', 'cache_daemon', 'proxy_daemon']);

export type Handler = (r: Reader, kw: Token) => void;
/** The keywords a block understands. Knowing them lets the reader find where arguments end. */
export type Table = Map<string, Handler>;

/**
 * Arity-aware cursor over the tokens. Required arguments must be on the keyword's line (so a
 * missing value is reported there); a keyword never swallows a word that is a keyword of its block,
 * which is what makes the flattened one-line form parse as intended.
 *
 * Errors do not stop the reading: each statement (a keyword with its arguments and block) that fails is
 * recorded in `errors` and skipped, so one run reports every mistake in a file.
 */
export class Reader {
  readonly warnings: string[] = [];
  readonly errors: ConfigError[] = [];
  private readonly tokens: Token[];
  private readonly once = new Set<string>();
  private pos = 0;
  /** A top-level keyword appeared inside a block: the blocks around it close without more errors. */
  private closing = false;
  /** Blocks closed that way: as many stray '}' later at the top level are theirs, not new errors. */
  private implicitlyClosed = 0;

  constructor(tokens: Token[]) {
    this.tokens = tokens;
  }

  peek(): Token | undefined {
    return this.tokens[this.pos];
  }

  next(): Token | undefined {
    return this.tokens[this.pos++];
  }

  fail(t: Token, message: string): never {
    throw new ConfigError(whereOf(t), message);
  }

  /** Record an error and go on reading. */
  error(at: Token | string, message: string): void {
    this.errors.push(new ConfigError(typeof at === 'string' ? at : whereOf(at), message));
  }

  /** Runs `fn`; a ConfigError it throws is recorded instead (fatal ones propagate). Returns false on error. */
  recover(fn: () => void): boolean {
    try {
      fn();
      return true;
    } catch (e) {
      if (!(e instanceof ConfigError) || e instanceof FatalConfigError) throw e;
      this.errors.push(e);
      return false;
    }
  }

  /**
   * One statement starting at keyword `kw`: on an error, skips what is left of it (its other arguments on the
   * line, and its `{ … }` block if it had not opened it yet) so reading resumes at the next statement.
   */
  statement(kw: Token, table: Table | null, run: () => void): void {
    const start = this.pos;
    if (this.recover(run)) return;
    while (this.optional(kw, table)) {
      /* the rest of its arguments */
    }
    const opened = this.tokens.slice(start, this.pos).some((t) => isBrace(t, '{'));
    if (!opened && isBrace(this.peek(), '{')) this.skipBlock(kw);
  }

  /** The top level: blocks by `table`, unknown keywords skipped, stray braces reported. */
  topLevel(table: Table): void {
    for (let t = this.next(); t; t = this.next()) {
      this.closing = false;
      if (isBrace(t, '}')) {
        if (this.implicitlyClosed > 0) this.implicitlyClosed--;
        else this.error(t, "unexpected '}': no block is open here");
        continue;
      }
      if (isBrace(t, '{')) {
        this.error(t, "unexpected '{': a block must follow its keyword");
        this.pos--;
        this.skipBlock(t);
        continue;
      }
      const handler = t.quoted ? undefined : table.get(t.text);
      if (handler) this.statement(t, table, () => handler(this, t));
      else this.skipUnknown(t, 'the top level', table);
    }
  }

  /** Record a non-fatal finding at a token or a "file:line". */
  warn(at: Token | string, message: string): void {
    this.warnings.push(`${typeof at === 'string' ? at : whereOf(at)}: ${message}`);
  }

  /** Warn only the first time `key` is seen in this config. */
  warnOnce(key: string, t: Token, message: string): void {
    if (this.once.has(key)) return;
    this.once.add(key);
    this.warn(t, message);
  }

  /** The next token, which must be on `kw`'s line and not a brace. */
  arg(kw: Token, what: string): Token {
    const t = this.peek();
    if (!t || t.file !== kw.file || t.line !== kw.line || isBrace(t, '{') || isBrace(t, '}')) {
      this.fail(kw, `${kw.text} expects ${what}`);
    }
    this.pos++;
    return t;
  }

  /**
   * Consume the next token if it is on `kw`'s line, not a brace, and `accept`s. With a `table` (an optional
   * argument of a keyword), never a keyword of that table or of keepalived.
   */
  optional(kw: Token, table: Table | null, accept: (t: Token) => boolean = () => true): Token | undefined {
    const t = this.peek();
    if (!t || t.file !== kw.file || t.line !== kw.line || isBrace(t, '{') || isBrace(t, '}')) return undefined;
    if (table && !t.quoted && (table.has(t.text) || KEEPALIVED_KEYWORDS.has(t.text) || TOP_LEVEL.has(t.text))) return undefined;
    if (!accept(t)) return undefined;
    this.pos++;
    return t;
  }

  private open(opener: Token, label: string): void {
    const t = this.peek();
    if (!isBrace(t, '{')) {
      this.fail(t ?? opener, `expected '{' after ${label}, got ${t ? `"${t.text}"` : 'end of file'}`);
    }
    this.pos++;
  }

  private unclosed(opener: Token, label: string): never {
    const last = this.tokens[this.tokens.length - 1] ?? opener;
    throw new FatalConfigError(whereOf(last), `missing '}': ${label} opened at ${whereOf(opener)} is not closed at end of file`);
  }

  /**
   * A top-level block keyword inside a block means a '}' is missing: reported once (by the innermost
   * block), and every open block ends before it so the keyword is read at the top level.
   */
  private closesBlock(t: Token, opener: Token, label: string): boolean {
    if (t.quoted || !TOP_LEVEL.has(t.text)) return false;
    if (!this.closing) {
      this.error(t, `${t.text} cannot be inside ${label}: a '}' is missing before it (${label} opened at ${whereOf(opener)})`);
      this.closing = true;
    }
    this.implicitlyClosed++;
    this.pos--;
    return true;
  }

  /** `{ keyword args… … }` */
  block(opener: Token, label: string, context: string, table: Table): void {
    this.open(opener, label);
    for (;;) {
      const t = this.next();
      if (!t) this.unclosed(opener, label);
      if (isBrace(t, '}')) return;
      if (isBrace(t, '{')) {
        this.error(t, `unexpected '{' in ${context}`);
        continue;
      }
      if (this.closesBlock(t, opener, label)) return;
      const handler = t.quoted ? undefined : table.get(t.text);
      if (handler) this.statement(t, table, () => handler(this, t));
      else this.skipUnknown(t, context, table);
    }
  }

  /** `{ item [options] item [options] … }`: `item` consumes one entry starting at `first`. */
  items(opener: Token, label: string, item: (first: Token) => void): void {
    this.open(opener, label);
    for (;;) {
      const t = this.next();
      if (!t) this.unclosed(opener, label);
      if (isBrace(t, '}')) return;
      if (isBrace(t, '{')) {
        this.error(t, `unexpected '{' in ${label}`);
        continue;
      }
      if (this.closesBlock(t, opener, label)) return;
      if (this.recover(() => item(t))) continue;
      // the rest of the failed entry's line
      for (let n = this.peek(); n && n.file === t.file && n.line === t.line && !isBrace(n, '{') && !isBrace(n, '}'); n = this.peek()) this.pos++;
    }
  }

  /**
   * Skip an unknown keyword: its words on the line, then a `{ … }` block if one follows. A keepalived keyword
   * that haved does not read is a warning (`message`, if given); any other word is an error with the keyword
   * it most likely meant — except a word in the middle of a line that resembles no keyword, which keepalived
   * would ignore as an extra argument: a warning.
   */
  skipUnknown(t: Token, context: string, table: Table | null, message?: string): void {
    const where = context === 'the top level' ? 'at the top level' : `in ${context}`;
    if (message !== undefined || (!t.quoted && KEEPALIVED_KEYWORDS.has(t.text))) {
      this.warn(t, message ?? `unknown keyword '${t.text}' ${where} (ignored)`);
    } else if (t.quoted && this.startsStatement(t)) {
      this.error(t, `"${t.text}" ${where}: a keyword cannot be quoted`);
    } else {
      const meant = suggest(t.text, table?.keys() ?? [], KEEPALIVED_KEYWORDS);
      if (meant !== null) this.error(t, `unknown keyword '${t.text}' ${where} (did you mean '${meant}'?)`);
      else if (this.startsStatement(t)) this.error(t, `unknown keyword '${t.text}' ${where}: neither haved nor keepalived 2.2 knows it`);
      else this.warn(t, `'${t.text}' ${where} is not a keyword; ignored (as keepalived ignores extra words on a line)`);
    }
    while (this.optional(t, table)) {
      /* skip its arguments */
    }
    if (isBrace(this.peek(), '{')) this.skipBlock(t);
  }

  /** `t` (just read) is the first word of its line, or follows a brace. */
  private startsStatement(t: Token): boolean {
    const prev = this.tokens[this.pos - 2];
    return !prev || prev.file !== t.file || prev.line !== t.line || isBrace(prev, '{') || isBrace(prev, '}');
  }

  private skipBlock(opener: Token): void {
    let depth = 0;
    for (;;) {
      const t = this.next();
      if (!t) this.unclosed(opener, `'${opener.text}'`);
      if (isBrace(t, '{')) depth++;
      else if (isBrace(t, '}') && --depth === 0) return;
    }
  }

  // ---- typed arguments -------------------------------------------------------------------------

  int(kw: Token, min: number, max: number): number {
    const t = this.arg(kw, `an integer ${min}..${max}`);
    const n = /^[-+]?\d+$/.test(t.text) ? Number(t.text) : NaN;
    if (!Number.isSafeInteger(n) || n < min || n > max) {
      this.fail(t, `${kw.text} must be an integer ${min}..${max}, got "${t.text}"`);
    }
    return n;
  }

  /** keepalived <TIMER>: decimal seconds; returned in ms (rounded). */
  timerMs(kw: Token, minMs: number, maxMs: number): number {
    return this.timerMsOf(this.arg(kw, 'a duration in seconds'), kw.text, minMs, maxMs);
  }

  /** timerMs() of a token already read, e.g. a keyword's second argument. */
  timerMsOf(t: Token, what: string, minMs: number, maxMs: number): number {
    const ms = /^\d+(\.\d+)?$|^\.\d+$/.test(t.text) ? Math.round(Number(t.text) * 1000) : NaN;
    if (Number.isNaN(ms)) this.fail(t, `${what} must be a duration in seconds (e.g. 3 or 0.5), got "${t.text}"`);
    if (ms < minMs || ms > maxMs) {
      this.fail(t, `${what} must be between ${minMs / 1000} and ${maxMs / 1000} seconds, got "${t.text}"`);
    }
    return ms;
  }

  ipv4(kw: Token, what = kw.text): string {
    return checkIPv4(this, this.arg(kw, 'an IPv4 address'), what);
  }

  /** An IPv4 or IPv6 address (the instance's family is checked once the block is read). */
  ip(kw: Token, what = kw.text): string {
    return checkIP(this, this.arg(kw, 'an IPv4 or IPv6 address'), what);
  }

  port(kw: Token, what = kw.text): number {
    return this.portOf(this.arg(kw, 'a port 1..65535'), what);
  }

  /** port() of a token already read. */
  portOf(t: Token, what: string): number {
    const n = /^\d+$/.test(t.text) ? Number(t.text) : NaN;
    if (!(n >= 1 && n <= 65535)) this.fail(t, `${what} must be a port 1..65535, got "${t.text}"`);
    return n;
  }

  word(kw: Token, what: string): string {
    return this.arg(kw, what).text;
  }

  /**
   * `KEYWORD "PROGRAM ARGS" [MORE ARGS…]`: a quoted command line split like a shell, and unquoted words after it
   * (up to the next keyword of `table`) are more arguments, as keepalived reads `script killall -0 magent`.
   */
  commandLine(kw: Token, table: Table, what: string, emptyWhat: string): { argv: string[]; first: Token } {
    const first = this.arg(kw, what);
    const argv = splitArgv(first.text);
    for (let w; (w = this.optional(kw, table)); ) argv.push(w.text);
    if (argv.length === 0) this.fail(first, `${kw.text} expects ${emptyWhat}, got an empty string`);
    return { argv, first };
  }

  /** `KEYWORD SCRIPT|"SCRIPT args" [user [group]]` */
  notify(kw: Token, table: Table): NotifyCommand {
    const script = this.arg(kw, 'a script (quote it when it has arguments)');
    const argv = splitArgv(script.text);
    if (argv.length === 0) this.fail(script, `${kw.text} expects a script, got an empty string`);
    const user = this.optional(kw, table);
    if (user && this.optional(kw, table)) {
      this.warn(kw, `${kw.text}: the group after the user is not supported by haved (ignored)`);
    }
    return { argv, user: user?.text ?? null, where: whereOf(kw) };
  }
}

export function checkIPv4(r: Reader, t: Token, what: string): string {
  if (isIPv4(t.text)) return t.text;
  if (isIPv6(t.text)) r.fail(t, `${what}: IPv6 addresses are not supported by haved, got "${t.text}"`);
  return r.fail(t, `${what} must be an IPv4 address, got "${t.text}"`);
}

/** An IPv4 or IPv6 address; IPv6 without a zone (`%eth0`): link-local peers are not supported. */
export function checkIP(r: Reader, t: Token, what: string): string {
  if (isIPv4(t.text) || (isIPv6(t.text) && !t.text.includes('%'))) return t.text;
  return r.fail(t, `${what} must be an IPv4 or IPv6 address, got "${t.text}"`);
}

/** Build a Table from `[keywords, handler]` pairs (aliases share a handler). */
export function table(entries: Array<[string | string[], Handler]>): Table {
  const m: Table = new Map();
  for (const [names, h] of entries) for (const n of Array.isArray(names) ? names : [names]) m.set(n, h);
  return m;
}
