/**
 * npm run fuzz -- codecs [--inputs N] [--seed S] [--codec NAME]
 * npm run fuzz -- text|binary|repl|advert|proxy [--inputs N] [--batch B] [--seed S]
 *
 * `codecs` runs every codec's properties (test/fuzz/) in this process until each codec has had N inputs.
 * The others start the daemon on loopback (advert: haved in a namespace of its own, as root) and send it N
 * generated and mutated inputs, B per batch; after each batch the daemon must still run, answer (`version`, or
 * `haved status` on its control socket), and keep its RSS within 64 MB of what it had after the first batch.
 * Prints inputs, throughput, peak RSS and the daemon's own counters of what it refused; exits 1 on a failure.
 */
import fc from 'fast-check';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { CODECS } from '../../test/fuzz/codecs.ts';
import { request as controlRequest } from '../../src/ha/daemon/control-client.ts';
import { textRequestArbitrary, binaryRequestArbitrary, replicationFrameArbitrary, advertDatagramArbitrary } from './arbitraries.ts';
import { BINARY_SEEDS, REPL_SEEDS, TEXT_SEEDS, advertSeeds, batch, generated, rng } from './inputs.ts';

const root = resolve(import.meta.dirname, '../..');
const [target, ...rest] = process.argv.slice(2);
const { values: opt } = parseArgs({
  args: rest,
  options: {
    inputs: { type: 'string', default: '100000' },
    batch: { type: 'string', default: '2000' },
    seed: { type: 'string', default: '1' },
    codec: { type: 'string' },
  },
});
const inputs = Number(opt.inputs);
const batchSize = Number(opt.batch);
const seed = Number(opt.seed);
const RSS_BOUND_MB = 64;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const rssMB = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;

function fail(why: string): never {
  console.error(`fuzz ${target}: FAILED: ${why}`);
  console.error(`replay: npm run fuzz -- ${target} --inputs ${inputs} --batch ${batchSize} --seed ${seed}`);
  cleanup();
  process.exit(1);
}

const children: ChildProcess[] = [];
const cleanups: Array<() => void> = [];
function cleanup(): void {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  for (const f of cleanups.splice(0)) f();
}
process.on('exit', cleanup);
for (const s of ['SIGINT', 'SIGTERM'] as const) process.on(s, () => { cleanup(); process.exit(130); });

async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((res) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => res(p));
    });
  });
}

function start(cmd: string, args: string[]): ChildProcess {
  const p = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  p.stderr!.on('data', (d) => (err = (err + d).slice(-4000)));
  p.on('exit', (code, sig) => { if (!stopping) fail(`${cmd} exited (${sig ?? code}): ${err}`); });
  children.push(p);
  return p;
}
let stopping = false;

/** One request/reply on a fresh connection: the reply text, or null within the time. */
function ask(port: number, req: string | Buffer, until: RegExp, timeoutMs = 3000): Promise<string | null> {
  return new Promise((res) => {
    const s = connect({ port, host: '127.0.0.1' });
    let got = '';
    const t = setTimeout(() => { s.destroy(); res(null); }, timeoutMs);
    s.on('connect', () => s.write(req));
    s.on('data', (d) => {
      got += d.toString('latin1');
      if (until.test(got)) { clearTimeout(t); s.destroy(); res(got); }
    });
    s.on('error', () => { clearTimeout(t); res(null); });
  });
}

async function waitPort(port: number): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if (await ask(port, 'version\r\n', /\r\n/, 500)) return;
    await sleep(100);
  }
  fail(`nothing answers on port ${port}`);
}

/** Sends a batch over up to `conns` connections at a time; each connection gets inputs until the server closes it. */
async function sendTcp(port: number, items: Buffer[], conns = 16): Promise<void> {
  let next = 0;
  const one = () => new Promise<void>((res) => {
    const s: Socket = connect({ port, host: '127.0.0.1' });
    const t = setTimeout(() => s.destroy(), 5000);
    s.on('connect', () => {
      // 1..40 inputs on this connection, then it is closed by us (or earlier by the server)
      const n = 1 + (next % 40);
      const mine = items.slice(next, next + n);
      next += n;
      s.end(Buffer.concat(mine));
    });
    s.on('data', () => {});
    s.on('error', () => {});
    s.on('close', () => { clearTimeout(t); res(); });
  });
  await Promise.all(Array.from({ length: conns }, async () => {
    while (next < items.length) await one();
  }));
}

