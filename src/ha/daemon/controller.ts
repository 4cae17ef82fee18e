import { ConfigError, configErrorList } from '../../config/errors.ts';
import type { ControlReply, ControlRequest } from '../../proto/control/codec.ts';
import { OperatorError } from './operator-controls.ts';
import type { DaemonStatus } from './status-format.ts';

/** What the control verbs drive: the running daemon, and the reload of its config file. */
export interface ControlTarget {
  status(): DaemonStatus;
  /** Writes the state file (as SIGUSR1 does); null when there is none. */
  dump(): { file: string | null; state: DaemonStatus };
  /** Reads the config file again and applies it; throws ConfigError when the file is rejected. */
  reload(): Promise<unknown>;
  setPriorityOverride(instance: string, priority: number | null): unknown;
  setMaintenance(on: boolean): unknown;
}

/** Runs `fn` after everything queued before it (reload, signals, other control requests). */
export type Serially = <T>(fn: () => Promise<T>) => Promise<T>;

/**
 * Maps control requests onto the daemon. Reading verbs answer at once; changing ones run one at a time,
 * in order with signals. A refusal (unknown instance, rejected config) is an error reply, not an exception.
 */
export function controlHandler(target: ControlTarget, serially: Serially): (req: ControlRequest) => Promise<ControlReply> {
  return async (req) => {
    try {
      switch (req.verb) {
        case 'status':
          return { ok: true, result: target.status() };
        case 'dump':
          return { ok: true, result: target.dump() };
        case 'reload':
          return { ok: true, result: await serially(() => target.reload()) };
        case 'priority':
          return { ok: true, result: await serially(async () => target.setPriorityOverride(req.instance, req.priority)) };
        case 'maintenance':
          return { ok: true, result: await serially(async () => target.setMaintenance(req.on)) };
      }
    } catch (e) {
      if (e instanceof OperatorError) return { ok: false, error: e.message };
      if (e instanceof ConfigError) {
        return { ok: false, error: `${configErrorList(e).map((x) => x.message).join('\n')}\nreload refused: the running configuration is kept` };
      }
      throw e;
    }
  };
}
