/**
 * The parsed haved.conf (keepalived.conf syntax). Produced by src/config/, consumed by src/ha/.
 * Durations are in milliseconds. `where` is "file:line" of the block or keyword, for messages.
 */
export interface HavedConfig {
  global: GlobalDefs;
  scripts: Map<string, VrrpScript>;
  instances: VrrpInstance[];
  syncGroups: SyncGroup[];
  virtualServers: VirtualServer[];
  /** haved: the `cache_daemon` block (the supervised cache, by default repcache), null when absent. */
  cacheDaemon: CacheDaemon | null;
  /** haved: the `proxy_daemon` block (a supervised repcache-proxy the VIP fronts), null when absent. */
  proxyDaemon: CacheDaemon | null;
  /** Non-fatal findings (unknown keywords, keepalived deviations honoured), each with file:line. */
  warnings: string[];
}

export interface GlobalDefs {
  routerId: string | null;
  mcastGroup4: string; // vrrp_mcast_group4, default 224.0.0.18
  advertPort: number; // haved extension `vrrp_udp_port`: UDP port of the adverts, default 112
  garpMasterDelayMs: number; // vrrp_garp_master_delay, default 5000
  garpMasterRepeat: number; // default 5
  garpMasterRefreshMs: number; // default 0
  garpMasterRefreshRepeat: number; // default 1
  garpLowerPrioDelayMs: number | null; // vrrp_garp_lower_prio_delay; null = the instance's garp_master_delay
  garpLowerPrioRepeat: number | null; // vrrp_garp_lower_prio_repeat; null = the instance's garp_master_repeat
  scriptUser: string | null;
  enableScriptSecurity: boolean;
  notificationEmail: string[];
  notificationEmailFrom: string | null;
  smtpServer: string | null;
  smtpConnectTimeoutMs: number; // default 30000 (accepted; haved sends no mail)
  /** haved extension `metrics_listen ADDRESS:PORT`: the Prometheus endpoint; null (default) = none. */
  metricsListen: { host: string; port: number } | null;
  /** notify_fifo / vrrp_notify_fifo: keepalived's ordered notification FIFOs (see NotifyFifo); empty = none. */
  notifyFifos: NotifyFifo[];
  where: string;
}

/** `notify_fifo PATH [user [group]]` with its optional `notify_fifo_script`. */
export interface NotifyFifo {
  /** The global_defs keyword: notify_fifo or vrrp_notify_fifo (both carry the vrrp lines). */
  keyword: string;
  path: string;
  /** Owner of a FIFO haved creates (name or number); null = haved's own. */
  user: string | null;
  group: string | null;
  /** Started before the FIFO is opened, with the FIFO's path appended as its last argument. */
  script: NotifyCommand | null;
  where: string;
}

/** One `virtual_routes` entry: `ip route add|del` arguments, in keepalived's syntax. */
export interface VirtualRoute {
  /** blackhole, unreachable, prohibit, throw; null = unicast. */
  type: string | null;
  /** DEST/PREFIX, or "default". */
  to: string;
  via: string | null;
  dev: string | null;
  src: string | null;
  table: string | null;
  metric: number | null;
  scope: string | null;
  protocol: string | null;
  onlink: boolean;
  where: string;
}

export type InitialState = 'MASTER' | 'BACKUP';

export interface VirtualAddress {
  address: string; // IPv4 dotted quad or IPv6 (one family per instance)
  prefix: number; // default 32 (IPv4) or 128 (IPv6)
  dev: string | null; // default: the instance interface
  brd: string | null;
  scope: string | null;
  label: string | null;
  where: string;
}

export interface TrackScriptRef { name: string; weight: number | null; reverse: boolean; where: string }
export interface TrackInterfaceRef { name: string; weight: number; reverse: boolean; where: string }

export interface NotifyCommand {
  /** argv as keepalived would split the quoted string; the first element is the program. */
  argv: string[];
  user: string | null;
  where: string;
}

export interface Authentication {
  type: 'PASS' | 'AH' | 'HMAC';
  /** PASS: the password truncated to 8 characters (keepalived's rule); HMAC: the shared key. */
  secret: string;
  where: string;
}

