import { execFileSync, spawnSync } from 'node:child_process';
import { startProcess, type Daemon } from './daemon.ts';
import { isRunning } from './wait.ts';

/** Kept here too for callers that wait on a lab. */
export { waitFor } from './wait.ts';

/**
 * A lab of network namespaces on one bridge: `${prefix}<pid>-br` holds bridge br0; each node `${prefix}<pid>-${name}`
 * has interface `ifname` (veth into the bridge) with 198.18.0.N/24, lo up and a 224.0.0.0/4 route.
 * Only 198.18.0.0/15 addresses are used. Call destroy() in afterAll (it also runs on process exit).
 */
export interface LabNode {
  name: string;
  ns: string;
  ifname: string;
  address: string;
}

export interface Lab {
  prefix: string;
  nodes: Record<string, LabNode>;
  /** Runs a command in a namespace and returns stdout; throws on failure unless allowFail. */
  exec(ns: string, cmd: string[], opts?: { allowFail?: boolean; timeoutMs?: number }): string;
  /** Starts a long-running process in a namespace (killed by destroy()). */
  spawn(ns: string, cmd: string[], env?: NodeJS.ProcessEnv): Daemon;
  /** IPv4 addresses on a node's lab interface. */
  addresses(node: string): string[];
  /**
   * Bridge port isolation: isolated nodes cannot reach each other but still reach every other node (a
   * partition between them that the rest of the segment does not see).
   */
  isolate(nodes: string[], on: boolean): void;
  destroy(): void;
}

const SUBNET = '198.18.0';

function sh(cmd: string[], allowFail = false, timeoutMs = 10_000): string {
  const r = spawnSync(cmd[0]!, cmd.slice(1), { encoding: 'utf8', timeout: timeoutMs });
  if (!allowFail && (r.status !== 0 || r.error)) {
    throw new Error(`${cmd.join(' ')} failed (${r.status ?? r.error?.message}): ${r.stderr}`);
  }
  return r.stdout ?? '';
}

/**
 * Deletes the namespaces `${prefix}<pid>-*` left by runs whose process is gone (a crashed run), killing
 * their processes. Labs of live runs (another test run on the same host) are left alone.
 */
export function cleanupStale(prefix: string): void {
  const list = sh(['ip', 'netns', 'list'], true);
  const re = new RegExp(`^${prefix}(\\d+)-`);
  for (const line of list.split('\n')) {
    const ns = line.split(' ')[0];
    const pid = ns ? re.exec(ns)?.[1] : undefined;
    if (!ns || !pid || isRunning(Number(pid))) continue;
    killNamespace(ns);
  }
}

function killNamespace(ns: string): void {
  const pids = sh(['ip', 'netns', 'pids', ns], true).split('\n').filter(Boolean);
  for (const pid of pids) {
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  sh(['ip', 'netns', 'del', ns], true);
}

/**
 * Namespaces are named `${prefix}<pid>-<name>` (e.g. hv4242-a), so two test runs on one host never touch
 * each other's lab; the nodes' interface is `ifname` (default `${prefix}0`, e.g. hv0).
 */
export function createLab(basePrefix: string, names: string[], ifname = `${basePrefix}0`): Lab {
  cleanupStale(basePrefix);
  const prefix = `${basePrefix}${process.pid}`;
  const bridgeNs = `${prefix}-br`;
  const nodes: Record<string, LabNode> = {};
  const bridgePort = (name: string) => `p${process.pid}-${name}`.slice(0, 15);
  const procs: Daemon[] = [];
  const created: string[] = [];
  const destroy = () => {
    for (const p of procs) {
      if (p.proc.exitCode === null && p.proc.signalCode === null) p.proc.kill('SIGKILL');
    }
    for (const ns of created.reverse()) killNamespace(ns);
    created.length = 0;
    process.off('exit', destroy);
  };
  process.on('exit', destroy);
  try {
    sh(['ip', 'netns', 'add', bridgeNs]);
    created.push(bridgeNs);
    const inBr = (...c: string[]) => sh(['ip', 'netns', 'exec', bridgeNs, ...c]);
    inBr('ip', 'link', 'add', 'br0', 'type', 'bridge');
    inBr('ip', 'link', 'set', 'br0', 'up');
    inBr('ip', 'link', 'set', 'lo', 'up');
    names.forEach((name, i) => {
      const ns = `${prefix}-${name}`;
      sh(['ip', 'netns', 'add', ns]);
      created.push(ns);
      const port = bridgePort(name);
      // create the pair inside the node namespace, then move the bridge end
      sh(['ip', 'netns', 'exec', ns, 'ip', 'link', 'add', ifname, 'type', 'veth', 'peer', 'name', port]);
      sh(['ip', 'netns', 'exec', ns, 'ip', 'link', 'set', port, 'netns', bridgeNs]);
      inBr('ip', 'link', 'set', port, 'master', 'br0');
      inBr('ip', 'link', 'set', port, 'up');
      const address = `${SUBNET}.${i + 1}`;
      const inNs = (...c: string[]) => sh(['ip', 'netns', 'exec', ns, ...c]);
      inNs('ip', 'link', 'set', 'lo', 'up');
      inNs('ip', 'addr', 'add', `${address}/24`, 'dev', ifname);
      inNs('ip', 'link', 'set', ifname, 'up');
      inNs('ip', 'route', 'add', '224.0.0.0/4', 'dev', ifname);
      nodes[name] = { name, ns, ifname, address };
    });
  } catch (e) {
    destroy();
    throw e;
  }
  return {
    prefix,
    nodes,
    exec: (ns, cmd, opts = {}) => sh(['ip', 'netns', 'exec', ns, ...cmd], opts.allowFail, opts.timeoutMs),
    spawn(ns, cmd, env) {
      const d = startProcess('ip', ['netns', 'exec', ns, ...cmd], { env });
      procs.push(d);
      return d;
    },
    addresses(node) {
      const n = nodes[node]!;
      const out = execFileSync('ip', ['netns', 'exec', n.ns, 'ip', '-4', '-o', 'addr', 'show', 'dev', n.ifname], { encoding: 'utf8' });
      return [...out.matchAll(/inet (\d+\.\d+\.\d+\.\d+)\//g)].map((m) => m[1]!);
    },
    isolate(names, on) {
      for (const n of names) sh(['ip', 'netns', 'exec', bridgeNs, 'bridge', 'link', 'set', 'dev', bridgePort(n), 'isolated', on ? 'on' : 'off']);
    },
    destroy,
  };
}
