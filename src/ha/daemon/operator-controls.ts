import type { Logger } from '../../log.ts';
import { OWNER_PRIORITY } from '../core/priority.ts';
import type { InstanceRuntime } from './instance-runtime.ts';

/** A control request the daemon refuses; the message is for the operator. */
export class OperatorError extends Error {
  override name = 'OperatorError';
}

/** Priority source of the override on the instances (tracker weights keep applying on top of it). */
export const OVERRIDE_SOURCE = 'operator override';
/** Fault source of maintenance mode: a MASTER resigns (priority 0 naming its successor), nobody claims. */
export const MAINTENANCE_SOURCE = 'maintenance';

/**
 * What an operator changed at run time through the control socket: priority overrides per instance and
 * maintenance mode. Both last until cleared or until haved restarts; a reload keeps them (an override only
 * while its instance still exists).
 */
export class OperatorControls {
  readonly #log: Logger;
  readonly #overrides = new Map<string, number>();
  #maintenanceSince: string | null = null;

  constructor(log: Logger) {
    this.#log = log;
  }

  /** Applies the current overrides and maintenance to a runtime (a new one, or after a reload). */
  apply(rt: InstanceRuntime): void {
    const o = this.#overrides.get(rt.config.name);
    rt.instance.setPriorityAdjustment(OVERRIDE_SOURCE, o === undefined ? 0 : o - rt.config.priority);
    rt.instance.setFault(MAINTENANCE_SOURCE, this.#maintenanceSince ? `maintenance mode since ${this.#maintenanceSince} (haved maintenance off ends it)` : null);
  }

  /** After a reload: overrides of instances that no longer exist are dropped. */
  retain(runtimes: readonly InstanceRuntime[]): void {
    const names = new Set(runtimes.map((rt) => rt.config.name));
    for (const name of [...this.#overrides.keys()]) {
      if (names.has(name)) continue;
      this.#overrides.delete(name);
      this.#log.info({ instance: name }, `priority override of ${name} dropped: the reloaded configuration has no such instance`);
    }
  }

  overrideOf(name: string): number | null {
    return this.#overrides.get(name) ?? null;
  }

  get maintenanceSince(): string | null {
    return this.#maintenanceSince;
  }

  /** `haved priority NAME N` (null: reset to the configured priority). */
  setPriority(runtimes: readonly InstanceRuntime[], name: string, priority: number | null) {
    const rt = runtimes.find((r) => r.config.name === name);
    if (!rt) {
      throw new OperatorError(`no vrrp_instance '${name}' (instances: ${runtimes.map((r) => r.config.name).join(', ') || 'none'})`);
    }
    const configured = rt.config.priority;
    if (priority !== null) {
      if (configured === OWNER_PRIORITY) {
        throw new OperatorError(`${name} has priority 255 (the address owner), which an override cannot change; 'haved maintenance on' hands its VIP away`);
      }
      if (priority < 1 || priority > 254) throw new OperatorError(`priority must be 1..254, got ${priority} (255 is reserved for the address owner)`);
      this.#overrides.set(name, priority);
    } else this.#overrides.delete(name);
    const before = rt.instance.effectivePriority;
    this.apply(rt);
    const after = rt.instance.effectivePriority;
    this.#log.info(
      { instance: name, configured, override: priority, effective: after },
      priority === null
        ? `operator: ${name} back to its configured priority ${configured} (effective ${before} -> ${after})`
        : `operator: ${name} priority overridden to ${priority} (configured ${configured}; effective ${before} -> ${after}) until reset or restart`,
    );
    return { instance: name, configured, override: priority, effective: after, state: rt.instance.state };
  }

  /** `haved maintenance on|off`: every instance leaves MASTER gracefully and claims nothing until off. */
  setMaintenance(runtimes: readonly InstanceRuntime[], on: boolean) {
    const changed = on !== (this.#maintenanceSince !== null);
    if (changed) this.#maintenanceSince = on ? new Date().toISOString() : null;
    if (changed) {
      this.#log.warn(
        { maintenance: on },
        on
          ? 'operator: maintenance on - a MASTER hands its VIPs to its peer (priority 0), and no instance claims one until maintenance off'
          : 'operator: maintenance off - the instances take part in the election again',
      );
    }
    for (const rt of runtimes) this.apply(rt);
    return { maintenance: on, changed, since: this.#maintenanceSince, instances: runtimes.map((rt) => ({ name: rt.config.name, state: rt.instance.state })) };
  }
}
