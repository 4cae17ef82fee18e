import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bin, repoRoot } from '../support/daemon.ts';
import type { Daemon } from '../support/daemon.ts';
import type { Lab, LabNode } from '../support/netns.ts';

export const VIP = '198.18.0.100';
export const HMAC_KEY = 'hv-lab-shared-key-0123456789';

export interface NodeConf {
  node: LabNode;
  priority: number;
  advertInt: string; // seconds, as written in the config
  nopreempt?: boolean;
  udpPort: number;
  /** MEMCACHE_CHECK on this node's own memcached with these timings (seconds); null = no check. */
  check?: { delayLoop: string; connectTimeout: string; retry: number; delayBeforeRetry: string } | null;
  notifyScript?: string;
  vrid?: number;
  /** Device of the VIP (default the node's interface). */
  vipDev?: string;
  /** Default HMAC with HMAC_KEY. */
  auth?: { type: 'PASS' | 'HMAC'; pass: string };
  unicastPeers?: string[];
  allowedPeers?: string[];
  /** More lines inside the vrrp_instance block (e.g. a witness block). */
  instanceExtra?: string;
}

/** A keepalived-syntax config for one lab node: one instance, the VIP, an HMAC key, a local cache check. */
export function havedConf(c: NodeConf): string {
  const n = c.node;
  const notify = c.notifyScript
    ? `    notify "${c.notifyScript}"\n    notify_master "${c.notifyScript} notify_master"\n    notify_stop "${c.notifyScript} notify_stop"\n`
    : '';
  const auth = c.auth ?? { type: 'HMAC', pass: HMAC_KEY };
  const list = (kw: string, xs: string[] | undefined) => (xs?.length ? `    ${kw} {\n${xs.map((x) => `        ${x}\n`).join('')}    }\n` : '');
  const peers =
    (c.unicastPeers?.length ? `    unicast_src_ip ${n.address}\n` : '') + list('unicast_peer', c.unicastPeers) + list('allowed_peers', c.allowedPeers);
  const check = c.check
    ? `virtual_server ${VIP} 11211 {
    delay_loop ${c.check.delayLoop}
    protocol TCP
    real_server ${n.address} 11211 {
${c.notifyScript ? `        notify_down "${c.notifyScript} notify_down"\n        notify_up "${c.notifyScript} notify_up"\n` : ''}        MEMCACHE_CHECK {
            connect_timeout ${c.check.connectTimeout}
            retry ${c.check.retry}
            delay_before_retry ${c.check.delayBeforeRetry}
        }
    }
}
`
    : '';
  return `! lab node ${n.name}
global_defs {
    router_id ${n.ns}
    vrrp_udp_port ${c.udpPort}
    vrrp_garp_master_delay 0
}
vrrp_instance VI_1 {
    state BACKUP
    interface ${n.ifname}
    virtual_router_id ${c.vrid ?? 51}
    priority ${c.priority}
    advert_int ${c.advertInt}
${c.nopreempt ? '    nopreempt\n' : ''}    authentication {
        auth_type ${auth.type}
        auth_pass ${auth.pass}
    }
${peers}    virtual_ipaddress {
        ${VIP}/32 dev ${c.vipDev ?? n.ifname}
    }
${notify}${c.instanceExtra ?? ''}}
${check}`;
}

