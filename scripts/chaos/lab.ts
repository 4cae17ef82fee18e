/**
 * The chaos run's lab: namespaces `ch<pid>-a`, `-b` (haved supervising repcache, replicating to each other) and
 * `-c` (the client) on one bridge, 198.18.0.0/24 with the VIP 198.18.0.100. Each node's state file lives on a
 * tiny tmpfs of its own (to fill it). destroy() removes everything: processes, namespaces, mounts; it is safe to
 * call twice and from a signal handler.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { createLab, type Lab, type LabNode } from '../../test/support/netns.ts';
import type { VipEvent } from './history.ts';

export const root = resolve(import.meta.dirname, '../..');
export const VIP = '198.18.0.100';
export const ADVERT_PORT = 112;
const HMAC_KEY = 'chaos-lab-advert-key-0123456789';

export interface LabOptions {
  dir: string;
  sync: boolean;
  advertIntS: number;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
export const now = () => performance.timeOrigin + performance.now();

/** Runs a command and returns its output; never throws (the caller looks at `ok`). */
export function run(cmd: string[], timeoutMs = 10_000): Promise<{ ok: boolean; out: string; err: string }> {
  return new Promise((done) => {
    const p = spawn(cmd[0]!, cmd.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    const t = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('error', (e) => { clearTimeout(t); done({ ok: false, out, err: e.message }); });
    p.on('close', (code) => { clearTimeout(t); done({ ok: code === 0, out, err }); });
  });
}

export class ChaosLab {
  readonly o: LabOptions;
  lab!: Lab;
  nodes!: [LabNode, LabNode];
  client!: LabNode;
  readonly vipEvents: VipEvent[] = [];
  readonly holds: [boolean, boolean] = [false, false];
  #haved: [ChildProcess | null, ChildProcess | null] = [null, null];
  #watchers: ChildProcess[] = [];
  #mounts: string[] = [];
  #destroyed = false;

  constructor(o: LabOptions) {
    this.o = o;
  }

  nodeDir(i: number): string {
    return join(this.o.dir, 'ab'[i]!);
  }

  stateDir(i: number): string {
    return join(this.nodeDir(i), 'state');
  }

  stateFile(i: number): string {
    return join(this.stateDir(i), 'state.json');
  }

  /** The master-down interval of the backup (priority 100): 3 adverts plus its skew. */
  get masterDownMs(): number {
    return Math.round(1000 * (3 * this.o.advertIntS + ((256 - 100) / 256) * this.o.advertIntS));
  }

  up(): void {
    mkdirSync(this.o.dir, { recursive: true });
    this.lab = createLab('ch', ['a', 'b', 'c']);
    const { a, b, c } = this.lab.nodes as Record<string, LabNode>;
    this.nodes = [a!, b!];
    this.client = c!;
    const secret = join(this.o.dir, 'repl.secret');
    writeFileSync(secret, 'chaos-lab-replication-secret-0123456789\n', { mode: 0o600 });
    for (const i of [0, 1]) {
      mkdirSync(this.stateDir(i), { recursive: true });
      const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=256k,mode=0700', 'tmpfs', this.stateDir(i)], { encoding: 'utf8' });
      if (m.status !== 0) throw new Error(`mount tmpfs on ${this.stateDir(i)}: ${m.stderr}`);
      this.#mounts.push(this.stateDir(i));
      writeFileSync(join(this.nodeDir(i), 'haved.conf'), this.#conf(i, secret));
      const check = spawnSync(join(root, 'bin/haved'), ['-t', '-f', join(this.nodeDir(i), 'haved.conf')], { encoding: 'utf8' });
      if (check.status !== 0) throw new Error(`haved -t refuses the lab config: ${check.stderr}`);
    }
    for (const i of [0, 1]) this.#watchVip(i);
    for (const i of [0, 1]) this.startHaved(i);
  }

  #conf(i: number, secret: string): string {
    const me = this.nodes[i]!;
    const peer = this.nodes[1 - i]!;
    const repcache = [
      join(root, 'bin/repcache'), '-p', '11211', '-U', '0', '-u', 'nobody', '-m', '64', '-X', '11212', '-x', `${peer.address}:11212`,
      '-o', `repl_secret_file=${secret}`, ...(this.o.sync ? ['--replication-sync'] : []),
    ].join(' ');
    return `! chaos lab node ${'ab'[i]}
global_defs {
    router_id chaos-${'ab'[i]}
    vrrp_garp_master_delay 0
}
vrrp_instance chaos {
    state BACKUP
    interface ${me.ifname}
    virtual_router_id 51
    priority ${i === 0 ? 150 : 100}
    advert_int ${this.o.advertIntS}
    authentication {
        auth_type HMAC
        auth_pass ${HMAC_KEY}
    }
    unicast_src_ip ${me.address}
    unicast_peer {
        ${peer.address}
    }
    virtual_ipaddress {
        ${VIP}/32 dev ${me.ifname}
    }
}
virtual_server ${VIP} 11211 {
    delay_loop 0.5
    protocol TCP
    real_server ${me.address} 11211 {
        MEMCACHE_CHECK {
            connect_timeout 0.5
            retry 1
            delay_before_retry 0.2
        }
    }
}
cache_daemon {
    command "${repcache}"
    restart_backoff 0.1 2
    stop_timeout 3
}
`;
  }

  startHaved(i: number): void {
    const log = openSync(join(this.nodeDir(i), 'haved.log'), 'a');
    const p = spawn('ip', ['netns', 'exec', this.nodes[i]!.ns, join(root, 'bin/haved'), '-f', join(this.nodeDir(i), 'haved.conf'), '--state-file', this.stateFile(i)], {
      stdio: ['ignore', log, log], env: { ...process.env, HAVED_LOG_JSON: '1' },
    });
    closeSync(log);
    this.#haved[i] = p;
  }

  havedPid(i: number): number | null {
    const p = this.#haved[i];
    return p && p.exitCode === null && p.signalCode === null ? p.pid ?? null : null;
  }

  async killHaved(i: number): Promise<void> {
    const p = this.#haved[i];
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill('SIGKILL');
    await exited;
  }

  /** Pids of processes in node i's namespace whose name (comm) is `name`. */
  pids(i: number, name: string): number[] {
    const r = spawnSync('ip', ['netns', 'pids', this.nodes[i]!.ns], { encoding: 'utf8' });
    return (r.stdout ?? '').split('\n').filter(Boolean).map(Number).filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === name;
      } catch {
        return false;
      }
    });
  }

  /** What systemd does when haved dies (KillMode=mixed): what is left of the unit is killed before the restart. */
  killLeftovers(i: number): void {
    for (const pid of this.pids(i, 'repcache')) signal(-pid, 'SIGKILL') || signal(pid, 'SIGKILL');
  }

  /** A namespace command of node i (or the client with i = 2). */
  exec(i: number, cmd: string[], timeoutMs?: number) {
    const ns = i === 2 ? this.client.ns : this.nodes[i]!.ns;
    return run(['ip', 'netns', 'exec', ns, ...cmd], timeoutMs);
  }

  /** `stats` of a node's cache as the client reaches it (null: no answer), as a map. */
  async stats(i: number): Promise<Map<string, string> | null> {
    const host = this.nodes[i]!.address;
    const script = `exec 3<>/dev/tcp/${host}/11211 || exit 1; printf 'stats\\r\\n' >&3; while IFS= read -r l <&3; do echo "$l"; case $l in END*|ERROR*) break;; esac; done`;
    const r = await this.exec(2, ['timeout', '1', 'bash', '-c', script], 3000);
    if (!r.ok || !r.out.includes('END')) return null;
    const m = new Map<string, string>();
    for (const l of r.out.split('\n')) {
      const x = /^STAT (\S+) (\S+)/.exec(l.trim());
      if (x) m.set(x[1]!, x[2]!);
    }
    return m;
  }

  #watchVip(i: number): void {
    const ns = this.nodes[i]!.ns;
    const initial = spawnSync('ip', ['-n', ns, '-4', '-o', 'addr', 'show'], { encoding: 'utf8' }).stdout ?? '';
    this.holds[i] = initial.includes(` ${VIP}/`);
    const w = spawn('ip', ['-n', ns, 'monitor', 'address'], { stdio: ['ignore', 'pipe', 'ignore'] });
    this.#watchers.push(w);
    createInterface({ input: w.stdout! }).on('line', (l) => {
      const m = /^(Deleted )?\d+: \S+\s+inet (\d+\.\d+\.\d+\.\d+)\//.exec(l);
      if (!m || m[2] !== VIP) return;
      const holds = !m[1];
      if (holds === this.holds[i]) return;
      this.holds[i] = holds;
      this.vipEvents.push({ t: now(), node: i, holds });
    });
  }

  holders(): number[] {
    return [0, 1].filter((i) => this.holds[i]);
  }

  destroy(keepDir: boolean): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    for (const w of this.#watchers) w.kill('SIGKILL');
    for (const p of this.#haved) if (p && p.exitCode === null) p.kill('SIGKILL');
    this.lab?.destroy();
    for (const m of this.#mounts) spawnSync('umount', ['-l', m]);
    if (!keepDir) rmSync(this.o.dir, { recursive: true, force: true });
  }
}

function signal(pid: number, sig: NodeJS.Signals): boolean {
  try {
    process.kill(pid, sig);
    return true;
  } catch {
    return false;
  }
}

export { signal };

/** Leftover state files of a node's tmpfs (for the disk-full fault's check). */
export function stateFiles(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir) : [];
}
