/**
 * An in-memory network for replication links on fake time (vitest's fake timers): every node's
 * ReplicationTransport dials and listens on it; bytes reach the other end `delayMs` later, in order. A cut
 * between two hosts is a partition: connections across it go silent both ways (no close, no error: the links
 * find out by their dead-peer timer), what is written waits as TCP's retransmissions would and arrives in order on
 * heal if the connection is still open, and dials across it never connect. reset() closes the connections between
 * two hosts at once, as a peer's crash or an RST would. No socket, no root.
 */
import { EventEmitter } from 'node:events';
import type { DialedLink, LinkListener, LinkSocket, ReplicationTransport } from '../../src/replication/transport.ts';
import type { Clock, TimerId } from '../../src/clock.ts';

/** A Clock on Date.now() and the global timers, which vitest's fake timers drive (the Replicator's `clock`). */
export const timersClock: Clock = {
  now: () => Date.now(),
  setTimer: (ms, fn) => setTimeout(fn, ms) as unknown as TimerId,
  clearTimer: (id) => clearTimeout(id as unknown as NodeJS.Timeout),
};

/** Above this many bytes in flight, write() returns false and 'drain' follows once they are delivered. */
const HIGH_WATER = 64 * 1024;

export class ReplicationNet {
  /** One-way delivery delay (ms). */
  delayMs = 0;
  /** Bytes carried so far (both directions, all connections). */
  bytes = 0;
  readonly #listeners = new Map<string, (s: LinkSocket) => void>();
  readonly #cuts = new Set<string>();
  readonly #open = new Set<MemorySocket>();
  /** Sockets with bytes (or a close) held by a cut: even a destroyed one's FIN gets through on heal. */
  readonly #holding = new Set<MemorySocket>();
  #nextPort = 40000;

  /** The transport of the node at `host`. */
  transport(host: string): ReplicationTransport {
    return {
      dial: (toHost, port) => this.#dial(host, toHost, port),
      listen: (port, on, accept) => this.#listen(on ?? host, port, accept),
    };
  }

  /** Partition: the two sides hear nothing from each other (both ways) until heal(). */
  cut(a: string, b: string): void {
    this.#cuts.add(pairKey(a, b));
  }

  heal(): void {
    this.#cuts.clear();
    const holding = [...this.#holding];
    this.#holding.clear();
    for (const s of holding) {
      const held = s.held.splice(0);
      for (const what of held) this.deliver(s, what);
    }
  }

  isCut(a: string, b: string): boolean {
    return this.#cuts.has(pairKey(a, b));
  }

  /** Closes every connection between the two hosts now (both ends see 'close'). */
  reset(a: string, b: string): void {
    for (const s of [...this.#open]) if (pairKey(s.localHost, s.remoteAddress) === pairKey(a, b)) s.destroy();
  }

  /** Connections open now. */
  get connections(): number {
    return this.#open.size / 2;
  }

  #listen(host: string, port: number, accept: (s: LinkSocket) => void): Promise<LinkListener> {
    const key = `${host}:${port}`;
    if (this.#listeners.has(key)) return Promise.reject(Object.assign(new Error(`listen EADDRINUSE: address already in use ${key}`), { code: 'EADDRINUSE' }));
    this.#listeners.set(key, accept);
    return Promise.resolve({
      close: async () => {
        this.#listeners.delete(key);
      },
    });
  }

  #dial(from: string, host: string, port: number): DialedLink {
    const local = new MemorySocket(this, from, host, port);
    const dialer = { socket: local, ready: 'connect' };
    if (this.isCut(from, host)) return dialer; // SYN lost: the link's connect timeout ends it
    setTimeout(() => {
      const accept = this.#listeners.get(`${host}:${port}`);
      if (local.destroyed) return;
      if (!accept || this.isCut(from, host)) {
        if (!accept) local.fail(Object.assign(new Error(`connect ECONNREFUSED ${host}:${port}`), { code: 'ECONNREFUSED' }));
        return;
      }
      const remote = new MemorySocket(this, host, from, this.#nextPort++);
      local.peer = remote;
      remote.peer = local;
      this.#open.add(local);
      this.#open.add(remote);
      // The dialer hears it is connected before anything the accepting side does (even an instant hang-up).
      setTimeout(() => {
        if (!local.destroyed) local.emit('connect');
      }, this.delayMs);
      accept(remote);
    }, this.delayMs);
    return dialer;
  }

  /** Carries bytes (or the close) from one end to the other after the delay, unless the path is cut by then. */
  deliver(from: MemorySocket, what: Buffer | 'close'): void {
    const to = from.peer;
    if (!to) return;
    if (this.isCut(from.localHost, from.remoteAddress) || from.held.length > 0) {
      from.held.push(what);
      this.#holding.add(from);
      return;
    }
    setTimeout(() => {
      if (this.isCut(from.localHost, from.remoteAddress) || from.held.length > 0) {
        from.held.push(what);
        this.#holding.add(from);
        return;
      }
      if (what !== 'close') from.delivered(what.length);
      if (to.destroyed) return;
      if (what === 'close') to.closedByPeer();
      else {
        this.bytes += what.length;
        to.emit('data', what);
      }
    }, this.delayMs);
  }

  forget(s: MemorySocket): void {
    this.#open.delete(s);
  }
}

class MemorySocket extends EventEmitter implements LinkSocket {
  readonly localHost: string;
  readonly remoteAddress: string;
  readonly remotePort: number;
  peer: MemorySocket | null = null;
  /** Written while the path was cut: delivered on heal, in order. */
  readonly held: Array<Buffer | 'close'> = [];
  destroyed = false;
  #ended = false;
  writableLength = 0;
  #needDrain = false;
  readonly #net: ReplicationNet;

  constructor(net: ReplicationNet, localHost: string, remoteHost: string, remotePort: number) {
    super();
    this.#net = net;
    this.localHost = localHost;
    this.remoteAddress = remoteHost;
    this.remotePort = remotePort;
  }

  get writable(): boolean {
    return !this.destroyed && !this.#ended;
  }

  setNoDelay(): this {
    return this;
  }

  write(data: Uint8Array): boolean {
    if (!this.writable || !this.peer) return false;
    const copy = Buffer.from(data);
    this.writableLength += copy.length;
    this.#net.deliver(this, copy);
    if (this.writableLength > HIGH_WATER) this.#needDrain = true;
    return !this.#needDrain;
  }

  delivered(n: number): void {
    this.writableLength -= n;
    if (this.#needDrain && this.writableLength <= HIGH_WATER && !this.destroyed) {
      this.#needDrain = false;
      this.emit('drain');
    }
  }

  end(data?: Uint8Array): void {
    if (data) this.write(data);
    this.#ended = true;
    if (this.peer) this.#net.deliver(this, 'close');
  }

  destroy(): void {
    if (this.destroyed) return;
    if (this.peer && !this.#ended) this.#net.deliver(this, 'close');
    this.#gone();
  }

  resetAndDestroy(): void {
    this.destroy();
  }

  /** A dial that failed: 'error' then 'close', as node:net reports it. */
  fail(err: Error): void {
    this.emit('error', err);
    this.#gone();
  }

  closedByPeer(): void {
    this.#ended = true;
    this.#gone();
  }

  #gone(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.#net.forget(this);
    setTimeout(() => this.emit('close'), 0);
  }
}

const pairKey = (a: string, b: string) => (a < b ? `${a}|${b}` : `${b}|${a}`);
