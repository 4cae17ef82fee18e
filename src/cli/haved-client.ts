/**
 * `haved status|dump|reload|priority|maintenance`: asks the running daemon over its control socket. Without a
 * socket that answers, `status` falls back to the state file, and signals its pid (SIGUSR1, for a fresh dump)
 * only when that pid is verifiably the haved that wrote it.
 */
import { readFileSync, statSync } from 'node:fs';
import type { ClientTarget, HavedCommand } from './haved-options.ts';
import { ControlClientError, request } from '../ha/daemon/control-client.ts';
import type { ControlReply, ControlRequest } from '../proto/control/codec.ts';
import { isSameHaved } from '../ha/daemon/proc-identity.ts';
import { formatStatus, type DaemonStatus } from '../ha/daemon/status-format.ts';

/** Exit codes, as LSB init scripts use them for status. */
const EXIT = { ok: 0, error: 1, notRunning: 3, permission: 4 } as const;

const PROBE_MS = 2000;
const timeoutFor = (req: ControlRequest) => (req.verb === 'reload' ? 60_000 : 5000);

const out = (s: string) => process.stdout.write(`${s}\n`);
const err = (s: string) => process.stderr.write(`${s}\n`);

export async function runClient(cmd: Extract<HavedCommand, { cmd: 'control' }>): Promise<number> {
  const found = await findDaemon(cmd.target);
  if ('exit' in found) {
    if (found.exit === EXIT.notRunning && cmd.request.verb === 'status') return statusFromStateFile(cmd.target, cmd.json, found.message);
    err(found.message);
    return found.exit;
  }
  let reply: ControlReply;
  if (cmd.request.verb === 'status') reply = { ok: true, result: found.status };
  else {
    try {
      reply = await request(found.socket, cmd.request, { timeoutMs: timeoutFor(cmd.request) });
    } catch (e) {
      if (!(e instanceof ControlClientError)) throw e;
      err(`haved: ${e.message}`);
      return EXIT.error;
    }
  }
  if (!reply.ok) {
    for (const line of reply.error.split('\n')) err(`haved: ${line}`);
    return EXIT.error;
  }
  print(cmd.request, cmd.json, reply.result);
  return EXIT.ok;
}

type Found = { socket: string; status: DaemonStatus } | { exit: number; message: string };

/** The one daemon that answers among the target's sockets (asked with `status`), or why there is none. */
async function findDaemon(target: ClientTarget): Promise<Found> {
  const answers = await Promise.all(
    target.sockets.map(async (socket) => {
      try {
        const reply = await request(socket, { verb: 'status' }, { timeoutMs: PROBE_MS });
        return { socket, reply };
      } catch (e) {
        if (!(e instanceof ControlClientError)) throw e;
        return { socket, error: e };
      }
    }),
  );
  const live = answers.filter((a) => a.reply?.ok);
  if (live.length === 1) return { socket: live[0]!.socket, status: (live[0]!.reply as { result: DaemonStatus }).result };
  if (live.length > 1) {
    const list = live.map((a) => `${a.socket} (pid ${(a.reply as { result: DaemonStatus }).result.pid})`).join(', ');
    return { exit: EXIT.error, message: `haved: more than one haved answers: ${list}; choose one with --socket PATH` };
  }
  const denied = answers.find((a) => a.error?.code === 'EACCES');
  if (denied) {
    const owner = ownerOf(denied.socket);
    return {
      exit: EXIT.permission,
      message: `haved: permission denied on ${denied.socket}: the control socket is only for ${owner}, the user haved runs as (try: sudo haved ${process.argv.slice(2).join(' ')})`,
    };
  }
  const broken = answers.find((a) => a.error && !['ENOENT', 'ECONNREFUSED', 'ENOTDIR'].includes(a.error.code));
  if (broken) return { exit: EXIT.error, message: `haved: ${broken.error!.message}` };
  const refused = answers.find((a) => a.reply && !a.reply.ok);
  if (refused) return { exit: EXIT.error, message: `haved: ${refused.socket}: ${(refused.reply as { error: string }).error}` };
  return { exit: EXIT.notRunning, message: `haved is not running (nothing answers on ${target.sockets.join(' or ')})` };
}

