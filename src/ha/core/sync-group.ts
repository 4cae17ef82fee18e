import type { Transition, VrrpState } from './types.ts';
import type { SyncGroupHook, VrrpInstance } from './vrrp-instance.ts';

export interface GroupTransition {
  group: string;
  from: VrrpState;
  to: VrrpState;
  reason: string;
  /** keepalived passes 0 as the generic notify's priority for groups. */
  priority: 0;
}

export interface SyncGroupActions {
  transition(t: GroupTransition): void;
}

/**
 * vrrp_sync_group: the members move together (keepalived vrrp_sync.c).
 * - The group goes MASTER only when every member wants MASTER (its own timer or hand-over said so, or it is
 *   MASTER already); the member whose wish completes the set promotes the others.
 * - A member leaving MASTER for BACKUP (it saw a better master) takes the others to BACKUP.
 * - Any member with a fault of its own puts every member in FAULT; when none has one, all leave FAULT.
 * The group's own state is FAULT if any member is, MASTER if all are, STOP if all are, else BACKUP.
 */
export class SyncGroup implements SyncGroupHook {
  readonly name: string;
  readonly members: readonly VrrpInstance[];
  #actions: SyncGroupActions;
  #state: VrrpState = 'INIT';
  #busy = false;

  constructor(name: string, members: VrrpInstance[], actions: SyncGroupActions) {
    this.name = name;
    this.members = members;
    this.#actions = actions;
    for (const m of members) m.attachSyncGroup(this);
  }

  get state(): VrrpState {
    return this.#state;
  }

  get faultSource(): string {
    return `sync_group ${this.name}`;
  }

  memberWantsMaster(member: VrrpInstance, reason: string): boolean {
    const ready = this.members.every(
      (m) => m === member || m.state === 'MASTER' || (m.state === 'BACKUP' && m.wantsMaster),
    );
    if (!ready) return false;
    const why = `sync group ${this.name}: ${member.name}: ${reason}`;
    this.#together(() => {
      for (const m of this.members) if (m !== member) m.groupPromote(why);
    });
    return true;
  }

  memberTransitioned(member: VrrpInstance, t: Transition): void {
    if (t.from === 'MASTER' && t.to === 'BACKUP' && !this.#busy) {
      const why = `sync group ${this.name}: ${member.name}: ${t.reason}`;
      this.#together(() => {
        for (const m of this.members) if (m !== member) m.groupDemote(why);
      });
    }
    this.#recompute(`${member.name}: ${t.reason}`);
  }

  memberFaultChanged(_member: VrrpInstance): void {
    const source = this.faultSource;
    const faulty = this.members.filter((m) => m.hasFault(source));
    const reason = faulty.length > 0 ? `member ${faulty.map((m) => m.name).join(', ')} in FAULT` : null;
    for (const m of this.members) m.setFault(source, reason);
  }

  status(): { name: string; state: VrrpState; members: { name: string; state: VrrpState }[] } {
    return { name: this.name, state: this.#state, members: this.members.map((m) => ({ name: m.name, state: m.state })) };
  }

  #together(fn: () => void): void {
    const was = this.#busy;
    this.#busy = true;
    try {
      fn();
    } finally {
      this.#busy = was;
    }
  }

  #recompute(reason: string): void {
    const states = this.members.map((m) => m.state);
    let next: VrrpState;
    if (states.includes('FAULT')) next = 'FAULT';
    else if (states.every((s) => s === 'MASTER')) next = 'MASTER';
    else if (states.every((s) => s === 'STOP')) next = 'STOP';
    else if (states.every((s) => s === 'INIT')) next = 'INIT';
    else next = 'BACKUP';
    if (next === this.#state) return;
    const from = this.#state;
    this.#state = next;
    this.#actions.transition({ group: this.name, from, to: next, reason, priority: 0 });
  }
}
