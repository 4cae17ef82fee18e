/**
 * repcached 2.2.1 (memcached 1.2.8 with master-master replication), the peer the replication benchmark compares
 * against: built from its release tarball into a temporary directory when the bench runs, started on loopback,
 * removed at exit. Nothing of it enters the project's tree.
 *
 * Where the tarball is: `--repcached-tarball PATH` on the bench's command line, or REPCACHED_TARBALL. Building
 * it needs a C compiler, make and libevent's headers (Debian: build-essential libevent-dev).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { freePort, startServer, type Proc } from './lib.ts';

const run = promisify(execFile);

/** The tarball named by the command line (`--repcached-tarball PATH` or `=PATH`) or else the environment; null when neither. */
export function repcachedTarball(argv: readonly string[], env: NodeJS.ProcessEnv): string | null {
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--repcached-tarball') return argv[i + 1] ?? null;
    if (argv[i].startsWith('--repcached-tarball=')) return argv[i].slice('--repcached-tarball='.length);
  }
  return env.REPCACHED_TARBALL || null;
}

/** The bench's own arguments without the repcached option: what is left are section names. */
export function withoutRepcachedOption(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--repcached-tarball') i++;
    else if (!argv[i].startsWith('--repcached-tarball=')) out.push(argv[i]);
  }
  return out;
}

/** configure and make as repcached's release needs them: the IOV_MAX define is the one fix current glibc wants. */
export const CONFIGURE_ARGS = ['--enable-replication'];
export const MAKE_ARGS = ['CFLAGS=-g -O2 -DIOV_MAX=1024'];

export type Build = { binary: string } | { unavailable: string };

async function has(cmd: string): Promise<boolean> {
  try {
    await run('sh', ['-c', `command -v ${cmd}`]);
    return true;
  } catch {
    return false;
  }
}

/** The last lines of a failed build step's output: configure says there what it is missing (e.g. libevent). */
function tail(err: unknown, lines = 3): string {
  const e = err as { stdout?: string; stderr?: string; message: string };
  return `${e.stdout ?? ''}${e.stderr ?? ''}`.trim().split('\n').slice(-lines).join(' | ') || e.message;
}

/** What a failed configure means; libevent's headers are what it usually misses. */
export function configureFailure(complaint: string): string {
  const hint = /libevent/i.test(complaint) ? "libevent's headers are missing (Debian: apt-get install libevent-dev)" : 'configure failed';
  return `cannot build repcached: ${hint}: ${complaint}`;
}

/** Builds repcached from the tarball in a temporary directory (deleted at exit); says why when it cannot. */
export async function buildRepcached(tarball: string | null, log: (l: string) => void): Promise<Build> {
  if (!tarball) return { unavailable: 'no repcached tarball given (--repcached-tarball PATH or REPCACHED_TARBALL)' };
  const path = resolve(tarball);
  if (!existsSync(path)) return { unavailable: `no repcached tarball at ${path}` };
  for (const tool of ['cc', 'make']) if (!(await has(tool))) return { unavailable: `no C toolchain (${tool} not found) to build repcached; Debian: apt-get install build-essential libevent-dev` };
  const dir = mkdtempSync(join(tmpdir(), 'bench-repcached-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  const t0 = Date.now();
  try {
    await run('tar', ['-xzf', path, '-C', dir]);
  } catch (err) {
    return { unavailable: `cannot unpack ${path}: ${tail(err)}` };
  }
  const top = readdirSync(dir);
  const src = top.length === 1 ? join(dir, top[0]) : dir;
  try {
    await run('./configure', CONFIGURE_ARGS, { cwd: src, maxBuffer: 16 << 20 });
  } catch (err) {
    return { unavailable: configureFailure(tail(err)) };
  }
  try {
    await run('make', MAKE_ARGS, { cwd: src, maxBuffer: 64 << 20 });
  } catch (err) {
    return { unavailable: `building repcached failed: ${tail(err)}` };
  }
  const binary = join(src, 'memcached');
  const { stdout } = await run(binary, ['-h']);
  log(`  built ${stdout.split('\n').slice(0, 2).join(' + ')} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return { binary };
}

const userArgs = () => (process.getuid?.() === 0 ? ['-u', 'root'] : []);

/**
 * One repcached node on loopback. `-x 127.0.0.1 -X rport`: it dials rport and, when nothing answers, listens there
 * itself, so the first node of a pair listens and the second dials it (one TCP connection per pair). The second
 * opens its client port once the first's full copy is in. Without a peer it still listens on rport.
 * memcached 1.2.8 has no `-U 0`: its UDP port follows -p.
 */
export async function startRepcached(binary: string, opts: { rport: number; peer: boolean; memoryMB: number; timeoutMs?: number }): Promise<Proc> {
  const port = await freePort();
  const args = ['-l', '127.0.0.1', '-p', String(port), '-m', String(opts.memoryMB), '-X', String(opts.rport), ...userArgs()];
  if (opts.peer) args.push('-x', '127.0.0.1');
  return startServer(binary, args, port, undefined, opts.timeoutMs);
}
