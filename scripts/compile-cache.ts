/**
 * Fills Node's compile cache (see bin/run-node) with every module under src/, type-stripped. A daemon whose modules
 * are all there starts without loading Node's TypeScript stripper, which would otherwise stay in its memory for
 * its whole life (about 25 MB of RSS). Node writes the cache only when a process exits, and a daemon that dropped
 * its privileges (-u nobody) cannot write it at all, so `npm ci` runs this once (postinstall). The two entry
 * points only load when imported. Usage: bin/run-node scripts/compile-cache.ts
 */
import { readdirSync } from 'node:fs';

const src = new URL('../src/', import.meta.url);
let modules = 0;
for (const file of readdirSync(src, { recursive: true, encoding: 'utf8' }).sort()) {
  if (!file.endsWith('.ts')) continue;
  await import(new URL(file, src).href);
  modules++;
}
if (!process.env.NODE_COMPILE_CACHE) console.warn('compile-cache: NODE_COMPILE_CACHE is not set; run this with bin/run-node');
else console.log(`compile-cache: ${modules} modules in ${process.env.NODE_COMPILE_CACHE}`);
