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
}

/** Tokenize `text` and splice in every `include FILE|GLOB` (relative to the including file). */
export function readSources(text: string, file: string, access: SourceAccess, configId: string | null): Sources {
  const out: Sources = { files: [], tokens: [], slashComments: [], warnings: [] };
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
  const { tokens, slashComments } = tokenize(text, file, ctx);
  out.slashComments.push(...slashComments);
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    if (t.quoted || t.text !== 'include') {
      out.tokens.push(t);
      continue;
    }
    const arg = tokens[i + 1];
    if (!arg || arg.line !== t.line || arg.file !== t.file || (!arg.quoted && (arg.text === '{' || arg.text === '}'))) {
      throw new ConfigError(whereOf(t), 'include expects a file name or glob pattern');
    }
    i++;
    for (const path of resolveInclude(arg, file, access, out)) {
      if (stack.includes(path)) throw new ConfigError(whereOf(arg), `include loop: ${path} is already being read`);
      if (stack.length >= MAX_DEPTH) throw new ConfigError(whereOf(arg), `includes nested deeper than ${MAX_DEPTH}`);
      let body: string;
      try {
        body = access.readFile(path);
      } catch (e) {
        throw new ConfigError(whereOf(arg), `cannot read included file ${path}: ${(e as Error).message}`);
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
