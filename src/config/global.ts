import { MetricsAddressError, parseMetricsAddress } from '../net/metrics-address.ts';
import type { Draft } from './draft.ts';
import { whereOf, type Token } from './lexer.ts';
import { checkIPv4, table, type Reader, type Table } from './reader.ts';
import { notifyFifoHandlers } from './notify-fifo.ts';

const HOUR_MS = 3_600_000;

/** `global_defs { … }` */
export function readGlobalDefs(r: Reader, opener: Token, d: Draft): void {
  const g = d.global;
  g.where = whereOf(opener);
  const fifos = notifyFifoHandlers(d, () => t);
  const t: Table = table([
    ...fifos.entries,
    ['router_id', (r, kw) => void (g.routerId = r.word(kw, 'a name'))],
    ['notification_email', (r, kw) => r.items(kw, 'notification_email', (addr) => g.notificationEmail.push(addr.text))],
    ['notification_email_from', (r, kw) => void (g.notificationEmailFrom = r.word(kw, 'an e-mail address'))],
    [
      'smtp_server',
      (r, kw) => {
        g.smtpServer = r.word(kw, 'an address [port]');
        r.optional(kw, t, (p) => /^\d+$/.test(p.text));
      },
    ],
    ['smtp_connect_timeout', (r, kw) => void (g.smtpConnectTimeoutMs = r.timerMs(kw, 1, HOUR_MS))],
    ['smtp_helo_name', (r, kw) => void r.word(kw, 'a name')],
    ['enable_script_security', () => void (g.enableScriptSecurity = true)],
    [
      'script_user',
      (r, kw) => {
        g.scriptUser = r.word(kw, 'a user name [group]');
        if (r.optional(kw, t)) r.warn(kw, 'script_user: the group is not supported by haved (ignored)');
      },
    ],
    [
      'vrrp_mcast_group4',
      (r, kw) => {
        const a = r.arg(kw, 'an IPv4 multicast address');
        g.mcastGroup4 = checkIPv4(r, a, kw.text);
        const first = Number(g.mcastGroup4.split('.')[0]);
        if (first < 224 || first > 239) r.fail(a, `vrrp_mcast_group4 must be a multicast address (224.0.0.0/4), got "${a.text}"`);
      },
    ],
    ['vrrp_udp_port', (r, kw) => void (g.advertPort = r.port(kw))],
    ['vrrp_garp_master_delay', (r, kw) => void (g.garpMasterDelayMs = r.timerMs(kw, 0, 1000_000))],
    ['vrrp_garp_master_repeat', (r, kw) => void (g.garpMasterRepeat = r.int(kw, 0, 1000))],
    ['vrrp_garp_master_refresh', (r, kw) => void (g.garpMasterRefreshMs = r.timerMs(kw, 0, 1000_000))],
    ['vrrp_garp_master_refresh_repeat', (r, kw) => void (g.garpMasterRefreshRepeat = r.int(kw, 1, 1000))],
    ['vrrp_garp_lower_prio_delay', (r, kw) => void (g.garpLowerPrioDelayMs = r.timerMs(kw, 0, 1000_000))],
    ['vrrp_garp_lower_prio_repeat', (r, kw) => void (g.garpLowerPrioRepeat = r.int(kw, 0, 1000))],
    [
      'metrics_listen',
      (r, kw) => {
        const a = r.arg(kw, 'ADDRESS:PORT');
        try {
          g.metricsListen = parseMetricsAddress(a.text);
        } catch (e) {
          if (!(e instanceof MetricsAddressError)) throw e;
          r.fail(a, e.message);
        }
      },
    ],
  ]);
  r.block(opener, 'global_defs', 'global_defs', t);
  fifos.check(r);
}
