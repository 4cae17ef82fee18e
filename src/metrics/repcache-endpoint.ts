import type { Logger } from '../log.ts';
import { formatMetricsAddress, parseMetricsAddress } from '../net/metrics-address.ts';
import { MetricsListener } from './http-listener.ts';
import { RepcacheMetrics, type CacheStatsSource, type ReplicationView } from './repcache.ts';

/** repcache's `-o metrics_listen=ADDR:PORT`: binds the endpoint (throws MetricsListenError). */
export async function startRepcacheMetrics(
  address: string,
  server: { generalStats: CacheStatsSource['generalStats']; itemStats(): ReadonlyArray<readonly [string, string | number]> },
  replication: () => ReplicationView | null,
  logger: Logger,
): Promise<MetricsListener> {
  const listener = new MetricsListener({
    address: parseMetricsAddress(address),
    source: new RepcacheMetrics({ generalStats: () => server.generalStats(), itemStats: () => server.itemStats() }, replication),
    log: logger.child({ component: 'metrics' }),
  });
  await listener.listen();
  logger.info({ metrics: `http://${formatMetricsAddress(listener.address())}/metrics` }, 'metrics endpoint listening');
  return listener;
}