function ownerOf(path: string): string {
  try {
    const uid = statSync(path).uid;
    return uid === 0 ? 'root' : `uid ${uid}`;
  } catch {
    return 'its owner';
  }
}

function print(req: ControlRequest, json: boolean, result: unknown): void {
  switch (req.verb) {
    case 'status': {
      const s = result as DaemonStatus;
      out(json ? JSON.stringify(s, null, 2) : formatStatus(s));
      return;
    }
    case 'dump': {
      const d = result as { file: string | null; state: DaemonStatus };
      out(JSON.stringify(d.state, null, 2));
      if (d.file) err(`(also written to ${d.file})`);
      return;
    }
    case 'reload': {
      const r = result as { kept: string[]; updated?: string[]; started: string[]; stopped: string[]; changes?: Record<string, string[]> };
      const list = (xs: string[]) => (xs.length ? xs.join(', ') : '-');
      out(`configuration reloaded: kept ${list(r.kept)}; updated ${list(r.updated ?? [])}; started ${list(r.started)}; stopped ${list(r.stopped)}`);
      for (const [name, changes] of Object.entries(r.changes ?? {})) out(`  ${name}: ${changes.join('; ')}`);
      return;
    }
    case 'priority': {
      const r = result as { instance: string; configured: number; override: number | null; effective: number; state: string };
      out(
        r.override === null
          ? `${r.instance}: back to its configured priority ${r.configured} (effective ${r.effective}, ${r.state})`
          : `${r.instance}: priority ${r.override} instead of ${r.configured} (effective ${r.effective}, ${r.state}) until 'haved priority ${r.instance} reset' or a restart`,
      );
      return;
    }
    case 'maintenance': {
      const r = result as { maintenance: boolean; changed: boolean; instances: { name: string; state: string }[] };
      const states = r.instances.map((i) => `${i.name} ${i.state}`).join(', ') || 'no instances';
      if (!r.changed) out(`maintenance was already ${r.maintenance ? 'on' : 'off'} (${states})`);
      else if (r.maintenance) out(`maintenance on: a MASTER hands its VIPs to its peer, and no instance claims one until 'haved maintenance off' (${states})`);
      else out(`maintenance off: the instances take part in the election again (${states})`);
    }
  }
}

/**
 * No control socket answers: show the state file of a daemon that runs without one (it could not create its
 * socket), refreshed by SIGUSR1 — sent only to a pid that is verifiably the haved that wrote the file, never
 * to whatever process has that pid now.
 */
async function statusFromStateFile(target: ClientTarget, json: boolean, notRunning: string): Promise<number> {
  const notes: string[] = [];
  for (const file of target.stateFiles) {
    const read = (): DaemonStatus | null => {
      try {
        return JSON.parse(readFileSync(file, 'utf8')) as DaemonStatus;
      } catch {
        return null;
      }
    };
    const before = read();
    if (!before) continue;
    if (!isSameHaved(before.pid, before.pidStartTime)) {
      notes.push(`${file} names pid ${before.pid}, which is not the haved that wrote it (the file was left by a daemon that did not stop cleanly)`);
      continue;
    }
    const mtime = () => statSync(file, { throwIfNoEntry: false })?.mtimeMs ?? 0;
    const m0 = mtime();
    try {
      process.kill(before.pid, 'SIGUSR1');
      const deadline = Date.now() + 1000;
      while (mtime() === m0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    } catch (e) {
      notes.push(`cannot signal pid ${before.pid} (${(e as NodeJS.ErrnoException).code}): showing the last dump`);
    }
    const s = read() ?? before;
    out(json ? JSON.stringify(s, null, 2) : formatStatus(s));
    err(`(no control socket answers: this is ${file}${notes.length ? `; ${notes.join('; ')}` : ''})`);
    return EXIT.ok;
  }
  err(notRunning);
  for (const n of notes) err(`  ${n}`);
  return EXIT.notRunning;
}
