/** The replication benchmark's reference peer: where its tarball comes from, and what it says when it cannot build it. */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildRepcached, repcachedTarball, withoutRepcachedOption } from '../../../scripts/bench/repcached.ts';

const scratch = mkdtempSync(join(tmpdir(), 'repcached-test-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const hasTool = (t: string) => {
  try {
    execFileSync('sh', ['-c', `command -v ${t}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};
const toolchain = hasTool('cc') && hasTool('make');

/** A tarball shaped like repcached's release: one top directory with a configure script and a Makefile. */
function fakeTarball(name: string, configure: string, makefile: string): string {
  const root = join(scratch, name);
  const top = join(root, 'memcached-1.2.8-repcached-2.2.1');
  mkdirSync(top, { recursive: true });
  writeFileSync(join(top, 'configure'), `#!/bin/sh\n${configure}\n`);
  chmodSync(join(top, 'configure'), 0o755);
  writeFileSync(join(top, 'Makefile'), makefile);
  const tgz = join(scratch, `${name}.tar.gz`);
  execFileSync('tar', ['-czf', tgz, '-C', root, 'memcached-1.2.8-repcached-2.2.1']);
  return tgz;
}

describe('repcached tarball option', () => {
  it('comes from --repcached-tarball PATH, --repcached-tarball=PATH, or REPCACHED_TARBALL', () => {
    expect(repcachedTarball(['replication', '--repcached-tarball', '/x.tgz'], {})).toBe('/x.tgz');
    expect(repcachedTarball(['--repcached-tarball=/y.tgz', 'replication'], { REPCACHED_TARBALL: '/z.tgz' })).toBe('/y.tgz');
    expect(repcachedTarball(['replication'], { REPCACHED_TARBALL: '/z.tgz' })).toBe('/z.tgz');
    expect(repcachedTarball(['replication'], {})).toBeNull();
  });

  it('is not taken for a section name', () => {
    expect(withoutRepcachedOption(['cache', '--repcached-tarball', '/x.tgz', 'replication'])).toEqual(['cache', 'replication']);
    expect(withoutRepcachedOption(['--repcached-tarball=/x.tgz', 'replication'])).toEqual(['replication']);
  });
});

describe('building repcached', () => {
  const log = () => {};

  it('says how to name the tarball when none is given', async () => {
    expect(await buildRepcached(null, log)).toEqual({ unavailable: expect.stringMatching(/--repcached-tarball PATH or REPCACHED_TARBALL/) });
  });

  it('names the path when the tarball is not there', async () => {
    expect(await buildRepcached(join(scratch, 'nope.tar.gz'), log)).toEqual({ unavailable: expect.stringContaining(join(scratch, 'nope.tar.gz')) });
  });

  it("passes on configure's complaint, e.g. a missing libevent", async () => {
    const tgz = fakeTarball('no-libevent', 'echo "checking for libevent directory... configure: error: libevent is required." >&2; exit 1', '');
    const r = await buildRepcached(tgz, log);
    expect(r).toEqual({
      unavailable: toolchain
        ? expect.stringMatching(/apt-get install libevent-dev.*libevent is required/)
        : expect.stringMatching(/no C toolchain.*apt-get install build-essential libevent-dev/),
    });
  });

  it('passes on any other configure failure as it is', async () => {
    if (!toolchain) return;
    const tgz = fakeTarball('broken', 'echo "configure: error: cannot run C compiled programs" >&2; exit 1', '');
    expect(await buildRepcached(tgz, log)).toEqual({ unavailable: 'cannot build repcached: configure failed: configure: error: cannot run C compiled programs' });
  });

  it('configures with replication, builds with the IOV_MAX fix, and hands back the binary', async () => {
    // The "build" records its arguments and produces a memcached that prints them.
    const tgz = fakeTarball(
      'builds',
      'echo "$@" > configured-with',
      'all:\n\tprintf \'#!/bin/sh\\necho memcached 1.2.8\\necho repcached 2.2.1\\necho configured: %s\\necho CFLAGS: %s\\n\' "$$(cat configured-with)" "$(CFLAGS)" > memcached\n\tchmod +x memcached\n',
    );
    const r = await buildRepcached(tgz, log);
    if (!toolchain) {
      expect(r).toEqual({ unavailable: expect.stringMatching(/no C toolchain/) });
      return;
    }
    if (!('binary' in r)) throw new Error(r.unavailable);
    const out = execFileSync(r.binary, ['-h'], { encoding: 'utf8' });
    expect(out).toContain('configured: --enable-replication');
    expect(out).toContain('CFLAGS: -g -O2 -DIOV_MAX=1024');
  });
});
