/**
 * npm run chaos -- [--minutes M] [--seed S] [--mode sync|async|both] [--advert-int S] [--faults a,b] [--dir D]
 *                  [--strict-counters] [--keep]
 *
 * Builds a namespace lab (haved + repcache on two nodes, a client), drives a recorded workload through the VIP,
 * injects faults from a seeded schedule, heals, and checks the history (checker.ts). Prints a summary table and
 * the command that replays the schedule; exits 1 on a violated invariant, 2 when the lab could not run. Needs root.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { check, type CheckResult } from './checker.ts';
import { FAULTS, inject } from './faults.ts';
import { type Dump, type Episode, type FaultKind, type MonSample, type Op } from './history.ts';
import { ChaosLab, VIP, now, root, sleep } from './lab.ts';

const { values: opt } = parseArgs({
  options: {
    minutes: { type: 'string', default: '2' },
    seed: { type: 'string' },
    mode: { type: 'string', default: 'both' },
    'advert-int': { type: 'string', default: '0.5' },
    faults: { type: 'string' },
    fill: { type: 'string', default: '20000' },
    dir: { type: 'string' },
    'strict-counters': { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

function usage(code: number, why?: string): never {
  if (why) console.error(`chaos: ${why}`);
  console.error('usage: npm run chaos -- [--minutes M] [--seed S] [--mode sync|async|both] [--advert-int S] [--faults kill-cache,...] [--fill N] [--dir D] [--strict-counters] [--keep]');
  console.error(`faults: ${FAULTS.join(', ')}`);
  process.exit(code);
}

if (opt.help) usage(0);
const minutes = Number(opt.minutes);
const seed = opt.seed === undefined ? Math.floor(Math.random() * 1e9) : Number(opt.seed);
const advertIntS = Number(opt['advert-int']);
const fillCount = Number(opt.fill);
const modes: ReadonlyArray<'sync' | 'async'> = opt.mode === 'both' ? ['sync', 'async'] : opt.mode === 'sync' || opt.mode === 'async' ? [opt.mode] : usage(2, `--mode must be sync, async or both, got ${opt.mode}`);
const kinds = (opt.faults?.split(',') ?? FAULTS) as FaultKind[];
if (!(minutes > 0) || !Number.isInteger(seed) || !(advertIntS >= 0.1) || !(fillCount >= 0)) usage(2, 'bad --minutes, --seed, --advert-int or --fill');
for (const k of kinds) if (!FAULTS.includes(k)) usage(2, `unknown fault ${k}`);
if (process.getuid?.() !== 0) usage(2, 'needs root (network namespaces, iptables, tmpfs)');

/** Deterministic PRNG (mulberry32): a seed gives the same fault schedule. */
function rng(s: number): () => number {
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

let current: ChaosLab | null = null;
let interrupted = false;
/** The run's own temporary directory (not one given with --dir), removed on an interrupt unless --keep. */
let ownDir: string | null = null;
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => {
    interrupted = true;
    console.error(`chaos: ${sig}: removing the lab`);
    current?.destroy(true);
    try {
      if (ownDir && !opt.keep) rmSync(ownDir, { recursive: true, force: true });
    } catch (e) {
      console.error(`chaos: could not remove ${ownDir}: ${(e as Error).message}`);
    }
    process.exit(130);
  });
}

const log = (s: string) => console.log(s);
const t = (ms: number) => (ms / 1000).toFixed(1);

/** Polls until both caches stream to each other and exactly one node holds the VIP; false after limitMs. */
async function settled(lab: ChaosLab, limitMs: number): Promise<boolean> {
  const deadline = now() + limitMs;
  while (now() < deadline) {
    if (lab.holders().length === 1) {
      const [a, b] = await Promise.all([lab.stats(0), lab.stats(1)]);
      const ok = (s: Map<string, string> | null) => s?.get('replication_state') === 'streaming' && s.get('repl_peer_0_state') === 'streaming' && s.get('repl_in_0_state') === 'streaming';
      if (ok(a) && ok(b)) return true;
    }
    await sleep(200);
  }
  return false;
}

interface ModeResult { mode: 'sync' | 'async'; result: CheckResult; faults: number; minutes: number; dir: string }

