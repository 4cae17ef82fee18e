import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { parseArgv } from '../../../src/cli/argv.ts';
import { parseHavedArgs } from '../../../src/cli/haved-options.ts';
import { UsageError } from '../../../src/cli/usage-error.ts';
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
  const env = { TMPDIR: '/tmp/x' };
  const defaults = { sockets: ['/run/haved/state.sock', '/tmp/x/haved-local/state.sock'], stateFiles: ['/run/haved/state.json', '/tmp/x/haved-local/state.json'] };

  it('parses keepalived-style flags', () => {
    expect(parseHavedArgs(['-f', 'x.conf', '-n', '-l', '-D', '-p', 'x.pid'], env)).toEqual({
      cmd: 'run', configFile: 'x.conf', pidFile: 'x.pid', stateFile: '/run/haved/state.json', socket: '/run/haved/state.sock', detail: true, console: true,
    });
    expect(parseHavedArgs(['-nlDf/etc/x.conf'], env)).toMatchObject({ cmd: 'run', configFile: '/etc/x.conf', detail: true });
    expect(parseHavedArgs([], env)).toMatchObject({ cmd: 'run', configFile: '/etc/haved.conf' });
    expect(parseHavedArgs(['--state-file', '/s/a.json'], env)).toMatchObject({ stateFile: '/s/a.json', socket: '/s/a.sock' });
    expect(parseHavedArgs(['--state-file', '/s/a', '--socket', '/c.sock'], env)).toMatchObject({ stateFile: '/s/a', socket: '/c.sock' });
    expect(parseHavedArgs(['-t', '-f', 'y.conf'], env)).toEqual({ cmd: 'check', configFile: 'y.conf' });
    expect(parseHavedArgs(['-v'], env)).toEqual({ cmd: 'version' });
    expect(parseHavedArgs(['-h'], env)).toEqual({ cmd: 'help' });
  });

  it('parses the control commands and where they look for the daemon', () => {
    expect(parseHavedArgs(['status'], env)).toEqual({ cmd: 'control', request: { verb: 'status' }, json: false, target: defaults });
    expect(parseHavedArgs(['status', '--json', '--state-file', 's.json'], env)).toEqual({
      cmd: 'control', request: { verb: 'status' }, json: true, target: { sockets: ['s.sock'], stateFiles: ['s.json'] },
    });
    expect(parseHavedArgs(['dump', '--socket', '/x.sock'], env)).toMatchObject({ request: { verb: 'dump' }, target: { sockets: ['/x.sock'], stateFiles: [] } });
    expect(parseHavedArgs(['reload'], env)).toMatchObject({ request: { verb: 'reload' } });
    expect(parseHavedArgs(['priority', 'VI_1', '50'], env)).toMatchObject({ request: { verb: 'priority', instance: 'VI_1', priority: 50 } });
    expect(parseHavedArgs(['priority', 'VI_1', 'reset'], env)).toMatchObject({ request: { verb: 'priority', instance: 'VI_1', priority: null } });
    expect(parseHavedArgs(['maintenance', 'on'], env)).toMatchObject({ request: { verb: 'maintenance', on: true } });
    expect(parseHavedArgs(['maintenance', 'off'], env)).toMatchObject({ request: { verb: 'maintenance', on: false } });
    // npm start's state file follows TMPDIR, as its script does (${TMPDIR:-/tmp})
    expect(parseHavedArgs(['status'], { TMPDIR: '' })).toMatchObject({ target: { sockets: ['/run/haved/state.sock', '/tmp/haved-local/state.sock'] } });
  });

  it('rejects unknown flags, commands, missing values and misplaced options', () => {
    expect(() => parseHavedArgs(['--bogus'])).toThrow(new UsageError("unknown option '--bogus'"));
    expect(() => parseHavedArgs(['start'])).toThrow(/unknown command 'start'/);
    expect(() => parseHavedArgs(['-f'])).toThrow(new UsageError("option '-f, --use-file' needs a value (FILE)"));
    expect(() => parseHavedArgs(['status', 'extra'])).toThrow(new UsageError("unexpected argument 'extra' after 'haved status'"));
    expect(() => parseHavedArgs(['--json'])).toThrow(/'--json' applies only to 'haved status'/);
    expect(() => parseHavedArgs(['dump', '--json'])).toThrow(/'--json' applies only to 'haved status'/);
    expect(() => parseHavedArgs(['-t', '--json'])).toThrow(UsageError);
    expect(() => parseHavedArgs(['status', '-t'])).toThrow(/'--config-test' does not apply to 'haved status'/);
    expect(() => parseHavedArgs(['status', '-f', 'x.conf'])).toThrow(/'--use-file' does not apply/);
    expect(() => parseHavedArgs(['reload', '-p', 'x.pid'])).toThrow(/'--pid' does not apply to 'haved reload'/);
    expect(() => parseHavedArgs(['priority', 'VI_1'])).toThrow(new UsageError("'haved priority' needs INSTANCE and a priority (1..254) or reset"));
    expect(() => parseHavedArgs(['priority', 'VI_1', 'high'])).toThrow(new UsageError("the priority must be a number 1..254 or 'reset', got 'high'"));
    expect(() => parseHavedArgs(['priority', 'VI_1', '5', 'x'])).toThrow(new UsageError("unexpected argument 'x' after 'haved priority'"));
    expect(() => parseHavedArgs(['maintenance'])).toThrow(new UsageError("'haved maintenance' needs 'on' or 'off'"));
    expect(() => parseHavedArgs(['maintenance', 'yes'])).toThrow(new UsageError("'haved maintenance' takes 'on' or 'off', got 'yes'"));
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

describe('haved --witness', () => {
  it('parses the witness command line', () => {
    expect(parseHavedArgs(['--witness', '198.18.0.50:7070', '--witness-secret-file', '/s'])).toEqual({
      cmd: 'witness', host: '198.18.0.50', port: 7070, secretFile: '/s', maxLeaseMs: 10_000, detail: false,
    });
    expect(parseHavedArgs(['--witness', '198.18.0.50:7070', '--witness-secret-file', '/s', '--witness-max-lease', '2.5', '-D'])).toMatchObject({ maxLeaseMs: 2500, detail: true });
  });

  it.each([
    [['--witness', 'w:7070', '--witness-secret-file', '/s'], "--witness needs IPv4:PORT (e.g. 198.18.0.50:7070), got 'w:7070'"],
    [['--witness', '198.18.0.500:7070', '--witness-secret-file', '/s'], "--witness needs IPv4:PORT (e.g. 198.18.0.50:7070), got '198.18.0.500:7070'"],
    [['--witness', '198.18.0.50:70700', '--witness-secret-file', '/s'], "--witness needs IPv4:PORT (e.g. 198.18.0.50:7070), got '198.18.0.50:70700'"],
    [['--witness', '198.18.0.50:7070'], "--witness needs --witness-secret-file FILE (the secret of the nodes' witness blocks)"],
    [['--witness', '198.18.0.50:7070', '--witness-secret-file', '/s', '--witness-max-lease', '0'], "--witness-max-lease must be 1..60 seconds, got '0'"],
    [['--witness-secret-file', '/s'], "option '--witness-secret-file' applies only with '--witness ADDRESS:PORT'"],
  ])('%j', (argv, message) => {
    expect(() => parseHavedArgs(argv)).toThrow(new UsageError(message));
  });
});
