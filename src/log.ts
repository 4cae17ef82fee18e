import type { Level, LevelWithSilent, Logger } from 'pino';

export type { Logger };

// pino is CommonJS: required when a logger is built, so importing this file does not load it
type Pino = typeof import('pino');
const loadPino = (): Pino => process.getBuiltinModule('node:module').createRequire(import.meta.url)('pino') as Pino;

/** pino JSON on stdout; pretty-printed when stdout is a terminal, unless HAVED_LOG_JSON is set. */
export function createLogger(name: string, level: LevelWithSilent = 'info'): Logger {
  const pino = loadPino();
  const pretty = process.stdout.isTTY && !process.env.HAVED_LOG_JSON;
  if (pretty) {
    return pino({ name, level, transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } } });
  }
  return pino({ name, level, base: { name } }, pino.destination({ dest: 1, sync: false }));
}

/**
 * createLogger's logger, built (pino loaded) when the first line at an enabled level is written: a cache that
 * runs quietly, as memcached does without -v, never carries pino and its dependencies (about 2.6 MB of private
 * memory). Lines, once written, are pino's own.
 */
export function createLazyLogger(name: string, level: LevelWithSilent = 'info'): Logger {
  return lazyLogger(() => createLogger(name, level), level);
}

/** A logger whose calls at `level` and above go to make()'s, made once, by the first of them. */
export function lazyLogger(make: () => Logger, level: LevelWithSilent, flushParent = (done?: (err?: Error) => void) => done?.()): Logger {
  let made: Logger | null = null;
  const real = () => (made ??= make());
  const flush = (done?: (err?: Error) => void) => (made ? made.flush(done) : flushParent(done));
  return loggerFacade(level, {
    write: (l) => (...args) => {
      const r = real();
      (r[l] as (...a: unknown[]) => void).apply(r, args);
    },
    child: (more, options) => lazyLogger(() => real().child(more, options), options?.level ?? level, flush),
    flush,
  });
}

export const LEVELS: readonly Level[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'];

export interface FacadeParts {
  /** The function that takes a call at an enabled level (pino's arguments: (message) or (object, message)). */
  write(level: Level): (...args: unknown[]) => void;
  /** pino's child(bindings, { level }): a component may log at a level of its own (replication logs at info). */
  child(bindings: Record<string, unknown>, options?: { level?: LevelWithSilent }): Logger;
  flush?(done?: (err?: Error) => void): void;
}

/**
 * The part of pino's Logger that repcache's code uses — the level methods, child(), isLevelEnabled(), level and
 * levelVal — in front of something else than a pino instance. Calls below `level` do nothing.
 */
export function loggerFacade(level: LevelWithSilent, parts: FacadeParts): Logger {
  const min = level === 'silent' ? LEVELS.length : LEVELS.indexOf(level);
  const enabled = (l: string) => LEVELS.indexOf(l as Level) >= min;
  const logger: Record<string, unknown> = {
    level,
    levelVal: level === 'silent' ? Infinity : 10 * (min + 1), // pino's numbers: trace 10 ... fatal 60
    isLevelEnabled: enabled,
    child: parts.child,
    flush: parts.flush ?? ((done?: () => void) => done?.()),
  };
  for (const l of LEVELS) logger[l] = enabled(l) ? parts.write(l) : () => {};
  return logger as unknown as Logger;
}
