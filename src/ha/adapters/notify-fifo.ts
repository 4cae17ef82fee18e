import { chownSync, closeSync, constants, fstatSync, lstatSync, openSync, unlinkSync, writeSync, type Stats } from 'node:fs';
import type { Clock } from '../../clock.ts';
import type { NotifyFifo } from '../../config/model.ts';
import type { Logger } from '../../log.ts';
import { RateLimitedLog } from '../../log-limit.ts';
import { resolveUser } from '../../system/users.ts';
import { FifoQueue } from '../core/fifo-queue.ts';
import type { NotifySpawner } from '../core/notify-queue.ts';
import { execaRunner, type CommandRunner } from './vip-manager.ts';

export class NotifyFifoError extends Error {
  override name = 'NotifyFifoError';
}

export interface NotifyFifoDeps {
  clock: Clock;
  log: Logger;
  spawn: NotifySpawner;
  /** Runs `mkfifo` (Node has no mkfifo call). */
  run?: CommandRunner;
  /** Owner of a created FIFO from its user/group names (default: passwd and group files). */
  resolveOwner?: (spec: string) => { uid: number; gid: number };
}

const kindOf = (s: Stats) => (s.isFile() ? 'regular file' : s.isDirectory() ? 'directory' : s.isSymbolicLink() ? 'symbolic link' : s.isSocket() ? 'socket' : 'special file');

/**
 * keepalived's notify FIFO: created if absent (mode 0600 as keepalived's under its default umask, owned by the
 * configured user and group), refused if
 * the path is something else or a FIFO owned by another user; the notify_fifo_script is started first, with
 * the path as its last argument. haved holds the FIFO open read-write and non-blocking (as keepalived): a
 * write never blocks and never fails for want of a reader; lines wait in the pipe (64 KiB) and then in a
 * bounded queue until someone reads them, and past that the oldest are dropped with a warning.
 */
export class NotifyFifoChannel {
  readonly config: NotifyFifo;
  readonly #fd: number;
  readonly #created: boolean;
  readonly #queue: FifoQueue;
  readonly #script: AbortController | null;
  readonly #log: Logger;

  private constructor(config: NotifyFifo, fd: number, created: boolean, script: AbortController | null, deps: NotifyFifoDeps) {
    this.config = config;
    this.#fd = fd;
    this.#created = created;
    this.#script = script;
    this.#log = deps.log;
    const limited = new RateLimitedLog(deps.log, { now: () => deps.clock.now() });
    this.#queue = new FifoQueue({
      clock: deps.clock,
      sink: (line) => this.#write(line),
      onDrop: (n) => limited.warn('fifo-full', `${config.keyword} ${config.path}: nobody reads it and the queue is full; dropped the ${n} oldest line(s)`, { fifo: config.path }),
    });
  }

  static async open(config: NotifyFifo, deps: NotifyFifoDeps): Promise<NotifyFifoChannel> {
    const { path, keyword, where } = config;
    const refuse = (why: string): never => {
      throw new NotifyFifoError(`${where}: ${keyword} ${path} ${why}`);
    };
    let existing: Stats | null = null;
    try {
      existing = lstatSync(path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') refuse(`cannot be read: ${(e as Error).message}`);
    }
    const owner = config.user ? (deps.resolveOwner ?? resolveUser)(config.group ? `${config.user} ${config.group}` : config.user) : null;
    const ours = process.getuid?.() ?? 0;
    if (existing && !existing.isFIFO()) refuse(`exists and is not a FIFO (it is a ${kindOf(existing)}): refusing to write to it`);
    if (existing && existing.uid !== ours && existing.uid !== owner?.uid) refuse(`is a FIFO owned by uid ${existing.uid}, not by haved or ${config.user ?? 'the configured user'}: refusing it`);
    let created = false;
    if (!existing) {
      const r = await (deps.run ?? execaRunner)('mkfifo', ['-m', '0600', path], 3000);
      if (r.exitCode !== 0) refuse(`cannot be created: ${r.stderr}`);
      created = true;
      if (owner) {
        try {
          chownSync(path, owner.uid, owner.gid);
        } catch (e) {
          deps.log.warn({ fifo: path, err: (e as Error).message }, `${keyword} ${path}: cannot give it to ${config.user}`);
        }
      }
    }
    let script: AbortController | null = null;
    if (config.script) {
      script = new AbortController();
      const job = { argv: [...config.script.argv, path], user: config.script.user, label: `${keyword}_script` };
      deps.log.info({ script: job.argv.join(' ') }, `${job.label}: started`);
      void deps.spawn(job, script.signal).then(
        (r) => {
          if (!script!.signal.aborted) deps.log.warn({ script: job.argv.join(' '), code: r.code }, `${job.label} ended (${r.detail ?? `exit ${r.code}`}): nothing reads ${path} any more`);
        },
        (e: Error) => deps.log.warn({ err: e.message }, `${job.label} could not run`),
      );
    }
    let fd: number;
    try {
      fd = openSync(path, constants.O_RDWR | constants.O_NONBLOCK | constants.O_NOFOLLOW);
      const st = fstatSync(fd);
      if (!st.isFIFO()) {
        closeSync(fd);
        refuse('was replaced by something that is not a FIFO: refusing to write to it');
      }
    } catch (e) {
      script?.abort();
      if (created) unlinkQuietly(path);
      if (e instanceof NotifyFifoError) throw e;
      return refuse(`cannot be opened: ${(e as Error).message}`);
    }
    deps.log.info({ fifo: path, created }, `${keyword} ${path}: writing notifications to it`);
    return new NotifyFifoChannel(config, fd, created, script, deps);
  }

  write(line: string): void {
    this.#queue.write(line);
  }

  get counts(): { written: number; dropped: number; queued: number } {
    return { ...this.#queue.counts, queued: this.#queue.queued };
  }

  /** Unlinks a FIFO haved created (first, so a reader looping on it cannot reopen it), closes it, stops the script. */
  close(): void {
    const lost = this.#queue.close();
    if (lost.length > 0) this.#log.warn({ fifo: this.config.path, lines: lost.length }, `${this.config.keyword}: ${lost.length} line(s) never read`);
    if (this.#created) unlinkQuietly(this.config.path);
    try {
      closeSync(this.#fd);
    } catch {
      /* already closed */
    }
    this.#script?.abort();
  }

  #write(line: string): 'ok' | 'again' {
    try {
      writeSync(this.#fd, line);
      return 'ok';
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EAGAIN') return 'again';
      this.#log.error({ fifo: this.config.path, err: (e as Error).message }, `${this.config.keyword}: write failed (line dropped)`);
      return 'ok';
    }
  }
}

function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    /* gone already */
  }
}
