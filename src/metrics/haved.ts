import { Registry } from 'prom-client';
import { PROBE_DURATION_BOUNDS_S } from '../ha/core/probe-stats.ts';
import { counter, gauge, oneHot, stateHistogram, type Sample } from './define.ts';

type Counts = Readonly<Record<string, number | undefined>>;

/** What the collector reads of haved's state (HaDaemon.status() fits): the same data `haved dump` prints. */
export interface HavedStatusView {
  maintenanceSince: string | null;
  instances: ReadonlyArray<{
    name: string;
    state: string;
    priority: number;
    basePriority: number;
    vipsInstalled: boolean;
    faults: readonly string[];
    counters: { advertsSent: number; advertsReceived: number; discardedLower: number; announcements: number; pausesDetected: number };
    dropped: Counts;
    transitions: Counts;
    notifyOutcomes: Counts;
    witness?: { lease: 'held' | 'none'; counters: { requests: number; granted: number; refused: number; stepDowns: number } } | null;
  }>;
  checks: ReadonlyArray<{
    name: string;
    kind: string;
    state: string;
    results: Counts;
    duration: { count: number; sumSeconds: number; le: readonly number[] };
  }>;
  syncGroups: ReadonlyArray<{ name: string; state: string; notifyOutcomes: Counts }>;
  realServerNotifyOutcomes: Counts;
  cache: { state: string; starts: number; restarts: number; failures: number; warmth: string; holding: boolean; replicationCurrent?: boolean } | null;
  proxy: { state: string; restarts: number; failures: number } | null;
}

export const VRRP_STATES = ['INIT', 'BACKUP', 'MASTER', 'FAULT', 'STOP'] as const;
export const CHECK_STATES = ['UNKNOWN', 'UP', 'DOWN'] as const;
export const PROCESS_STATES = ['stopped', 'starting', 'running', 'backoff', 'stopping'] as const;
/** Why an advert is dropped before the election (decode/auth errors, a source that is no peer). */
export const ADVERT_DROP_REASONS = [
  'TRUNCATED', 'BAD_MAGIC', 'BAD_VERSION', 'BAD_KIND', 'BAD_FIELD', 'TRAILING_BYTES', 'AUTH_MISMATCH', 'BAD_AUTH', 'REPLAYED', 'NOT_A_PEER',
] as const;
const NOTIFY_OUTCOMES = ['ok', 'failed', 'timeout', 'error'] as const;
const PROBE_RESULTS = ['ok', 'fail', 'timeout'] as const;

/**
 * haved's Prometheus metrics, read from the daemon's status when scraped (one status per scrape): per
 * instance state, priority, transitions and adverts; checks' results and durations; notify scripts; the
 * supervised cache and proxy. Nothing is recorded for the endpoint in between.
 */
export class HavedMetrics {
  readonly registry = new Registry();
  readonly #source: { status(): HavedStatusView };
  #s: HavedStatusView | null = null;

