import { readFileSync } from 'node:fs';
import { MAX_NODE_ID } from './hlc.ts';
import { DEFAULT_REPLICATION_PORT, type PeerAddress, type ReplicationOptions } from './replicator.ts';

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
  'repl_join_timeout', 'repl_listen', 'repl_complete',
]);

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

/**
 * Replication settings from the command line: -x/-X plus the `repl_*` extended options
 * (-o repl_secret=S, repl_secret_file=PATH, repl_sync, repl_sync_timeout=MS, repl_node_id=N, repl_queue=N,
 * repl_join_timeout=MS, repl_listen=HOST, repl_complete). Null when no peer is named and no port was asked for.
 */
export function replicationFromArgs(
  repl: { peers: string[]; port: number },
  extended: Record<string, string | true>,
  itemSizeMax: number,
): (ReplicationOptions & { nodeId?: number }) | null {
  const wanted = repl.peers.length > 0 || repl.port !== DEFAULT_REPLICATION_PORT || Object.keys(extended).some((k) => k.startsWith('repl_'));
  if (!wanted) return null;
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
    peers: repl.peers.map((p) => parsePeer(p, repl.port)),
    port: repl.port,
    secret,
    syncMode: flag('repl_sync', extended.repl_sync),
    startComplete: flag('repl_complete', extended.repl_complete),
    itemSizeMax,
  };
  const set = <K extends keyof typeof opts>(k: K, v: (typeof opts)[K] | undefined) => {
    if (v !== undefined) opts[k] = v;
  };
  set('syncTimeoutMs', int('repl_sync_timeout', extended.repl_sync_timeout, 1, 60_000));
  set('nodeId', int('repl_node_id', extended.repl_node_id, 1, MAX_NODE_ID));
  set('logCapacity', int('repl_queue', extended.repl_queue, 16, 1 << 26));
  set('joinTimeoutMs', int('repl_join_timeout', extended.repl_join_timeout, 0, 3_600_000));
  if (typeof extended.repl_listen === 'string') opts.listenHost = extended.repl_listen;
  return opts;
}
