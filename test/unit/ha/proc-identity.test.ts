import { describe, expect, it } from 'vitest';
import { isSameHaved, processStartTime } from '../../../src/ha/daemon/proc-identity.ts';

// /proc/PID/stat of a process whose name holds a space and a parenthesis; field 22 (starttime) is 158845
const STAT = '4242 (we) ird) S 1 4242 4242 0 -1 4194560 3000 0 0 0 10 5 0 0 20 0 11 0 158845 1200000 9000 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n';

function proc(files: Record<string, string>) {
  return (path: string) => {
    const f = files[path];
    if (f === undefined) throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
    return f;
  };
}

describe('which process a pid is', () => {
  it('reads the start time after the last parenthesis', () => {
    expect(processStartTime(4242, proc({ '/proc/4242/stat': STAT }))).toBe('158845');
    expect(processStartTime(4242, proc({}))).toBeNull();
  });

  it('is the haved that wrote the state file only with its title and its start time', () => {
    const haved = proc({ '/proc/4242/stat': STAT, '/proc/4242/cmdline': 'haved\0\0\0\0' });
    expect(isSameHaved(4242, '158845', haved)).toBe(true);
    expect(isSameHaved(4242, '158846', haved)).toBe(false); // the pid was reused after a crash
    expect(isSameHaved(4242, null, haved)).toBe(false); // a dump without the start time proves nothing
    // a process whose arguments (not its title) mention haved, e.g. an editor on haved.conf or a path
    const other = proc({ '/proc/4242/stat': STAT, '/proc/4242/cmdline': 'vim\0/etc/haved.conf\0' });
    expect(isSameHaved(4242, '158845', other)).toBe(false);
    const inRepo = proc({ '/proc/4242/stat': STAT, '/proc/4242/cmdline': '/srv/haved/node_modules/.bin/node\0x.js\0' });
    expect(isSameHaved(4242, '158845', inRepo)).toBe(false);
    expect(isSameHaved(4242, '158845', proc({}))).toBe(false); // gone
    expect(isSameHaved(0, '158845', haved)).toBe(false);
    expect(isSameHaved(-1, '158845', haved)).toBe(false);
  });

  it('this process has a start time, and is not haved', () => {
    const t = processStartTime(process.pid);
    expect(t).toMatch(/^\d+$/);
    expect(isSameHaved(process.pid, t)).toBe(false);
  });
});
