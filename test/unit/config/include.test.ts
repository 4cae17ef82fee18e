import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, ConfigErrors, loadConfig, type LoadOptions } from '../../../src/config/load.ts';

/** An in-memory file system for loadConfig. */
function memfs(files: Record<string, string>): LoadOptions {
  return {
    localAddresses: [],
    readFile: (p) => {
      if (!(p in files)) throw Object.assign(new Error(`ENOENT: no such file, open '${p}'`), { code: 'ENOENT' });
      return files[p];
    },
    glob: (pattern, cwd) => {
      const re = new RegExp(`^${join(cwd, pattern).replace(/[.+^$()|\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '.')}$`);
      return Object.keys(files).filter((f) => re.test(f)).sort();
    },
  };
}

const vi = (name: string, vrid: number): string =>
  `vrrp_instance ${name} {\n interface eth0\n virtual_router_id ${vrid}\n virtual_ipaddress { 10.0.0.${vrid} }\n}\n`;

describe('include', () => {
  it('splices files matched by a glob relative to the including file, in name order', () => {
    const fs = memfs({
      '/etc/haved/haved.conf': 'global_defs { router_id r1 }\ninclude conf.d/*.conf\n',
      '/etc/haved/conf.d/20-b.conf': vi('B', 2),
      '/etc/haved/conf.d/10-a.conf': `include ../scripts/chk.conf\n${vi('A', 1)}`,
      '/etc/haved/scripts/chk.conf': 'vrrp_script chk { script "/bin/true" }\n',
      '/etc/haved/conf.d/readme.txt': 'garbage {',
    });
    const c = loadConfig('/etc/haved/haved.conf', fs);
    expect(c.instances.map((i) => [i.name, i.where])).toEqual([
      ['A', '/etc/haved/conf.d/10-a.conf:2'],
      ['B', '/etc/haved/conf.d/20-b.conf:1'],
    ]);
    expect(c.scripts.get('chk')?.where).toBe('/etc/haved/scripts/chk.conf:1');
  });

  it('shares $NAME parameters with included files', () => {
    const fs = memfs({ '/c/main.conf': '$VRID=42\n$PEER=10.0.0.2\ninclude node.conf\n', '/c/node.conf': vi('A', 1).replace('1\n', '$VRID\n') });
    expect(loadConfig('/c/main.conf', fs).instances[0].virtualRouterId).toBe(42);
  });

  it('lists warnings in reading order: by file, then line', () => {
    const fs = memfs({ '/c/main.conf': 'static_routes\ninclude b.conf\nstatic_rules\n', '/c/b.conf': '\nlinkbeat_use_polling\n' });
    expect(loadConfig('/c/main.conf', fs).warnings).toEqual([
      "/c/main.conf:1: unknown keyword 'static_routes' at the top level (ignored)",
      "/c/main.conf:3: unknown keyword 'static_rules' at the top level (ignored)",
      "/c/b.conf:2: unknown keyword 'linkbeat_use_polling' at the top level (ignored)",
    ]);
    // errors too: every one, in reading order
    const bad = memfs({ '/c/main.conf': 'fooo\ninclude b.conf\nbar\n', '/c/b.conf': '\nglobal_def { }\n' });
    expect(() => loadConfig('/c/main.conf', bad)).toThrow(
      [
        "/c/main.conf:1: unknown keyword 'fooo' at the top level: neither haved nor keepalived 2.2 knows it",
        "/c/main.conf:3: unknown keyword 'bar' at the top level: neither haved nor keepalived 2.2 knows it",
        "/c/b.conf:2: unknown keyword 'global_def' at the top level (did you mean 'global_defs'?)",
      ].join('\n'),
    );
  });

  it('reports errors inside an included file with that file and line', () => {
    const fs = memfs({ '/c/main.conf': 'include part.conf\n', '/c/part.conf': '\n\nvrrp_instance X {\n priority 300\n}\n' });
    expect(() => loadConfig('/c/main.conf', fs)).toThrow(
      new ConfigErrors([
        new ConfigError('/c/part.conf:3', "vrrp_instance X needs 'interface IFNAME'"),
        new ConfigError('/c/part.conf:3', "vrrp_instance X needs 'virtual_router_id 1..255'"),
        new ConfigError('/c/part.conf:4', 'priority must be an integer 1..255, got "300"'),
      ]),
    );
  });

  it('warns when nothing matches, like keepalived ignores it', () => {
    const c = loadConfig('/c/main.conf', memfs({ '/c/main.conf': 'include none.conf\ninclude d/*.conf\n' }));
    expect(c.warnings).toEqual([
      '/c/main.conf:1: include none.conf: no such file (ignored, like keepalived)',
      '/c/main.conf:2: include d/*.conf: no file matches (ignored)',
    ]);
  });

  it('rejects an include loop and a missing file name', () => {
    const fs = memfs({ '/c/a.conf': 'include b.conf\n', '/c/b.conf': '\ninclude a.conf\n' });
    expect(() => loadConfig('/c/a.conf', fs)).toThrow(new ConfigError('/c/b.conf:2', 'include loop: /c/a.conf is already being read'));
    const fs2 = memfs({ '/c/a.conf': 'include\n' });
    expect(() => loadConfig('/c/a.conf', fs2)).toThrow(new ConfigError('/c/a.conf:1', 'include expects a file name or glob pattern'));
  });

  it('reports an unreadable main file', () => {
    expect(() => loadConfig('/nope.conf', memfs({}))).toThrow(/^\/nope\.conf: cannot read config file: ENOENT/);
  });

  describe('on the real file system (fs.globSync)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'haved-config-'));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('expands globs relative to the including file', () => {
      mkdirSync(join(dir, 'sub'));
      writeFileSync(join(dir, 'main.conf'), 'include sub/*.conf\n');
      writeFileSync(join(dir, 'sub', 'b.conf'), vi('B', 2));
      writeFileSync(join(dir, 'sub', 'a.conf'), vi('A', 1));
      const c = loadConfig(join(dir, 'main.conf'), { localAddresses: [] });
      expect(c.instances.map((i) => i.name)).toEqual(['A', 'B']);
      expect(c.instances[0].where).toBe(`${join(dir, 'sub', 'a.conf')}:1`);
    });
  });
});
