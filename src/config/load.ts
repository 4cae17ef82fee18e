import { hostname, networkInterfaces } from 'node:os';
import { defaultGlobal, type Draft } from './draft.ts';
import { ConfigError } from './errors.ts';
import { readGlobalDefs } from './global.ts';
import { defaultAccess, readSources } from './include.ts';
import { isBrace } from './lexer.ts';
import { readVirtualServer } from './lvs.ts';
import type { HavedConfig } from './model.ts';
import { Reader, table, type Table } from './reader.ts';
import { resolve } from './resolve.ts';
import { readInstance } from './instance.ts';
import { readCacheDaemon, readProxyDaemon } from './cache-daemon.ts';
import { readScript } from './script.ts';
import { readSyncGroup } from './sync-group.ts';

export { ConfigError } from './errors.ts';

export interface LoadOptions {
  /** Default: fs.readFileSync(path, 'utf8'). */
  readFile?: (path: string) => string;
  /** Expand an `include` glob relative to `cwd`. Default: fs.globSync, sorted. */
  glob?: (pattern: string, cwd: string) => string[];
  /** Addresses of this host (a real_server on one is the local cache). Default: the host's IPv4 addresses. 127.0.0.1 always counts. */
  localAddresses?: string[];
  /** keepalived's config-id for `@ID` conditional lines. Default: the host name up to the first dot. */
  configId?: string;
}

/** Read and check a haved.conf / keepalived.conf. Throws ConfigError ("file:line: what was expected"). */
export function loadConfig(path: string, opts: LoadOptions = {}): HavedConfig {
  const readFile = opts.readFile ?? defaultAccess.readFile;
  let text: string;
  try {
    text = readFile(path);
  } catch (e) {
    throw new ConfigError(path, `cannot read config file: ${(e as Error).message}`);
  }
  return parseConfigText(text, path, opts);
}

/** Parse config text as if it were the file `file` (includes are relative to its directory). */
export function parseConfigText(text: string, file: string, opts: LoadOptions = {}): HavedConfig {
  const sources = readSources(
    text,
    file,
    { readFile: opts.readFile ?? defaultAccess.readFile, glob: opts.glob ?? defaultAccess.glob },
    opts.configId ?? hostname().split('.')[0],
  );
  const r = new Reader(sources.tokens);
  const d: Draft = {
    file,
    global: defaultGlobal(file),
    scripts: new Map(),
    instances: [],
    syncGroups: [],
    groupMembers: new Map(),
    virtualServers: [],
    localAddresses: new Set(['127.0.0.1', ...(opts.localAddresses ?? hostAddresses())]),
    cacheDaemon: null,
    proxyDaemon: null,
  };
  const top: Table = table([
    ['global_defs', (r, kw) => readGlobalDefs(r, kw, d)],
    ['vrrp_instance', (r, kw) => readInstance(r, kw, d)],
    ['vrrp_script', (r, kw) => readScript(r, kw, d)],
    ['vrrp_sync_group', (r, kw) => readSyncGroup(r, kw, d)],
    ['virtual_server', (r, kw) => readVirtualServer(r, kw, d)],
    ['cache_daemon', (r, kw) => readCacheDaemon(r, kw, d)],
    ['proxy_daemon', (r, kw) => readProxyDaemon(r, kw, d)],
  ]);
  for (let t = r.next(); t; t = r.next()) {
    if (isBrace(t, '}')) r.fail(t, "unexpected '}': no block is open here");
    if (isBrace(t, '{')) r.fail(t, "unexpected '{': a block must follow its keyword");
    const handler = t.quoted ? undefined : top.get(t.text);
    if (handler) handler(r, t);
    else r.skipUnknown(t, 'the top level', top);
  }
  resolve(r, d);

  const warnings = [...sources.warnings];
  if (sources.slashComments.length > 0) {
    const n = sources.slashComments.length;
    warnings.push(
      `${sources.slashComments[0]}: '//' is not keepalived syntax; haved reads it as a comment to the end of the line (${n} line${n === 1 ? '' : 's'}; use '#' or '!')`,
    );
  }
  warnings.push(...r.warnings);
  return {
    global: d.global,
    scripts: d.scripts,
    instances: d.instances.map((i) => i.value),
    syncGroups: d.syncGroups,
    virtualServers: d.virtualServers,
    cacheDaemon: d.cacheDaemon,
    proxyDaemon: d.proxyDaemon,
    warnings: byLocation(warnings, sources.files),
  };
}

/** Order findings by file (in reading order) and line, so they read top to bottom. */
function byLocation(warnings: string[], files: string[]): string[] {
  const keyed = warnings.map((w, i) => {
    const m = /^(.*?):(\d+): /.exec(w);
    return { w, i, file: m ? files.indexOf(m[1]) : -1, line: m ? Number(m[2]) : 0 };
  });
  keyed.sort((a, b) => a.file - b.file || a.line - b.line || a.i - b.i);
  return keyed.map((k) => k.w);
}

function hostAddresses(): string[] {
  return Object.values(networkInterfaces())
    .flat()
    .filter((a) => a !== undefined && a.family === 'IPv4')
    .map((a) => a!.address);
}
