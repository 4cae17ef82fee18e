/**
 * `npm run bench -- failover` (root): the seeds' fault in the namespace lab. haved supervises repcache on
 * two nodes (a: priority 150, b: 90, preempting once warm); a client in a third namespace writes keys and
 * reads them through the VIP while repcache is killed -9 on the MASTER. Reports the client's longest gap
 * without a reply (the outage), the share of keys acknowledged before the kill that read back after, and
 * how long the returning node takes to be warm and to hold the VIP again. Advert 1 s and 0.1 s; async and
 * --replication-sync; FAILOVER_RUNS=N repeats each case. (With `client VIP KILL_AT_MS DURATION_MS` it is the client.)
 */
import type { Socket } from 'node:net';
import { openCache, sleep } from '../lib/vip-client.ts';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createLab, waitFor, type Lab, type LabNode } from '../../test/support/netns.ts';
import type { BenchRow, BenchSection } from './lib.ts';

const VIP = '198.18.0.100';
const ROOT = resolve(import.meta.dirname, '../..');

// ---------------------------------------------------------------- client (inside the client namespace)

interface ClientResult { gaps: { ms: number; endedAt: number }[]; acked: number; readBack: number; ok: number; failures: number }

async function client(vip: string, killAt: number, durationMs: number): Promise<void> {
  const start = performance.now();
  let lastOk = start;
  const gaps: { ms: number; endedAt: number }[] = [];
  let ok = 0;
  let failures = 0;
  const ackedBeforeKill: number[] = [];
  let i = 0;
  let sock: Socket | null = null;
  while (performance.now() - start < durationMs) {
    sock ??= await openCache(vip, 300);
    if (!sock) { failures++; await sleep(2); continue; }
    const key = ++i;
    const reply = await request(sock, `set kf:${key} 0 0 ${String(key).length}\r\n${key}\r\n`, 'STORED\r\n', 300);
    if (reply === null) { failures++; sock.destroy(); sock = null; continue; }
    if (Date.now() < killAt) ackedBeforeKill.push(key);
    const now = performance.now();
    if (now - lastOk > 20) gaps.push({ ms: Math.round(now - lastOk), endedAt: Date.now() });
    lastOk = now;
    ok++;
  }
  if (performance.now() - lastOk > 20) gaps.push({ ms: Math.round(performance.now() - lastOk), endedAt: Date.now() });
  sock?.destroy();
  // read back, in batches, through the VIP (now on the peer, or back on the returning node)
  let readBack = 0;
  const s = await openCache(vip, 2000);
  if (s) {
    for (let j = 0; j < ackedBeforeKill.length; j += 100) {
      const batch = ackedBeforeKill.slice(j, j + 100);
      const r = await request(s, `get ${batch.map((k) => `kf:${k}`).join(' ')}\r\n`, 'END\r\n', 3000);
      for (const k of batch) if (r?.includes(`VALUE kf:${k} 0 ${String(k).length}\r\n${k}\r\n`)) readBack++;
    }
    s.destroy();
  }
  const out: ClientResult = { gaps, acked: ackedBeforeKill.length, readBack, ok, failures };
  process.stdout.write(JSON.stringify(out) + '\n');
}

function request(sock: Socket, text: string, end: string, timeoutMs: number): Promise<string | null> {
  return new Promise((res) => {
    let buf = '';
    const done = (v: string | null) => { clearTimeout(t); sock.off('data', onData); sock.off('error', onErr); sock.off('close', onErr); res(v); };
    const onData = (d: Buffer) => { buf += d.toString('latin1'); if (buf.endsWith(end)) done(buf); };
    const onErr = () => done(null);
    const t = setTimeout(() => done(null), timeoutMs);
    sock.on('data', onData);
    sock.once('error', onErr);
    sock.once('close', onErr);
    sock.write(text);
  });
}


// ---------------------------------------------------------------- orchestration

