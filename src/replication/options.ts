import { readFileSync } from 'node:fs';
import { parseListenAddress } from '../server/listen-address.ts';
import { MAX_NODE_ID } from './hlc.ts';
import { isLoopback, parseAllowEntry } from './access.ts';
import { linkTlsContext, type LinkTlsFiles } from './transport.ts';
import type { PeerAddress, ReplicationOptions } from './replicator.ts';
import { replicationWanted } from './wiring.ts';

export class ReplicationConfigError extends Error {
  override name = 'ReplicationConfigError';
}

/** `host[:port]`, `[v6]:port`; the port defaults to the replication port (-X), as in repcached. */
export function parsePeer(spec: string, defaultPort: number): PeerAddress {
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(spec);
  const m = v6 ?? /^([^:]+)(?::(\d+))?$/.exec(spec);
  if (!m) throw new ReplicationConfigError(`invalid replication peer '${spec}' (expected host[:port])`);
  const port = m[2] === undefined ? defaultPort : Number(m[2]);
  if (!(port > 0 && port <= 65535)) throw new ReplicationConfigError(`invalid port in replication peer '${spec}'`);
  return { host: m[1], port };
}

/** The `-o repl_*` extended options replicationFromArgs() reads; the command line refuses any other repl_ name. */
export const REPLICATION_SUBOPTIONS: ReadonlySet<string> = new Set([
  'repl_secret', 'repl_secret_file', 'repl_sync', 'repl_sync_timeout', 'repl_node_id', 'repl_queue',
  'repl_join_timeout', 'repl_listen', 'repl_allow', 'repl_insecure', 'repl_tls_cert', 'repl_tls_key', 'repl_tls_ca',
  'repl_complete',
]);

/** What an `-o repl_*` option names to accept the risk of unauthenticated replication with remote peers. */
export const INSECURE_OPTION = 'repl_insecure';

const int = (name: string, v: string | true | undefined, min: number, max: number): number | undefined => {
  if (v === undefined) return undefined;
  const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : NaN;
  if (!(n >= min && n <= max)) throw new ReplicationConfigError(`-o ${name} needs an integer ${min}..${max}, got '${v === true ? '' : v}'`);
  return n;
};

const flag = (name: string, v: string | true | undefined): boolean => {
  if (v === undefined || v === '0' || v === 'off') return false;
  if (v === true || v === '1' || v === 'on') return true;
  throw new ReplicationConfigError(`-o ${name} takes no value or one of 1, on, 0, off, got '${v}'`);
};

/** `-o repl_allow=A;B` (repeating the option adds entries): addresses or address/prefix. */
function allowList(v: string | true | undefined): string[] {
  if (v === undefined) return [];
  if (v === true) throw new ReplicationConfigError('-o repl_allow needs addresses: repl_allow=ADDR[/BITS][;ADDR[/BITS]...]');
  const entries = v.split(';').map((e) => e.trim()).filter((e) => e !== '');
  for (const e of entries) {
    try {
      parseAllowEntry(e);
    } catch (err) {
      throw new ReplicationConfigError(`-o repl_allow: ${(err as Error).message}`);
    }
  }
  return entries;
}

function allowEntryIsLoopback(e: string): boolean {
  const { address, bits, family } = parseAllowEntry(e);
  return isLoopback(address) && (family === 'ipv4' ? bits >= 8 : bits === 128);
}

function readFile(what: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new ReplicationConfigError(`cannot read the replication ${what} ${path}: ${(err as Error).message}`);
  }
}

/** -o repl_tls_cert=,repl_tls_key=,repl_tls_ca=: all three or none; checked now so a bad file fails the start. */
function tlsFiles(extended: Record<string, string | true>): LinkTlsFiles | null {
  const names = ['repl_tls_cert', 'repl_tls_key', 'repl_tls_ca'] as const;
  const given = names.filter((n) => extended[n] !== undefined);
  if (given.length === 0) return null;
  const missing = names.filter((n) => typeof extended[n] !== 'string' || extended[n] === '');
  if (missing.length) throw new ReplicationConfigError(`replication TLS needs all of repl_tls_cert, repl_tls_key and repl_tls_ca (missing ${missing.join(', ')})`);
  const files = {
    cert: readFile('TLS certificate', extended.repl_tls_cert as string),
    key: readFile('TLS key', extended.repl_tls_key as string),
    ca: readFile('TLS CA', extended.repl_tls_ca as string),
  };
  try {
    linkTlsContext(files);
  } catch (err) {
    throw new ReplicationConfigError(`replication TLS: ${(err as Error).message} (repl_tls_cert, repl_tls_key, repl_tls_ca)`);
  }
  return files;
}

