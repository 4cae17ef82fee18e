import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { parseArgv } from '../../../src/ha/daemon/argv.ts';
import { parseHavedArgs, UsageError } from '../../../src/ha/daemon/cli-options.ts';
import { bin } from '../../support/daemon.ts';

describe('parseArgv (getopt_long style)', () => {
  const specs = { file: { short: 'f', value: 'FILE' }, quiet: { short: 'q' }, json: {} };
  const parse = (...argv: string[]) => {
    const r = parseArgv(argv, specs);
    return { values: Object.fromEntries(r.values), positionals: r.positionals };
  };

  it('reads long and short options, attached values, bundles and --', () => {
    expect(parse('--file', 'a', 'x')).toEqual({ values: { file: 'a' }, positionals: ['x'] });
    expect(parse('--file=a=b')).toEqual({ values: { file: 'a=b' }, positionals: [] });
    expect(parse('-fa.conf')).toEqual({ values: { file: 'a.conf' }, positionals: [] });
    expect(parse('-qf', 'a')).toEqual({ values: { quiet: true, file: 'a' }, positionals: [] });
    expect(parse('-f', 'a', '-f', 'b')).toEqual({ values: { file: 'b' }, positionals: [] });
    expect(parse('x', '--', '--json', '-q')).toEqual({ values: {}, positionals: ['x', '--json', '-q'] });
    expect(parse('-')).toEqual({ values: {}, positionals: ['-'] });
  });

  it.each([
    [['--bogus'], "unknown option '--bogus'"],
    [['--bogus=1'], "unknown option '--bogus'"],
    [['-x'], "unknown option '-x'"],
    [['-qx'], "unknown option '-x'"],
    [['-f'], "option '-f, --file' needs a value (FILE)"],
    [['--file'], "option '-f, --file' needs a value (FILE)"],
    [['--json=yes'], "option '--json' takes no value"],
  ])('%j: %s', (argv, message) => {
    expect(() => parseArgv(argv, specs)).toThrow(new UsageError(message));
  });
});

describe('haved command line', () => {
  it('parses keepalived-style flags', () => {
    expect(parseHavedArgs(['-f', 'x.conf', '-n', '-l', '-D', '-p', 'x.pid'])).toEqual({
      cmd: 'run', configFile: 'x.conf', pidFile: 'x.pid', stateFile: '/run/haved/state.json', detail: true, console: true,
    });
    expect(parseHavedArgs(['-nlDf/etc/x.conf'])).toMatchObject({ cmd: 'run', configFile: '/etc/x.conf', detail: true });
    expect(parseHavedArgs([])).toMatchObject({ cmd: 'run', configFile: '/etc/haved.conf' });
    expect(parseHavedArgs(['-t', '-f', 'y.conf'])).toEqual({ cmd: 'check', configFile: 'y.conf' });
    expect(parseHavedArgs(['status', '--state-file', 's.json', '--json'])).toMatchObject({ cmd: 'status', stateFile: 's.json', json: true });
    expect(parseHavedArgs(['-v'])).toEqual({ cmd: 'version' });
    expect(parseHavedArgs(['-h'])).toEqual({ cmd: 'help' });
  });

  it('rejects unknown flags, commands and missing values', () => {
    expect(() => parseHavedArgs(['--bogus'])).toThrow(new UsageError("unknown option '--bogus'"));
    expect(() => parseHavedArgs(['start'])).toThrow(/unknown command 'start'/);
    expect(() => parseHavedArgs(['-f'])).toThrow(new UsageError("option '-f, --use-file' needs a value (FILE)"));
    expect(() => parseHavedArgs(['status', 'extra'])).toThrow(/unexpected argument/);
    expect(() => parseHavedArgs(['--json'])).toThrow(/'--json' applies only to 'haved status'/);
    expect(() => parseHavedArgs(['-t', '--json'])).toThrow(UsageError);
    expect(() => parseHavedArgs(['status', '-t'])).toThrow(/'--config-test' does not apply to 'haved status'/);
    expect(() => parseHavedArgs(['status', '-f', 'x.conf'])).toThrow(/'--use-file' does not apply/);
    expect(() => parseHavedArgs(['status', '-p', 'x.pid'])).toThrow(/'--pid' does not apply/);
  });

  it('bin/haved prints a one-line error and the synopsis, exit 2 (not Node\'s parseArgs text)', () => {
    const r = spawnSync(bin('haved'), ['--bogus'], { encoding: 'utf8', timeout: 15_000 });
    expect(r.status).toBe(2);
    const lines = r.stderr.split('\n');
    expect(lines[0]).toBe("haved: unknown option '--bogus'");
    expect(lines[1]).toMatch(/^Usage: haved /);
    expect(r.stderr).toContain('haved -h lists every option');
    expect(r.stderr).not.toMatch(/positional argument|ERR_PARSE_ARGS/);
    const missing = spawnSync(bin('haved'), ['-t', '-f'], { encoding: 'utf8', timeout: 15_000 });
    expect(missing.status).toBe(2);
    expect(missing.stderr.split('\n')[0]).toBe("haved: option '-f, --use-file' needs a value (FILE)");
  });
});
