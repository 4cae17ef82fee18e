import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { bin } from '../../support/daemon.ts';

const dir = mkdtempSync(join(tmpdir(), 'haved-check-'));
const write = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};
const haved = (...args: string[]) => spawnSync(bin('haved'), args, { encoding: 'utf8', timeout: 15_000 });

describe('haved -t and haved -f on a broken file', () => {
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const bad = write('bad.conf', 'global_defs {\n  router_di x\n}\nvrrp_instance V {\n  state MASTER\n  interface lo\n  virtual_router_id 300\n  prority 5\n}\n');

  it('-t lists every error with file:line and a summary, exit 1', () => {
    const r = haved('-t', '-f', bad);
    expect(r.status).toBe(1);
    expect(r.stderr.split('\n')).toEqual([
      `ERROR: ${bad}:2: unknown keyword 'router_di' in global_defs (did you mean 'router_id'?)`,
      `ERROR: ${bad}:7: virtual_router_id must be an integer 1..255, got "300"`,
      `ERROR: ${bad}:8: unknown keyword 'prority' in vrrp_instance (did you mean 'priority'?)`,
      `${bad}: configuration rejected (3 errors)`,
      '',
    ]);
  });

  it('-f refuses to start with the same list', () => {
    const r = haved('-f', bad, '--state-file', join(dir, 'state.json'));
    expect(r.status).toBe(1);
    expect(r.stderr.split('\n').filter(Boolean)).toEqual([
      `haved: ${bad}:2: unknown keyword 'router_di' in global_defs (did you mean 'router_id'?)`,
      `haved: ${bad}:7: virtual_router_id must be an integer 1..255, got "300"`,
      `haved: ${bad}:8: unknown keyword 'prority' in vrrp_instance (did you mean 'priority'?)`,
    ]);
  });

  it('a file without any vrrp_instance is rejected (there would be nothing to run)', () => {
    const empty = write('empty.conf', 'global_defs {\n  router_id a\n}\n');
    const r = haved('-t', '-f', empty);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`ERROR: ${empty}: no vrrp_instance: haved needs at least one to run`);
    expect(haved('-f', empty, '--state-file', join(dir, 'state.json')).status).toBe(1);
  });
  it('a witness whose secret_file is missing or short: -t and -f refuse it with file:line', () => {
    const secret = write('short.secret', 'short\n');
    const conf = (file: string) =>
      write('w.conf', `vrrp_instance V {\n  interface lo\n  virtual_router_id 5\n  witness {\n    address 198.18.0.50:7070\n    secret_file ${file}\n  }\n}\n`);
    const missing = conf(join(dir, 'nope.secret'));
    const r = haved('-t', '-f', missing);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`ERROR: ${missing}:4: cannot read the witness secret_file ${join(dir, 'nope.secret')}: ENOENT`);
    const short = conf(secret);
    const f = haved('-f', short);
    expect(f.status).toBe(1);
    expect(f.stderr).toContain(`haved: ${short}:4: the witness secret in ${secret} is shorter than 16 bytes`);
  });
});
