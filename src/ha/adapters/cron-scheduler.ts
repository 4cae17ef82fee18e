import cron from 'node-cron';
import type { Logger } from '../../log.ts';
import type { Scheduler } from '../core/preempt-window.ts';

/** node-cron's logger interface, routed into pino (its default prints coloured lines to the console). */
export function cronLogger(log: Logger) {
  const text = (m: string | Error) => (m instanceof Error ? m.message : m);
  return {
    info: (m: string) => log.info(m),
    warn: (m: string) => log.warn(m),
    error: (m: string | Error, err?: Error) => log.error({ err: err?.message }, text(m)),
    debug: (m: string | Error, err?: Error) => log.debug({ err: err?.message }, text(m)),
  };
}

/** Scheduler on node-cron 4, in UTC unless TZ is set. */
export function cronScheduler(log: Logger): Scheduler {
  const logger = cronLogger(log);
  cron.setLogger(logger);
  return {
    schedule(expr, fire) {
      const task = cron.createTask(expr, () => fire(), { timezone: process.env.TZ || 'UTC', logger, noOverlap: true });
      void task.start();
      return { stop: () => void task.destroy() };
    },
  };
}
