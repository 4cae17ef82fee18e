import { ConfigError, configErrorList, loadConfig } from '../../config/load.ts';
import type { HavedConfig } from '../../config/model.ts';
import type { Logger } from '../../log.ts';

/**
 * Reads the config file again and hands it to the daemon. A file with errors is refused whole: every error is
 * logged with its file:line, the ConfigError is rethrown (for `haved reload`'s reply) and the daemon is not
 * touched, so the running configuration stays.
 */
export async function reloadFromFile<R>(daemon: { reload(next: HavedConfig): Promise<R> }, file: string, log: Logger): Promise<R> {
  log.info({ file }, 'reloading the configuration');
  let next: HavedConfig;
  try {
    next = loadConfig(file, { requireInstance: true });
  } catch (e) {
    if (e instanceof ConfigError) {
      for (const x of configErrorList(e)) log.error({ where: x.where }, x.message);
      log.error({ errors: configErrorList(e).length }, 'reload failed: keeping the running configuration');
    }
    throw e;
  }
  // A warning reads "file:line: text"; `where` lets log queries find them by place.
  for (const w of next.warnings) log.warn({ where: w.split(': ')[0] }, w);
  return daemon.reload(next);
}