async function runMode(mode: 'sync' | 'async', runMs: number, dir: string): Promise<ModeResult> {
  const lab = new ChaosLab({ dir, sync: mode === 'sync', advertIntS });
  current = lab;
  const extra: string[] = [];
  try {
    lab.up();
    if (!(await settled(lab, 60_000))) throw new Error(`the lab did not come up (logs in ${dir})`);
    const node = process.execPath;
    const client = (args: string[]) => ['ip', 'netns', 'exec', lab.client.ns, node, '--disable-warning=ExperimentalWarning', join(root, 'scripts/chaos/client.ts'), ...args];
    const a = lab.nodes[0]!.address;
    const b = lab.nodes[1]!.address;
    if (fillCount > 0) {
      const f = await new Promise<number | null>((r) => spawn(client(['fill', String(fillCount), VIP])[0]!, client(['fill', String(fillCount), VIP]).slice(1), { stdio: 'inherit' }).on('exit', r));
      if (f !== 0) throw new Error('the filler could not be written');
    }
    if (!(await settled(lab, 30_000))) throw new Error('the lab did not settle after the filler');
    const history = join(dir, 'history.jsonl');
    const cmd = client(['run', history, String(seed), VIP, a, b]);
    const workload = spawn(cmd[0]!, cmd.slice(1), { stdio: ['ignore', 'pipe', 'inherit'] });
    let summary = '';
    workload.stdout.on('data', (d) => (summary += d));
    const workloadDone = new Promise((r) => workload.on('exit', r));

    const r = rng(seed);
    const episodes: Episode[] = [];
    const started = now();
    await sleep(1500);
    while (now() - started < runMs && !interrupted) {
      const kind = kinds[Math.floor(r() * kinds.length)]!;
      const holder = lab.holders()[0] ?? 0;
      const node = r() < 0.6 ? holder : 1 - holder;
      const holdMs = 1000 + Math.floor(r() * 3000);
      const pause = 500 + Math.floor(r() * 1500);
      const inj = await inject(lab, kind, node, holdMs);
      episodes.push({ kind, node, start: inj.start, heal: inj.heal, note: inj.note });
      if (inj.violation) extra.push(inj.violation);
      log(`  ${t(inj.start - started).padStart(6)} s  ${kind.padEnd(15)} node ${'ab'[node]}  ${t(inj.heal - inj.start)} s${inj.note ? `  (${inj.note})` : ''}`);
      if (!(await settled(lab, 30_000))) extra.push(`${kind} on node ${'ab'[node]}: not back to one VIP holder with both caches streaming within 30 s of the heal`);
      await sleep(pause);
    }
    const faultMinutes = (now() - started) / 60_000;
    if (!(await settled(lab, 30_000))) extra.push('the lab did not settle at the end of the run');
    const end = now();
    workload.kill('SIGTERM');
    await workloadDone;
    await sleep(1000);
    for (const i of [0, 1]) {
      if (lab.havedPid(i) === null) extra.push(`haved on node ${'ab'[i]} is not running at the end`);
      if (lab.pids(i, 'repcache').length !== 1) extra.push(`node ${'ab'[i]} runs ${lab.pids(i, 'repcache').length} repcache processes at the end`);
    }
    const dumpFile = join(dir, 'dump.json');
    const d = await new Promise<number | null>((res) => spawn(client(['dump', dumpFile, a, b, String(fillCount)])[0]!, client(['dump', dumpFile, a, b, String(fillCount)]).slice(1), { stdio: 'inherit' }).on('exit', res));
    if (d !== 0) throw new Error('could not read the nodes\' contents at the end');
    const dumps = (JSON.parse(readFileSync(dumpFile, 'utf8')) as { nodes: [Dump, Dump] }).nodes;
    const records = readFileSync(history, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Op | MonSample);
    const result = check({
      mode,
      ops: records.filter((x): x is Op => x.k !== 'mon'),
      mon: records.filter((x): x is MonSample => x.k === 'mon'),
      dumps,
      episodes,
      vip: { initial: [false, false], events: lab.vipEvents, end },
      masterDownMs: lab.masterDownMs,
      strictCounters: opt['strict-counters'],
    });
    for (const v of extra) result.violations.push({ kind: 'lab', detail: v });
    writeFileSync(join(dir, 'result.json'), JSON.stringify({ mode, seed, summary: summary.trim(), ...result }, null, 2));
    return { mode, result, faults: episodes.length, minutes: faultMinutes, dir };
  } finally {
    lab.destroy(true);
    current = null;
  }
}

