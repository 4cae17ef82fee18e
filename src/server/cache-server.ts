import type { Socket as UdpSocket } from 'node:dgram';
import { EventEmitter } from 'node:events';
import { createServer, isIPv6, type Server, type Socket } from 'node:net';
import type { Server as TlsServer, TLSSocket } from 'node:tls';
import type { Logger } from '../log.ts';
import { RateLimitedLog } from '../log-limit.ts';
import { CacheClock, TimerSlot, UPTIME_OFFSET } from '../clock.ts';
import { SlabStore, type VersionSource } from '../cache/store.ts';
import { CrawlSchedule } from '../cache/crawl-schedule.ts';
import { WATCH_EVICTIONS, WatchLog, type WatchPeers } from './watch.ts';
import { WorkerSignals } from './worker-signals.ts';

/** memcached's watcher_logbuf_size: what a watcher that does not read may have waiting before lines are dropped. */
const WATCHER_LOGBUF_SIZE = 256 * 1024;
import { storeOptionsFor, type ServerConfig } from './config.ts';
import { Connection, makeReadBuffer, type ConnectionEnv, type ConnectionTimeouts, type TimeoutReason } from './connection.ts';
import { parseListenAddress } from './listen-address.ts';
import { BinaryDispatcher } from './binary-dispatch.ts';
import { Dispatcher } from './dispatch.ts';
import type { DispatchHost } from './host.ts';
import { OutBuffer } from '../net/out-buffer.ts';
import { listenUnixSocket, removeStaleSocket } from '../net/unix-socket.ts';
import { Replies } from '../proto/text/replies.ts';
import { formatMicros, mergeGeneralStats, withoutDisabledStats, PrefixStats, ServerCounters, VERSION, type PrefixCounter, type StatList, type StatValue } from './stats.ts';
import { serveUdp, UdpRequest } from './udp.ts';
import { ConnsGathering, formatConns, type ConnsAnswer, type ConnsAsker } from './conns-stats.ts';
import { StoreLock, type AbandonedLockPolicy } from '../cache/store-lock.ts';
import type { StoreBuffers } from '../cache/store.ts';
import { LockedBinaryDispatcher, LockedDispatcher } from './locked-dispatch.ts';
import { SharedPrefixStats } from './shared-prefix-stats.ts';
import { applyRuntimeSettings, runtimeSettingsOf, SharedSettings } from './shared-settings.ts';
import { WorkerCounterTable } from './worker-counters.ts';
import { loadAuthFile, type Credentials } from './auth-file.ts';
import { loadTlsContext, tlsServerOptions, tlsSettingsOf, TlsConfigError, type TlsSettings } from './tls.ts';

/** Sessions kept by -o ssl_session_cache (the oldest is dropped beyond this). */
const TLS_SESSION_CACHE_SIZE = 4096;

export interface CacheServerDeps {
  logger: Logger;
  /** Default: on the system's monotonic clock. The server ticks it; `stats conns`' wait for other workers runs on its timers. */
  clock?: CacheClock;
  /** CAS generator for the store (replication: hybrid logical clock versions). */
  versions?: VersionSource;
  /** -Y's credentials, loaded by the caller (read from config.authFile when not given). */
  credentials?: Credentials;
  /** repcache -t N: this server is worker `worker` of `threads`, on the shared store of these buffers. */
  shared?: SharedServing;
  /** repcache -t N: what this thread does when the store lock's holder died holding it (default: throws). */
  lockPolicy?: AbandonedLockPolicy;
}

/** What a worker of repcache -t N shares with the others (all made by the main thread, see cli/repcache-threads.ts). */
export interface SharedServing {
  worker: number;
  threads: number;
  store: StoreBuffers;
  lock: SharedArrayBuffer;
  counters: SharedArrayBuffer;
  /** Connection and watch line ids, and who watches what (WorkerSignals). */
  signals: SharedArrayBuffer;
  /** The settings a client's command changed at run time, for every worker (SharedSettings). */
  settings: SharedArrayBuffer;
  /** `stats detail`'s counts by prefix, for every worker (SharedPrefixStats). */
  prefixes: SharedArrayBuffer;
  /** -p -1: the ports the main thread picked, one per -l entry (or one without -l), on which every worker listens (undefined: -p's). */
  ports?: number[];
}

/**
 * repcache -t N: how a worker reaches the others (through the main thread). What it asks and sends arrives at the
 * other workers' connsAsked(), connsAnswered() and watchLines().
 */
export interface WorkerLink {
  /** Asks every other worker for its `stats conns` entries. */
  askConns(id: number): void;
  /** Sends worker `to` watch lines for its watchers. */
  sendWatch(to: number, kinds: number[], lines: string[]): void;
}

