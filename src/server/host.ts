/** What the dispatchers (text, meta, binary) share with the cache server around them. */
import type { SlabStore } from '../cache/store.ts';
import type { Credentials } from './auth-file.ts';
import type { ServerConfig } from './config.ts';
import type { PrefixCounter, ServerCounters, StatList } from './stats.ts';
import type { WatchLog } from './watch.ts';

/** What the dispatcher needs from the server around it. The dispatchers change nothing but through the store. */
export interface DispatchHost {
  readonly store: SlabStore;
  readonly config: ServerConfig;
  readonly counters: ServerCounters;
  verbosity: number;
  /** non-null while `stats detail on` */
  detail: PrefixCounter | null;
  /** what `stats detail dump` prints (kept after `stats detail off`, as memcached does) */
  readonly prefixStats: PrefixCounter;
  setDetail(on: boolean): void;
  /** A command changed a setting (config, verbosity, detail): with -t N every worker takes it, as memcached's one `settings`. */
  settingsChanged(): void;
  generalStats(): StatList;
  /**
   * `stats conns` lines (with \r\n), `self` marks the asking connection; null when the reply comes later (-t N:
   * the other workers' connections are asked for, and the server hands `self` the reply, END included).
   */
  connStats(self: unknown): string | null;
  resetStats(): void;
  requestShutdown(graceful: boolean): void;
  /** -S: SASL on the binary protocol against the -Y credentials; null: SASL commands are unknown, as in memcached */
  readonly sasl: Credentials | null;
  /** `refresh_certs`: reloads the TLS certificates; the reply line (with \r\n). */
  refreshCerts(): string;
  /** `watch`: the log lines watchers get; `active[0]` is 0 when nobody watches. */
  readonly watch: WatchLog;
  /** Makes `conn` a watcher of the given kinds: 'OK', 'TOO_MANY' watchers, or 'NOT_A_CONNECTION' (a UDP request). */
  startWatch(conn: unknown, flags: number): 'OK' | 'TOO_MANY' | 'NOT_A_CONNECTION';
  /** Logs something a client was refused, one line per reason per interval. */
  clientRefused(reason: string, message: string, fields?: Record<string, unknown>): void;
}

/**
 * Returned by handle(): keep going; write what is buffered and close; or MORE: a multiget stopped once its replies
 * so far reached the output limit, and takeUnfinished() hands over the rest to finish with resumeGet().
 */
export const KEEP = 0;
export const CLOSE = 1;
export const MORE = 2;
export type Outcome = typeof KEEP | typeof CLOSE | typeof MORE;