  constructor(source: { status(): HavedStatusView }) {
    this.#source = source;
    const r = this.registry;
    const st = () => this.#s!;
    const perInstance = (read: (i: HavedStatusView['instances'][number]) => number) => (): Sample[] =>
      st().instances.map((i) => ({ labels: { instance: i.name }, value: read(i) }));
    const byKey = (rows: () => ReadonlyArray<{ labels: Record<string, string>; counts: Counts }>, key: string, keys: readonly string[]) => (): Sample[] =>
      rows().flatMap((row) => keys.map((k) => ({ labels: { ...row.labels, [key]: k }, value: row.counts[k] ?? 0 })));

    gauge(r, 'haved_maintenance', "1 while 'haved maintenance on' holds every instance at priority 0.", [], () => (st().maintenanceSince ? 1 : 0));
    gauge(r, 'haved_vrrp_state', 'State of the vrrp_instance (1 for the current one).', ['instance', 'state'], () =>
      st().instances.flatMap((i) => oneHot({ instance: i.name }, 'state', VRRP_STATES, i.state)),
    );
    gauge(r, 'haved_vrrp_priority', 'Effective priority (base, tracking weights, warm-up hold, operator override).', ['instance'], perInstance((i) => i.priority));
    gauge(r, 'haved_vrrp_base_priority', 'Configured priority.', ['instance'], perInstance((i) => i.basePriority));
    gauge(r, 'haved_vrrp_vips_installed', '1 while this node holds the instance\'s virtual addresses.', ['instance'], perInstance((i) => (i.vipsInstalled ? 1 : 0)));
    gauge(r, 'haved_vrrp_faults', 'Fault sources currently holding the instance in FAULT.', ['instance'], perInstance((i) => i.faults.length));
    counter(r, 'haved_vrrp_transitions_total', 'State transitions, by the state entered.', ['instance', 'to'], byKey(
      () => st().instances.map((i) => ({ labels: { instance: i.name }, counts: i.transitions })), 'to', VRRP_STATES,
    ));
    counter(r, 'haved_vrrp_adverts_sent_total', 'Adverts sent.', ['instance'], perInstance((i) => i.counters.advertsSent));
    counter(r, 'haved_vrrp_adverts_received_total', 'Adverts accepted (decoded, authenticated, from a peer).', ['instance'], perInstance((i) => i.counters.advertsReceived));
    counter(r, 'haved_vrrp_adverts_rejected_total', 'Adverts dropped before the election, by reason.', ['instance', 'reason'], byKey(
      () => st().instances.map((i) => ({ labels: { instance: i.name }, counts: i.dropped })), 'reason', ADVERT_DROP_REASONS,
    ));
    counter(r, 'haved_vrrp_adverts_lower_priority_total', 'Adverts from a lower-priority master, discarded while MASTER.', ['instance'], perInstance((i) => i.counters.discardedLower));
    counter(r, 'haved_vrrp_announcements_total', 'Gratuitous ARP re-announcements asked for (refreshes not counted).', ['instance'], perInstance((i) => i.counters.announcements));
    const withWitness = (read: (w: NonNullable<HavedStatusView['instances'][number]['witness']>) => number) => (): Sample[] =>
      st().instances.flatMap((i) => (i.witness ? [{ labels: { instance: i.name }, value: read(i.witness) }] : []));
    gauge(r, 'haved_witness_lease', '1 while this node holds the witness lease of the instance (instances with a witness only).', ['instance'], withWitness((w) => (w.lease === 'held' ? 1 : 0)));
    counter(r, 'haved_witness_requests_total', 'Lease requests sent to the witness.', ['instance'], withWitness((w) => w.counters.requests));
    counter(r, 'haved_witness_refused_total', 'Lease requests the witness refused (held by the peer, or just restarted).', ['instance'], withWitness((w) => w.counters.refused));
    counter(r, 'haved_witness_step_downs_total', 'Times the instance left MASTER because it had neither the lease nor a backup heard.', ['instance'], withWitness((w) => w.counters.stepDowns));
    counter(r, 'haved_vrrp_pauses_detected_total', 'Times this process was found to have been stopped or stalled.', ['instance'], perInstance((i) => i.counters.pausesDetected));

    const checkLabels = (c: HavedStatusView['checks'][number]) => ({ check: c.name, kind: c.kind });
    gauge(r, 'haved_check_state', 'State of a check or tracked script/interface (1 for the current one).', ['check', 'kind', 'state'], () =>
      st().checks.flatMap((c) => oneHot(checkLabels(c), 'state', CHECK_STATES, c.state)),
    );
    counter(r, 'haved_check_results_total', 'Probe results of a check, by result.', ['check', 'kind', 'result'], byKey(
      () => st().checks.map((c) => ({ labels: checkLabels(c), counts: c.results })), 'result', PROBE_RESULTS,
    ));
    stateHistogram(r, 'haved_check_duration_seconds', 'How long probes took (a timeout counts its full timeout).', PROBE_DURATION_BOUNDS_S, () =>
      st().checks.map((c) => ({ labels: checkLabels(c), counts: c.duration.le, count: c.duration.count, sum: c.duration.sumSeconds })),
    );

    counter(r, 'haved_notify_scripts_total', "Notify scripts run, by outcome ('failed': non-zero exit).", ['scope', 'name', 'outcome'], byKey(
      () => [
        ...st().instances.map((i) => ({ labels: { scope: 'instance', name: i.name }, counts: i.notifyOutcomes })),
        ...st().syncGroups.map((g) => ({ labels: { scope: 'group', name: g.name }, counts: g.notifyOutcomes })),
        { labels: { scope: 'real_server', name: '' }, counts: st().realServerNotifyOutcomes },
      ],
      'outcome',
      NOTIFY_OUTCOMES,
    ));

    const daemon = (which: 'cache' | 'proxy') => {
      const d = () => st()[which];
      gauge(r, `haved_${which}_daemon_state`, `State of the supervised ${which}_daemon (1 for the current one).`, ['state'], () => {
        const x = d();
        return x ? oneHot({}, 'state', PROCESS_STATES, x.state) : [];
      });
      counter(r, `haved_${which}_daemon_restarts_total`, `Restarts of the supervised ${which}_daemon.`, [], () => d()?.restarts ?? []);
      counter(r, `haved_${which}_daemon_failures_total`, `Unexpected exits of the supervised ${which}_daemon.`, [], () => d()?.failures ?? []);
    };
    daemon('cache');
    daemon('proxy');
    gauge(r, 'haved_cache_warm', "1 once the cache reports a complete copy (replication_state), 0 while cold or unknown.", [], () => {
      const c = st().cache;
      return c ? (c.warmth === 'warm' ? 1 : 0) : [];
    });
    gauge(r, 'haved_cache_replication_current', "1 while the cache's replication is current (every peer heard within 0.5 s, caught up), or it does not replicate; 0 blocks failback.", [], () => {
      const c = st().cache;
      return c ? (c.replicationCurrent === false ? 0 : 1) : [];
    });
    gauge(r, 'haved_cache_holding', '1 while a cold cache holds the instances at priority 1.', [], () => {
      const c = st().cache;
      return c ? (c.holding ? 1 : 0) : [];
    });
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  async scrape(): Promise<string> {
    this.#s = this.#source.status();
    return this.registry.metrics();
  }
}
