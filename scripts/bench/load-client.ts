/**
 * Load generators for the cache benchmark, run as a process of their own (pinned to the client CPU by the bench),
 * so their CPU use never lands on the server's CPU or on the bench's own event loop. Prints one JSON line.
 *
 *   load-client.ts preload  --port P --keys N [--value-size V] [--first F]
 *       stores keys key:<F> .. key:<F+N-1> (fixed width) with `noreply`, closed by `version`.
 *   load-client.ts open-loop --port P --rate R --seconds S [--conns C] [--keys N] [--first F] [--get-ratio G] [--warmup S]
 *       sends R requests/s (a get, or a set of the key's same value, at random over the keys) on C connections
 *       whatever the replies do, and reports latency percentiles measured from each request's scheduled send time,
 *       so a stall delays every request that falls due during it (no coordinated omission).
 *   load-client.ts multiget --port P --seconds S [--conns C] [--depth D] [--batch B] [--keys N]
 *       C connections, each keeping D `get` requests of B keys each in flight; reports keys/s.
 *
 * Every key this sends exists with a value of --value-size bytes (preload first); a miss or an error counts as one.
 */
import { connect, type Socket } from 'node:net';
import { Worker } from 'node:worker_threads';

const KEY_DIGITS = 8;
export const keyOf = (i: number): string => `key:${String(i).padStart(KEY_DIGITS, '0')}`;

/** The value every key holds: its bytes are never looked at, only counted. */
const valueOf = (size: number) => 'v'.repeat(size);

const CR = 0x0d;
const LF = 0x0a;

/**
 * Counts complete replies of memcached's text protocol in a byte stream split anywhere: a retrieval reply is any
 * number of `VALUE <key> <flags> <bytes>[ <cas>]` blocks closed by `END`; every other reply is one line
 * (`STORED`, `ERROR`, ...). It counts values and misses too. Streams of gets and sets only.
 */
export class ReplyCounter {
  replies = 0;
  values = 0;
  /** Replies that were neither a value block nor STORED (errors, END without a value). */
  others = 0;
  #line = '';
  /** Bytes of a value (with its CRLF) still to skip. */
  #skip = 0;
  #valuesInReply = 0;

