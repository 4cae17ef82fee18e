import type { TextCommand } from '../../../src/proto/text/commands.ts';
import { TextParser } from '../../../src/proto/text/parser.ts';

const str = (b: Buffer): string => b.toString('latin1');
const short = (b: Buffer): string => (b.length > 24 ? `<${b.length} bytes>` : JSON.stringify(str(b)));
const nr = (noreply: boolean): string => (noreply ? ' noreply' : '');

/** A one-line summary of a command, copying every view (so it survives the next push). */
export function describe(cmd: TextCommand): string {
  switch (cmd.kind) {
    case 'store':
      return `${cmd.op} ${str(cmd.key)} ${cmd.flags} ${cmd.exptime}${cmd.op === 'cas' ? ` ${cmd.cas}` : ''}${nr(cmd.noreply)} =${short(cmd.data)}`;
    case 'too_large': return `too_large ${cmd.op} ${str(cmd.key)}${nr(cmd.noreply)}`;
    case 'get': {
      const keys = cmd.keys.length > 6 ? `<${cmd.keys.length} keys>` : cmd.keys.map(str).join(',');
      return `${cmd.op}${cmd.op === 'gat' || cmd.op === 'gats' ? ` @${cmd.exptime}` : ''} ${keys}`;
    }
    case 'delete': return `delete ${str(cmd.key)}${nr(cmd.noreply)}`;
    case 'arith': return `${cmd.op} ${str(cmd.key)} ${cmd.delta}${nr(cmd.noreply)}`;
    case 'touch': return `touch ${str(cmd.key)} ${cmd.exptime}${nr(cmd.noreply)}`;
    case 'flush_all': return `flush_all ${cmd.delay}${nr(cmd.noreply)}`;
    case 'version': return 'version';
    case 'verbosity': return `verbosity ${cmd.level}${nr(cmd.noreply)}`;
    case 'quit': return 'quit';
    case 'shutdown': return `shutdown${cmd.graceful ? ' graceful' : ''}${cmd.validMode ? '' : ' invalid'}`;
    case 'stats': return ['stats', ...cmd.args].join(' ');
    case 'other':
      return [`other ${cmd.name}`, ...cmd.tokens].join(' ')
        + (cmd.data ? ` =${short(cmd.data)}` : '') + (cmd.tooLarge ? ' too_large' : '') + (cmd.badChunk ? ' bad_chunk' : '');
    case 'error': return cmd.reply.length === 0 ? 'silent' : `error ${str(cmd.reply).trimEnd()}${cmd.close ? ' close' : ''}`;
    case 'close': return 'close';
  }
}

/** Parses the chunks in order and summarises what came out. */
export function parseAll(chunks: readonly Buffer[], maxItemSize = 1024 * 1024): string[] {
  const out: string[] = [];
  const p = new TextParser({ maxItemSize }, (c) => out.push(describe(c)));
  for (const c of chunks) p.push(c);
  return out;
}

/** Parses and returns the raw commands (views valid until the next push). */
export function parseCommands(input: Buffer, maxItemSize = 1024 * 1024): TextCommand[] {
  const out: TextCommand[] = [];
  new TextParser({ maxItemSize }, (c) => out.push(c)).push(input);
  return out;
}
