/**
 * Failover as a client sees it (root; network namespaces hvm-*): a client loops set/get through the VIP and
 * reports the longest gap between successful replies while the MASTER (a) loses its memcached, (b) gets
 * SIGTERM, (c) gets kill -9, (d) is cut off from the backup for 6 s (bridge port isolation; both still reach
 * the client), then the link heals, (e) is stopped (SIGSTOP) for 10 s, then continued — for haved and for
 * Debian's keepalived with equivalent configs, at advert_int 1 (1 s check) and advert_int 0.1 (100 ms check).
 * For (d) and (e) the figure is the longest gap after the heal / SIGCONT (watched for 40 s): during the fault
 * both nodes hold the VIP and the client follows the backup's gratuitous ARP.
 *
 *   node scripts/measure-failover.ts [--runs N] [--only haved|keepalived] [--fault 'kill memcached'|SIGTERM|'kill -9'|partition|SIGSTOP]
 * (the same file, with `client VIP DURATION_MS`, is the client run inside the client namespace)
 */
import { openCache, sleep } from './lib/vip-client.ts';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createLab, type LabNode } from '../test/support/netns.ts';
import { waitFor } from '../test/support/wait.ts';

const VIP = '198.18.0.100';


// ---------------------------------------------------------------- client (runs in the client namespace)

async function client(vip: string, durationMs: number): Promise<void> {
  const start = performance.now();
  let lastOk = start;
  let maxGap = 0;
  let ok = 0;
  let failures = 0;
  /** Gaps longer than 50 ms, as wall-clock [from, to] (ms): the caller finds the one after a recovery. */
  const gaps: [number, number][] = [];
  const wall = (t: number) => Math.round(performance.timeOrigin + t);
  const req = Buffer.from('set mf 0 0 1\r\nx\r\nget mf\r\n');
  while (performance.now() - start < durationMs) {
    const sock = await openCache(vip, 300);
    if (!sock) {
      failures++;
      await sleep(5);
      continue;
    }
    let buf = '';
    let resolveReply: ((ok: boolean) => void) | null = null;
    sock.on('data', (d) => {
      buf += d.toString('latin1');
      if (buf.includes('END\r\n')) resolveReply?.(buf.includes('VALUE mf'));
    });
    sock.on('error', () => resolveReply?.(false));
    sock.on('close', () => resolveReply?.(false));
    while (performance.now() - start < durationMs) {
      buf = '';
      const good = await new Promise<boolean>((res) => {
        resolveReply = res;
        const t = setTimeout(() => res(false), 300);
        sock.write(req);
        const done = resolveReply;
        resolveReply = (v) => { clearTimeout(t); done(v); };
      });
      resolveReply = null;
      if (!good) {
        failures++;
        break;
      }
      const now = performance.now();
      maxGap = Math.max(maxGap, now - lastOk);
      if (now - lastOk > 50) gaps.push([wall(lastOk), wall(now)]);
      lastOk = now;
      ok++;
    }
    sock.destroy();
  }
  const end = performance.now();
  maxGap = Math.max(maxGap, end - lastOk);
  if (end - lastOk > 50) gaps.push([wall(lastOk), wall(end)]);
  process.stdout.write(JSON.stringify({ maxGapMs: Math.round(maxGap), ok, failures, gaps }) + '\n');
}


function usage(message: string): never {
  console.error(`measure-failover: ${message}`);
  process.exit(2);
}

function parseOptions(argv: string[]): { runs: number; only: Daemon | null; onlyFault: Fault | null } {
  let values;
  try {
    ({ values } = parseArgs({ args: argv, options: { runs: { type: 'string' }, only: { type: 'string' }, fault: { type: 'string' } } }));
  } catch (e) {
    usage((e as Error).message);
  }
  const runs = values.runs === undefined ? 1 : Number(values.runs);
  if (!Number.isInteger(runs) || runs < 1) usage(`--runs must be a positive integer, got "${values.runs}"`);
  const daemons: readonly string[] = ['haved', 'keepalived'] satisfies Daemon[];
  if (values.only !== undefined && !daemons.includes(values.only)) usage(`--only must be haved or keepalived, got "${values.only}"`);
  if (values.fault !== undefined && !(FAULTS as readonly string[]).includes(values.fault)) {
    usage(`--fault must be one of ${FAULTS.map((f) => `'${f}'`).join(', ')}, got "${values.fault}"`);
  }
  return { runs, only: (values.only as Daemon | undefined) ?? null, onlyFault: (values.fault as Fault | undefined) ?? null };
}

