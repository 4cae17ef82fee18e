import { LEVELS, loggerFacade, type Logger } from './log.ts';

type Level = (typeof LEVELS)[number];

/** One log call of a worker thread, posted to the thread that owns the real logger. */
export interface ForwardedLog {
  type: 'log';
  level: Level;
  bindings: Record<string, unknown>;
  /** pino's arguments: (message) or (object, message). */
  args: unknown[];
}

/**
 * A logger for a worker thread that hands each call to `post` instead of loading pino: every worker thread is an
 * isolate of its own, and pino with its dependencies costs each one about 1.6 MB of private memory for the few
 * lines a worker logs. The owner replays the calls with replayLog(). Calls below `level` are dropped here.
 * It has the part of pino's Logger the cache server uses: the level methods, child() and isLevelEnabled().
 */
export function forwardingLogger(post: (m: ForwardedLog) => void, level: Level | 'silent', bindings: Record<string, unknown> = {}): Logger {
  return loggerFacade(level, {
    write: (l) => (...args) => {
      try {
        post({ type: 'log', level: l, bindings, args });
      } catch {
        // an argument that cannot be cloned (a function, a socket): its text instead
        post({ type: 'log', level: l, bindings, args: args.map((a) => (typeof a === 'object' && a !== null ? { value: String(a) } : a)) });
      }
    },
    child: (more, options) => forwardingLogger(post, options?.level ?? level, { ...bindings, ...more }),
  });
}

/** Logs a forwarded call on the owner's logger. */
export function replayLog(logger: Logger, m: ForwardedLog): void {
  if (!LEVELS.includes(m.level)) return;
  // the worker already filtered by its logger's level, which a child may have set below the owner's
  const target = logger.isLevelEnabled(m.level) ? (Object.keys(m.bindings).length ? logger.child(m.bindings) : logger) : logger.child(m.bindings, { level: m.level });
  (target[m.level] as (...a: unknown[]) => void).apply(target, m.args);
}
