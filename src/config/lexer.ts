import { ConfigError } from './errors.ts';

/** One word of a config file. `quoted` tokens are never braces, comments or keywords-by-syntax. */
export interface Token {
  text: string;
  quoted: boolean;
  file: string;
  line: number;
}

export interface LexResult {
  tokens: Token[];
  /** Lines that could not be read (unterminated quote, undefined parameter); their tokens are dropped. */
  errors: ConfigError[];
  /** file:line of every `//` annotation (not keepalived syntax; read as a comment to end of line). */
  slashComments: string[];
}

export const whereOf = (t: { file: string; line: number }): string => `${t.file}:${t.line}`;

export const isBrace = (t: Token | undefined, brace: '{' | '}'): boolean =>
  t !== undefined && !t.quoted && t.text === brace;

const PARAM_DEF = /^\s*\$([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$/;
const PARAM_USE = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g;

/** Replace `$NAME` and `${NAME}` by defined parameters; an unknown bare `$NAME` stays as written. */
function substitute(line: string, params: Map<string, string>, where: string): string {
  if (!line.includes('$')) return line;
  return line.replace(PARAM_USE, (all, braced?: string, bare?: string) => {
    const value = params.get(braced ?? bare ?? '');
    if (value === undefined && braced !== undefined) throw new ConfigError(where, `parameter \${${braced}} is not defined ($NAME=value defines it)`);
    return value ?? all;
  });
}

export interface LexContext {
  /** `$NAME=value` parameters, shared by a file and the files it includes. */
  params: Map<string, string>;
  /** keepalived's config-id for `@ID line` / `@^ID line` conditional lines (null: every such line is skipped). */
  configId: string | null;
}

const CONDITIONAL = /^\s*@(\^?)(\S*)\s?(.*)$/;

/** The rest of a `@ID …` line if it applies to this node, else null; other lines unchanged. */
function conditional(line: string, configId: string | null): string | null {
  const m = CONDITIONAL.exec(line);
  if (!m) return line;
  const matches = m[2] === configId;
  return (m[1] === '^' ? !matches : matches) ? m[3] : null;
}

/**
 * keepalived's lexical rules: `#` and `!` start a comment anywhere outside quotes, `{` and `}` are
 * tokens of their own even when glued to a word, `"…"` and `'…'` quote (backslash escapes the next
 * character) and may be glued to unquoted text like in a shell. A line `$NAME=value` defines a
 * parameter that later lines (also in included files, which share `params`) use as `$NAME` or `${NAME}`;
 * a line `@ID …` is read only when ID is the config-id, `@^ID …` only when it is not.
 */
export function tokenize(text: string, file: string, ctx: LexContext = { params: new Map(), configId: null }): LexResult {
  const tokens: Token[] = [];
  const errors: ConfigError[] = [];
  const slashComments: string[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    try {
      tokenizeLine(lines[i], i + 1, file, ctx, tokens, slashComments);
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      errors.push(e);
    }
  }
  return { tokens, errors, slashComments };
}

/** One line's tokens, appended to `out` only when the whole line reads (else it throws ConfigError). */
function tokenizeLine(text: string, line: number, file: string, ctx: LexContext, out: Token[], slashComments: string[]): void {
  const { params } = ctx;
  const raw = conditional(text.endsWith('\r') ? text.slice(0, -1) : text, ctx.configId);
  if (raw === null) return;
  const def = PARAM_DEF.exec(raw);
  if (def) {
    params.set(def[1], substitute(def[2], params, `${file}:${line}`));
    return;
  }
  const src = substitute(raw, params, `${file}:${line}`);
  const tokens: Token[] = [];
  let word = '';
  let inWord = false;
  let quoted = false;
  const flush = (): void => {
    if (inWord) tokens.push({ text: word, quoted, file, line });
    word = '';
    inWord = false;
    quoted = false;
  };
  for (let p = 0; p < src.length; p++) {
    const c = src[p];
    if (c === ' ' || c === '\t' || c === '\v' || c === '\f') {
      flush();
    } else if (c === '#' || c === '!') {
      break;
    } else if (c === '/' && !inWord && src[p + 1] === '/') {
      slashComments.push(`${file}:${line}`);
      break;
    } else if (c === '{' || c === '}') {
      flush();
      tokens.push({ text: c, quoted: false, file, line });
    } else if (c === '"' || c === "'") {
      inWord = true;
      quoted = true;
      let q = p + 1;
      for (; q < src.length && src[q] !== c; q++) {
        if (src[q] === '\\' && q + 1 < src.length) q++;
        word += src[q];
      }
      if (q >= src.length) throw new ConfigError(`${file}:${line}`, `unterminated ${c}-quoted string`);
      p = q;
    } else {
      inWord = true;
      word += c;
    }
  }
  flush();
  out.push(...tokens);
}

/** Split a script string into argv like keepalived does (whitespace, with '…' and "…" quoting). */
export function splitArgv(text: string): string[] {
  const argv: string[] = [];
  let word = '';
  let inWord = false;
  for (let p = 0; p < text.length; p++) {
    const c = text[p];
    if (c === ' ' || c === '\t') {
      if (inWord) argv.push(word);
      word = '';
      inWord = false;
    } else if (c === '"' || c === "'") {
      inWord = true;
      let q = p + 1;
      for (; q < text.length && text[q] !== c; q++) {
        if (c === '"' && text[q] === '\\' && q + 1 < text.length) q++;
        word += text[q];
      }
      p = q;
    } else if (c === '\\' && p + 1 < text.length) {
      inWord = true;
      word += text[++p];
    } else {
      inWord = true;
      word += c;
    }
  }
  if (inWord) argv.push(word);
  return argv;
}
