/**
 * What a serving thread of repcache -t N loads is paid for in every thread (each is an isolate of its own): the
 * static imports of the worker entry must not reach code only some nodes need. node:tls alone costs each thread
 * about 1.2 MB of private memory and node:fs (its streams, promises and watchers) about 0.4 MB; pino is loaded by the
 * main thread only, when it first logs.
 */
import { readFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));

/** The modules a file loads when it is imported: its static, non-type imports, transitively. */
function staticImports(entry: string): { files: Set<string>; packages: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const visit = (file: string) => {
    if (files.has(file)) return;
    files.add(file);
    const source = readFileSync(file, 'utf8');
    // `import x from`, `import { a, type B } from`, `export { a } from`, `import 'side-effect'`; not `import type`
    const re = /^\s*(?:import|export)\s+(?!type\b)[^;]*?\bfrom\s+'([^']+)'|^\s*import\s+'([^']+)'/gm;
    for (let m = re.exec(source); m !== null; m = re.exec(source)) {
      const spec = m[1] ?? m[2]!;
      if (spec.startsWith('.')) visit(resolve(dirname(file), spec));
      else packages.add(spec);
    }
  };
  visit(resolve(repoRoot, entry));
  return { files: new Set([...files].map((f) => relative(repoRoot, f))), packages };
}

describe('the static imports of a serving thread', () => {
  const { files, packages } = staticImports('src/cli/repcache-serving.ts');
  const worker = staticImports('src/cli/repcache-worker.ts');

  it('are found (the walk itself works)', () => {
    expect(files).toContain('src/server/cache-server.ts');
    expect(worker.files).toContain('src/cli/repcache-serving.ts');
    expect(packages).toContain('node:net');
  });

  it('do not load TLS, node:fs, pino or the replication port', () => {
    for (const { files: f, packages: p } of [{ files, packages }, worker]) {
      expect([...p].filter((x) => x === 'node:tls' || x === 'node:crypto' || x === 'node:fs' || x === 'node:module' || x.startsWith('pino'))).toEqual([]);
      expect([...f].filter((x) => /^src\/replication\/(gate|port|access|replicator|wire)\.ts$/.test(x))).toEqual([]);
    }
  });
});
