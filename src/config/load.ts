import { hostname, networkInterfaces } from 'node:os';
import { defaultGlobal, type Draft } from './draft.ts';
import { ConfigError, ConfigErrors } from './errors.ts';
import { readGlobalDefs } from './global.ts';
import { defaultAccess, readSources } from './include.ts';
import { readVirtualServer } from './lvs.ts';
import type { HavedConfig } from './model.ts';
import { Reader, table, type Handler, type Table } from './reader.ts';
import { resolve } from './resolve.ts';
import { readInstance } from './instance.ts';
import { readCacheDaemon, readProxyDaemon } from './cache-daemon.ts';
import { readScript } from './script.ts';
import { readSyncGroup } from './sync-group.ts';

export { ConfigError, ConfigErrors, configErrorList } from './errors.ts';

export interface LoadOptions {
  /** Default: fs.readFileSync(path, 'utf8'). */
  readFile?: (path: string) => string;
  /** Expand an `include` glob relative to `cwd`. Default: fs.globSync, sorted. */
  glob?: (pattern: string, cwd: string) => string[];
  /** Addresses of this host (a real_server on one is the local cache). Default: the host's IPv4 addresses. 127.0.0.1 always counts. */
  localAddresses?: string[];
  /** keepalived's config-id for `@ID` conditional lines. Default: the host name up to the first dot. */
  configId?: string;
  /** A config without any vrrp_instance is an error (what `haved -f` runs); default false (fragments). */
  requireInstance?: boolean;
}

/**
 * Read and check a haved.conf / keepalived.conf. Throws ConfigError ("file:line: what was expected"), or
 * ConfigErrors carrying every error of the file when there is more than one.
 */
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
  const readInstanceChecked: Handler = (r, kw) => {
    const errors = r.errors.length;
    const instances = d.instances.length;
    try {
      readInstance(r, kw, d);
    } finally {
      // an instance with errors is left out of the cross checks (its VRID may be unset)
      if (r.errors.length > errors) for (const i of d.instances.slice(instances)) i.broken = true;
    }
  };
  const top: Table = table([
    ['global_defs', (r, kw) => readGlobalDefs(r, kw, d)],
    ['vrrp_instance', readInstanceChecked],
    ['vrrp_script', (r, kw) => readScript(r, kw, d)],
    ['vrrp_sync_group', (r, kw) => readSyncGroup(r, kw, d)],
    ['virtual_server', (r, kw) => readVirtualServer(r, kw, d)],
    ['cache_daemon', (r, kw) => readCacheDaemon(r, kw, d)],
    ['proxy_daemon', (r, kw) => readProxyDaemon(r, kw, d)],
  ]);
  try {
    r.topLevel(top);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    r.errors.push(e); // a block not closed at the end of the file: nothing after it to read
  }
  resolve(r, d);
  if (opts.requireInstance && d.instances.length === 0 && r.errors.length + sources.errors.length === 0) {
    r.error(file, 'no vrrp_instance: haved needs at least one to run (a file with only other blocks is a fragment to include)');
  }
  const errors = byLocation([...sources.errors, ...r.errors], sources.files, (e) => e.message);
  if (errors.length === 1) throw errors[0];
  if (errors.length > 1) throw new ConfigErrors(errors);

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
    warnings: byLocation(warnings, sources.files, (w) => w),
  };
}

/** Order findings by file (in reading order) and line, so they read top to bottom. */
function byLocation<T>(items: T[], files: string[], text: (x: T) => string): T[] {
  const keyed = items.map((x, i) => {
    const m = /^(.*?):(\d+): /.exec(text(x));
    return { x, i, file: m ? files.indexOf(m[1]) : -1, line: m ? Number(m[2]) : 0 };
  });
  keyed.sort((a, b) => a.file - b.file || a.line - b.line || a.i - b.i);
  return keyed.map((k) => k.x);
}

function hostAddresses(): string[] {
  return Object.values(networkInterfaces())
    .flat()
    .filter((a) => a !== undefined && a.family === 'IPv4')
    .map((a) => a!.address);
}
