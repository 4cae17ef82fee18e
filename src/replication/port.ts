import { isIP } from 'node:net';
import { lookup } from 'node:dns/promises';
import type { SecureContext } from 'node:tls';
import type { Logger } from '../log.ts';
import { RateLimitedLog } from '../log-limit.ts';
import { AccessList, hostAddresses, isLoopback, plainAddress } from './access.ts';
import { InboundGate } from './gate.ts';
import { REFUSAL_KINDS, type RefusalKind } from './refusals.ts';
import { linkTlsContext, TcpTransport, type DialedLink, type LinkListener, type LinkSocket, type LinkTlsFiles, type ReplicationTransport } from './transport.ts';
import type { Hello } from '../proto/replication/codec.ts';

export interface PeerAddress {
  host: string;
  port: number;
}

export interface PortOptions {
  /** -X: the port to listen on. */
  port: number;
  /** Where to listen; none, '*', 0.0.0.0 or :: mean every interface. */
  listenHosts: string[];
  /** The -x peers. */
  peers: PeerAddress[];
  allow: string[];
  tls: LinkTlsFiles | null;
  /** Each handshake step must come within this long. */
  timeoutMs: number;
  maxPending: number;
  strangerLogIntervalMs: number;
  /** A connection that said HELLO (see InboundGate). */
  admit(socket: LinkSocket, hello: Hello, settled: () => void): void;
  /** After a refusal was counted (repcache -t N publishes its stats then). */
  counted?: () => void;
  /** Where refusals are counted (default: here; repcache -t N: in memory the workers read). */
  counts?: RefusalCounts;
  /** Default: TCP (TLS when `tls` is set). */
  transport?: ReplicationTransport;
}

/** The `repl_refused_<kind>` counters. */
export interface RefusalCounts {
  add(kind: RefusalKind): void;
  get(kind: RefusalKind): number;
}

function localCounts(): RefusalCounts {
  const n = Object.fromEntries(REFUSAL_KINDS.map((k) => [k, 0])) as Record<RefusalKind, number>;
  return { add: (k) => void n[k]++, get: (k) => n[k] };
}

/**
 * The replication port: where it listens, who may connect (AccessList, InboundGate), how strangers are counted
 * and logged, and how peers are dialed (TLS or not). It also decides repcached's one-host pairing: when the port
 * is held on this host by the peer, this node does not listen and dials that peer for both links; on the node
 * holding it, a -x naming its own port is itself.
 */
export class ReplicationPort {
  readonly #o: PortOptions;
  readonly #logger: Logger;
  readonly #access: AccessList;
  readonly #tls: SecureContext | null;
  readonly #gate: InboundGate;
  readonly #transport: ReplicationTransport;
  readonly #strangers: RateLimitedLog;
  readonly #refusals: RefusalCounts;
  #servers: LinkListener[] = [];
  #flushTimer: NodeJS.Timeout | null = null;
  /** The port is held by the peer on this host: this node dials it for both directions. */
  dialOnly = false;

