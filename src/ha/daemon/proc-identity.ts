import { readFileSync } from 'node:fs';

type Read = (path: string) => string;
const readText: Read = (path) => readFileSync(path, 'utf8');

/** Field 22 of /proc/PID/stat: when the process started, in clock ticks since boot (null if it is gone). */
export function processStartTime(pid: number, read: Read = readText): string | null {
  let stat: string;
  try {
    stat = read(`/proc/${pid}/stat`);
  } catch {
    return null;
  }
  // "PID (COMM) STATE PPID …": COMM may hold spaces and parentheses, so count from the last ')'
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return fields[19] ?? null;
}

/**
 * Whether `pid` is the haved that wrote a state file: its process title (the first word of its command
 * line, which haved sets to "haved") is haved, and it started at the recorded time (a pid reused by another
 * process after a crash has another start time).
 */
export function isSameHaved(pid: number, startTime: string | null | undefined, read: Read = readText): boolean {
  if (!Number.isInteger(pid) || pid <= 0 || !startTime) return false;
  let title: string;
  try {
    title = read(`/proc/${pid}/cmdline`).split('\0')[0]!.trim();
  } catch {
    return false;
  }
  return title.split('/').pop() === 'haved' && processStartTime(pid, read) === startTime;
}
