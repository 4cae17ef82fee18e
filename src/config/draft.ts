import type { Token } from './lexer.ts';
import type { CacheDaemon, GlobalDefs, SyncGroup, VirtualServer, VrrpInstance, VrrpScript } from './model.ts';

/** A vrrp_instance as read, before defaults that depend on other keywords are applied. */
export interface InstanceDraft {
  value: VrrpInstance;
  opener: Token;
  /** Keywords seen, with their token, for defaults and messages. */
  seen: Map<string, Token>;
  /** Reading it found errors: the checks across instances skip it. */
  broken?: boolean;
}

export interface Draft {
  file: string;
  global: GlobalDefs;
  scripts: Map<string, VrrpScript>;
  instances: InstanceDraft[];
  syncGroups: SyncGroup[];
  /** Member tokens per group, for file:line in the cross-checks done after reading. */
  groupMembers: Map<SyncGroup, Token[]>;
  virtualServers: VirtualServer[];
  localAddresses: Set<string>;
  cacheDaemon: CacheDaemon | null;
  proxyDaemon: CacheDaemon | null;
}

export const DEFAULTS = {
  mcastGroup4: '224.0.0.18',
  advertPort: 112,
  garpMasterDelayMs: 5000,
  garpMasterRepeat: 5,
  garpMasterRefreshMs: 0,
  garpMasterRefreshRepeat: 1,
  smtpConnectTimeoutMs: 30_000,
  priority: 100,
  ownerPriority: 255,
  advertIntMs: 1000,
  scriptIntervalMs: 1000,
  connectTimeoutMs: 5000,
  retry: 1,
  delayBeforeRetryMs: 1000,
  delayLoopMs: 60_000,
  realServerWeight: 1,
} as const;

export function defaultGlobal(file: string): GlobalDefs {
  return {
    routerId: null,
    mcastGroup4: DEFAULTS.mcastGroup4,
    advertPort: DEFAULTS.advertPort,
    garpMasterDelayMs: DEFAULTS.garpMasterDelayMs,
    garpMasterRepeat: DEFAULTS.garpMasterRepeat,
    garpMasterRefreshMs: DEFAULTS.garpMasterRefreshMs,
    garpMasterRefreshRepeat: DEFAULTS.garpMasterRefreshRepeat,
    garpLowerPrioDelayMs: null,
    garpLowerPrioRepeat: null,
    scriptUser: null,
    enableScriptSecurity: false,
    notificationEmail: [],
    notificationEmailFrom: null,
    smtpServer: null,
    smtpConnectTimeoutMs: DEFAULTS.smtpConnectTimeoutMs,
    metricsListen: null,
    notifyFifos: [],
    where: `${file}:1`,
  };
}
