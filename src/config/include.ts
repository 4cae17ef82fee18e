import { globSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { ConfigError } from './errors.ts';
import { tokenize, whereOf, type LexContext, type Token } from './lexer.ts';

export interface SourceAccess {
  readFile: (path: string) => string;
  glob: (pattern: string, cwd: string) => string[];
}

const MAX_DEPTH = 16;
const GLOB_CHARS = /[*?[]/;

export const defaultAccess: SourceAccess = {
  readFile: (path) => readFileSync(path, 'utf8'),
  glob: (pattern, cwd) => globSync(pattern, { cwd }).sort(),
};

export interface Sources {
  /** Every file read, in reading order. */
  files: string[];
  tokens: Token[];
  slashComments: string[];
  warnings: string[];
  /** Lines or includes that could not be read; reading went on without them. */
  errors: ConfigError[];
}

/** Tokenize `text` and splice in every `include FILE|GLOB` (relative to the including file). */
export function readSources(text: string, file: string, access: SourceAccess, configId: string | null): Sources {
  const out: Sources = { files: [], tokens: [], slashComments: [], warnings: [], errors: [] };
  expand(text, file, access, out, [file], { params: new Map(), configId });
  return out;
}

function expand(
  text: string,
  file: string,
  access: SourceAccess,
  out: Sources,
  stack: string[],
  ctx: LexContext,
): void {
  out.files.push(file);
  const { tokens, slashComments, errors } = tokenize(text, file, ctx);
  out.slashComments.push(...slashComments);
  out.errors.push(...errors);
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    if (t.quoted || t.text !== 'include') {
      out.tokens.push(t);
      continue;
    }
    const arg = tokens[i + 1];
    if (!arg || arg.line !== t.line || arg.file !== t.file || (!arg.quoted && (arg.text === '{' || arg.text === '}'))) {
      out.errors.push(new ConfigError(whereOf(t), 'include expects a file name or glob pattern'));
      continue;
    }
    i++;
    for (const path of resolveInclude(arg, file, access, out)) {
      const fail = (message: string) => out.errors.push(new ConfigError(whereOf(arg), message));
      if (stack.includes(path)) {
        fail(`include loop: ${path} is already being read`);
        continue;
      }
      if (stack.length >= MAX_DEPTH) {
        fail(`includes nested deeper than ${MAX_DEPTH}`);
        continue;
      }
      let body: string;
      try {
        body = access.readFile(path);
      } catch (e) {
        fail(`cannot read included file ${path}: ${(e as Error).message}`);
        continue;
      }
      expand(body, path, access, out, [...stack, path], ctx);
    }
  }
}

function resolveInclude(arg: Token, file: string, access: SourceAccess, out: Sources): string[] {
  const dir = dirname(file);
  const pattern = arg.text;
  if (!GLOB_CHARS.test(pattern)) {
    const path = isAbsolute(pattern) ? pattern : join(dir, pattern);
    try {
      access.readFile(path);
    } catch {
      out.warnings.push(`${whereOf(arg)}: include ${pattern}: no such file (ignored, like keepalived)`);
      return [];
    }
    return [path];
  }
  const matches = access.glob(pattern, dir).map((p) => (isAbsolute(p) ? p : join(dir, p)));
  if (matches.length === 0) out.warnings.push(`${whereOf(arg)}: include ${pattern}: no file matches (ignored)`);
  return matches;
}
