/**
 * What the threads of repcache -t N tell each other (repcache-threads.ts describes the exchange): the start data of
 * a serving worker and of the replication thread, the messages between them and the main thread, and the text of
 * an error they report.
 */
import { backgroundClock, CacheClock } from '../clock.ts';
import type { ChangeBuffers } from '../cache/changes.ts';
import type { StoreBuffers } from '../cache/store.ts';
import type { ForwardedLog } from '../log-forward.ts';
import type { ThreadedReplication } from '../replication/wiring.ts';
import type { ConnsAnswer, SharedServing } from '../server/cache-server.ts';
import type { ServerConfig } from '../server/config.ts';

export interface WorkerStart {
  config: ServerConfig;
  /** -Y's user:password pairs (a Credentials object does not cross threads). */
  authEntries: Array<[string, string]> | null;
  shared: SharedServing;
  logLevel: 'trace' | 'debug' | 'info' | 'warn';
  clock: ThreadClockStart;
  /** With replication: the shared change stream, clock and replication state (replication/threads.ts). */
  replication: WorkerReplication | null;
}

export interface WorkerReplication {
  changes: ChangeBuffers;
  hlc: SharedArrayBuffer;
  share: SharedArrayBuffer;
  syncMode: boolean;
  syncTimeoutMs: number;
}

/** The replication thread's start: the command line's replication flags and the shared memory. */
export interface ReplicationThreadStart {
  config: ServerConfig;
  replication: { peers: string[]; port: number; connectPort?: number; portGiven?: boolean };
  store: StoreBuffers;
  changes: ChangeBuffers;
  lock: SharedArrayBuffer;
  hlc: SharedArrayBuffer;
  share: SharedArrayBuffer;
  logLevel: WorkerStart['logLevel'];
  clock: ThreadClockStart;
}

/** The main thread's cache clock, which every other thread rebuilds: the same seconds and absolute times in all. */
export interface ThreadClockStart {
  /** Its wall time at 0, and the absolute ms (timeOrigin + now) of its 0. */
  wallMs: number;
  startAbsMs: number;
  /** The newest second of every thread's cache clock (CacheClock.share). */
  second: SharedArrayBuffer;
}

/** This thread's copy of the main thread's cache clock. */
export function threadCacheClock(start: ThreadClockStart): CacheClock {
  const clock = new CacheClock(backgroundClock, start.wallMs, start.startAbsMs - performance.timeOrigin);
  clock.share(start.second);
  return clock;
}

/** -t N with replication: the replication flags and what the main thread sized from them. */
export interface ReplicationPlan {
  args: ReplicationThreadStart['replication'];
  threaded: ThreadedReplication;
}

/** Where a thread's start failed: building its server, binding its ports, the metrics endpoint, replication. */
export type StartStage = 'start' | 'listen' | 'metrics' | 'replication';

export type ToMain =
  | { type: 'loaded' }
  | { type: 'ready'; portFileLines?: string }
  | { type: 'error'; stage: StartStage; message: string }
  | { type: 'shutdown'; graceful: boolean }
  | { type: 'closed' }
  | { type: 'refresh_certs' }
  | { type: 'conns_ask'; id: number }
  | { type: 'conns_answer'; id: number; to: number; answer: ConnsAnswer }
  | { type: 'watch_lines'; to: number; kinds: number[]; lines: string[] }
  | ForwardedLog;
export type ToWorker =
  | { type: 'listen' }
  /** Every worker serves: each may now run its start-up collection (see repcache-worker.ts). */
  | { type: 'serving' }
  | { type: 'close' }
  | { type: 'refresh_certs' }
  | { type: 'conns_ask'; id: number; from: number }
  | { type: 'conns_answer'; id: number; answer: ConnsAnswer }
  | { type: 'watch_lines'; kinds: number[]; lines: string[] };

/** A system error's text as the threads report it: with its code (`EADDRINUSE ...`) unless the text names it already. */
export function errnoText(e: NodeJS.ErrnoException): string {
  return e.code && !e.message.includes(e.code) ? `${e.code} ${e.message}` : e.message;
}
