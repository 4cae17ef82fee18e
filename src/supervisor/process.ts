import { spawn, type ChildProcess } from 'node:child_process';
import type { Logger } from 'pino';
import { systemClock, type Clock } from '../clock.ts';
import { resolveUser, type UserDatabase, type UserIds } from '../system/users.ts';
import { LineSplitter } from './lines.ts';
import { Supervisor, type RestartPolicy, type SupervisorState, type SupervisorStatus } from './supervisor.ts';

export interface ProcessSupervisorOptions {
  argv: string[];
  /** Run the child as this user (name or numeric uid), with its primary group. Needs root. */
  user?: string | null;
  policy: RestartPolicy;
  /** Parent logger; the child's output and the supervisor's changes go to a child logger {component}. */
  logger: Logger;
  /** What the child is, in logs: component 'cache' and "cache daemon" by default. */
  component?: string;
  label?: string;
  clock?: Clock;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Every state change of the supervisor (the daemon maps an exit to FAULT at once). */
  onState?(state: SupervisorState, reason: string): void;
  /** The user database, for tests. Default: /etc/passwd and /etc/group. */
  users?: UserDatabase;
}

const MAX_LINE = 8192;

/**
 * Runs the pure Supervisor with a real process: spawn in its own process group, report spawned()/exited(),
 * log the child's stdout/stderr line by line, signal the whole group. The group is SIGKILLed when its leader
 * exits (nothing it forked outlives it) and when this process exits.
 */
export class ProcessSupervisor {
  readonly #o: ProcessSupervisorOptions;
  readonly #log: Logger;
  readonly #ids: UserIds | null;
  readonly #supervisor: Supervisor;
  #child: ChildProcess | null = null;
  #stopped: Array<() => void> = [];
  readonly #onProcessExit = () => this.#killGroup('SIGKILL');

  constructor(opts: ProcessSupervisorOptions) {
    if (opts.argv.length === 0) throw new RangeError('ProcessSupervisor: argv is empty');
    this.#o = opts;
    this.#log = opts.logger.child({ component: opts.component ?? 'cache' });
    this.#ids = opts.user ? resolveUser(opts.user, opts.users) : null;
    this.#supervisor = new Supervisor(opts.policy, opts.clock ?? systemClock, {
      spawn: () => this.#spawn(),
      kill: (signal) => this.#killGroup(signal),
      changed: (state, reason) => this.#changed(state, reason),
    });
  }

  get state(): SupervisorState {
    return this.#supervisor.state;
  }

  get pid(): number | null {
    return this.#child?.pid ?? null;
  }

  status(): SupervisorStatus & { pid: number | null } {
    return { ...this.#supervisor.status(), pid: this.pid };
  }

  start(): void {
    if (this.#supervisor.state === 'stopped') process.on('exit', this.#onProcessExit);
    this.#supervisor.start();
  }

  /** SIGTERM to the group, SIGKILL after the policy's stop timeout; resolves once stopped. */
  stop(): Promise<void> {
    this.#supervisor.stop();
    if (this.#supervisor.state === 'stopped') return Promise.resolve();
    return new Promise((resolve) => this.#stopped.push(resolve));
  }

  #spawn(): void {
    const [cmd, ...args] = this.#o.argv;
    let child: ChildProcess;
    try {
      child = spawn(cmd, args, {
        detached: true, // its own process group, so signals reach everything it forks
        stdio: ['ignore', 'pipe', 'pipe'],
        env: this.#o.env ?? process.env,
        cwd: this.#o.cwd,
        ...(this.#ids ?? {}),
      });
    } catch (e) {
      // spawn() throws synchronously for some errors (e.g. EPERM on setuid); report like a failed start
      queueMicrotask(() => this.#supervisor.exited(`failed to start: ${(e as Error).message}`));
      return;
    }
    this.#child = child;
    let reported = false;
    const exited = (how: string) => {
      if (reported) return;
      reported = true;
      if (child.pid !== undefined) this.#signal(child.pid, 'SIGKILL'); // leftovers of the group
      if (this.#child === child) this.#child = null;
      this.#supervisor.exited(how);
    };
    child.once('spawn', () => this.#supervisor.spawned(child.pid!));
    child.once('error', (e) => exited(`failed to start: ${e.message}`));
    child.once('exit', (code, signal) => exited(signal ? `killed by ${signal}` : `exited with code ${code}`));
    this.#lines(child.stdout!, 'stdout');
    this.#lines(child.stderr!, 'stderr');
  }

  #lines(stream: NodeJS.ReadableStream, name: 'stdout' | 'stderr'): void {
    const lines = new LineSplitter(MAX_LINE, (line) => this.#log.info({ stream: name }, line));
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => lines.push(chunk));
    stream.on('end', () => lines.end());
  }

  #killGroup(signal: NodeJS.Signals): void {
    const pid = this.#child?.pid;
    if (pid !== undefined) this.#signal(pid, signal);
  }

  #signal(pid: number, signal: NodeJS.Signals): void {
    try {
      process.kill(-pid, signal);
    } catch {
      /* the group is gone already */
    }
  }

  #changed(state: SupervisorState, reason: string): void {
    const level = state === 'backoff' ? 'warn' : 'info';
    this.#log[level]({ state, argv: state === 'starting' ? this.#o.argv : undefined }, `${this.#o.label ?? 'cache daemon'} ${state}: ${reason}`);
    if (state === 'stopped') {
      process.off('exit', this.#onProcessExit);
      const waiting = this.#stopped;
      this.#stopped = [];
      for (const f of waiting) f();
    }
    this.#o.onState?.(state, reason);
  }
}
