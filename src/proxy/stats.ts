/** The proxy's `stats`: memcached's general names where they mean the same, then one block per backend. */
import type { Backend } from './backend.ts';
import type { Placement } from './placement.ts';
import type { ProxyCounters } from './requests.ts';
import { PROXY_VERSION } from './version.ts';

export interface ProxySettings {
  timeoutMs: number;
  failureLimit: number;
  retryInitialMs: number;
  retryMaxMs: number;
  connections: number;
  maxItemSize: number;
  distribution: string;
  hash: string;
  backupMode: string;
}

export interface StatsInput {
  uptimeSec: number;
  time: number;
  counters: ProxyCounters & { connections: number; totalConnections: number; rejectedConnections: number; commands: Record<string, number> };
  backends: readonly Backend[];
  placement: Placement;
  settings: ProxySettings;
  part: 'all' | 'backends' | 'settings';
}

export function proxyStats(i: StatsInput): string {
  const lines: [string, string | number][] = [];
  const c = i.counters;
  if (i.part === 'settings') {
    const s = i.settings;
    lines.push(
      ['timeout_ms', s.timeoutMs], ['failure_limit', s.failureLimit], ['retry_initial_ms', s.retryInitialMs],
      ['retry_max_ms', s.retryMaxMs], ['backend_connections', s.connections], ['item_size_max', s.maxItemSize],
      ['distribution', s.distribution], ['hash', s.hash], ['backup_mode', s.backupMode],
    );
  }
  if (i.part === 'all') {
    lines.push(
      ['pid', process.pid], ['uptime', i.uptimeSec], ['time', i.time], ['version', `repcache-proxy-${PROXY_VERSION}`],
      ['curr_connections', c.connections], ['total_connections', c.totalConnections],
      ['rejected_connections', c.rejectedConnections],
      ['cmd_get', c.getKeys], ['get_hits', c.getHits], ['get_misses', Math.max(0, c.getKeys - c.getHits)],
      ['cmd_set', c.commands.set ?? 0], ['cmd_delete', c.commands.delete ?? 0], ['cmd_incr_decr', c.commands.incr_decr ?? 0],
      ['cmd_touch', c.commands.touch ?? 0], ['cmd_flush', c.commands.flush ?? 0], ['cmd_meta', c.commands.meta ?? 0],
      ['backup_fallbacks', c.fallbacks], ['proxy_server_errors', c.serverErrors],
      ['backends', i.backends.length], ['backends_down', i.backends.filter((b) => !b.up).length],
    );
  }
  if (i.part !== 'settings') {
    for (const b of i.backends) {
      const p = i.placement.servers[b.index]!;
      const h = b.health.status();
      const n = `backend_${b.index}`;
      lines.push(
        [`${n}_addr`, b.name],
        [`${n}_pool`, p.main && p.backup ? 'main,backup' : p.main ? 'main' : 'backup'],
        [`${n}_state`, h.state],
        [`${n}_failures`, h.failures],
        [`${n}_downs`, h.downs],
        [`${n}_retry_in_ms`, h.retryInMs ?? -1],
        [`${n}_calls`, b.counters.calls],
        [`${n}_failed_calls`, b.counters.failed],
        [`${n}_timeouts`, b.counters.timeouts],
        [`${n}_connects`, b.counters.connects],
        [`${n}_inflight`, b.inflight],
      );
    }
  }
  return `${lines.map(([k, v]) => `STAT ${k} ${v}\r\n`).join('')}END\r\n`;
}