export interface VrrpInstance {
  name: string;
  state: InitialState;
  interface: string;
  virtualRouterId: number; // 1..255
  priority: number; // 1..255
  advertIntMs: number; // sub-second allowed
  nopreempt: boolean;
  preemptDelayMs: number;
  authentication: Authentication | null;
  virtualIpAddresses: VirtualAddress[];
  /** virtual_ipaddress_excluded: added and removed with the VIPs, not carried in adverts. */
  virtualIpAddressesExcluded: VirtualAddress[];
  /** virtual_routes: added on becoming MASTER (after the addresses), removed on leaving it. */
  virtualRoutes: VirtualRoute[];
  /** dont_track_primary: the instance's own interface going down does not put it in FAULT. */
  dontTrackPrimary: boolean;
  unicastSrcIp: string | null;
  unicastPeers: string[];
  /** haved: multicast adverts are accepted only from these source addresses; empty = from anyone. */
  allowedPeers: string[];
  mcastSrcIp: string | null;
  trackScripts: TrackScriptRef[];
  trackInterfaces: TrackInterfaceRef[];
  notify: NotifyCommand | null;
  notifyMaster: NotifyCommand | null;
  notifyBackup: NotifyCommand | null;
  notifyFault: NotifyCommand | null;
  notifyStop: NotifyCommand | null;
  garpMasterDelayMs: number;
  garpMasterRepeat: number;
  garpMasterRefreshMs: number;
  garpMasterRefreshRepeat: number; // default: global vrrp_garp_master_refresh_repeat (1)
  /** GARP burst after winning against another master (0 = none); default: global, else garpMasterRepeat. */
  garpLowerPrioRepeat: number;
  /** Delay of the second such burst (0 = none); default: global, else garpMasterDelayMs. */
  garpLowerPrioDelayMs: number;
  /** haved: preempt only inside this cron window (node-cron syntax), null = any time. */
  preemptSchedule: string | null;
  /** haved: the witness that keeps a two-node pair from having two MASTERs; null = keepalived's behaviour. */
  witness: Witness | null;
  where: string;
}

/** `witness { address … secret_file … lease … }` inside a vrrp_instance (config/witness.ts). */
export interface Witness {
  address: { host: string; port: number };
  secretFile: string;
  /** null: the default, three advert intervals (at least 1 s). */
  leaseMs: number | null;
  where: string;
}

export interface VrrpScript {
  name: string;
  script: string[]; // argv
  intervalMs: number; // default 1000
  timeoutMs: number; // default = interval
  weight: number; // default 0, -253..253
  rise: number; // default 1
  fall: number; // default 1
  user: string | null;
  initFail: boolean; // init_fail: start in the failed state
  where: string;
}

export interface SyncGroup {
  name: string;
  members: string[]; // instance names
  notify: NotifyCommand | null;
  notifyMaster: NotifyCommand | null;
  notifyBackup: NotifyCommand | null;
  notifyFault: NotifyCommand | null;
  notifyStop: NotifyCommand | null;
  where: string;
}

export type CheckKind = 'TCP_CHECK' | 'MEMCACHE_CHECK';

export interface HealthCheck {
  kind: CheckKind;
  connectIp: string | null; // default: the real_server address
  connectPort: number | null; // default: the real_server port
  bindTo: string | null;
  connectTimeoutMs: number; // default 5000
  retry: number; // TCP default 1; nb_get_retry accepted as an alias (seeds)
  delayBeforeRetryMs: number; // default 1000
  delayLoopMs: number; // inherited from real/virtual server
  where: string;
}

export interface RealServer {
  address: string;
  port: number;
  weight: number;
  notifyUp: NotifyCommand | null;
  notifyDown: NotifyCommand | null;
  checks: HealthCheck[];
  /** The address is this host (LoadOptions.localAddresses or 127.0.0.1): its checks track the local cache. */
  local: boolean;
  where: string;
}

export interface VirtualServer {
  address: string;
  port: number;
  delayLoopMs: number; // default 60000
  protocol: 'TCP' | 'UDP';
  sorryServer: { address: string; port: number } | null;
  realServers: RealServer[];
  /** Names of the vrrp_instances whose virtual_ipaddress holds this virtual_server's address. */
  vipInstances: string[];
  where: string;
}

/** How the supervised daemon is restarted; the same shape as the supervisor's RestartPolicy. */
export interface CacheDaemonRestart {
  backoffInitialMs: number; // restart_backoff first value, default 100
  backoffMaxMs: number; // restart_backoff second value, default 10000
  stableAfterMs: number; // stable_after, default 10000
  maxRestarts: number; // restart_limit first value, default 10
  windowMs: number; // restart_limit second value, default 60000
  stopTimeoutMs: number; // stop_timeout, default 5000
  /** SIGUSR1 when the cache's command has a memory file (-e): it saves its store on that signal. Default SIGTERM. */
  stopSignal?: 'SIGTERM' | 'SIGUSR1';
}

/** haved extension (keepalived has no such block): the cache daemon haved starts and keeps running. */
export interface CacheDaemon {
  /** argv of `command`, split like a notify script; the first element is the program. */
  argv: string[];
  /** Run as this user (name or numeric uid); null = as haved. */
  user: string | null;
  restart: CacheDaemonRestart;
  /** The port the daemon serves on: check_port, else -p/--port of the command, else 11211. */
  checkPort: number;
  where: string;
}