  /** Feeds a chunk; returns how many replies it completed. */
  push(d: Buffer): number {
    const before = this.replies;
    let i = 0;
    while (i < d.length) {
      if (this.#skip > 0) {
        const n = Math.min(this.#skip, d.length - i);
        this.#skip -= n;
        i += n;
        continue;
      }
      const lf = d.indexOf(LF, i);
      if (lf < 0) {
        this.#line += d.toString('latin1', i);
        break;
      }
      const end = lf > i && d[lf - 1] === CR ? lf - 1 : lf;
      const line = this.#line + d.toString('latin1', i, end);
      this.#line = '';
      i = lf + 1;
      this.#onLine(line.endsWith('\r') ? line.slice(0, -1) : line);
    }
    return this.replies - before;
  }

  #onLine(line: string): void {
    if (line.startsWith('VALUE ')) {
      const bytes = Number(line.split(' ')[3]);
      this.#skip = bytes + 2;
      this.#valuesInReply++;
      return;
    }
    this.replies++;
    if (line === 'END') {
      if (this.#valuesInReply === 0) this.others++;
      this.values += this.#valuesInReply;
      this.#valuesInReply = 0;
    } else if (line !== 'STORED') {
      this.others++;
    }
  }
}

/** The p-th percentile (0-100) of ascending samples, nearest rank. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  // The epsilon keeps 99.9 % of 1,000 at rank 999: floating point makes it 999.0000000000001.
  const rank = Math.ceil((p * sorted.length) / 100 - 1e-9);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

interface Args { port: number; keys: number; first: number; valueSize: number; rate: number; seconds: number; conns: number; getRatio: number; warmup: number; depth: number; batch: number }

export function parseArgs(argv: string[]): { mode: string; args: Args } {
  const [mode, ...rest] = argv;
  const args: Args = { port: 0, keys: 100_000, first: 0, valueSize: 100, rate: 10_000, seconds: 5, conns: 16, getRatio: 0.9, warmup: 1, depth: 4, batch: 100 };
  const names: Record<string, keyof Args> = {
    '--port': 'port', '--keys': 'keys', '--first': 'first', '--value-size': 'valueSize', '--rate': 'rate', '--seconds': 'seconds',
    '--conns': 'conns', '--get-ratio': 'getRatio', '--warmup': 'warmup', '--depth': 'depth', '--batch': 'batch',
  };
  for (let i = 0; i < rest.length; i += 2) {
    const name = names[rest[i]];
    const value = Number(rest[i + 1]);
    if (!name || !Number.isFinite(value)) throw new Error(`bad argument ${rest[i]} ${rest[i + 1] ?? ''}`);
    args[name] = value;
  }
  if (!['preload', 'open-loop', 'multiget'].includes(mode) || !args.port) throw new Error('usage: load-client.ts preload|open-loop|multiget --port P [...]');
  return { mode, args };
}

function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ port, host: '127.0.0.1' });
    s.setNoDelay(true);
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

async function preload(a: Args): Promise<object> {
  const s = await open(a.port);
  const value = valueOf(a.valueSize);
  const t0 = performance.now();
  for (let i = a.first; i < a.first + a.keys;) {
    let text = '';
    for (const end = Math.min(i + 2000, a.first + a.keys); i < end; i++) text += `set ${keyOf(i)} 0 0 ${a.valueSize} noreply\r\n${value}\r\n`;
    if (!s.write(text, 'latin1')) await new Promise((r) => s.once('drain', r));
  }
  await new Promise<void>((resolve) => {
    let got = '';
    s.on('data', (d) => {
      got += d.toString('latin1');
      if (got.endsWith('\r\n')) resolve();
    });
    s.write('version\r\n');
  });
  s.destroy();
  return { keys: a.keys, ms: Math.round(performance.now() - t0) };
}

/** Requests due by `now` (ms since start) at `rate` per second. */
export const dueBy = (now: number, rate: number): number => Math.floor((now * rate) / 1000) + 1;

/**
 * The metronome: a thread that sleeps until the next request falls due (a futex wait, not a spin: on a shared CPU a
 * spinning client loses its time slices to other work and sends in bursts) and then wakes the main thread, which
 * sends every request due by then. Plain JavaScript: an eval'd worker is CommonJS and not type-stripped.
 */
const METRONOME = `
const { parentPort, workerData } = require('node:worker_threads');
const { start, rate, total } = workerData;
const cell = new Int32Array(new SharedArrayBuffer(4));
const now = () => performance.timeOrigin + performance.now() - start;
let i = 0;
while (i < total) {
  const wait = (i * 1000) / rate - now();
  if (wait > 0) Atomics.wait(cell, 0, 0, wait);
  i = Math.min(total, Math.floor((now() * rate) / 1000) + 1);
  parentPort.postMessage(i);
}
`;

async function openLoop(a: Args): Promise<object> {
  const sockets = await Promise.all(Array.from({ length: a.conns }, () => open(a.port)));
  const value = valueOf(a.valueSize);
  const total = Math.round(a.rate * a.seconds);
  const warm = Math.round(a.rate * a.warmup);
  /**
   * Each request's latency (ms): from the moment it was written to its socket to the moment its reply was read.
   * NaN until the reply is in. The sends follow the schedule whatever the replies do, so a server
   * stall delays every request that falls due during it; a late client (sendLag) is reported, not blamed on the server.
   */
  const lat = new Float64Array(total).fill(NaN);
  const sentAt = new Float64Array(total);
  const fifo = sockets.map(() => [] as number[]);
  const heads = sockets.map(() => 0);
  const counters = sockets.map(() => new ReplyCounter());
  let completed = 0;
  let finished: () => void = () => {};
  const done = new Promise<void>((r) => (finished = r));
  sockets.forEach((s, c) => {
    s.on('data', (d: Buffer) => {
      const n = counters[c].push(d);
      if (n === 0) return;
      const now = performance.now();
      for (let k = 0; k < n; k++) {
        const id = fifo[c][heads[c]++];
        lat[id] = now - sentAt[id];
      }
      if (heads[c] > 4096) {
        fifo[c] = fifo[c].slice(heads[c]);
        heads[c] = 0;
      }
      completed += n;
      if (completed === total) finished();
    });
  });
  let sent = 0;
  const sendLag: number[] = [];
  const pending: string[] = sockets.map(() => '');
  const start = performance.timeOrigin + performance.now();
  const t0 = performance.now();
  const metronome = new Worker(METRONOME, { eval: true, workerData: { start, rate: a.rate, total } });
  await new Promise<void>((resolve, reject) => {
    metronome.on('error', reject);
    metronome.on('message', (due: number) => {
      const now = performance.now();
      if (due > sent) sendLag.push(now - t0 - (sent * 1000) / a.rate);
      for (; sent < due; sent++) {
        const c = sent % a.conns;
        const key = keyOf(a.first + Math.floor(Math.random() * a.keys));
        pending[c] += Math.random() < a.getRatio ? `get ${key}\r\n` : `set ${key} 0 0 ${a.valueSize}\r\n${value}\r\n`;
        fifo[c].push(sent);
        sentAt[sent] = now;
      }
      for (let c = 0; c < a.conns; c++) {
        if (pending[c]) {
          sockets[c].write(pending[c], 'latin1');
          pending[c] = '';
        }
      }
      if (sent === total) resolve();
    });
  });
  await metronome.terminate();
  const timer = setTimeout(finished, 10_000);
  await done;
  clearTimeout(timer);
  const elapsed = (performance.now() - t0) / 1000;
  for (const s of sockets) s.destroy();
  const measured = lat.subarray(warm, total).filter((x) => !Number.isNaN(x)).sort();
  const errors = counters.reduce((n, c) => n + c.others, 0);
  const lags = Float64Array.from(sendLag).sort();
  const r3 = (x: number) => +x.toFixed(3);
  return {
    requests: total, measured: measured.length, lost: total - completed, errors, seconds: r3(elapsed), rate: a.rate,
    p50: r3(percentile(measured, 50)), p90: r3(percentile(measured, 90)), p99: r3(percentile(measured, 99)),
    p999: r3(percentile(measured, 99.9)), max: r3(measured.length ? measured[measured.length - 1] : NaN),
    sendLagP99Ms: r3(percentile(lags, 99)), sendLagMaxMs: r3(lags.length ? lags[lags.length - 1] : 0),
  };
}

async function multiget(a: Args): Promise<object> {
  const sockets = await Promise.all(Array.from({ length: a.conns }, () => open(a.port)));
  const value = valueOf(a.valueSize);
  /** Request r of connection c asks for keys c*.. in a fixed rotation over the key space; its reply's exact length is known. */
  const requests: { bytes: Buffer; replyLength: number }[] = [];
  const perConn = Math.max(a.depth * 4, 16);
  for (let r = 0; r < perConn * a.conns; r++) {
    let line = 'get';
    let replyLength = 5;
    for (let k = 0; k < a.batch; k++) {
      const key = keyOf(a.first + ((r * a.batch + k) % a.keys));
      line += ` ${key}`;
      replyLength += `VALUE ${key} 0 ${a.valueSize}\r\n`.length + value.length + 2;
    }
    requests.push({ bytes: Buffer.from(`${line}\r\n`, 'latin1'), replyLength });
  }
  const end = performance.now() + a.seconds * 1000;
  let keys = 0;
  let bad = 0;
  const t0 = performance.now();
  await Promise.all(sockets.map((s, c) => new Promise<void>((resolve) => {
    const mine = requests.slice(c * perConn, (c + 1) * perConn);
    let next = 0;
    const inFlight: number[] = [];
    /** Bytes of the oldest reply in flight still to come. */
    let owed = 0;
    const send = () => {
      const r = mine[next];
      next = (next + 1) % mine.length;
      inFlight.push(r.replyLength);
      if (inFlight.length === 1) owed = r.replyLength;
      s.write(r.bytes);
    };
    s.on('data', (d: Buffer) => {
      let off = 0;
      while (off < d.length) {
        const n = Math.min(owed, d.length - off);
        off += n;
        owed -= n;
        if (owed > 0) break;
        // A reply is complete: it must end with END\r\n, when those bytes are in this chunk.
        if (off >= 5 && d.toString('latin1', off - 5, off) !== 'END\r\n') bad++;
        inFlight.shift();
        keys += a.batch;
        if (performance.now() < end) send();
        if (inFlight.length === 0) {
          resolve();
          return;
        }
        owed = inFlight[0];
      }
    });
    for (let i = 0; i < a.depth; i++) send();
  })));
  const seconds = (performance.now() - t0) / 1000;
  for (const s of sockets) s.destroy();
  return { keys, seconds: +seconds.toFixed(3), keysPerSecond: Math.round(keys / seconds), bad };
}

if (import.meta.main) {
  const { mode, args } = parseArgs(process.argv.slice(2));
  const result = mode === 'preload' ? await preload(args) : mode === 'open-loop' ? await openLoop(args) : await multiget(args);
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