/** Temp files for one test file: configs, state files, notify logs. */
export class Scratch {
  readonly dir = mkdtempSync(join(tmpdir(), 'haved-lab-'));
  path(name: string): string {
    return join(this.dir, name);
  }
  write(name: string, text: string): string {
    const p = this.path(name);
    writeFileSync(p, text);
    return p;
  }
  /** A notify script that appends its arguments as one line to `${name}.log`. */
  notifyScript(name: string): { script: string; lines: () => string[] } {
    const log = this.path(`${name}.log`);
    const script = this.write(`${name}.sh`, `#!/bin/sh\necho "$*" >> ${log}\n`);
    chmodSync(script, 0o755);
    return {
      script,
      lines: () => {
        try {
          return readFileSync(log, 'utf8').split('\n').filter(Boolean);
        } catch {
          return [];
        }
      },
    };
  }
  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export function startHaved(lab: Lab, node: LabNode, conf: string, stateFile: string): Daemon {
  return lab.spawn(node.ns, [bin('haved'), '-f', conf, '--state-file', stateFile], { HAVED_LOG_JSON: '1' });
}

export function startMemcached(lab: Lab, node: LabNode): Daemon {
  return lab.spawn(node.ns, ['memcached', '-u', 'root', '-l', '0.0.0.0', '-p', '11211', '-U', '0', '-m', '16']);
}

/** MAC address of a node's lab interface. */
export function macOf(lab: Lab, node: LabNode): string {
  const out = lab.exec(node.ns, ['cat', `/sys/class/net/${node.ifname}/address`]);
  return out.trim();
}

/** The MAC the client has cached for the VIP (null if none / incomplete). */
export function clientNeighbour(lab: Lab, client: LabNode): string | null {
  const out = lab.exec(client.ns, ['ip', 'neigh', 'show', VIP, 'dev', client.ifname], { allowFail: true });
  return /lladdr ([0-9a-f:]+)/.exec(out)?.[1] ?? null;
}

/** One memcached `version` round trip from the client namespace to VIP:11211. */
export function clientReachesCache(lab: Lab, client: LabNode): boolean {
  const script = `exec 3<>/dev/tcp/${VIP}/11211 && printf 'version\\r\\n' >&3 && head -c 8 <&3`;
  const out = lab.exec(client.ns, ['timeout', '2', 'bash', '-c', script], { allowFail: true, timeoutMs: 3000 });
  return out.startsWith('VERSION ');
}

/** Wall-clock ms with sub-ms precision: the probe's send times are on this clock. */
export const wallNow = () => performance.timeOrigin + performance.now();

/** Longest time without a successful probe between `from` and `to` (counted from `from`). */
export function longestOutage(ok: number[], from: number, to: number): number {
  const points = [from, ...ok.filter((t) => t > from && t <= to), to];
  let max = 0;
  for (let i = 1; i < points.length; i++) max = Math.max(max, points[i]! - points[i - 1]!);
  return Math.round(max);
}

/**
 * A client in `client`'s namespace probes VIP:11211 every 10 ms for `ms` (vip-probe.ts); resolves how many probes
 * were sent and the send times of the successful ones.
 */
export function probeVip(client: LabNode, ms: number, vip = VIP): Promise<{ sent: number; ok: number[] }> {
  return new Promise((resolve, reject) => {
    const probe = join(repoRoot, 'test/integration/vip-probe.ts');
    const p = spawn('ip', ['netns', 'exec', client.ns, process.execPath, '--disable-warning=ExperimentalWarning', probe, vip, String(ms)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let text = '';
    p.stdout.on('data', (d) => (text += d));
    const timer = setTimeout(() => p.kill('SIGKILL'), ms + 10_000);
    p.once('exit', () => {
      clearTimeout(timer);
      try {
        resolve(JSON.parse(text.trim().split('\n').pop()!));
      } catch (e) {
        reject(new Error(`probe output: ${text} (${(e as Error).message})`));
      }
    });
  });
}

/**
 * Polls every 10 ms, while `during` runs and `settleMs` after, whether `moved()` (e.g. "the VIP left a or
 * appeared on b") ever held.
 */
export async function watchWhile<T>(moved: () => boolean, during: () => Promise<T>, settleMs = 0): Promise<{ moved: boolean; result: T }> {
  let seen = false;
  let watching = true;
  const watch = (async () => {
    while (watching) {
      if (moved()) seen = true;
      await new Promise((r) => setTimeout(r, 10));
    }
  })();
  try {
    const result = await during();
    if (settleMs > 0) await new Promise((r) => setTimeout(r, settleMs));
    return { moved: seen, result };
  } finally {
    watching = false;
    await watch;
  }
}
