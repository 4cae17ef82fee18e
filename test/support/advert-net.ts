/**
 * An in-memory advert network for elections on fake time: every node's AdvertTransport delivers datagrams to the
 * others after `delayMs` on the shared clock (at the next advance(), even at 0, as a real network would be
 * asynchronous), unless a cut between the two or random loss drops them. Multicast goes to every other node that
 * joined the group on the same port, unicast to the node holding that address. No socket, no root.
 */
import type { Clock } from '../../src/clock.ts';
import type { AdvertTransport, AdvertTransportFactory, AdvertTransportOptions } from '../../src/ha/adapters/advert-transport.ts';
import type { CommandRunner } from '../../src/ha/adapters/vip-manager.ts';

interface Endpoint {
  address: string;
  port: number;
  groups: Set<string>;
  onMessage: (msg: Buffer, from: string) => void;
}

export class AdvertNet {
  readonly clock: Clock;
  /** One-way delivery delay (ms). */
  delayMs = 0;
  /** Share of datagrams lost, 0..1 (drawn from `random`). */
  loss = 0;
  random: () => number = Math.random;
  /** Datagrams delivered and dropped so far. */
  delivered = 0;
  dropped = 0;
  readonly #endpoints = new Set<Endpoint>();
  readonly #cuts = new Set<string>();

  constructor(clock: Clock) {
    this.clock = clock;
  }

  /** The transport factory of the node whose interface address is `address`. */
  transport(address: string): AdvertTransportFactory {
    return (opts) => new MemoryTransport(this, address, opts);
  }

  /** Datagrams between the two sides are dropped (both ways) until heal(). */
  cut(side: readonly string[], other: readonly string[]): void {
    for (const a of side) for (const b of other) this.#cuts.add(pairKey(a, b));
  }

  /** Cuts `address` off from every other node. */
  isolate(address: string): void {
    this.cut([address], [...this.#endpoints].map((e) => e.address).filter((a) => a !== address));
  }

  heal(): void {
    this.#cuts.clear();
  }

  attach(e: Endpoint): void {
    this.#endpoints.add(e);
  }

  detach(e: Endpoint): void {
    this.#endpoints.delete(e);
  }

  send(from: Endpoint, buf: Uint8Array, to: (e: Endpoint) => boolean): void {
    const bytes = Buffer.from(buf);
    for (const e of this.#endpoints) {
      if (e === from || e.port !== from.port || !to(e)) continue;
      if (this.#cuts.has(pairKey(from.address, e.address)) || (this.loss > 0 && this.random() < this.loss)) {
        this.dropped++;
        continue;
      }
      this.clock.setTimer(this.delayMs, () => {
        if (!this.#endpoints.has(e)) return;
        this.delivered++;
        e.onMessage(bytes, from.address);
      });
    }
  }
}

const pairKey = (a: string, b: string) => (a < b ? `${a}|${b}` : `${b}|${a}`);

class MemoryTransport implements AdvertTransport {
  readonly #net: AdvertNet;
  readonly #me: Endpoint;

  constructor(net: AdvertNet, address: string, opts: AdvertTransportOptions) {
    this.#net = net;
    this.#me = { address, port: opts.port, groups: new Set(), onMessage: opts.onMessage };
  }

  async start(): Promise<void> {
    this.#net.attach(this.#me);
  }

  join(group: string): void {
    this.#me.groups.add(group);
  }

  sendMulticast(buf: Uint8Array, group: string): void {
    this.#net.send(this.#me, buf, (e) => e.groups.has(group));
  }

  sendUnicast(buf: Uint8Array, peers: readonly string[]): void {
    this.#net.send(this.#me, buf, (e) => peers.includes(e.address));
  }

  async close(): Promise<void> {
    this.#net.detach(this.#me);
  }
}

/**
 * A node's `ip` and `arping` as haved runs them (a CommandRunner for VipManager): `ip addr add/del` keep the
 * node's addresses, so a test sees which node holds a VIP, as a client would find it.
 */
export class FakeIp {
  readonly addresses = new Set<string>();
  readonly commands: string[] = [];
  readonly run: CommandRunner = async (file, args) => {
    this.commands.push(`${file} ${args.join(' ')}`);
    if (file === 'ip' && args[0] === 'addr') {
      const address = args[2]!.split('/')[0]!;
      if (args[1] === 'add') this.addresses.add(address);
      else if (args[1] === 'del') this.addresses.delete(address);
    }
    return { exitCode: 0, stderr: '', stdout: file.endsWith('arping') ? 'arping from iputils-s20221126' : '' };
  };
}

/** A transport that only records what is sent (sends: `send(buf, to)`, to = 'group' or a peer address). */
export function recordingTransport(send: (buf: Buffer, to: string, from: string | null) => void): AdvertTransport {
  return {
    start: async () => {},
    join: () => {},
    sendMulticast: (buf) => send(Buffer.from(buf), 'group', null),
    sendUnicast: (buf, peers, source = null) => {
      for (const p of peers) send(Buffer.from(buf), p, source);
    },
    close: async () => {},
  };
}
