import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { arpingFlavour, findOnPath, type ArpingFlavour } from '../../src/ha/adapters/arping.ts';

/**
 * Both Debian arping flavours for the namespace tests, each as a directory holding an executable `arping` to
 * put first on haved's PATH. The packages conflict, so the flavour that is not installed is fetched with
 * `apt-get download` and unpacked with `dpkg -x` (no install) into a cache under the temp directory, run
 * through a wrapper that points the loader at its unpacked libraries.
 */
const PACKAGES: Record<ArpingFlavour, { packages: string[]; binary: string }> = {
  iputils: { packages: ['iputils-arping'], binary: 'usr/bin/arping' },
  habets: { packages: ['arping', 'libnet1', 'libpcap0.8'], binary: 'usr/sbin/arping' },
};

const CACHE = join(tmpdir(), 'haved-test-arping');

export interface ArpingDirs {
  dirs: Partial<Record<ArpingFlavour, string>>;
  /** Why a flavour could not be had. */
  problems: string[];
}

export function arpingDirs(): ArpingDirs {
  const out: ArpingDirs = { dirs: {}, problems: [] };
  const installed = findOnPath('arping', '/usr/sbin:/usr/bin:/sbin:/bin');
  const installedFlavour = installed ? flavourOf(installed) : null;
  for (const flavour of ['iputils', 'habets'] as const) {
    try {
      out.dirs[flavour] = flavour === installedFlavour ? wrap(join(CACHE, `installed-${flavour}`), installed!, []) : unpacked(flavour);
    } catch (e) {
      out.problems.push(`${flavour} arping: ${(e as Error).message}`);
    }
  }
  return out;
}

function flavourOf(file: string): ArpingFlavour | null {
  const r = spawnSync(file, ['-V'], { encoding: 'utf8', timeout: 5000 });
  return arpingFlavour(`${r.stdout ?? ''}${r.stderr ?? ''}`);
}

/** A directory with `arping` running `binary` (with `libDirs` for the loader). */
function wrap(dir: string, binary: string, libDirs: string[]): string {
  const script = join(dir, 'arping');
  if (existsSync(script)) return dir;
  mkdirSync(dir, { recursive: true });
  const tmp = `${script}.${process.pid}`;
  const ld = libDirs.length ? `LD_LIBRARY_PATH=${libDirs.join(':')}\${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} ` : '';
  writeFileSync(tmp, `#!/bin/sh\n${ld}exec ${binary} "$@"\n`);
  chmodSync(tmp, 0o755);
  renameSync(tmp, script);
  return dir;
}

function unpacked(flavour: ArpingFlavour): string {
  const { packages, binary } = PACKAGES[flavour];
  const root = join(CACHE, flavour);
  if (!existsSync(join(root, binary))) {
    mkdirSync(CACHE, { recursive: true });
    const work = mkdtempSync(join(CACHE, `${flavour}-`));
    try {
      download(packages, work);
      const tree = join(work, 'root');
      for (const deb of readdirSync(work).filter((f) => f.endsWith('.deb'))) run('dpkg', ['-x', join(work, deb), tree]);
      if (!existsSync(join(tree, binary))) throw new Error(`${packages[0]} has no ${binary}`);
      try {
        renameSync(tree, root); // atomic: a parallel run either sees the whole tree or none
      } catch (e) {
        if (!existsSync(join(root, binary))) throw e;
      }
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  }
  return wrap(join(CACHE, `${flavour}-bin`), join(root, binary), libraryDirs(root));
}

function download(packages: string[], cwd: string): void {
  const get = () => spawnSync('apt-get', ['download', ...packages], { cwd, encoding: 'utf8', timeout: 120_000 });
  let r = get();
  if (r.status !== 0 && /Unable to locate|no installation candidate/i.test(r.stderr)) {
    spawnSync('apt-get', ['update', '-qq'], { encoding: 'utf8', timeout: 300_000 });
    r = get();
  }
  if (r.status !== 0) throw new Error(`apt-get download ${packages.join(' ')} failed: ${(r.stderr || r.error?.message || '').trim()}`);
}

function run(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${(r.stderr || r.error?.message || '').trim()}`);
}

/** Directories of the unpacked shared libraries. */
function libraryDirs(root: string): string[] {
  const dirs = new Set<string>();
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (/\.so(\.|$)/.test(name)) dirs.add(dirname(p));
      else if (statSync(p, { throwIfNoEntry: false })?.isDirectory()) walk(p);
    }
  };
  for (const d of ['lib', 'usr/lib']) if (existsSync(join(root, d))) walk(join(root, d));
  return [...dirs];
}
