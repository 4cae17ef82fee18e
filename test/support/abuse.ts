/**
 * Hostile clients and the instruments that watch a cache server under them: a client that never reads, one that
 * trickles a command a byte at a time, a `version` probe that measures what a well-behaved client waits, and an
 * RSS sampler. Loopback only; every loop stops by itself or with stop().
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';

/** Resident set size of a process in bytes (VmRSS). */
export function rss(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) * 1024;
}

export const MB = 1024 * 1024;

/** Samples a process's RSS every intervalMs; peak() is the largest seen so far. */
export class RssSampler {
  #peak = 0;
  readonly #timer: NodeJS.Timeout;
  readonly #pid: number;

  constructor(pid: number, intervalMs = 50) {
    this.#pid = pid;
    this.#sample();
    this.#timer = setInterval(() => this.#sample(), intervalMs);
  }

  #sample(): void {
    try {
      this.#peak = Math.max(this.#peak, rss(this.#pid));
    } catch {
      // the process is gone: the test will say so
    }
  }

  peak(): number {
    this.#sample();
    return this.#peak;
  }

  stop(): number {
    clearInterval(this.#timer);
    return this.peak();
  }
}

/** What a probe sends: `version`, or a set and a get of a small value. */
export type ProbeMode = 'version' | 'setget';

/**
 * A `version` probe in a child process (version-probe.mjs), so that the test process's own work does not show as
 * server latency: start() resolves once it runs, stop() returns the longest wait for an answer (an answer still
 * missing counts as waited until then), the answers and the connections it lost.
 */
export class VersionProbe {
  readonly #child: ChildProcess;
  readonly #lines: string[] = [];
  #waiter: (() => void) | null = null;

  private constructor(port: number, pauseMs: number, mode: ProbeMode) {
    const script = resolve(import.meta.dirname, 'version-probe.mjs');
    this.#child = spawn(process.execPath, [script, String(port), String(pauseMs), mode], { stdio: ['pipe', 'pipe', 'inherit'] });
    createInterface({ input: this.#child.stdout! }).on('line', (l) => {
      this.#lines.push(l);
      this.#waiter?.();
    });
  }

  static async start(port: number, pauseMs = 20, mode: ProbeMode = 'version'): Promise<VersionProbe> {
    const p = new VersionProbe(port, pauseMs, mode);
    await p.#line(5000);
    return p;
  }

  async #line(timeoutMs: number): Promise<string> {
    const deadline = performance.now() + timeoutMs;
    while (this.#lines.length === 0) {
      if (performance.now() > deadline) throw new Error('the version probe did not answer');
      await new Promise<void>((r) => {
        const t = setTimeout(r, 50);
        this.#waiter = () => { clearTimeout(t); r(); };
      });
    }
    return this.#lines.shift()!;
  }

  async stop(): Promise<{ worstMs: number; answers: number; failures: number }> {
    this.#child.stdin!.write('stop\n');
    try {
      return JSON.parse(await this.#line(5000)) as { worstMs: number; answers: number; failures: number };
    } finally {
      this.#child.kill('SIGKILL');
    }
  }
}

/** Opens a connection on 127.0.0.1:port. */
export function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ port, host: '127.0.0.1' });
    s.once('connect', () => {
      s.off('error', reject);
      s.on('error', () => {});
      resolve(s);
    });
    s.once('error', reject);
  });
}

/**
 * A client that sends `request` again and again and never reads the replies: it writes until its socket refuses
 * more, then again on every 'drain', until stop().
 */
export class NonReader {
  readonly #socket: Socket;
  #stopped = false;
  sent = 0;

  private constructor(socket: Socket, request: Buffer) {
    this.#socket = socket;
    socket.pause();
    const batch = Buffer.concat(Array.from({ length: Math.max(1, Math.floor(65536 / request.length)) }, () => request));
    const pump = () => {
      while (!this.#stopped && !socket.destroyed) {
        this.sent += batch.length;
        if (!socket.write(batch)) return;
      }
    };
    socket.on('drain', pump);
    pump();
  }

  static async start(port: number, request: string | Buffer): Promise<NonReader> {
    return new NonReader(await open(port), typeof request === 'string' ? Buffer.from(request, 'latin1') : request);
  }

  get closedByServer(): boolean {
    return this.#socket.destroyed || this.#socket.readableEnded;
  }

  /**
   * Resolves when the server closes the connection (its reset fails the writes that wait), or with false after
   * timeoutMs. Still without reading.
   */
  closed(timeoutMs: number): Promise<boolean> {
    const s = this.#socket;
    if (s.destroyed) return Promise.resolve(true);
    return new Promise((resolve) => {
      const t = setTimeout(() => resolve(false), timeoutMs);
      s.once('close', () => { clearTimeout(t); resolve(true); });
      s.once('end', () => { clearTimeout(t); resolve(true); });
    });
  }

  stop(): void {
    this.#stopped = true;
    this.#socket.destroy();
  }
}

/** A client that sends `text` one byte every intervalMs and never finishes the command. */
export class Trickler {
  readonly #socket: Socket;
  readonly #timer: NodeJS.Timeout;
  #closedAt = 0;

  private constructor(socket: Socket, text: string, intervalMs: number) {
    this.#socket = socket;
    let i = 0;
    socket.on('close', () => (this.#closedAt = performance.now()));
    socket.resume();
    this.#timer = setInterval(() => {
      if (socket.destroyed) return;
      socket.write(text[i % text.length]);
      i++;
    }, intervalMs);
  }

  static async start(port: number, text: string, intervalMs = 1000): Promise<Trickler> {
    return new Trickler(await open(port), text, intervalMs);
  }

  /** performance.now() when the server closed the connection, 0 while it is open. */
  get closedAt(): number {
    return this.#closedAt;
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#socket.destroy();
  }
}

/** Waits until cond() holds, checking every stepMs, or timeoutMs passes; returns cond(). */
export async function waitFor(cond: () => boolean, timeoutMs: number, stepMs = 50): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (!cond()) {
    if (performance.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, stepMs));
  }
  return true;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