interface Figures { sent: number; seconds: number; peakMB: number; baseMB: number; counters: string }

/** The common loop: batches of inputs, and after each the daemon's liveness, answer and RSS. */
async function campaign(pid: () => number, send: (items: Buffer[], batchNo: number) => Promise<void>, make: (n: number, batchNo: number) => Buffer[], alive: () => Promise<boolean>, counters: () => Promise<string>): Promise<Figures> {
  const t0 = performance.now();
  let sent = 0;
  let base = 0;
  let peak = 0;
  for (let b = 0; sent < inputs; b++) {
    const items = make(Math.min(batchSize, inputs - sent), b);
    await send(items, b);
    sent += items.length;
    if (!(await alive())) fail(`no answer after batch ${b} (${sent} inputs)`);
    const rss = rssMB(pid());
    if (b === 0) base = rss;
    peak = Math.max(peak, rss);
    if (rss > base + RSS_BOUND_MB) fail(`RSS ${rss.toFixed(0)} MB after ${sent} inputs, more than ${RSS_BOUND_MB} MB above the ${base.toFixed(0)} MB after the first batch`);
    if (b % 50 === 0) process.stderr.write(`  ${sent} inputs, RSS ${rss.toFixed(0)} MB\n`);
  }
  return { sent, seconds: (performance.now() - t0) / 1000, peakMB: peak, baseMB: base, counters: await counters() };
}

const userArgs = process.getuid?.() === 0 ? ['-u', 'root'] : [];

async function statsOf(port: number, names: RegExp): Promise<string> {
  const s = (await ask(port, 'stats\r\n', /END\r\n/)) ?? '';
  return [...s.matchAll(/^STAT (\S+) (\S+)\r$/gm)].filter((m) => names.test(m[1]!)).map((m) => `${m[1]} ${m[2]}`).join(', ');
}

async function fuzzCache(kind: 'text' | 'binary' | 'proxy'): Promise<Figures> {
  const port = await freePort();
  const udp = await freePort();
  const cache = start(join(root, 'bin/repcache'), ['-l', '127.0.0.1', '-p', String(port), '-U', String(udp), '-m', '64', '-c', '4096', '-o', 'read_timeout=2', ...userArgs]);
  await waitPort(port);
  let front = port;
  let daemon = cache;
  if (kind === 'proxy') {
    front = await freePort();
    daemon = start(join(root, 'bin/repcache-proxy'), ['-l', '127.0.0.1', '-p', String(front), '-s', `127.0.0.1:${port}`, '--timeout', '1000', ...userArgs]);
    await waitPort(front);
  }
  const r = rng(seed);
  const textAny = (n: number, b: number) => generated(textRequestArbitrary, n, seed * 100_000 + b).map((x) => Buffer.from(x));
  const binAny = (n: number, b: number) => generated(binaryRequestArbitrary, n, seed * 100_000 + b).map((x) => Buffer.from(x));
  const make = (n: number, b: number) => {
    if (kind === 'text') return batch(TEXT_SEEDS, textAny(n / 2, b), n, r);
    if (kind === 'binary') return batch(BINARY_SEEDS, binAny(n / 2, b), n, r).map((x) => (x[0] === 0x80 ? x : Buffer.concat([Buffer.from([0x80]), x])));
    return b % 2 === 0 ? batch(TEXT_SEEDS, textAny(n / 2, b), n, r) : batch(BINARY_SEEDS, binAny(n / 2, b), n, r);
  };
  const sock = createSocket('udp4');
  cleanups.push(() => sock.close());
  const send = async (items: Buffer[]) => {
    await sendTcp(front, items);
    if (kind === 'text') {
      // the same inputs as datagrams, behind memcached's UDP frame header (some with a damaged one)
      for (const [i, x] of items.entries()) {
        const h = Buffer.from([0, i & 255, 0, 0, 0, i % 7 === 0 ? 2 : 1, 0, 0]);
        sock.send(i % 11 === 0 ? x.subarray(0, 7) : Buffer.concat([h, x.subarray(0, 1400)]), udp, '127.0.0.1');
      }
    }
  };
  const alive = async () => (await ask(front, 'version\r\n', /\r\n/)) !== null && (kind !== 'proxy' || (await ask(port, 'version\r\n', /\r\n/)) !== null);
  return campaign(() => daemon.pid!, send, make, alive, () => statsOf(front, /^(curr_connections|total_connections|rejected_connections|udp_bad_datagrams|read_timeout_kicks|proxy_server_errors|cmd_get|cmd_set)$/));
}