// ---------------------------------------------------------------- orchestration

type Daemon = 'haved' | 'keepalived';
type Fault = 'kill memcached' | 'SIGTERM' | 'kill -9' | 'partition' | 'SIGSTOP';
interface Timing { label: string; advertInt: string; checkInterval: string }

const TIMINGS: Timing[] = [
  { label: 'advert 1 s, check 1 s', advertInt: '1', checkInterval: '1' },
  { label: 'advert 0.1 s, check 0.1 s', advertInt: '0.1', checkInterval: '0.1' },
];
const FAULTS: Fault[] = ['kill memcached', 'SIGTERM', 'kill -9', 'partition', 'SIGSTOP'];
const PARTITION_MS = 6000;
const STOPPED_MS = 10_000;
/** How long the client is watched after the heal / SIGCONT (a stale ARP entry lives ~30 s). */
const AFTER_RECOVERY_MS = 40_000;

function havedConf(n: LabNode, prio: number, t: Timing, port: number): string {
  return `global_defs {
    router_id ${n.ns}
    vrrp_udp_port ${port}
    vrrp_garp_master_delay 0
}
vrrp_instance VI_1 {
    state BACKUP
    interface ${n.ifname}
    virtual_router_id 51
    priority ${prio}
    advert_int ${t.advertInt}
    authentication {
        auth_type HMAC
        auth_pass measure-failover-key-0123456789
    }
    virtual_ipaddress {
        ${VIP}/32 dev ${n.ifname}
    }
}
virtual_server ${VIP} 11211 {
    delay_loop ${t.checkInterval}
    protocol TCP
    real_server ${n.address} 11211 {
        MEMCACHE_CHECK {
            connect_timeout ${t.checkInterval}
            retry 0
            delay_before_retry ${t.checkInterval}
        }
    }
}
`;
}

function keepalivedConf(n: LabNode, prio: number, t: Timing, checkScript: string): string {
  return `global_defs {
    router_id ${n.ns}
    vrrp_garp_master_delay 0
    ${t.advertInt === '1' ? '' : 'vrrp_version 3'}
    script_user root
}
vrrp_script chk_memcached {
    script "${checkScript}"
    interval ${t.checkInterval}
    timeout ${t.checkInterval}
    fall 1
    rise 1
}
vrrp_instance VI_1 {
    state BACKUP
    interface ${n.ifname}
    virtual_router_id 51
    priority ${prio}
    advert_int ${t.advertInt}
    virtual_ipaddress {
        ${VIP}/32 dev ${n.ifname}
    }
    track_script {
        chk_memcached
    }
}
`;
}

class Procs {
  list: ChildProcess[] = [];
  start(ns: string, cmd: string[]): ChildProcess {
    const p = spawn('ip', ['netns', 'exec', ns, ...cmd], { stdio: ['ignore', 'ignore', 'ignore'] });
    this.list.push(p);
    return p;
  }
  killAll(): void {
    for (const p of this.list) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    this.list = [];
  }
}

/** keepalived's VRRP and checker children can outlive a killed parent: clear the node namespaces between runs. */
async function killNamespaceProcesses(nodes: LabNode[]): Promise<void> {
  for (const n of nodes) {
    for (const pid of spawnSync('ip', ['netns', 'pids', n.ns], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean)) {
      try { process.kill(Number(pid), 'SIGKILL'); } catch { /* gone */ }
    }
  }
  await sleep(100);
}

/** Signals every process of a namespace except `keep` (all of keepalived's process tree, not its memcached). */
function killAllBut(n: LabNode, keep: number, signal: NodeJS.Signals = 'SIGKILL'): void {
  for (const pid of spawnSync('ip', ['netns', 'pids', n.ns], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean)) {
    if (Number(pid) === keep) continue;
    try { process.kill(Number(pid), signal); } catch { /* gone */ }
  }
}