export { CONNS_WAIT_MS, type ConnsAnswer } from './conns-stats.ts';

/** The server's timer: a flush_all's sweep goes on, and once a clock second the clock, crawler and timeouts. */
const TICK_MS = 250;

/** Timed-out connections closed per turn of the event loop. */
const CLOSES_PER_TURN = 64;

/** How often the counts of rate-limited client warnings are written out when no new occurrence does it. */
const LOG_FLUSH_SECONDS = 60;

/** Items the crawler examines per step (at most one a second, see CrawlSchedule) for expired entries. */
const CRAWL_BUDGET = 20_000;
/** Items a flush_all's sweep examines per step, between other events. */
const SWEEP_BUDGET = 20_000;

/**
 * The repcache daemon's network side: TCP/UDP/unix listeners, per-connection parsing,
 * dispatch to the slab store, memcached's replies and stats. Emits 'shutdown' (graceful: boolean)
 * when a client sends `shutdown` and -A allows it, and 'certsRefreshed' after a client's `refresh_certs` worked.
 */
export class CacheServer extends EventEmitter {
  readonly store: SlabStore;
  readonly config: ServerConfig;

  readonly #logger: Logger;
  /** -Y: every connection authenticates first; null: authentication is off */
  readonly #credentials: Credentials | null;
  /** -Z: the ssl_* settings, and when the certificates were last loaded (clock seconds); null without -Z */
  readonly #tls: { settings: TlsSettings; loadedAt: number; servers: TlsServer[]; sessions: Map<string, Buffer> } | null;
  /** What clients and datagrams cause (timeouts, refusals, failed commands): one line per reason per minute. */
  readonly #clientLog: RateLimitedLog;
  readonly #clock: CacheClock;
  readonly #counters = new ServerCounters();
  readonly #dispatcher: Dispatcher;
  /** -t N: the store lock, this worker's row of the summed counters, and whether it runs the store's timers. */
  readonly #lock: StoreLock | null = null;
  /** -t N: the runtime settings shared by the workers. */
  #settings: SharedSettings | null = null;
  readonly #shared: { worker: number; threads: number; counters: WorkerCounterTable; ports: number[] | undefined } | null = null;
  readonly #signals: WorkerSignals | null = null;
  #link: WorkerLink | null = null;
  /** -t N: `stats conns` waiting for the other workers' answers. */
  readonly #connsAsks: ConnsGathering;
  /** Clock second the listeners opened (`stats conns` counts their secs_since_last_cmd from it, as memcached). */
  #listenedAt = 0;
  readonly #binaryDispatcher: BinaryDispatcher;
  readonly #out = new OutBuffer();
  readonly #crawl = new CrawlSchedule();
  readonly #watch: WatchLog;
  #sweeping = false;
  readonly #servers: Server[] = [];
  readonly #udp: UdpSocket[] = [];
  readonly #conns = new Set<Connection>();
  readonly #statsSources: Array<() => StatList> = [];
  #nextConnId = 1;
  #connEnv: ConnectionEnv | null = null;
  #peakConns = 0;
  readonly #prefixStats: PrefixCounter;
  /**
   * What the dispatchers see of the server. Its fields are plain data: the dispatchers read detail on every
   * command, and a getter there is a call that the JIT does not inline.
   */
  readonly #host: DispatchHost;
  /** The 250 ms timer (#startTimers), on the clock's timers; null when not listening. */
  #timer: TimerSlot | null = null;
  #lastSecond = -1;