async function fuzzRepl(): Promise<Figures> {
  const [pa, pb, ra, rb] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const secret = ['-o', 'repl_secret=fuzz-secret'];
  const a = start(join(root, 'bin/repcache'), ['-l', '127.0.0.1', '-p', String(pa), '-X', String(ra), '-x', `127.0.0.1:${rb}`, ...secret, ...userArgs]);
  start(join(root, 'bin/repcache'), ['-l', '127.0.0.1', '-p', String(pb), '-X', String(rb), '-x', `127.0.0.1:${ra}`, ...secret, ...userArgs]);
  await waitPort(pa);
  await waitPort(pb);
  const r = rng(seed);
  const make = (n: number, b: number) => batch(REPL_SEEDS, generated(replicationFrameArbitrary, n / 2, seed * 100_000 + b).map((x) => Buffer.from(x)), n, r);
  // the real peer's link must stay up: a write on a reaches b after every batch
  let k = 0;
  const alive = async () => {
    const key = `fz${k++}`;
    if ((await ask(pa, `set ${key} 0 0 1\r\nv\r\n`, /\r\n/)) !== 'STORED\r\n') return false;
    for (let i = 0; i < 50; i++) {
      if ((await ask(pb, `get ${key}\r\n`, /END\r\n/))?.startsWith('VALUE')) return true;
      await sleep(100);
    }
    return false;
  };
  return campaign(() => a.pid!, (items) => sendTcp(ra, items, 8), make, alive, () => statsOf(pa, /^repl_(refused_\w+|peer_0_state)$/));
}

