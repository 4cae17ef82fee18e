import type { Draft } from './draft.ts';
import { DEFAULTS } from './draft.ts';
import { whereOf, type Token } from './lexer.ts';
import type { CheckKind, HealthCheck, RealServer, VirtualServer } from './model.ts';
import { checkIPv4, table, type Handler, type Reader, type Table } from './reader.ts';

const MAX_TIMER_MS = 1_000_000;
const CHECKS: readonly CheckKind[] = ['TCP_CHECK', 'MEMCACHE_CHECK'];
const UNSUPPORTED_CHECKS = ['HTTP_GET', 'SSL_GET', 'SMTP_CHECK', 'DNS_CHECK', 'MISC_CHECK', 'BFD_CHECK', 'UDP_CHECK', 'PING_CHECK', 'FILE_CHECK'];
const LB_ONLY = 'haved does not load-balance; ignored';
const LB_KEYS = 'lb_algo, lb_kind, persistence_timeout, protocol, weight, sorry_server';

/** Checker timings that a virtual_server passes to its real_servers, and those to their checks. */
interface Timings {
  connectTimeoutMs: number;
  retry: number;
  delayBeforeRetryMs: number;
  delayLoopMs: number;
}

type Level = Partial<Timings>;

const TIMING_DEFAULTS: Timings = {
  connectTimeoutMs: DEFAULTS.connectTimeoutMs,
  retry: DEFAULTS.retry,
  delayBeforeRetryMs: DEFAULTS.delayBeforeRetryMs,
  delayLoopMs: DEFAULTS.delayLoopMs,
};

/** The innermost level that sets a timing wins (check, then real_server, then virtual_server). */
function resolveTimings(...levels: Level[]): Timings {
  const out = { ...TIMING_DEFAULTS };
  for (const key of Object.keys(out) as Array<keyof Timings>) {
    for (const level of levels) {
      const v = level[key];
      if (v !== undefined) {
        out[key] = v;
        break;
      }
    }
  }
  return out;
}

function timingHandlers(tm: Level): Array<[string | string[], Handler]> {
  return [
    ['connect_timeout', (r, kw) => void (tm.connectTimeoutMs = r.timerMs(kw, 1, MAX_TIMER_MS))],
    ['retry', (r, kw) => void (tm.retry = r.int(kw, 0, 1_000_000))],
    [
      'nb_get_retry',
      (r, kw) => {
        r.warnOnce('nb_get_retry', kw, "nb_get_retry is not a TCP_CHECK keyword in keepalived (it ignores it); haved reads it as 'retry'");
        tm.retry = r.int(kw, 0, 1_000_000);
      },
    ],
    ['delay_before_retry', (r, kw) => void (tm.delayBeforeRetryMs = r.timerMs(kw, 0, MAX_TIMER_MS))],
    ['delay_loop', (r, kw) => void (tm.delayLoopMs = r.timerMs(kw, 1, MAX_TIMER_MS))],
  ];
}

/** Accept a load-balancer keyword with `arity` arguments and report it once per config. */
function lbOnly(arity: number, accept?: (r: Reader, args: Token[]) => void): Handler {
  return (r, kw) => {
    const args: Token[] = [];
    for (let i = 0; i < arity; i++) args.push(r.arg(kw, arity === 1 ? 'a value' : `${arity} values`));
    accept?.(r, args);
    r.warnOnce('lb-only', kw, `${kw.text}: ${LB_ONLY} (reported once for ${LB_KEYS})`);
  };
}