async function exited(p: ChildProcess, ms: number): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  await Promise.race([new Promise((r) => p.once('exit', r)), sleep(ms)]);
}

async function main(): Promise<void> {
  const { runs, only, onlyFault } = parseOptions(process.argv.slice(2));
  if (process.getuid?.() !== 0) {
    console.error('measure-failover needs root (network namespaces, ip addr)');
    process.exit(1);
  }
  const root = resolve(import.meta.dirname, '..');
  const dir = mkdtempSync(join(tmpdir(), 'measure-failover-'));
  const checkScript = join(dir, 'check-memcached.sh');
  writeFileSync(checkScript, '#!/bin/bash\nexec 3<>/dev/tcp/127.0.0.1/11211 && printf "version\\r\\n" >&3 && read -t 1 -r line <&3 && [[ $line == VERSION* ]]\n');
  chmodSync(checkScript, 0o755);
  const lab = createLab('hvm', ['a', 'b', 'c']);
  const { a, b, c } = lab.nodes as Record<string, LabNode>;
  const procs = new Procs();
  const vipOn = (n: LabNode) => lab.addresses(n.name).includes(VIP);
  const results: { daemon: Daemon; timing: string; fault: Fault; gaps: number[]; vip: number[]; end: string[] }[] = [];
  let port = 20112;
  try {
    for (const daemon of ['haved', 'keepalived'] as Daemon[]) {
      if (only && only !== daemon) continue;
      for (const t of TIMINGS) {
        for (const fault of FAULTS) {
          if (onlyFault && onlyFault !== fault) continue;
          const gaps: number[] = [];
          const vip: number[] = [];
          const end: string[] = [];
          for (let run = 0; run < runs; run++) {
            lab.isolate(['a', 'b'], false);
            procs.killAll();
            await killNamespaceProcesses([a, b]);
            for (const f of ['a', 'b']) for (const k of ['main', 'vrrp', 'check']) rmSync(join(dir, `k${f}-${k}.pid`), { force: true });
            for (const n of [a, b]) lab.exec(n.ns, ['ip', 'addr', 'del', `${VIP}/32`, 'dev', n.ifname], { allowFail: true });
            const mc = { a: procs.start(a.ns, ['memcached', '-u', 'root', '-l', '0.0.0.0', '-p', '11211', '-U', '0', '-m', '16']), b: procs.start(b.ns, ['memcached', '-u', 'root', '-l', '0.0.0.0', '-p', '11211', '-U', '0', '-m', '16']) };
            void mc.b;
            port++;
            const startNode = (n: LabNode, prio: number): ChildProcess => {
              if (daemon === 'haved') {
                const conf = join(dir, `${n.name}.conf`);
                writeFileSync(conf, havedConf(n, prio, t, port));
                return procs.start(n.ns, [join(root, 'bin/haved'), '-f', conf, '--state-file', join(dir, `${n.name}.json`)]);
              }
              const conf = join(dir, `k${n.name}.conf`);
              writeFileSync(conf, keepalivedConf(n, prio, t, checkScript));
              const pid = (s: string) => join(dir, `k${n.name}-${s}.pid`);
              return procs.start(n.ns, ['keepalived', '-n', '-l', '-D', '-f', conf, '-p', pid('main'), '-r', pid('vrrp'), '-c', pid('check')]);
            };
            await sleep(200);
            const master = startNode(a, 150);
            startNode(b, 100);
            await waitFor(`VIP on a (${daemon}, ${t.label})`, () => vipOn(a) && !vipOn(b), 15_000, 50);
            await sleep(500);
            const short = t.advertInt === '1' ? 8000 : 4000;
            const durationMs = fault === 'partition' ? 2000 + PARTITION_MS + AFTER_RECOVERY_MS : fault === 'SIGSTOP' ? 2000 + STOPPED_MS + AFTER_RECOVERY_MS : short;
            // SIGSTOP: haved is one process; keepalived's VRRP and checker children are stopped with their parent
            const signalMaster = (sig: NodeJS.Signals) => (daemon === 'haved' ? master.kill(sig) : killAllBut(a, mc.a.pid!, sig));
            const result = await runClientWithFault(c, durationMs, async () => {
              if (fault === 'kill memcached') mc.a.kill('SIGKILL');
              else if (fault === 'SIGTERM') master.kill('SIGTERM');
              else if (fault === 'kill -9') {
                if (daemon === 'haved') master.kill('SIGKILL');
                else killAllBut(a, mc.a.pid!); // keepalived's VRRP child would resign on its parent's death: kill them all
              } else if (fault === 'partition') {
                const cutAt = performance.now();
                lab.isolate(['a', 'b'], true);
                return async () => {
                  await sleep(cutAt + PARTITION_MS - performance.now());
                  lab.isolate(['a', 'b'], false);
                };
              } else {
                const stoppedAt = performance.now();
                signalMaster('SIGSTOP');
                return async () => {
                  await sleep(stoppedAt + STOPPED_MS - performance.now());
                  signalMaster('SIGCONT');
                };
              }
              return null;
            });
            gaps.push(result.gapMs);
            vip.push(result.vipMs);
            const holder = vipOn(a) && vipOn(b) ? 'both' : vipOn(b) ? 'b' : vipOn(a) ? 'a' : 'none';
            end.push(holder);
            const what = result.recoveredAt === null ? 'longest gap' : `longest gap after the ${fault === 'partition' ? 'heal' : 'SIGCONT'}`;
            console.error(`${daemon} | ${t.label} | ${fault} | run ${run + 1}: ${what} ${result.gapMs} ms, VIP on b after ${result.vipMs} ms (ok ${result.ok}, failures ${result.failures}), VIP now on ${holder}`);
            if (fault !== 'partition' && fault !== 'SIGSTOP') await exited(master, 2000);
          }
          results.push({ daemon, timing: t.label, fault, gaps, vip, end });
        }
      }
    }
  } finally {
    procs.killAll();
    lab.destroy();
    rmSync(dir, { recursive: true, force: true });
  }

  console.log('\n| daemon | timing | fault on MASTER | longest client gap (ms; partition, SIGSTOP: after the heal / SIGCONT) | fault -> VIP on peer (ms) | VIP at the end |');
  console.log('|---|---|---|---|---|---|');
  for (const r of results) console.log(`| ${r.daemon} | ${r.timing} | ${r.fault} | ${r.gaps.join(', ')} | ${r.vip.join(', ')} | ${r.end.join(', ')} |`);

  /**
   * `inject` applies the fault; for a fault that ends (partition, SIGSTOP) it returns how to end it, which runs
   * once the VIP is on b (or the wait gave up), and the gap is then measured from that moment.
   */
  async function runClientWithFault(cn: LabNode, durationMs: number, inject: () => Promise<(() => Promise<void>) | null>) {
    const p = spawn('ip', ['netns', 'exec', cn.ns, process.execPath, '--disable-warning=ExperimentalWarning', import.meta.filename, 'client', VIP, String(durationMs)], { stdio: ['ignore', 'pipe', 'inherit'] });
    procs.list.push(p);
    let out = '';
    p.stdout!.on('data', (d) => (out += d));
    // a random phase against the daemons' check and advert timers, so the runs sample the whole interval
    await sleep(1000 + Math.random() * 1000);
    const end = await inject();
    const vipMs = await waitFor('VIP on b', () => vipOn(b), end ? 9000 : durationMs - 1500, 5).then(Math.round, () => -1);
    let recoveredAt: number | null = null;
    if (end) {
      await end();
      recoveredAt = performance.timeOrigin + performance.now();
    }
    await exited(p, durationMs + 5000);
    const r = JSON.parse(out.trim().split('\n').pop() || '{"maxGapMs":-1,"ok":0,"failures":0,"gaps":[]}') as { maxGapMs: number; ok: number; failures: number; gaps: [number, number][] };
    // after a recovery: the longest gap that ends after it, counted from the recovery
    const gapMs = recoveredAt === null ? r.maxGapMs : Math.max(0, ...r.gaps.filter(([, to]) => to > recoveredAt!).map(([from, to]) => Math.round(to - Math.max(from, recoveredAt!))));
    return { ...r, vipMs, gapMs, recoveredAt };
  }
}

if (process.argv[2] === 'client') await client(process.argv[3]!, Number(process.argv[4]));
else await main();
