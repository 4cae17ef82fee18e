import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export const DEFAULT_STATE_FILE = '/run/haved/state.json';

/** The control socket that goes with a state file: the same path with `.sock` for `.json`. */
export function socketPathFor(stateFile: string): string {
  return `${stateFile.replace(/\.json$/, '')}.sock`;
}

/** Where `npm start` keeps its state (and so its socket): the state file `haved status` also looks for. */
export function npmStartStateFile(env: NodeJS.ProcessEnv = process.env): string {
  return `${env.TMPDIR || '/tmp'}/haved-local/state.json`;
}

/**
 * mkdir -p, one level at a time: Node's recursive mkdirSync never returns where mkdir keeps failing with
 * ENOENT (under /proc, for example).
 */
export function makeDirs(dir: string, mode = 0o755): void {
  if (existsSync(dir)) return;
  const parent = dirname(dir);
  if (parent !== dir) makeDirs(parent, mode);
  try {
    mkdirSync(dir, { mode });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
}

/** Writes the JSON state dump atomically (temp file + rename), so `haved status` never reads half a file. */
export function writeStateFile(path: string, state: unknown): void {
  makeDirs(dirname(path));
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(state, null, 2) + '\n');
  renameSync(tmp, path);
}

/** A clean stop removes the dump: a state file left behind means the daemon did not stop cleanly. */
export function removeStateFile(path: string): void {
  rmSync(path, { force: true });
}