  constructor(opts: PortOptions, logger: Logger) {
    this.#o = opts;
    this.#logger = logger;
    this.#refusals = opts.counts ?? localCounts();
    this.#tls = opts.tls ? linkTlsContext(opts.tls) : null;
    this.#transport = opts.transport ?? new TcpTransport(this.#tls);
    this.#access = new AccessList({ allow: opts.allow, own: opts.peers.length === 0 ? this.#ownAddresses() : null });
    this.#strangers = new RateLimitedLog(logger, { intervalMs: opts.strangerLogIntervalMs });
    this.#gate = new InboundGate({
      access: this.#access,
      tls: opts.tls,
      timeoutMs: opts.timeoutMs,
      maxPending: opts.maxPending,
      refused: (kind, remote, detail) => this.refused(kind, remote, detail),
      admit: opts.admit,
    });
  }

  /** Where the port listens: null = every interface. */
  get #listenHosts(): string[] | null {
    const specific = [...new Set(this.#o.listenHosts)].filter((h) => h !== '' && h !== '*');
    return specific.length === 0 || specific.some((h) => h === '0.0.0.0' || h === '::') ? null : specific;
  }

  /** A node without -x accepts peers from this host's own listen addresses (see AccessList). */
  #ownAddresses(): () => Set<string> {
    const hosts = this.#listenHosts;
    if (!hosts) return hostAddresses;
    const own = new Set(hosts.map((h) => plainAddress(h === 'localhost' ? '127.0.0.1' : h)));
    if (hosts.includes('localhost')) own.add('::1');
    return () => own;
  }

  /**
   * Listens (or finds the port held by the peer: dialOnly) and returns the peers to dial: the -x list without
   * this node itself, or, for a node without -x whose port is held, the holder.
   */
  async open(): Promise<PeerAddress[]> {
    const { port, peers } = this.#o;
    const resolved = await this.#resolvePeers();
    try {
      for (const h of this.#listenHosts ?? [undefined]) this.#servers.push(await this.#listenOn(h));
    } catch (err) {
      for (const s of this.#servers) void s.close();
      this.#servers = [];
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || !this.#heldByPeer(resolved)) throw err;
      this.dialOnly = true;
    }
    this.#flushTimer = setInterval(() => this.#strangers.flush(), this.#o.strangerLogIntervalMs);
    this.#flushTimer.unref();
    if (this.dialOnly) {
      const dial = peers.length === 0 ? [{ host: this.#listenHosts?.[0] ?? '127.0.0.1', port }] : peers;
      const names = dial.map((p) => `${p.host}:${p.port}`).join(', ');
      this.#logger.info({ port, peers: names }, `replication: port ${port} is held by the peer on this host; dialing ${names} for both directions instead of listening`);
      return dial;
    }
    // repcached's pairs name the shared port on both nodes (-x 127.0.0.1 -X R): on the node that got the port,
    // that peer is this node itself, and the other node dials in.
    const self = peers.filter((p) => this.#isOwnPort(p, resolved));
    for (const p of self) this.#logger.info({ peer: `${p.host}:${p.port}` }, `replication: peer ${p.host}:${p.port} is this node's own replication port; the peer sharing it will dial in`);
    this.#logger.info({ port, listen: this.listenAddress, allowed: this.#access.describe(), tls: this.#tls !== null }, 'replication: listening');
    return peers.filter((p) => !self.includes(p));
  }

  #listenOn(host: string | undefined): Promise<LinkListener> {
    return this.#transport.listen(this.#o.port, host, (socket) => this.#gate.accept(socket));
  }

  /** The peers' addresses (resolved now, so -x names are allowed in by address); host name -> addresses. */
  async #resolvePeers(): Promise<Map<string, string[]>> {
    const out = new Map<string, string[]>();
    for (const p of this.#o.peers) {
      if (out.has(p.host)) continue;
      let addrs: string[] = [];
      if (isIP(p.host)) addrs = [p.host];
      else {
        try {
          addrs = (await lookup(p.host, { all: true })).map((a) => a.address);
        } catch (err) {
          this.#logger.warn({ peer: p.host, err: (err as Error).message }, `replication: cannot resolve peer ${p.host} now; it may connect once a dial of ours has reached it`);
        }
      }
      for (const a of addrs) this.#access.addAddress(a);
      out.set(p.host, addrs);
    }
    return out;
  }

  /**
   * Our -X is in use on this host: is the holder the peer we pair with? Yes for a node without -x (the first
   * node of a repcached pair, started second), or when a peer named with -x is on this host at that port.
   */
  #heldByPeer(resolved: Map<string, string[]>): boolean {
    const { peers, port } = this.#o;
    if (peers.length === 0) return true;
    const mine = hostAddresses();
    return peers.some((p) => p.port === port && (resolved.get(p.host) ?? [p.host]).some((a) => isLoopback(a) || mine.has(plainAddress(a))));
  }

  /** A peer address that is our own listening port on this host. */
  #isOwnPort(p: PeerAddress, resolved: Map<string, string[]>): boolean {
    if (p.port !== this.#o.port) return false;
    const hosts = this.#listenHosts;
    const mine = hostAddresses();
    return (resolved.get(p.host) ?? [p.host]).some((a) => {
      const plain = plainAddress(a);
      if (!isLoopback(plain) && !mine.has(plain)) return false;
      return hosts === null || hosts.some((h) => plainAddress(h) === plain || (h === 'localhost' && isLoopback(plain)));
    });
  }

  /** Dials a peer (TLS when configured); the address a dial reached is that peer's: it may dial us from there. */
  dial(host: string, port: number): DialedLink {
    const d = this.#transport.dial(host, port);
    d.socket.once(d.ready, () => d.socket.remoteAddress && this.#access.addAddress(d.socket.remoteAddress));
    return d;
  }

  /** A connection that never authenticated was refused: counted, logged once per kind per interval. */
  refused(kind: RefusalKind, remote: string, detail: string): void {
    this.#refusals.add(kind);
    this.#o.counted?.();
    this.#strangers.warn(`replication refused: ${kind}`, `replication: refused a connection from ${remote}: ${detail}`, { peer: remote });
  }

  /** `host:port` list the port listens on, `*:port` for every interface, `-` when it does not listen. */
  get listenAddress(): string {
    if (this.#servers.length === 0) return '-';
    return (this.#listenHosts ?? ['*']).map((h) => (h.includes(':') ? `[${h}]:${this.#o.port}` : `${h}:${this.#o.port}`)).join(',');
  }

  stats(): Array<[string, string | number]> {
    return [
      ['repl_listen', this.listenAddress],
      ['repl_tls', this.#tls ? 1 : 0],
      ...REFUSAL_KINDS.map((k): [string, number] => [`repl_refused_${k}`, this.#refusals.get(k)]),
    ];
  }

  async close(): Promise<void> {
    if (this.#flushTimer) clearInterval(this.#flushTimer);
    this.#strangers.flush();
    this.#gate.close();
    const servers = this.#servers;
    this.#servers = [];
    await Promise.all(servers.map((server) => server.close()));
  }
}