async function fuzzAdvert(): Promise<Figures> {
  if (process.getuid?.() !== 0) fail('the advert fuzz runs haved in a network namespace of its own: run it as root');
  const ns = `fz${process.pid}-adv`;
  spawnSync('ip', ['netns', 'add', ns]);
  cleanups.push(() => {
    spawnSync('bash', ['-c', `kill -9 $(ip netns pids ${ns}) 2>/dev/null; ip netns del ${ns}`]);
  });
  spawnSync('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
  const dir = mkdtempSync(join(tmpdir(), 'haved-fuzz-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const key = 'fuzz-advert-key-0123456789';
  const port = 11210;
  writeFileSync(join(dir, 'haved.conf'), `global_defs {\n    router_id fuzz\n    vrrp_udp_port ${port}\n}\nvrrp_instance fuzz {\n    state BACKUP\n    interface lo\n    virtual_router_id 51\n    priority 100\n    advert_int 0.1\n    authentication {\n        auth_type HMAC\n        auth_pass ${key}\n    }\n    unicast_src_ip 127.0.0.1\n    unicast_peer {\n        127.0.0.2\n    }\n    virtual_ipaddress {\n        198.18.0.100/32 dev lo\n    }\n}\n`);
  const state = join(dir, 'state.json');
  const haved = start('ip', ['netns', 'exec', ns, join(root, 'bin/haved'), '-f', join(dir, 'haved.conf'), '--state-file', state]);
  const sock = join(dir, 'state.sock');
  for (let i = 0; ; i++) {
    try {
      await controlRequest(sock, { verb: 'status' }, { timeoutMs: 1000 });
      break;
    } catch {
      if (i > 100) fail('haved did not start');
      await sleep(100);
    }
  }
  // the sender runs in the namespace: it gets each batch on stdin (one hex line per datagram) and says when it is sent
  const sender = spawn('ip', ['netns', 'exec', ns, process.execPath, '--disable-warning=ExperimentalWarning', join(root, 'scripts/fuzz/udp-sender.ts'), String(port)], { stdio: ['pipe', 'pipe', 'inherit'] });
  children.push(sender);
  let waiting: (() => void) | null = null;
  sender.stdout!.on('data', () => waiting?.());
  const r = rng(seed);
  // and now and then an oversized one: 60,000 bytes behind a valid header
  const oversized = Buffer.concat([advertSeeds(key)[0]!.subarray(0, 24), Buffer.alloc(60_000, 0xa5)]);
  const make = (n: number, b: number) => batch(advertSeeds(key), generated(advertDatagramArbitrary(key), n / 2, seed * 100_000 + b).map((x) => Buffer.from(x)), n, r)
    .map((x, i) => (i % 200 === 0 ? oversized : x));
  const send = (items: Buffer[]) => new Promise<void>((res) => {
    waiting = res;
    // about a third from the peer's address (to reach the decoder and the state machine), the rest from a stranger
    sender.stdin!.write(items.map((x, i) => `${i % 3 === 0 ? '127.0.0.2' : '127.0.0.3'} ${x.toString('hex')}`).join('\n') + '\nGO\n');
  });
  const status = async () => (await controlRequest(sock, { verb: 'status' }, { timeoutMs: 3000 })) as { ok: boolean; result?: { instances?: Array<{ dropped?: Record<string, number>; adverts?: unknown }> } };
  const alive = async () => {
    try {
      return (await status()).ok;
    } catch {
      return false;
    }
  };
  return campaign(() => haved.pid!, send, make, alive, async () => JSON.stringify((await status()).result?.instances?.[0]?.dropped ?? {}));
}

async function fuzzCodecs(): Promise<void> {
  const names = opt.codec ? [opt.codec] : Object.keys(CODECS);
  const rows: string[] = [];
  let failures = 0;
  for (const name of names) {
    const props = CODECS[name];
    if (!props) fail(`no codec ${name} (${Object.keys(CODECS).join(', ')})`);
    const t0 = performance.now();
    const numRuns = Math.ceil(inputs / props.length);
    let n = 0;
    for (const p of props) {
      const d = fc.check(p.property, { numRuns, seed });
      n += d.numRuns;
      if (d.failed) {
        failures++;
        console.error(`${name}: ${p.name}: FAILED after ${d.numRuns} inputs (seed ${d.seed}, path ${d.counterexamplePath}):\n${d.errorInstance instanceof Error ? d.errorInstance.message : String(d.errorInstance)}\ncounterexample: ${fc.stringify(d.counterexample)}`);
      }
    }
    const row = `${name.padEnd(18)} ${String(n).padStart(9)} inputs  ${((performance.now() - t0) / 1000).toFixed(0).padStart(5)} s`;
    rows.push(row);
    console.log(row);
  }
  console.log(`${failures} failing properties; replay: npm run fuzz -- codecs --inputs ${inputs} --seed ${seed}${opt.codec ? ` --codec '${opt.codec}'` : ''}`);
  process.exit(failures ? 1 : 0);
}

if (!(inputs > 0) || !(batchSize > 0) || !Number.isInteger(seed)) fail('bad --inputs, --batch or --seed');
let f: Figures;
switch (target) {
  case 'codecs': await fuzzCodecs(); process.exit(0); break;
  case 'text': case 'binary': case 'proxy': f = await fuzzCache(target); break;
  case 'repl': f = await fuzzRepl(); break;
  case 'advert': f = await fuzzAdvert(); break;
  default:
    console.error('usage: npm run fuzz -- codecs|text|binary|repl|advert|proxy [--inputs N] [--batch B] [--seed S] [--codec NAME]');
    process.exit(2);
}
stopping = true;
console.log(`fuzz ${target}: ${f.sent} inputs in ${f.seconds.toFixed(0)} s (${Math.round(f.sent / f.seconds)}/s), 0 crashes; RSS ${f.baseMB.toFixed(0)} MB after the first batch, peak ${f.peakMB.toFixed(0)} MB; ${f.counters}`);
cleanup();
process.exit(0);
