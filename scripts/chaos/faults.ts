/**
 * The faults a chaos run injects. Each inject() does its harm, waits for the fault's duration, heals, and resolves
 * with when it started and healed (wall-clock ms) and what it saw.
 */
import { closeSync, openSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { request } from '../../src/ha/daemon/control-client.ts';
import { ADVERT_PORT, now, signal, sleep, type ChaosLab } from './lab.ts';
import type { FaultKind } from './history.ts';

export const FAULTS: readonly FaultKind[] = [
  'kill-cache', 'kill-haved', 'partition-repl', 'partition-node', 'partition-pair', 'advert-loss', 'crash-mid-sync',
  'pause-haved', 'pause-cache', 'disk-full',
];

export interface Injected {
  start: number;
  heal: number;
  note?: string;
  /** A check of the fault's own that failed (e.g. the state file not rewritten after a full disk). */
  violation?: string;
}

const iptables = (lab: ChaosLab, node: number, rules: string[][]) =>
  Promise.all(rules.map((r) => lab.exec(node, ['iptables', '-w', ...r]))).then((rs) => {
    const bad = rs.find((r) => !r.ok);
    if (bad) throw new Error(`iptables: ${bad.err.trim()}`);
  });
const flush = (lab: ChaosLab, node: number) => lab.exec(node, ['iptables', '-w', '-F']);

/** Waits until node i runs a repcache other than `old` (haved restarted it); resolves with the wait in ms. */
async function cacheBack(lab: ChaosLab, i: number, old: number[], limitMs = 15_000): Promise<number | null> {
  const t = now();
  while (now() - t < limitMs) {
    if (lab.pids(i, 'repcache').some((p) => !old.includes(p))) return Math.round(now() - t);
    await sleep(20);
  }
  return null;
}

/**
 * Starts node i's haved again and waits until it answers on its control socket: a dead haved's VIP stays on the
 * node until the new one runs (it removes what a crash left at start), so the fault lasts until then.
 */
async function restartHaved(lab: ChaosLab, i: number): Promise<string> {
  const t = now();
  lab.startHaved(i);
  while (now() - t < 20_000) {
    try {
      await request(join(lab.stateDir(i), 'state.sock'), { verb: 'status' }, { timeoutMs: 500 });
      return `${Math.round(now() - t)} ms`;
    } catch {
      await sleep(50);
    }
  }
  return 'more than 20 s';
}

export async function inject(lab: ChaosLab, kind: FaultKind, node: number, holdMs: number): Promise<Injected> {
  const start = now();
  const cache = () => lab.pids(node, 'repcache');
  switch (kind) {
    case 'kill-cache': {
      const old = cache();
      for (const p of old) signal(p, 'SIGKILL');
      const back = await cacheBack(lab, node, old);
      return { start, heal: now(), note: old.length ? `haved restarted it in ${back ?? '(never)'} ms` : 'no cache was running' };
    }
    case 'kill-haved': {
      await lab.killHaved(node);
      lab.killLeftovers(node);
      await sleep(holdMs);
      const up = await restartHaved(lab, node);
      return { start, heal: now(), note: `killed with its cache (as systemd does), restarted: answering after ${up}` };
    }
    case 'partition-repl': {
      await iptables(lab, node, [['-A', 'INPUT', '-p', 'tcp', '--dport', '11212', '-j', 'DROP'], ['-A', 'INPUT', '-p', 'tcp', '--sport', '11212', '-j', 'DROP'],
        ['-A', 'OUTPUT', '-p', 'tcp', '--dport', '11212', '-j', 'DROP'], ['-A', 'OUTPUT', '-p', 'tcp', '--sport', '11212', '-j', 'DROP']]);
      await sleep(holdMs);
      await flush(lab, node);
      return { start, heal: now() };
    }
    case 'partition-node': {
      const dev = lab.nodes[node]!.ifname;
      await iptables(lab, node, [['-A', 'INPUT', '-i', dev, '-j', 'DROP'], ['-A', 'OUTPUT', '-o', dev, '-j', 'DROP']]);
      await sleep(holdMs);
      await flush(lab, node);
      return { start, heal: now() };
    }
    case 'partition-pair': {
      lab.lab.isolate(['a', 'b'], true);
      await sleep(holdMs);
      lab.lab.isolate(['a', 'b'], false);
      return { start, heal: now(), note: 'a and b cut from each other, both still reach the client' };
    }
    case 'advert-loss': {
      const p = [0.3, 0.5, 0.7][Math.floor(holdMs) % 3]!;
      const loss = ['-p', 'udp', '--dport', String(ADVERT_PORT), '-m', 'statistic', '--mode', 'random', '--probability', String(p), '-j', 'DROP'];
      await iptables(lab, node, [['-A', 'INPUT', ...loss], ['-A', 'OUTPUT', ...loss]]);
      await sleep(holdMs);
      await flush(lab, node);
      // no sch_netem in every kernel: the delay half of "loss and delay" is not injected (see README, Reliability)
      return { start, heal: now(), note: `${p * 100} % of adverts in and out dropped` };
    }
    case 'crash-mid-sync': {
      const old = cache();
      for (const p of old) signal(p, 'SIGKILL');
      // the peer, a complete node, copies everything to the restarted cache: crash the node in the middle of it
      const waitStart = now();
      let copying = false;
      while (now() - waitStart < 8000) {
        const s = await lab.stats(1 - node);
        if (s?.get('repl_peer_0_state') === 'syncing') {
          copying = true;
          break;
        }
        // the restarted cache answers: its copy is over already
        if (cache().some((p) => !old.includes(p)) && (await lab.stats(node)) !== null) break;
      }
      const crashAt = now();
      await lab.killHaved(node);
      lab.killLeftovers(node);
      await sleep(Math.min(holdMs, 1000));
      const up = await restartHaved(lab, node);
      return { start, heal: now(), note: `${copying ? `crashed during the full copy (${Math.round(crashAt - waitStart)} ms after the kill)` : 'no full copy seen: crashed after the restart'}; haved answering after ${up}` };
    }
    case 'pause-haved':
    case 'pause-cache': {
      const pids = kind === 'pause-haved' ? [lab.havedPid(node)].filter((p): p is number => p !== null) : cache();
      for (const p of pids) signal(p, 'SIGSTOP');
      await sleep(holdMs);
      for (const p of pids) signal(p, 'SIGCONT');
      return { start, heal: now(), note: pids.length ? undefined : 'nothing to pause' };
    }
    case 'disk-full': {
      const filler = join(lab.stateDir(node), 'filler');
      const fd = openSync(filler, 'w');
      try {
        const block = Buffer.alloc(4096, 1);
        for (;;) writeSync(fd, block);
      } catch {
        // ENOSPC: the state file's file system is full
      } finally {
        closeSync(fd);
      }
      await sleep(holdMs);
      rmSync(filler, { force: true });
      const heal = now();
      // haved must write its state again: SIGUSR1 asks for it; the file must be whole JSON afterwards
      const pid = lab.havedPid(node);
      if (pid !== null) signal(pid, 'SIGUSR1');
      await sleep(300);
      const r = await lab.exec(node, ['cat', lab.stateFile(node)]);
      let violation: string | undefined;
      try {
        JSON.parse(r.out);
      } catch {
        violation = `node ${'ab'[node]}: the state file is not whole JSON after the disk had room again`;
      }
      return { start, heal, note: 'state file system full', violation };
    }
  }
}
