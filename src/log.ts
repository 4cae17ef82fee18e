import pino, { type Logger } from 'pino';

export type { Logger };

/** pino JSON on stdout; pretty-printed when stdout is a terminal, unless HAVED_LOG_JSON is set. */
export function createLogger(name: string, level: pino.Level | 'silent' = 'info'): Logger {
  const pretty = process.stdout.isTTY && !process.env.HAVED_LOG_JSON;
  if (pretty) {
    return pino({ name, level, transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } } });
  }
  return pino({ name, level, base: { name } }, pino.destination({ dest: 1, sync: false }));
}
