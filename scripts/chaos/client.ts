/**
 * The chaos run's client, started inside the lab's client namespace (it reaches the nodes only from there).
 *
 *   client.ts run  OUT.jsonl SEED VIP NODE_A NODE_B   workload through VIP:11211 and a monitor of both nodes, until SIGTERM
 *   client.ts fill N VIP                              N filler items of 1 KB (so that a full copy takes a while)
 *   client.ts dump OUT.json NODE_A NODE_B FILL        every key of the workload and the filler, from each node
 *
 * `run` records every request with its send and answer times (JSON lines): sets with unique values, cas, delete,
 * incr and get on a small key space, from CONNS connections of 150 requests a second each; a request not answered within 2 s is recorded as
 * unknown and its connection replaced. The monitor asks each node for `stats` every 250 ms.
 */
import { closeSync, openSync, writeFileSync, writeSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { KEYS, COUNTERS, CONNS, type Op, type MonSample } from './history.ts';

const PORT = 11211;
const REQUEST_TIMEOUT_MS = 2000;
/** Requests per second of each connection. */
const RATE_PER_CONN = 150;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const now = () => performance.timeOrigin + performance.now();

/** One connection that sends a request and waits for its reply (up to a terminator). */
class Conn {
  #s: Socket | null = null;
  #buf = '';
  #waiter: (() => void) | null = null;
  #closed = true;
  readonly host: string;
  constructor(host: string) {
    this.host = host;
  }

  async open(timeoutMs = 1000): Promise<boolean> {
    this.close();
    const s = connect({ host: this.host, port: PORT });
    s.setNoDelay(true);
    this.#buf = '';
    const ok = await new Promise<boolean>((resolve) => {
      const t = setTimeout(() => resolve(false), timeoutMs);
      s.once('connect', () => { clearTimeout(t); resolve(true); });
      s.once('error', () => { clearTimeout(t); resolve(false); });
    });
    if (!ok) {
      s.destroy();
      return false;
    }
    s.setEncoding('latin1');
    s.on('data', (d: string) => { this.#buf += d; this.#waiter?.(); });
    s.on('error', () => {});
    s.on('close', () => { this.#closed = true; this.#waiter?.(); });
    this.#s = s;
    this.#closed = false;
    return true;
  }

  get open_(): boolean {
    return !this.#closed;
  }

  /** Sends `req`, resolves with the reply once `done(buffer)` says it is complete; null on timeout or close. */
  async request(req: string, done: (b: string) => boolean, timeoutMs = REQUEST_TIMEOUT_MS): Promise<string | null> {
    if (!this.#s || this.#closed) return null;
    this.#buf = '';
    this.#s.write(req);
    const deadline = now() + timeoutMs;
    while (!done(this.#buf)) {
      if (this.#closed || now() > deadline) {
        this.close();
        return null;
      }
      await new Promise<void>((r) => {
        const t = setTimeout(r, Math.max(1, deadline - now()));
        this.#waiter = () => { clearTimeout(t); r(); };
      });
      this.#waiter = null;
    }
    const reply = this.#buf;
    this.#buf = '';
    return reply;
  }

  close(): void {
    this.#s?.destroy();
    this.#s = null;
    this.#closed = true;
  }
}

const line = (b: string) => b.endsWith('\r\n');
const getDone = (b: string) => b.endsWith('END\r\n') || /^(SERVER_|CLIENT_)?ERROR.*\r\n$/.test(b);
const statsDone = (b: string) => b.endsWith('END\r\n') || /ERROR.*\r\n$/.test(b);

/** Deterministic PRNG (mulberry32): the workload of a seed is the same sequence of choices. */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class Recorder {
  readonly #fd: number;
  #lines: string[] = [];
  constructor(path: string) {
    this.#fd = openSync(path, 'w');
  }
  add(x: Op | MonSample): void {
    this.#lines.push(JSON.stringify(x));
    if (this.#lines.length >= 200) this.flush();
  }
  flush(): void {
    if (this.#lines.length === 0) return;
    writeSync(this.#fd, this.#lines.join('\n') + '\n');
    this.#lines = [];
  }
  close(): void {
    this.flush();
    closeSync(this.#fd);
  }
}

/** One client connection's loop of random requests through the VIP. */
async function worker(id: number, vip: string, seed: number, rec: Recorder, stopping: () => boolean, counts: { acked: number; unknown: number }): Promise<void> {
  const r = rng(seed * 1000 + id);
  const c = new Conn(vip);
  let n = 0;
  let next = now();
  while (!stopping()) {
    // paced: a history of a long run stays small, and the 2 cores stay with the daemons
    next += 1000 / RATE_PER_CONN;
    const wait = next - now();
    if (wait > 0) await sleep(wait);
    else next = now();
    if (!c.open_ && !(await c.open())) {
      await sleep(50);
      continue;
    }
    const pick = r();
    const key = `k${Math.floor(r() * KEYS)}`;
    const t0 = now();
    let op: Op;
    if (pick < 0.4) {
      const value = `v${id}.${n++}`;
      const reply = await c.request(`set ${key} 0 0 ${value.length}\r\n${value}\r\n`, line);
      op = { k: 'set', c: id, key, value, t0, t1: now(), r: reply === null ? 'unknown' : reply === 'STORED\r\n' ? 'ok' : 'fail', reply: reply?.trim() };
    } else if (pick < 0.5) {
      const reply = await c.request(`delete ${key}\r\n`, line);
      op = { k: 'delete', c: id, key, t0, t1: now(), r: reply === null ? 'unknown' : reply === 'DELETED\r\n' ? 'ok' : reply === 'NOT_FOUND\r\n' ? 'nf' : 'fail', reply: reply?.trim() };
    } else if (pick < 0.6) {
      const got = await c.request(`gets ${key}\r\n`, getDone);
      const m = got && /^VALUE \S+ \d+ \d+ (\d+)\r\n/.exec(got);
      if (!m) {
        op = { k: 'get', c: id, key, t0, t1: now(), r: got === null ? 'unknown' : 'ok', value: null };
      } else {
        const value = `v${id}.${n++}`;
        const t0b = now();
        const reply = await c.request(`cas ${key} 0 0 ${value.length} ${m[1]}\r\n${value}\r\n`, line);
        op = { k: 'cas', c: id, key, value, t0: t0b, t1: now(), r: reply === null ? 'unknown' : reply === 'STORED\r\n' ? 'ok' : 'fail', reply: reply?.trim() };
      }
    } else if (pick < 0.8) {
      const counter = `n${Math.floor(r() * COUNTERS)}`;
      const reply = await c.request(`incr ${counter} 1\r\n`, line);
      op = { k: 'incr', c: id, key: counter, t0, t1: now(), r: reply === null ? 'unknown' : /^\d+\r\n$/.test(reply) ? 'ok' : 'fail', reply: reply?.trim() };
    } else {
      const got = await c.request(`get ${key}\r\n`, getDone);
      const m = got && /^VALUE \S+ \d+ \d+\r\n(.*)\r\nEND\r\n$/.exec(got);
      op = { k: 'get', c: id, key, t0, t1: now(), r: got === null ? 'unknown' : got.endsWith('END\r\n') ? 'ok' : 'fail', value: m ? m[1]! : null };
    }
    rec.add(op);
    if (op.r === 'ok' && op.k !== 'get') counts.acked++;
    if (op.r === 'unknown') counts.unknown++;
  }
  c.close();
}

/** Asks each node for its replication state every 250 ms. */
async function monitor(nodes: string[], rec: Recorder, stopping: () => boolean): Promise<void> {
  const conns = nodes.map((n) => new Conn(n));
  while (!stopping()) {
    const started = now();
    await Promise.all(conns.map(async (c, i) => {
      const t = now();
      if (!c.open_ && !(await c.open(300))) {
        rec.add({ k: 'mon', t, node: i, ok: false });
        return;
      }
      const reply = await c.request('stats\r\n', statsDone, 400);
      if (reply === null || !reply.endsWith('END\r\n')) {
        rec.add({ k: 'mon', t, node: i, ok: false });
        return;
      }
      const stat = (name: string) => new RegExp(`^STAT ${name} (\\S+)\\r$`, 'm').exec(reply)?.[1] ?? '';
      rec.add({
        k: 'mon', t, node: i, ok: true, state: stat('replication_state'), peer: stat('repl_peer_0_state'), in: stat('repl_in_0_state'),
        syncTimeouts: Number(stat('repl_sync_timeouts') || 0), pid: Number(stat('pid')),
      });
    }));
    await sleep(Math.max(0, 250 - (now() - started)));
  }
  for (const c of conns) c.close();
}

async function run(out: string, seed: number, vip: string, nodes: string[]): Promise<void> {
  const rec = new Recorder(out);
  let stop = false;
  process.on('SIGTERM', () => (stop = true));
  process.on('SIGINT', () => (stop = true));
  const flusher = setInterval(() => rec.flush(), 200);
  const counts = { acked: 0, unknown: 0 };
  const stopping = () => stop;
  // the counters exist before any incr: a plain set of 0, retried until it is answered
  const setup = new Conn(vip);
  for (let i = 0; i < COUNTERS && !stop;) {
    if (!setup.open_ && !(await setup.open())) { await sleep(100); continue; }
    const t0 = now();
    const reply = await setup.request(`add n${i} 0 0 1\r\n0\r\n`, line);
    if (reply === 'STORED\r\n' || reply === 'NOT_STORED\r\n') {
      rec.add({ k: 'init', c: -1, key: `n${i}`, value: '0', t0, t1: now(), r: 'ok', reply: reply.trim() });
      i++;
    }
  }
  setup.close();
  await Promise.all([
    ...Array.from({ length: CONNS }, (_, id) => worker(id, vip, seed, rec, stopping, counts)),
    monitor(nodes, rec, stopping),
  ]);
  clearInterval(flusher);
  rec.close();
  console.log(JSON.stringify({ acked: counts.acked, unknown: counts.unknown }));
}

/**
 * Writes the filler items through the VIP, 500 a batch. A batch whose connection breaks (the VIP moved: a
 * higher-priority node that became ready after the lab settled preempts) is sent again on a new connection:
 * the sets are idempotent.
 */
async function fill(n: number, vip: string): Promise<void> {
  const c = new Conn(vip);
  const value = 'f'.repeat(1000);
  for (let i = 0; i < n; i += 500) {
    const batch: string[] = [];
    for (let j = i; j < Math.min(n, i + 500); j++) batch.push(`set f${j} 0 0 1000 noreply\r\n${value}\r\n`);
    let reply: string | null = null;
    for (let attempt = 0; reply !== 'MN\r\n'; attempt++) {
      if (attempt >= 5) throw new Error(`filler batch ${i}: ${reply === null ? 'no answer' : JSON.stringify(reply.slice(0, 100))} after ${attempt} attempts`);
      for (let tries = 0; !c.open_ && !(await c.open()); tries++) {
        if (tries > 100) throw new Error(`cannot reach ${vip}:${PORT}`);
        await sleep(100);
      }
      reply = await c.request(batch.join('') + 'mn\r\n', (b) => b.endsWith('MN\r\n'), 10_000);
      if (reply !== 'MN\r\n') c.close();
    }
  }
  c.close();
}

/** Every workload key, counter and filler item of one node: key -> [value, cas]. */
async function dumpNode(host: string, fillCount: number): Promise<Record<string, [string, string]>> {
  const c = new Conn(host);
  for (let tries = 0; !(await c.open()); tries++) {
    if (tries > 100) throw new Error(`cannot reach ${host}:${PORT}`);
    await sleep(100);
  }
  const keys = [
    ...Array.from({ length: KEYS }, (_, i) => `k${i}`), ...Array.from({ length: COUNTERS }, (_, i) => `n${i}`),
    ...Array.from({ length: fillCount }, (_, i) => `f${i}`),
  ];
  const out: Record<string, [string, string]> = {};
  for (let i = 0; i < keys.length; i += 100) {
    const reply = await c.request(`gets ${keys.slice(i, i + 100).join(' ')}\r\n`, (b) => b.endsWith('END\r\n'), 10_000);
    if (reply === null) throw new Error(`gets from ${host} failed`);
    const re = /VALUE (\S+) \d+ (\d+) (\d+)\r\n/g;
    for (let m = re.exec(reply); m; m = re.exec(reply)) {
      const start = m.index + m[0].length;
      out[m[1]!] = [reply.slice(start, start + Number(m[2])), m[3]!];
      re.lastIndex = start + Number(m[2]) + 2;
    }
  }
  c.close();
  return out;
}

const [mode, ...args] = process.argv.slice(2);
if (mode === 'run') {
  await run(args[0]!, Number(args[1]), args[2]!, [args[3]!, args[4]!]);
} else if (mode === 'fill') {
  await fill(Number(args[0]), args[1]!);
} else if (mode === 'dump') {
  const [a, b] = await Promise.all([dumpNode(args[1]!, Number(args[3])), dumpNode(args[2]!, Number(args[3]))]);
  writeFileSync(args[0]!, JSON.stringify({ nodes: [a, b] }));
} else {
  console.error('usage: client.ts run|fill|dump ...');
  process.exit(2);
}