interface Case { advertInt: string; sync: boolean }
export interface FailoverFigures extends Case { outageMs: number; failbackGapMs: number; acked: number; readBack: number; vipMovedMs: number; warmMs: number; failbackMs: number }

function conf(n: LabNode, peer: LabNode, prio: number, c: Case, port: number, secretFile: string): string {
  const repcache = `${join(ROOT, 'bin/repcache')} -p 11211 -U 0 -u nobody -t 1 -m 64 -x ${peer.address} -o repl_secret_file=${secretFile}${c.sync ? ' --replication-sync' : ''}`;
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
    advert_int ${c.advertInt}
    authentication {
        auth_type HMAC
        auth_pass bench-failover-key-0123456789
    }
    unicast_src_ip ${n.address}
    unicast_peer {
        ${peer.address}
    }
    virtual_ipaddress {
        ${VIP}/32 dev ${n.ifname}
    }
}
cache_daemon {
    command "${repcache}"
    restart_backoff 0.1 2
}
`;
}

async function measure(lab: Lab, dir: string, c: Case, port: number, log: (l: string) => void): Promise<FailoverFigures> {
  const { a, b, c: cl } = lab.nodes as Record<string, LabNode>;
  const procs: ChildProcess[] = [];
  const vipOn = (n: LabNode) => lab.addresses(n.name).includes(VIP);
  const state = (n: LabNode) => join(dir, `${n.name}.json`);
  const status = (n: LabNode) => { try { return JSON.parse(readFileSync(state(n), 'utf8')); } catch { return null; } };
  // the peers are off loopback: they prove a shared secret
  const secretFile = join(dir, 'repl.secret');
  writeFileSync(secretFile, randomBytes(32).toString('base64'), { mode: 0o600 });
  const start = (n: LabNode, peer: LabNode, prio: number) => {
    const file = join(dir, `${n.name}.conf`);
    writeFileSync(file, conf(n, peer, prio, c, port, secretFile));
    const p = spawn('ip', ['netns', 'exec', n.ns, join(ROOT, 'bin/haved'), '-f', file, '--state-file', state(n)], { stdio: 'ignore', env: { ...process.env, HAVED_LOG_JSON: '1' } });
    procs.push(p);
    return p;
  };
  try {
    start(a, b, 150);
    await waitFor('VIP on a', () => vipOn(a), 20_000, 50);
    start(b, a, 90);
    await waitFor('b BACKUP and warm', () => status(b)?.instances?.[0]?.state === 'BACKUP' && status(b)?.cache?.warmth === 'warm', 20_000, 50);
    await sleep(1500); // a hears b's hellos
    const durationMs = c.advertInt === "1" ? 8000 : 5000; // covers the failback too
    const killAt = Date.now() + 1500 + Math.random() * 1000; // a random phase against the advert timers
    const cp = spawn('ip', ['netns', 'exec', cl.ns, process.execPath, '--disable-warning=ExperimentalWarning', import.meta.filename, 'client', VIP, String(killAt), String(durationMs)], { stdio: ['ignore', 'pipe', 'inherit'] });
    procs.push(cp);
    let out = '';
    cp.stdout!.on('data', (d) => (out += d));
    await sleep(Math.max(0, killAt - Date.now()));
    const pid = status(a)?.cache?.pid;
    if (!pid) throw new Error('no repcache pid in the state of a');
    process.kill(pid, 'SIGKILL');
    const t0 = performance.now();
    const vipMovedMs = await waitFor('VIP on b', () => vipOn(b), 10_000, 2);
    const warmMs = await waitFor('a warm again', () => status(a)?.cache?.restarts >= 1 && status(a)?.cache?.warmth === 'warm', 30_000, 10).then(() => performance.now() - t0);
    const failbackMs = await waitFor('VIP back on a', () => vipOn(a), 30_000, 2).then(() => performance.now() - t0);
    const failbackAt = Date.now();
    await new Promise((r) => (cp.exitCode !== null ? r(null) : cp.once('exit', r)));
    const r = JSON.parse(out.trim().split('\n').pop() || '{}') as ClientResult;
    // gaps ending before the VIP came back belong to the kill; later ones to the failback
    const max = (g: { ms: number }[]) => g.reduce((m, x) => Math.max(m, x.ms), 0);
    const f: FailoverFigures = { ...c, outageMs: max(r.gaps.filter((g) => g.endedAt < failbackAt)), failbackGapMs: max(r.gaps.filter((g) => g.endedAt >= failbackAt)), acked: r.acked, readBack: r.readBack, vipMovedMs: Math.round(vipMovedMs), warmMs: Math.round(warmMs), failbackMs: Math.round(failbackMs) };
    log(`advert ${c.advertInt} s, ${c.sync ? 'sync' : 'async'}: outage ${f.outageMs} ms, failback gap ${f.failbackGapMs} ms (VIP on b ${f.vipMovedMs} ms after the kill), keys ${f.readBack}/${f.acked}, warm after ${f.warmMs} ms, VIP back after ${f.failbackMs} ms`);
    return f;
  } finally {
    for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGTERM');
    await sleep(1500);
    for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    // namespaces do not isolate processes: kill only the repcache processes that live in our namespaces
    for (const n of [a, b]) killInNamespace(n.ns, 'repcache');
    for (const n of [a, b]) lab.exec(n.ns, ['ip', 'addr', 'del', `${VIP}/32`, 'dev', n.ifname], { allowFail: true });
  }
}

function killInNamespace(ns: string, comm: string): void {
  const pids = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean);
  for (const pid of pids) {
    try {
      if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === comm) process.kill(Number(pid), 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
}

export async function runFailover(log: (l: string) => void, cases: Case[], runs = 1): Promise<FailoverFigures[]> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-failover-'));
  const lab = createLab('e5b', ['a', 'b', 'c']);
  const figures: FailoverFigures[] = [];
  let port = 21112;
  try {
    for (const c of cases) for (let i = 0; i < runs; i++) figures.push(await measure(lab, dir, c, port++, log));
  } finally {
    lab.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
  return figures;
}

export const CASES: Case[] = [
  { advertInt: '1', sync: false },
  { advertInt: '1', sync: true },
  { advertInt: '0.1', sync: false },
  { advertInt: '0.1', sync: true },
];

export const failoverBench: BenchSection = {
  name: 'failover',
  description: 'repcache killed -9 on the MASTER in the namespace lab (root): client outage, keys kept, warm failback',
  async run(log) {
    if (process.getuid?.() !== 0) {
      log('failover: needs root (network namespaces); skipped');
      return [{ section: 'failover', metric: 'skipped (needs root)' }];
    }
    const figures = await runFailover(log, CASES, Number(process.env.FAILOVER_RUNS ?? 1) || 1);
    const rows: BenchRow[] = [];
    for (const f of figures) {
      const label = `advert ${f.advertInt} s, ${f.sync ? 'sync' : 'async'}`;
      const share = f.acked === 0 ? 0 : (100 * f.readBack) / f.acked;
      rows.push({ section: 'failover', metric: `${label}: client outage`, repcache: `${f.outageMs} ms`, target: '<= 200 ms', ok: f.outageMs <= 200 });
      rows.push({ section: 'failover', metric: `${label}: keys read back`, repcache: `${share.toFixed(2)} % of ${f.acked}`, target: f.sync ? '100 %' : '>= 99.9 %', ok: f.sync ? f.readBack === f.acked : share >= 99.9 });
      rows.push({ section: 'failover', metric: `${label}: warm again / VIP back`, repcache: `${f.warmMs} / ${f.failbackMs} ms` });
      rows.push({ section: 'failover', metric: `${label}: client gap at failback`, repcache: `${f.failbackGapMs} ms` });
    }
    return rows;
  },
};

if (process.argv[2] === 'client') await client(process.argv[3]!, Number(process.argv[4]), Number(process.argv[5]));
