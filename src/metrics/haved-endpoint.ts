import type { Logger } from '../log.ts';
import { formatMetricsAddress, type MetricsAddress } from '../net/metrics-address.ts';
import { HavedMetrics, type HavedStatusView } from './haved.ts';
import { MetricsListener } from './http-listener.ts';

/** haved's `global_defs { metrics_listen ADDR:PORT }`: binds the endpoint (throws MetricsListenError). */
export async function startHavedMetrics(address: MetricsAddress, daemon: { status(): HavedStatusView }, log: Logger): Promise<MetricsListener> {
  const listener = new MetricsListener({ address, source: new HavedMetrics(daemon), log: log.child({ component: 'metrics' }) });
  await listener.listen();
  log.info({ metrics: `http://${formatMetricsAddress(listener.address())}/metrics` }, 'metrics endpoint listening');
  return listener;
}