/**
 * Safe by default: a peer or allowed address off this host must prove membership — a shared secret or mutual
 * TLS — unless -o repl_insecure accepts the risk. And a peer off this host must be able to reach our port.
 */
function checkSafety(opts: ReplicationOptions, insecure: boolean): void {
  const remote = [...opts.peers.map((p) => p.host).filter((h) => !isLoopback(h)), ...(opts.allow ?? []).filter((e) => !allowEntryIsLoopback(e))];
  if (remote.length > 0 && !opts.secret && !opts.tls && !insecure) {
    throw new ReplicationConfigError(
      `replication peer ${remote[0]} is not on loopback, and no secret is set: anyone who can reach the replication port from there could copy or change the cache. `
      + `Set a shared secret (-o repl_secret_file=FILE, the same file on every node), or TLS (-o repl_tls_cert=...,repl_tls_key=...,repl_tls_ca=...), `
      + `or accept the risk with -o ${INSECURE_OPTION}`,
    );
  }
  const hosts = opts.listenHosts ?? [];
  const remotePeer = opts.peers.find((p) => !isLoopback(p.host));
  if (remotePeer && hosts.length > 0 && hosts.every((h) => isLoopback(h))) {
    throw new ReplicationConfigError(
      `replication peer ${remotePeer.host} cannot reach this node: the replication port listens on ${hosts.join(', ')} only (from -l). `
      + 'Listen on an address the peer can reach (-l, or -o repl_listen=ADDRESS)',
    );
  }
}

/**
 * Replication settings from the command line: -x/-X plus the `repl_*` extended options
 * (-o repl_secret=S, repl_secret_file=PATH, repl_sync, repl_sync_timeout=MS, repl_node_id=N, repl_queue=N,
 * repl_join_timeout=MS, repl_listen=HOST, repl_allow=ADDR[/BITS];..., repl_insecure, repl_tls_cert=PEM,
 * repl_tls_key=PEM, repl_tls_ca=PEM, repl_complete). `listen`: the -l entries, where the replication port listens
 * unless repl_listen says otherwise (none: all interfaces). Null when no peer is named and no -X was given.
 */
export function replicationFromArgs(
  repl: { peers: string[]; port: number; connectPort?: number; portGiven?: boolean },
  extended: Record<string, string | true>,
  itemSizeMax: number,
  listen: string[] = [],
): (ReplicationOptions & { nodeId?: number }) | null {
  if (!replicationWanted(repl, extended)) return null;
  let secret = typeof extended.repl_secret === 'string' ? extended.repl_secret : '';
  const file = extended.repl_secret_file;
  if (typeof file === 'string') {
    try {
      secret = readFileSync(file, 'utf8').trim();
    } catch (err) {
      throw new ReplicationConfigError(`cannot read the replication secret file ${file}: ${(err as Error).message}`);
    }
    if (!secret) throw new ReplicationConfigError(`the replication secret file ${file} is empty`);
  }
  const opts: ReplicationOptions & { nodeId?: number } = {
    peers: repl.peers.map((p) => parsePeer(p, repl.connectPort ?? repl.port)),
    port: repl.port,
    secret,
    syncMode: flag('repl_sync', extended.repl_sync),
    startComplete: flag('repl_complete', extended.repl_complete),
    itemSizeMax,
    allow: allowList(extended.repl_allow),
    tls: tlsFiles(extended),
  };
  const set = <K extends keyof typeof opts>(k: K, v: (typeof opts)[K] | undefined) => {
    if (v !== undefined) opts[k] = v;
  };
  set('syncTimeoutMs', int('repl_sync_timeout', extended.repl_sync_timeout, 1, 60_000));
  set('nodeId', int('repl_node_id', extended.repl_node_id, 1, MAX_NODE_ID));
  set('logCapacity', int('repl_queue', extended.repl_queue, 16, 1 << 26));
  set('joinTimeoutMs', int('repl_join_timeout', extended.repl_join_timeout, 0, 3_600_000));
  if (extended.repl_listen === true || extended.repl_listen === '') throw new ReplicationConfigError('-o repl_listen needs an address');
  const hosts = typeof extended.repl_listen === 'string' ? [extended.repl_listen.replace(/^\[|\]$/g, '')] : listen.map((l) => parseListenAddress(l, 0).host);
  if (hosts.length > 0) opts.listenHosts = [...new Set(hosts)];
  checkSafety(opts, flag(INSECURE_OPTION, extended[INSECURE_OPTION]));
  return opts;
}