/** `virtual_server IP PORT { … }` */
export function readVirtualServer(r: Reader, opener: Token, d: Draft): void {
  const first = r.arg(opener, 'IP PORT');
  if (first.text === 'fwmark' || first.text === 'group') r.fail(first, `virtual_server ${first.text} is not supported by haved; use virtual_server IP PORT`);
  const address = checkIPv4(r, first, 'virtual_server address');
  const port = r.port(opener, 'virtual_server port');
  const vs: VirtualServer = {
    address,
    port,
    delayLoopMs: DEFAULTS.delayLoopMs,
    protocol: 'TCP',
    sorryServer: null,
    realServers: [],
    vipInstances: [],
    where: whereOf(opener),
  };
  const tm: Level = {};
  /** Checks get their timings once the whole virtual_server is read (a later delay_loop still applies). */
  const pending: Array<{ check: HealthCheck; levels: Level[] }> = [];
  const t: Table = table([
    ...timingHandlers(tm),
    [['lb_algo', 'lvs_sched'], lbOnly(1)],
    [['lb_kind', 'lvs_method'], lbOnly(1)],
    ['persistence_timeout', lbOnly(1)],
    [
      'protocol',
      lbOnly(1, (r, [p]) => {
        if (p.text === 'TCP' || p.text === 'UDP') vs.protocol = p.text;
        else r.fail(p, `protocol must be TCP or UDP, got "${p.text}"`);
      }),
    ],
    [
      'sorry_server',
      lbOnly(2, (r, [ip, p]) => {
        const port = r.portOf(p, 'sorry_server port');
        vs.sorryServer = { address: checkIPv4(r, ip, 'sorry_server address'), port };
      }),
    ],
    ['real_server', (r, kw) => vs.realServers.push(readRealServer(r, kw, tm, pending, d))],
  ]);
  r.block(opener, `virtual_server ${address} ${port}`, 'virtual_server', t);
  vs.delayLoopMs = tm.delayLoopMs ?? DEFAULTS.delayLoopMs;
  for (const { check, levels } of pending) Object.assign(check, resolveTimings(...levels));
  d.virtualServers.push(vs);
}

function readRealServer(
  r: Reader,
  opener: Token,
  vsLevel: Level,
  pending: Array<{ check: HealthCheck; levels: Level[] }>,
  d: Draft,
): RealServer {
  const tm: Level = {};
  const address = r.ipv4(opener, 'real_server address');
  const port = r.port(opener, 'real_server port');
  const rs: RealServer = {
    address,
    port,
    weight: DEFAULTS.realServerWeight,
    notifyUp: null,
    notifyDown: null,
    checks: [],
    local: d.localAddresses.has(address),
    where: whereOf(opener),
  };
  const t: Table = table([
    ...timingHandlers(tm),
    ['weight', lbOnly(1, (r, [w]) => void (rs.weight = parseWeight(r, w)))],
    ['notify_up', (r, kw) => void (rs.notifyUp = r.notify(kw, t))],
    ['notify_down', (r, kw) => void (rs.notifyDown = r.notify(kw, t))],
    ...CHECKS.map((kind): [string, Handler] => [kind, (r, kw) => {
        const level: Level = {};
        const check = readCheck(r, kw, kind, level);
        rs.checks.push(check);
        pending.push({ check, levels: [level, tm, vsLevel] });
      }]),
    ...UNSUPPORTED_CHECKS.map(
      (kind): [string, Handler] => [kind, (r, kw) => r.skipUnknown(kw, 'real_server', t, `${kind} is not supported by haved (use TCP_CHECK or MEMCACHE_CHECK); ignored`)],
    ),
  ]);
  r.block(opener, `real_server ${address} ${port}`, 'real_server', t);
  if (rs.local) {
    r.warnOnce(
      `local:${address}:${port}`,
      opener,
      `real_server ${address} ${port} is this host: haved tracks it as the local cache - when its checks fail it runs notify_down and puts the VRRP instances in FAULT so the peer takes over (keepalived would only run notify_down)`,
    );
  }
  return rs;
}

function parseWeight(r: Reader, w: Token): number {
  if (!/^\d+$/.test(w.text) || Number(w.text) > 65535) r.fail(w, `weight must be an integer 0..65535, got "${w.text}"`);
  return Number(w.text);
}

function readCheck(r: Reader, opener: Token, kind: CheckKind, tm: Level): HealthCheck {
  const c: HealthCheck = {
    kind,
    connectIp: null,
    connectPort: null,
    bindTo: null,
    connectTimeoutMs: 0,
    retry: 0,
    delayBeforeRetryMs: 0,
    delayLoopMs: 0,
    where: whereOf(opener),
  };
  const t: Table = table([
    ...timingHandlers(tm),
    ['connect_ip', (r, kw) => void (c.connectIp = r.ipv4(kw))],
    ['connect_port', (r, kw) => void (c.connectPort = r.port(kw))],
    ['bindto', (r, kw) => void (c.bindTo = r.ipv4(kw))],
  ]);
  r.block(opener, kind, kind, t);
  return c;
}
