/**
 * A getopt_long-style command line reader with daemon-style messages ("unknown option '--bogus'"), for
 * haved's flags: `--name value`, `--name=value`, `-x value`, `-xvalue`, bundled flags (`-nlD`), `--` ends
 * the options. A repeated option keeps its last value, as getopt does.
 */
import { UsageError } from './usage-error.ts';

export interface OptionSpec {
  short?: string;
  /** What the value is (shown in messages, e.g. FILE); absent for a flag. */
  value?: string;
}

export interface ParsedArgv {
  /** Option values by long name: a string, or true for a flag. */
  values: Map<string, string | true>;
  positionals: string[];
}

export function parseArgv(argv: readonly string[], specs: Readonly<Record<string, OptionSpec>>): ParsedArgv {
  const byShort = new Map(Object.entries(specs).filter(([, s]) => s.short).map(([name, s]) => [s.short!, name]));
  const values = new Map<string, string | true>();
  const positionals: string[] = [];
  const shown = (name: string) => (specs[name]?.short ? `-${specs[name].short}, --${name}` : `--${name}`);
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const name = arg.slice(2, eq < 0 ? undefined : eq);
      const spec = specs[name];
      if (!spec) throw new UsageError(`unknown option '--${name}'`);
      if (!spec.value) {
        if (eq >= 0) throw new UsageError(`option '--${name}' takes no value`);
        values.set(name, true);
        continue;
      }
      const value = eq >= 0 ? arg.slice(eq + 1) : argv[++i];
      if (value === undefined) throw new UsageError(`option '${shown(name)}' needs a value (${spec.value})`);
      values.set(name, value);
      continue;
    }
    if (arg.startsWith('-') && arg.length > 1) {
      for (let j = 1; j < arg.length; j++) {
        const name = byShort.get(arg[j]!);
        if (!name) throw new UsageError(`unknown option '-${arg[j]}'`);
        if (!specs[name]!.value) {
          values.set(name, true);
          continue;
        }
        const value = j + 1 < arg.length ? arg.slice(j + 1) : argv[++i];
        if (value === undefined) throw new UsageError(`option '${shown(name)}' needs a value (${specs[name]!.value})`);
        values.set(name, value);
        break;
      }
      continue;
    }
    positionals.push(arg);
  }
  return { values, positionals };
}
