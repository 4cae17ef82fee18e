/**
 * Two haved runtimes and a witness on one fake clock, on a simulated network whose links can be cut one by
 * one, with nodes that can be paused (SIGSTOP) and a witness that can be stopped or restarted. Counts the
 * milliseconds with two MASTERs and with two VIP holders. No socket, no root.
 */
import pino from 'pino';
import { parseConfigText } from '../../../src/config/load.ts';
import { VipManager, type CommandRunner } from '../../../src/ha/adapters/vip-manager.ts';
import type { WitnessLinkFactory } from '../../../src/ha/adapters/witness-socket.ts';
import { InstanceRuntime } from '../../../src/ha/daemon/instance-runtime.ts';
import { WitnessServer } from '../../../src/ha/daemon/witness-server.ts';
import { FakeClock } from '../../support/fake-clock.ts';
import { recordingTransport } from '../../support/advert-net.ts';
import { settleTurns } from '../../support/wait.ts';
import { PausableClock } from './harness.ts';

export const SECRET = Buffer.from('witness-test-secret-0123456789');
const NAMES = { A: '198.18.0.1', B: '198.18.0.2' } as const;
type Name = keyof typeof NAMES;
type Place = Name | 'W';

const conf = (self: Name, priority: number, extra: string, witness: boolean) => `vrrp_instance VI_1 {
    state BACKUP
    interface hv0
    virtual_router_id 51
    priority ${priority}
    advert_int 0.1
    authentication {
        auth_type HMAC
        auth_pass lab-advert-key-0123456789
    }
    unicast_peer {
        ${NAMES[self === 'A' ? 'B' : 'A']}
    }
    virtual_ipaddress {
        198.18.0.100/32
    }
${witness ? '    witness {\n        address 198.18.0.50:7070\n        secret_file /unused\n        lease 1\n    }' : ''}
${extra}
}
`;

export interface LabNode {
  name: Name;
  rt: InstanceRuntime;
  clock: PausableClock;
  paused: boolean;
  inbox: (() => void)[];
}

export class WitnessLab {
  readonly clock = new FakeClock(1_000_000);
  readonly nodes: Record<Name, LabNode>;
  witness: WitnessServer | null;
  readonly lines: Record<string, unknown>[] = [];
  /** Replies from the witness to these nodes are lost. */
  readonly loseReplies = new Set<Name>();
  dualMasterMs = 0;
  dualVipMs = 0;
  noMasterMs = 0;
  #cuts = new Set<string>();
  #log = pino({ level: 'debug' }, { write: (s: string) => void this.lines.push(JSON.parse(s)) });

  constructor(opts: { priorities?: [number, number]; extra?: string; witness?: boolean; maxLeaseMs?: number } = {}) {
    const [pa, pb] = opts.priorities ?? [150, 100];
    const withWitness = opts.witness ?? true;
    this.witness = withWitness ? this.#newWitness(opts.maxLeaseMs ?? 2000) : null;
    this.#maxLeaseMs = opts.maxLeaseMs ?? 2000;
    this.nodes = { A: this.#node('A', pa, opts.extra ?? '', withWitness), B: this.#node('B', pb, opts.extra ?? '', withWitness) };
  }

  #maxLeaseMs: number;

  #newWitness(maxLeaseMs: number): WitnessServer {
    return new WitnessServer({ host: '198.18.0.50', port: 7070, secret: SECRET, maxLeaseMs, clock: this.clock, log: this.#log.child({ node: 'W' }) });
  }

  #node(name: Name, priority: number, extra: string, witness: boolean): LabNode {
    const run: CommandRunner = async () => ({ exitCode: 0, stderr: '' });
    const cfg = parseConfigText(conf(name, priority, extra, witness), 'lab.conf', { localAddresses: [] });
    const clock = new PausableClock(this.clock);
    const node = { name, clock, paused: false, inbox: [] } as unknown as LabNode;
    const transport = recordingTransport((buf, to) => {
      const peer = to === NAMES.A ? 'A' : 'B';
      this.#deliver(name, peer, () => this.nodes[peer].rt.receive(buf, NAMES[name]));
    });
    const witnessLink: WitnessLinkFactory = (_address, onMessage) => ({
      send: (buf) =>
        this.#deliver(name, 'W', () => {
          const reply = this.witness?.handle(buf, NAMES[name]) ?? null;
          if (reply && !this.loseReplies.has(name)) this.#deliver('W', name, () => onMessage(reply));
        }),
      close: () => {},
    });
    node.rt = new InstanceRuntime(cfg.instances[0]!, cfg.global, {
      clock,
      log: this.#log.child({ node: name }),
      vips: new VipManager({ run }),
      spawn: async () => ({ code: 0 }),
      transport,
      interfaceAddress: NAMES[name],
      changed: () => {},
      witnessLink,
      witnessSecret: SECRET,
    });
    return node;
  }

  /** One-way delay 1 ms; a cut link drops; a paused receiver reads it when it resumes. */
  #deliver(from: Place, to: Place, fn: () => void): void {
    if (this.#cuts.has(key(from, to))) return;
    if (from !== 'W' && this.nodes[from].paused) return;
    if ((from === 'W' || to === 'W') && this.witness === null) return;
    this.clock.setTimer(1, () => {
      if (this.#cuts.has(key(from, to))) return;
      if (to === 'W') return fn();
      const n = this.nodes[to];
      if (n.paused) n.inbox.push(fn);
      else fn();
    });
  }

  async start(): Promise<void> {
    await this.nodes.A.rt.start(false);
    await this.nodes.B.rt.start(false);
  }

  cut(a: Place, b: Place): void {
    this.#cuts.add(key(a, b));
  }

  isolate(n: Name): void {
    for (const p of ['A', 'B', 'W'] as const) if (p !== n) this.cut(n, p);
  }

  heal(): void {
    this.#cuts.clear();
  }

  witnessDown(): void {
    this.witness = null;
  }

  /** A new witness process: it remembers nothing. */
  witnessRestart(): void {
    this.witness = this.#newWitness(this.#maxLeaseMs);
  }

  pause(n: Name): void {
    this.nodes[n].paused = true;
    this.nodes[n].clock.paused = true;
  }

  /** SIGCONT: what the socket queued is read before the overdue timers run (the adversarial order). */
  resume(n: Name): void {
    const node = this.nodes[n];
    node.paused = false;
    node.clock.paused = false;
    for (const fn of node.inbox.splice(0)) fn();
    node.clock.runOverdue();
  }

  masters(): Name[] {
    return (['A', 'B'] as const).filter((n) => this.nodes[n].rt.instance.state === 'MASTER');
  }

  vipHolders(): Name[] {
    return (['A', 'B'] as const).filter((n) => this.nodes[n].rt.vipsInstalled);
  }

  /** Runs `ms` in 10 ms steps, letting the VIP work settle, and counts the overlaps. */
  async run(ms: number): Promise<void> {
    for (let t = 0; t < ms; t += 10) {
      this.clock.advance(10);
      await settleTurns(2);
      // a paused node's state is frozen, but it still holds what it held: it counts
      if (this.masters().length === 2) this.dualMasterMs += 10;
      if (this.vipHolders().length === 2) this.dualVipMs += 10;
      if (this.masters().length === 0) this.noMasterMs += 10;
    }
  }

  async stop(): Promise<void> {
    await Promise.all([this.nodes.A.rt.stop('end'), this.nodes.B.rt.stop('end')].map((p) => Promise.race([p, settleTurns(50)])));
  }
}

const key = (a: Place, b: Place) => [a, b].sort().join('|');