function report(m: ModeResult): void {
  const f = m.result.figures;
  const byKind = new Map<string, number>();
  for (const e of m.result.episodes) byKind.set(e.kind, (byKind.get(e.kind) ?? 0) + 1);
  const rows = m.result.episodes.map((e, i) =>
    `  ${String(i + 1).padStart(3)}  ${e.kind.padEnd(15)} ${'ab'[e.node]}     ${t(e.heal - e.start).padStart(5)} s   ${e.oneHolderMs === null ? 'never' : `${e.oneHolderMs} ms`.padStart(8)}   ${e.note ?? ''}`);
  const win = f.lossWindowMs;
  log('');
  log(`== ${m.mode} replication: ${m.faults} faults in ${m.minutes.toFixed(1)} min (${(m.faults / m.minutes).toFixed(1)} per minute)`);
  log('    #  fault           node   lasted   one VIP holder after the heal');
  for (const r of rows) log(r);
  log(`  faults by kind: ${[...byKind].map(([k, n]) => `${k} ${n}`).join(', ')}`);
  log(`  requests ${f.requests} (${f.acked} acknowledged mutations, ${f.unknown} unanswered); keys compared on both nodes: ${f.keysCompared}`);
  log(`  acknowledged writes lost: ${f.lostAcked}${m.mode === 'sync' ? ` (${f.lostProtected} acknowledged while both nodes streamed)` : ''}${win.length ? `; from their answer to the next kill: ${win[0]}-${win.at(-1)} ms` : ''}`);
  log(`  stale reads: ${f.staleReads} of ${f.reads} answered reads, missing ${f.staleMissed} acknowledged writes or deletes${m.mode === 'sync' ? ` (${f.staleProtected} reads missed one acknowledged while both nodes streamed)` : ''}`);
  log(`  lost increments: ${f.lostIncrements}${opt['strict-counters'] ? '' : m.mode === 'sync' ? ' (a violation if acknowledged while both nodes streamed)' : ' (the async window)'}`);
  log(`  VIP: two holders ${t(f.twoHolderMs)} s in all, ${t(f.twoHolderOutsideMs)} s outside splits (longest ${f.maxTwoHolderOutsideMs} ms); no holder ${t(f.noHolderMs)} s; longest from a heal to one holder ${f.maxOneHolderAfterHealMs} ms`);
  for (const k of m.result.known.slice(0, 10)) log(`  known: ${k.kind}: ${k.detail}`);
  if (m.result.known.length > 10) log(`  known: ... ${m.result.known.length - 10} more in ${join(m.dir, 'result.json')}`);
  for (const v of m.result.violations.slice(0, 20)) log(`  VIOLATION ${v.kind}: ${v.detail}`);
  log(`  invariant violations: ${m.result.violations.length}`);
}

const baseDir = opt.dir ?? mkdtempSync(join(tmpdir(), 'haved-chaos-'));
if (!opt.dir) ownDir = baseDir;
const perMode = (minutes * 60_000) / modes.length;
log(`chaos: seed ${seed}, ${modes.join(' + ')}, ${minutes} min, advert_int ${advertIntS} s (master-down ${new ChaosLab({ dir: '', sync: false, advertIntS }).masterDownMs} ms), faults: ${kinds.join(', ')}`);
const results: ModeResult[] = [];
let failed = false;
for (const mode of modes) {
  log(`\n-- ${mode} replication, logs in ${join(baseDir, mode)}`);
  try {
    results.push(await runMode(mode, perMode - 20_000 > 10_000 ? perMode - 20_000 : perMode, join(baseDir, mode)));
  } catch (e) {
    console.error(`chaos: ${mode}: ${(e as Error).message}`);
    failed = true;
  }
}
for (const m of results) report(m);
const violations = results.reduce((n, m) => n + m.result.violations.length, 0);
const replay = `npm run chaos -- --seed ${seed} --minutes ${minutes} --mode ${opt.mode} --advert-int ${advertIntS}${opt.faults ? ` --faults ${opt.faults}` : ''}`;
log(`\nseed ${seed}: ${violations} invariant violation(s)${failed ? ', and a mode could not run' : ''}. Replay: ${replay}`);
if (violations === 0 && !failed && !opt.keep && !opt.dir) {
  rmSync(baseDir, { recursive: true, force: true });
} else {
  log(`logs, histories and results: ${baseDir}`);
}
process.exit(failed ? 2 : violations > 0 ? 1 : 0);