  constructor(config: ServerConfig, deps: CacheServerDeps) {
    super();
    // its own copy: admin commands (cache_memlimit, slabs automove, lru ...) change settings at run time
    this.config = config = { ...config, listen: [...config.listen], extended: { ...config.extended } };
    this.#logger = deps.logger;
    this.#clientLog = new RateLimitedLog(deps.logger);
    this.#clock = deps.clock ?? new CacheClock();
    this.#connsAsks = new ConnsGathering(this.#clock.timers);
    // -t N: one table for every worker, so that a dump shows the node's counts (and a reset clears them all)
    this.#prefixStats = deps.shared === undefined ? new PrefixStats(config.statKeyPrefix) : new SharedPrefixStats(config.statKeyPrefix, deps.shared.prefixes);
    this.#credentials = deps.credentials ?? (config.authFile !== null ? loadAuthFile(config.authFile) : null);
    this.#tls = config.sslEnabled ? { settings: tlsSettingsOf(config.extended), loadedAt: 0, servers: [], sessions: new Map() } : null;
    if (this.#tls) loadTlsContext(this.#tls.settings); // throws TlsConfigError before anything listens
    const shared = deps.shared;
    this.store = new SlabStore({ ...storeOptionsFor(config, this.#clock), versions: deps.versions, attach: shared?.store });
    const logbufKB = Number(config.extended.watcher_logbuf_size); // -o watcher_logbuf_size is in kilobytes
    let peers: WatchPeers | null = null;
    if (shared !== undefined) {
      const signals = (this.#signals = new WorkerSignals(shared.threads, shared.worker, shared.signals));
      this.#lock = new StoreLock(shared.lock, 0, this.#counters, deps.lockPolicy);
      peers = {
        signals,
        changed: (flags) => signals.publishWatchers(flags),
        send: (to, kinds, lines) => this.#link?.sendWatch(to, kinds, lines),
      };
    }
    this.#watch = new WatchLog(Number.isFinite(logbufKB) && logbufKB > 0 ? logbufKB * 1024 : WATCHER_LOGBUF_SIZE, peers);
    const watch = this.#watch;
    this.store.onEviction = {
      wanted: () => (watch.active[0] & WATCH_EVICTIONS) !== 0,
      evicted: (key, fetched, ttl, lastAccess, clsid, size) => watch.eviction(key, fetched, ttl, lastAccess, clsid, size),
    };
    this.#host = this.#makeHost();
    if (shared === undefined) {
      this.#dispatcher = new Dispatcher(this.#host);
      this.#binaryDispatcher = new BinaryDispatcher(this.#host);
    } else {
      const lock = this.#lock!;
      this.#shared = { worker: shared.worker, threads: shared.threads, counters: new WorkerCounterTable(shared.threads, shared.worker, shared.counters), ports: shared.ports };
      const settings = (this.#settings = new SharedSettings(shared.settings));
      const publish = () => this.#publishCounters();
      const adopt = () => { if (settings.changed) this.#adoptSettings(); };
      this.#dispatcher = new LockedDispatcher(this.#host, lock, adopt, publish);
      this.#binaryDispatcher = new LockedBinaryDispatcher(this.#host, lock, adopt, publish);
    }
  }

  /** -t N: how this worker reaches the others (`stats conns` and `watch` see the whole node through it). */
  setWorkerLink(link: WorkerLink): void {
    this.#link = link;
  }

  /** -t N: another worker's `stats conns` asks for this worker's part. */
  connsAsked(): ConnsAnswer {
    const now = this.#clock.now();
    const conns: ConnsAnswer['conns'] = [];
    for (const c of this.#conns) conns.push([c.id, c.addr, c.listenAddr, connState(c), now - c.lastCommandAt]);
    return { udp: this.#udp.map((u) => describe(u.address(), 'udp')), conns };
  }

  /** -t N: another worker's answer to this one's `stats conns`. */
  connsAnswered(id: number, answer: ConnsAnswer): void {
    this.#connsAsks.answered(id, answer);
  }

  /** -t N: watch lines another worker had for this worker's watchers. */
  watchLines(kinds: number[], lines: string[]): void {
    this.#watch.deliver(kinds, lines);
    // log_watcher_sent is summed over the workers: this one runs no command that would publish it
    this.#publishCounters();
  }

  /** Adds fields (e.g. replication's) to the end of plain `stats`. */
  addStatsSource(source: () => StatList): void {
    this.#statsSources.push(source);
  }

  /**
   * The fields of plain `stats` (the metrics endpoint reads them, between commands): with -t N under the store lock,
   * as another worker may be inside a command.
   */
  generalStats(): StatList {
    return this.#locked(() => this.#generalStats());
  }

  /** `stats items`, for the metrics endpoint: as generalStats(). */
  itemStats(): Array<[string, string | number]> {
    return this.#locked(() => this.store.statsItems());
  }

  /** Bound addresses, for logs and tests: "tcp:127.0.0.1:11211", "udp:…", "unix:/path". */
  addresses(): string[] {
    const tcp = this.#servers.map((s) => describe(s.address(), 'tcp'));
    const udp = this.#udp.map((u) => describe(u.address(), 'udp'));
    return [...tcp, ...udp];
  }

  /**
   * What memcached writes into MEMCACHED_PORT_FILENAME: `TCP INET: port` per TCP listener, then `UDP INET: port`
   * per UDP socket (INET6 for IPv6); a dual-stack listener on all interfaces is both. Nothing for a unix socket.
   */
  portFileLines(): string {
    const lines: string[] = [];
    const add = (proto: string, a: ReturnType<Server['address']>) => {
      if (a === null || typeof a === 'string') return;
      if (a.address === '::') lines.push(`${proto} INET: ${a.port}`);
      lines.push(`${proto} ${a.family === 'IPv6' ? 'INET6' : 'INET'}: ${a.port}`);
    };
    for (const s of this.#servers) add('TCP', s.address());
    for (const u of this.#udp) add('UDP', u.address());
    return lines.map((l) => `${l}\n`).join('');
  }

  /** Bytes this server (this thread, with -t N) has read from clients: grows while it is busy. */
  get bytesRead(): number {
    return this.#counters.bytesRead;
  }

  get connectionCount(): number {
    return this.#conns.size;
  }

  /** TCP on each -l address (all if none) x port; UDP on udpPort if > 0; unix socket if set. */
  async listen(): Promise<void> {
    const c = this.config;
    // datagrams cannot authenticate (the command line refuses -U with -Y or -S)
    if (this.#credentials !== null && c.udpPort !== 0 && !c.unixSocket) throw new Error('UDP cannot be used with authentication (-U 0 to disable)');
    try {
      const first = this.#shared === null || this.#shared.worker === 0;
      if (c.unixSocket) {
        // one listener; the other workers serve nothing (a unix socket cannot be shared with reusePort)
        if (first) await this.#listenUnix(c.unixSocket);
      } else {
        const picked = this.#shared?.ports;
        const tcp = (c.listen.length ? c.listen.map((l) => parseListenAddress(l, c.port)) : [{ host: undefined, port: c.port }])
          .map((a, i) => (picked === undefined ? a : { host: a.host, port: picked[i] }));
        const udp = c.listen.length ? c.listen.map((l) => parseListenAddress(l, c.udpPort)) : [{ host: undefined, port: c.udpPort }];
        const plain = (i: number) => c.listen[i]?.startsWith('notls:') ?? false;
        // -p -1 / -U -1: a port the system picks (memcached's ephemeral port); 0: none
        if (c.port !== 0) for (const [i, a] of tcp.entries()) await this.#listenTcp(Math.max(a.port, 0), a.host, this.#tls !== null && !plain(i));
        if (c.udpPort !== 0 && first) for (const a of udp) await this.#listenUdp(Math.max(a.port, 0), a.host);
      }
    } catch (err) {
      await this.close();
      throw err;
    }
    this.#counters.totalConnections += this.#servers.length + this.#udp.length;
    this.#counters.connectionStructures = this.#servers.length + this.#udp.length;
    this.#startTimers();
    this.#listenedAt = this.#clock.now();
    this.#logger.info({ addresses: this.addresses() }, 'repcache listening');
  }

  /** Stops listening, ends connections, clears timers. */
  async close(): Promise<void> {
    this.#timer?.cancel();
    this.#timer = null;
    const closing = this.#servers.splice(0).map((s) => new Promise<void>((res) => s.close(() => res())));
    for (const conn of this.#conns) conn.close();
    this.#conns.clear();
    for (const u of this.#udp.splice(0)) closing.push(new Promise<void>((res) => u.close(() => res())));
    await Promise.all(closing);
    if (this.config.unixSocket) removeStaleSocket(this.config.unixSocket);
  }

  async #listenTcp(port: number, host: string | undefined, tls = false): Promise<void> {
    const at = { listenAddr: host === undefined ? `tcp:*:${port}` : `tcp:${host}:${port}` };
    let server: Server;
    if (tls) {
      server = this.#tlsServer(at);
    } else {
      server = createServer({ noDelay: true, pauseOnConnect: true });
      server.on('connection', (s) => this.#accept(s, at.listenAddr));
    }
    await this.#bind(server, { port, host, backlog: this.config.backlog });
    const bound = server.address();
    // an ephemeral port: `stats conns` shows the one the system picked, as memcached does
    if (port === 0 && bound !== null && typeof bound !== 'string') at.listenAddr = host === undefined ? `tcp:*:${bound.port}` : `tcp:${host}:${bound.port}`;
  }

  /** A -Z listener: connections reach #accept once their TLS handshake is done. */
  #tlsServer(at: { listenAddr: string }): TlsServer {
    const t = this.#tls!;
    const settings = t.settings;
    // a handshake must end within read_timeout, as any unfinished command (node's default: 120 s)
    const handshakeTimeout = this.config.readTimeout > 0 ? this.config.readTimeout * 1000 : 120_000;
    const server = process.getBuiltinModule('node:tls').createServer({ ...tlsServerOptions(settings, loadTlsContext(settings)), noDelay: true, handshakeTimeout });
    t.loadedAt = this.#clock.now();
    t.servers.push(server);
    // connections still in their handshake are not in #conns: -c bounds them here
    let open = 0;
    server.on('connection', (raw: Socket) => {
      open++;
      raw.once('close', () => open--);
      if (open > this.config.maxConnections) {
        this.#counters.rejectedConnections++;
        this.#clientLog.warn('too many connections', 'connection refused: too many open connections (-c)', { max: this.config.maxConnections });
        raw.destroy();
      }
    });
    server.on('secureConnection', (s: TLSSocket) => {
      // verify modes 1 and 3: a certificate is asked for, and one that was given must verify
      if (settings.verifyMode !== 0 && !s.authorized && s.getPeerCertificate()?.raw !== undefined) {
        this.#tlsRefused(`client certificate refused: ${String(s.authorizationError)}`);
        s.destroy();
        return;
      }
      this.#accept(s, at.listenAddr);
    });
    server.on('tlsClientError', (err, s: TLSSocket) => {
      // (node leaves the socket of a timed-out handshake open)
      s.destroy();
      this.#tlsRefused(err.message);
    });
    if (settings.sessionCache) {
      server.on('newSession', (id: Buffer, data: Buffer, done: () => void) => {
        this.#counters.sslNewSessions++;
        t.sessions.set(id.toString('hex'), data);
        if (t.sessions.size > TLS_SESSION_CACHE_SIZE) t.sessions.delete(t.sessions.keys().next().value!);
        done();
      });
      server.on('resumeSession', (id: Buffer, done: (err: Error | null, data: Buffer | null) => void) => done(null, t.sessions.get(id.toString('hex')) ?? null));
    }
    return server;
  }

  /** -t N: another worker's client sent `refresh_certs`; this one reloads too ('certsRefreshed' told of it). */
  reloadCerts(): void {
    this.#refreshCerts();
  }

  #tlsRefused(why: string): void {
    this.#counters.sslHandshakeErrors++;
    this.#publishCounters();
    this.#clientLog.warn('tls handshake', 'a TLS handshake failed', { why: why.slice(0, 200) });
  }

  /** `refresh_certs`: reloads the certificate files for new connections; on failure the old ones stay. */
  #refreshCerts(): string {
    const t = this.#tls;
    if (t === null) return 'Error TLS not enabled\r\n';
    try {
      const options = tlsServerOptions(t.settings, loadTlsContext(t.settings));
      for (const server of t.servers) server.setSecureContext(options);
    } catch (err) {
      if (!(err instanceof TlsConfigError)) throw err;
      this.#logger.warn({ err: err.message }, 'refresh_certs failed: the certificates loaded before stay in use');
      return `${err.message}\r\n`;
    }
    t.loadedAt = this.#clock.now();
    this.#logger.info('TLS certificates reloaded');
    return 'OK\r\n';
  }

  #listenUnix(path: string): Promise<void> {
    const server = createServer({ pauseOnConnect: true });
    server.on('connection', (s) => this.#accept(s, `unix:${path}`));
    return listenUnixSocket(path, this.config.unixMask, () => this.#bind(server, { path, backlog: this.config.backlog }));
  }

  #bind(server: Server, opts: { port?: number; host?: string; path?: string; backlog: number }): Promise<void> {
    // -t N: every worker listens on the port and the kernel spreads the connections (SO_REUSEPORT)
    const listenOpts = this.#shared !== null && opts.path === undefined ? { ...opts, reusePort: true } : opts;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(listenOpts, () => {
        server.off('error', reject);
        server.on('error', (err) => this.#logger.error({ err }, 'listener error'));
        this.#servers.push(server);
        resolve();
      });
    });
  }

  #listenUdp(port: number, host: string | undefined): Promise<void> {
    // dgram is loaded only with -U
    const sock = process.getBuiltinModule('node:dgram').createSocket(host && isIPv6(host) ? 'udp6' : 'udp4');
    return new Promise((resolve, reject) => {
      sock.once('error', reject);
      sock.bind(port, host ?? '0.0.0.0', () => {
        sock.off('error', reject);
        sock.on('error', (err) => this.#logger.error({ err }, 'udp error'));
        this.#udp.push(sock);
        serveUdp(sock, { dispatcher: this.#dispatcher, binaryDispatcher: this.#binaryDispatcher, out: this.#out, counters: this.#counters, maxItemSize: this.config.pageSize, log: this.#clientLog });
        resolve();
      });
    });
  }

  #accept(socket: Socket, listenAddr: string): void {
    if (this.#conns.size >= this.config.maxConnections) {
      this.#counters.rejectedConnections++;
      socket.on('error', () => {});
      socket.write(Replies.TOO_MANY_CONNECTIONS);
      socket.destroySoon();
      this.#clientLog.warn('too many connections', 'connection refused: too many open connections (-c)', { max: this.config.maxConnections });
      return;
    }
    // -t N: ids unique over the node (memcached's fds), for `stats conns` and watch's cfd
    const id = this.#signals?.nextConnId() ?? this.#nextConnId++;
    this.#connEnv ??= {
      dispatcher: this.#dispatcher,
      binaryDispatcher: this.#binaryDispatcher,
      protocol: this.config.protocol,
      out: this.#out,
      readBuffer: makeReadBuffer(),
      counters: this.#counters,
      maxItemSize: this.config.pageSize,
      outputLimit: this.config.outputLimit,
      reqsPerEvent: this.config.reqsPerEvent,
      now: () => this.#clock.now(),
      logger: this.#logger,
      clientLog: this.#clientLog,
      traceCommands: this.#logger.isLevelEnabled('trace'),
      changes: this.store.changes,
      credentials: this.#credentials,
    };
    const conn = new Connection(id, socket, listenAddr, this.#connEnv);
    this.#conns.add(conn);
    this.#counters.totalConnections++;
    if (this.#conns.size > this.#peakConns) {
      this.#peakConns = this.#conns.size;
      this.#counters.connectionStructures = this.#servers.length + this.#udp.length + this.#peakConns;
    }
    this.#logger.debug({ conn: id, remote: conn.addr }, 'connection opened');
    const watch = this.#watch;
    const rip = socket.remoteAddress ?? 'unix';
    const rport = socket.remotePort ?? 0;
    const transport = socket.remoteAddress === undefined ? 'local' : 'tcp';
    watch.connNew(rip, rport, transport, id);
    conn.socket.once('close', (hadError: boolean) => {
      watch.connClose(rip, rport, transport, conn.closeReason ?? (hadError ? 'error' : 'normal'), id);
      this.#conns.delete(conn);
      this.#logger.debug({ conn: id }, 'connection closed');
    });
  }

  /**
   * A TICK_MS timer: go on with a flush_all's sweep; once per clock second, refresh the clock, crawl expired items when due, close connections
   * that are idle, slow to send a command or slow to read their replies.
   */
  #startTimers(): void {
    this.#clock.tick();
    // -t N: worker 0 runs the store's own work (crawler, flush sweep) for all, under the store lock
    const owner = this.#shared === null || this.#shared.worker === 0;
    const timer = (this.#timer = new TimerSlot(this.#clock.timers));
    const everyTick = () => {
      timer.arm(TICK_MS, everyTick);
      const now = this.#clock.tick();
      this.#publishCounters();
      // before a setting is read here (the crawler's): one another worker's client changed
      if (this.#settings?.changed) this.#locked(() => this.#adoptSettings());
      if (owner && !this.#sweeping && this.#locked(() => this.store.flushSweepDue())) this.#sweepFlushed();
      if (now === this.#lastSecond) return;
      this.#lastSecond = now;
      if (owner && this.config.lruCrawler && this.#crawl.due(now)) {
        this.#counters.lruCrawlerStarts++;
        this.#crawl.ran(now, this.#locked(() => this.store.reclaimExpired(CRAWL_BUDGET)));
      }
      this.#closeTimedOut(now);
      if (now % LOG_FLUSH_SECONDS === 0) this.#clientLog.flush();
    };
    timer.arm(TICK_MS, everyTick);
  }

  /** A flush_all's sweep of a big cache, in steps between other events until done (see SlabStore.sweepFlushed). */
  #sweepFlushed(): void {
    this.#sweeping = this.#timer !== null && this.#locked(() => this.store.sweepFlushed(SWEEP_BUDGET) && this.store.flushSweepDue());
    if (this.#sweeping) setImmediate(() => this.#sweepFlushed());
  }

  /** Under the store lock: the runtime settings another worker's client changed, into this worker's config and host. */
  #adoptSettings(): void {
    const s = this.#settings?.adopt();
    if (s == null) return;
    applyRuntimeSettings(this.config, s);
    this.#host.verbosity = s.verbosity;
    this.#host.detail = s.detail ? this.#prefixStats : null;
  }

  /** fn under the store lock when the store is shared (-t N). */
  #locked<T>(fn: () => T): T {
    const lock = this.#lock;
    if (lock === null) return fn();
    lock.acquire();
    try {
      return fn();
    } finally {
      lock.release();
    }
  }

  /** This server's counters, with its watch log's counts copied in (the log keeps them: `stats reset` leaves them). */
  #ownCounters(): ServerCounters {
    const c = this.#counters;
    c.logWatcherSent = this.#watch.sent;
    c.logWatcherSkipped = this.#watch.skipped;
    return c;
  }

  /** -t N: this worker's counters to its row of the shared table, which `stats` sums. */
  #publishCounters(): void {
    if (this.#shared === null) return;
    this.#shared.counters.publish(this.#ownCounters(), this.#conns.size + this.#udp.length);
  }

  /** The server counters `stats` reports: this server's, or with -t N the sums over the workers. */
  #reportedCounters(): { c: ServerCounters; currConnections: number } {
    if (this.#shared === null) return { c: this.#ownCounters(), currConnections: this.#conns.size + this.#udp.length };
    this.#publishCounters();
    const { counters, currConnections } = this.#shared.counters.sums();
    return { c: counters, currConnections };
  }

  #closeTimedOut(now: number): void {
    const c = this.config;
    const limits: ConnectionTimeouts = { idle: c.idleTimeout, read: c.readTimeout, drain: c.drainTimeout };
    if (limits.idle <= 0 && limits.read <= 0 && limits.drain <= 0) return;
    const due: Array<[Connection, TimeoutReason]> = [];
    for (const conn of this.#conns) {
      const reason = conn.timeoutReason(now, limits);
      if (reason !== null) due.push([conn, reason]);
    }
    this.#closeSome(due, limits);
  }

  /** Closes timed-out connections a batch per turn of the event loop: hundreds at once would stall the rest. */
  #closeSome(due: Array<[Connection, TimeoutReason]>, limits: ConnectionTimeouts): void {
    for (const [conn, reason] of due.splice(0, CLOSES_PER_TURN)) {
      if (conn.closing || conn.socket.destroyed) continue;
      this.#counters[KICK_COUNTER[reason]]++;
      if (reason === 'idle') conn.closeReason = 'idle_timeout';
      this.#clientLog.warn(`${reason}_timeout`, KICK_MESSAGE[reason], { timeout: limits[reason] });
      conn.close();
    }
    if (due.length > 0) setImmediate(() => this.#closeSome(due, limits));
  }

  #generalStats(): StatList {
    const usage = process.resourceUsage();
    const { c: counters, currConnections } = this.#reportedCounters();
    const own = new Map<string, StatValue>([
      ['pid', process.pid],
      ['uptime', Math.max(0, this.#clock.now() - UPTIME_OFFSET)],
      ['time', this.#clock.started + this.#clock.now()],
      ['version', VERSION],
      ['libevent', `node-${process.version}`],
      ['pointer_size', 64],
      ['rusage_user', formatMicros(usage.userCPUTime)],
      ['rusage_system', formatMicros(usage.systemCPUTime)],
      ['max_connections', this.config.maxConnections],
      ['curr_connections', currConnections],
      ['total_connections', counters.totalConnections],
      ['rejected_connections', counters.rejectedConnections],
      ['connection_structures', counters.connectionStructures],
      ['cmd_meta', counters.cmdMeta],
      ['store_too_large', counters.storeTooLarge],
      ['auth_cmds', counters.authCmds],
      ['auth_errors', counters.authErrors],
      ['cmd_flush', counters.cmdFlush],
      ['bytes_read', counters.bytesRead],
      ['bytes_written', counters.bytesWritten],
      ['limit_maxbytes', this.config.memoryLimitMB * 1024 * 1024],
      ['accepting_conns', 1],
      ['threads', this.#shared?.threads ?? 1],
      // repcache -t N only: the worker that answered (which one a connection landed on)
      ...(this.#shared === null ? [] : [['worker_thread', this.#shared.worker] as [string, StatValue]]),
      // repcache -t N only: the store lock's contended acquisitions and sleeps, summed over the workers
      ...(this.#shared === null ? [] : [['lock_contended', counters.storeLockContended], ['lock_waits', counters.storeLockWaits]] as Array<[string, StatValue]>),
      ['conn_yields', counters.connYields],
      ['lru_crawler_starts', counters.lruCrawlerStarts],
      ['read_timeout_kicks', counters.readTimeoutKicks],
      ['drain_timeout_kicks', counters.drainTimeoutKicks],
      ['udp_bad_datagrams', counters.udpBadDatagrams],
      ['log_worker_dropped', this.#signals?.dropped ?? 0],
      ['log_worker_written', counters.logWatcherSent + counters.logWatcherSkipped],
      ['log_watcher_skipped', counters.logWatcherSkipped],
      ['log_watcher_sent', counters.logWatcherSent],
      ['log_watchers', this.#signals?.watcherCount() ?? this.#watch.count],
    ]);
    if (this.config.idleTimeout > 0) own.set('idle_kicks', counters.idleKicks);
    if (this.#tls !== null) {
      if (this.#tls.settings.sessionCache) own.set('ssl_new_sessions', counters.sslNewSessions);
      own.set('ssl_handshake_errors', counters.sslHandshakeErrors);
      own.set('time_since_server_cert_refresh', this.#clock.now() - this.#tls.loadedAt);
    }
    const storeStats = this.store.statsGeneral().filter(([n]) => n !== 'limit_maxbytes' && n !== 'threads');
    return withoutDisabledStats(mergeGeneralStats(own, storeStats, ...this.#statsSources.map((f) => f())), this.config, 'general');
  }

  /**
   * `stats conns`, over TCP or UDP: with -t N the other workers' connections are asked for, and the reply (END
   * included) is handed to the asking connection or UDP request later.
   */
  #connStats(self: unknown): string | null {
    const link = this.#link;
    const asker = self instanceof Connection || self instanceof UdpRequest ? self : null;
    if (link === null || asker === null) return this.#connLines(asker, []);
    const reply = this.#connsAsks.gather((id) => link.askConns(id), this.#shared!.threads - 1, (others) => `${this.#connLines(asker, others)}END\r\n`);
    asker.deferReply(reply);
    return null;
  }

  /** The lines of `stats conns`: this worker's listeners and UDP sockets, and every connection (its own and `others'`). */
  #connLines(asker: Connection | UdpRequest | null, others: ConnsAnswer[]): string {
    let self: ConnsAsker = null;
    if (asker instanceof Connection) self = { conn: asker.id };
    else if (asker !== null) self = { udp: this.#udp.indexOf(asker.socket), client: asker.client };
    const listeners = this.#servers.map((srv) => describe(srv.address(), 'tcp'));
    return formatConns({ now: this.#clock.now(), listenedAt: this.#listenedAt, listeners, own: this.connsAsked(), others, self });
  }

  #makeHost(): DispatchHost {
    const host: DispatchHost = {
      store: this.store,
      config: this.config,
      counters: this.#counters,
      verbosity: this.config.verbosity,
      detail: this.config.detailEnabled ? this.#prefixStats : null,
      prefixStats: this.#prefixStats,
      setDetail: (on: boolean) => {
        host.detail = on ? this.#prefixStats : null;
        host.settingsChanged();
      },
      settingsChanged: () => this.#settings?.publish(runtimeSettingsOf(this.config, host.verbosity, host.detail !== null)),
      generalStats: () => this.#generalStats(),
      connStats: (self: unknown) => this.#connStats(self),
      resetStats: () => {
        this.store.resetStats();
        this.#counters.reset();
        this.#shared?.counters.requestReset();
        this.#prefixStats.clear();
      },
      requestShutdown: (graceful: boolean) => {
        this.#logger.info({ graceful }, 'shutdown requested by a client');
        this.emit('shutdown', graceful);
      },
      sasl: this.config.saslEnabled ? this.#credentials : null,
      clientRefused: (reason, message, fields) => this.#clientLog.warn(reason, message, fields),
      refreshCerts: () => {
        const reply = this.#refreshCerts();
        if (reply === 'OK\r\n') this.emit('certsRefreshed');
        return reply;
      },
      watch: this.#watch,
      startWatch: (conn: unknown, flags: number) => {
        if (!(conn instanceof Connection)) return 'NOT_A_CONNECTION';
        if (!this.#watch.add(conn.socket, flags)) return 'TOO_MANY';
        conn.becomeWatcher();
        return 'OK';
      },
    };
    return host;
  }
}

const KICK_COUNTER = { idle: 'idleKicks', read: 'readTimeoutKicks', drain: 'drainTimeoutKicks' } as const satisfies Record<TimeoutReason, keyof ServerCounters>;
const KICK_MESSAGE: Record<TimeoutReason, string> = {
  idle: 'closed a connection without a command for longer than idle_timeout',
  read: 'closed a connection whose command took longer than read_timeout to arrive',
  drain: 'closed a connection that left its replies unread for longer than drain_timeout',
};

/** memcached's state of a connection between commands: waiting for its first, for its next, or for the client to read. */
function connState(c: Connection): string {
  return c.writeBlocked ? 'conn_mwrite' : c.hadCommand ? 'conn_read' : 'conn_new_cmd';
}

function describe(a: ReturnType<Server['address']>, proto: 'tcp' | 'udp'): string {
  if (a === null) return `${proto}:closed`;
  if (typeof a === 'string') return `unix:${a}`;
  return `${proto}:${a.address}:${a.port}`;
}
