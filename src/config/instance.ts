import { validate as validCron } from 'node-cron';
import type { Draft, InstanceDraft } from './draft.ts';
import { DEFAULTS } from './draft.ts';
import { whereOf, type Token } from './lexer.ts';
import type { Authentication, VirtualAddress, VrrpInstance } from './model.ts';
import { isIPv6 } from 'node:net';
import { checkIP, table, type Reader, type Table } from './reader.ts';
import { addVirtualRoute } from './virtual-routes.ts';
import { misplacedNotifyFifo } from './notify-fifo.ts';
import { readWitness } from './witness.ts';

const MAX_TIMER_MS = 1_000_000;
const SCOPES = new Set(['site', 'link', 'host', 'nowhere', 'global']);
/** virtual_ipaddress options haved accepts but does not apply (value-taking and flags). */
const IGNORED_VIP_OPTIONS = new Map([
  ['peer', 1], ['preferred_lft', 1], ['home', 0], ['-nodad', 0], ['nodad', 0], ['mngtmpaddr', 0],
  ['noprefixroute', 0], ['autojoin', 0], ['no_track', 0], ['use_vmac', 0],
]);

/** `vrrp_instance NAME { … }` */
export function readInstance(r: Reader, opener: Token, d: Draft): void {
  const name = r.arg(opener, 'an instance name');
  const dup = d.instances.find((i) => i.value.name === name.text);
  if (dup) r.fail(name, `duplicate vrrp_instance '${name.text}' (first defined at ${dup.value.where})`);
  const v: VrrpInstance = {
    name: name.text,
    state: 'BACKUP',
    interface: '',
    virtualRouterId: 0,
    priority: DEFAULTS.priority,
    advertIntMs: DEFAULTS.advertIntMs,
    nopreempt: false,
    preemptDelayMs: 0,
    authentication: null,
    virtualIpAddresses: [],
    virtualIpAddressesExcluded: [],
    virtualRoutes: [],
    dontTrackPrimary: false,
    unicastSrcIp: null,
    unicastPeers: [],
    allowedPeers: [],
    mcastSrcIp: null,
    trackScripts: [],
    trackInterfaces: [],
    notify: null,
    notifyMaster: null,
    notifyBackup: null,
    notifyFault: null,
    notifyStop: null,
    garpMasterDelayMs: 0,
    garpMasterRepeat: 0,
    garpMasterRefreshMs: 0,
    garpMasterRefreshRepeat: 0,
    garpLowerPrioRepeat: 0,
    garpLowerPrioDelayMs: 0,
    preemptSchedule: null,
    witness: null,
    where: whereOf(opener),
  };
  const draft: InstanceDraft = { value: v, opener, seen: new Map() };
  const seen = (kw: Token): void => void draft.seen.set(kw.text, kw);
  /** Where each unicast_peer / allowed_peers entry was read, for the family check. */
  const peerAt = new Map<string, string>();
  const t: Table = table([
    [
      'state',
      (r, kw) => {
        seen(kw);
        const s = r.arg(kw, 'MASTER or BACKUP');
        if (s.text === 'MASTER' || s.text === 'BACKUP') v.state = s.text;
        else {
          v.state = 'BACKUP';
          r.warn(s, `(${v.name}) unknown state '${s.text}', defaulting to BACKUP (values are case-sensitive: MASTER or BACKUP)`);
        }
      },
    ],
    ['interface', (r, kw) => (seen(kw), (v.interface = r.word(kw, 'an interface name')))],
    ['virtual_router_id', (r, kw) => (seen(kw), (v.virtualRouterId = r.int(kw, 1, 255)))],
    ['priority', (r, kw) => (seen(kw), (v.priority = r.int(kw, 1, 255)))],
    ['advert_int', (r, kw) => void (v.advertIntMs = r.timerMs(kw, 10, 255_000))],
    ['nopreempt', (_r, kw) => (seen(kw), (v.nopreempt = true))],
    ['preempt', () => void (v.nopreempt = false)],
    ['preempt_delay', (r, kw) => (seen(kw), (v.preemptDelayMs = r.timerMs(kw, 0, 1000_000)))],
    ['authentication', (r, kw) => void (v.authentication = readAuthentication(r, kw, v.name))],
    ['virtual_ipaddress', (r, kw) => r.items(kw, 'virtual_ipaddress', (first) => v.virtualIpAddresses.push(readVip(r, first)))],
    [
      'virtual_ipaddress_excluded',
      (r, kw) => r.items(kw, 'virtual_ipaddress_excluded', (first) => v.virtualIpAddressesExcluded.push(readVip(r, first, 'virtual_ipaddress_excluded'))),
    ],
    ['virtual_routes', (r, kw) => r.items(kw, 'virtual_routes', (first) => addVirtualRoute(r, v.virtualRoutes, first))],
    ['dont_track_primary', () => void (v.dontTrackPrimary = true)],
    [['notify_fifo', 'notify_fifo_script', 'vrrp_notify_fifo', 'vrrp_notify_fifo_script'], misplacedNotifyFifo],
    ['unicast_src_ip', (r, kw) => (seen(kw), (v.unicastSrcIp = r.ip(kw)))],
    ['mcast_src_ip', (r, kw) => (seen(kw), (v.mcastSrcIp = r.ip(kw)))],
    [
      'unicast_peer',
      (r, kw) => {
        seen(kw);
        r.items(kw, 'unicast_peer', (peer) => {
          v.unicastPeers.push(checkIP(r, peer, 'unicast_peer entry'));
          peerAt.set(peer.text, whereOf(peer));
          for (let o; (o = r.optional(peer, null, (x) => x.text === 'min_ttl' || x.text === 'max_ttl')); ) {
            r.int(o, 0, 255);
            r.warnOnce('ttl', o, `${o.text} is not supported by haved: the TTL of UDP adverts is not visible to Node (ignored)`);
          }
        });
      },
    ],
    [
      'allowed_peers',
      (r, kw) => {
        seen(kw);
        let entries = 0; // a bad entry is reported as such, not as an empty list
        r.items(kw, 'allowed_peers', (peer) => {
          entries++;
          v.allowedPeers.push(checkIP(r, peer, 'allowed_peers entry'));
          peerAt.set(peer.text, whereOf(peer));
        });
        if (entries === 0) r.fail(kw, `(${v.name}) allowed_peers needs at least one address (omit it to accept adverts from anyone)`);
      },
    ],
    [
      'track_script',
      (r, kw) =>
        r.items(kw, 'track_script', (name) => {
          const ref = { name: name.text, weight: null as number | null, reverse: false, where: whereOf(name) };
          readTrackOptions(r, name, ref, true);
          v.trackScripts.push(ref);
        }),
    ],
    [
      'track_interface',
      (r, kw) =>
        r.items(kw, 'track_interface', (name) => {
          const ref = { name: name.text, weight: 0 as number | null, reverse: false, where: whereOf(name) };
          readTrackOptions(r, name, ref, false);
          v.trackInterfaces.push({ ...ref, weight: ref.weight ?? 0 });
        }),
    ],
    ['notify', (r, kw) => void (v.notify = r.notify(kw, t))],
    ['notify_master', (r, kw) => void (v.notifyMaster = r.notify(kw, t))],
    ['notify_backup', (r, kw) => void (v.notifyBackup = r.notify(kw, t))],
    ['notify_fault', (r, kw) => void (v.notifyFault = r.notify(kw, t))],
    ['notify_stop', (r, kw) => void (v.notifyStop = r.notify(kw, t))],
    ['garp_master_delay', (r, kw) => (seen(kw), (v.garpMasterDelayMs = r.timerMs(kw, 0, MAX_TIMER_MS)))],
    ['garp_master_repeat', (r, kw) => (seen(kw), (v.garpMasterRepeat = r.int(kw, 0, 1000)))],
    ['garp_master_refresh', (r, kw) => (seen(kw), (v.garpMasterRefreshMs = r.timerMs(kw, 0, MAX_TIMER_MS)))],
    ['garp_master_refresh_repeat', (r, kw) => (seen(kw), (v.garpMasterRefreshRepeat = r.int(kw, 1, 1000)))],
    ['garp_lower_prio_delay', (r, kw) => (seen(kw), (v.garpLowerPrioDelayMs = r.timerMs(kw, 0, MAX_TIMER_MS)))],
    ['garp_lower_prio_repeat', (r, kw) => (seen(kw), (v.garpLowerPrioRepeat = r.int(kw, 0, 1000)))],
    [
      'preempt_schedule',
      (r, kw) => {
        const c = r.arg(kw, 'a cron expression in quotes, e.g. "* 2-4 * * *"');
        if (!validCron(c.text)) r.fail(c, `preempt_schedule must be a cron expression (node-cron syntax), got "${c.text}"`);
        v.preemptSchedule = c.text;
      },
    ],
    ['witness', (r, kw) => void (v.witness = readWitness(r, kw, v.name))],
  ]);
  r.block(opener, `vrrp_instance ${v.name}`, 'vrrp_instance', t);
  checkFamily(r, v, draft.seen, peerAt);
  d.instances.push(draft);
}

/** 6 for an IPv6 address, else 4. */
export function addressFamily(address: string): 4 | 6 {
  return isIPv6(address) ? 6 : 4;
}

/**
 * An instance's address family: its first VIP's, else its unicast_src_ip's or first unicast_peer's, else IPv4.
 * Adverts travel in that family (IPv6: multicast ff02::12 from the interface's link-local address).
 */
export function instanceFamily(v: Pick<VrrpInstance, 'virtualIpAddresses' | 'unicastSrcIp' | 'unicastPeers' | 'mcastSrcIp'>): 4 | 6 {
  const first = v.virtualIpAddresses[0]?.address ?? v.unicastSrcIp ?? v.unicastPeers[0] ?? v.mcastSrcIp;
  return first === undefined || first === null ? 4 : addressFamily(first);
}

/**
 * One address family per instance, as keepalived (which drops the odd addresses with a log line; a VIP that
 * silently never comes up is worse, so here it is an error).
 */
function checkFamily(r: Reader, v: VrrpInstance, seen: ReadonlyMap<string, Token>, peerAt: ReadonlyMap<string, string>): void {
  const family = instanceFamily(v);
  const name = (f: 4 | 6) => (f === 6 ? 'IPv6' : 'IPv4');
  const basis = v.virtualIpAddresses[0]
    ? `its first virtual_ipaddress ${v.virtualIpAddresses[0].address} (${v.virtualIpAddresses[0].where})`
    : `its ${v.unicastSrcIp ? 'unicast_src_ip' : 'first unicast_peer'}`;
  const odd = (what: string, address: string) =>
    `(${v.name}) ${what} ${address} is ${name(addressFamily(address))} but the instance is ${name(family)} (from ${basis}): one address family per vrrp_instance; use another vrrp_instance (or virtual_ipaddress_excluded) for the other family`;
  for (const vip of v.virtualIpAddresses) if (addressFamily(vip.address) !== family) r.error(vip.where, odd('virtual_ipaddress', vip.address));
  const at = (kw: string) => seen.get(kw) ?? v.where;
  const peer = (kw: string, p: string) => peerAt.get(p) ?? at(kw);
  if (v.unicastSrcIp && addressFamily(v.unicastSrcIp) !== family) r.error(at('unicast_src_ip'), odd('unicast_src_ip', v.unicastSrcIp));
  if (v.mcastSrcIp && addressFamily(v.mcastSrcIp) !== family) r.error(at('mcast_src_ip'), odd('mcast_src_ip', v.mcastSrcIp));
  else if (v.mcastSrcIp && family === 6) {
    r.error(at('mcast_src_ip'), `(${v.name}) mcast_src_ip is not supported for IPv6: IPv6 adverts leave from the interface's link-local address (omit it)`);
  }
  for (const p of v.unicastPeers) if (addressFamily(p) !== family) r.error(peer('unicast_peer', p), odd('unicast_peer', p));
  for (const p of v.allowedPeers) if (addressFamily(p) !== family) r.error(peer('allowed_peers', p), odd('allowed_peers entry', p));
}

function readTrackOptions(
  r: Reader,
  name: Token,
  ref: { weight: number | null; reverse: boolean },
  scriptRef: boolean,
): void {
  for (;;) {
    const o = r.optional(name, null, (x) => ['weight', 'reverse', 'noreverse'].includes(x.text));
    if (!o) return;
    if (o.text === 'weight') ref.weight = r.int(o, -253, 253);
    else ref.reverse = o.text === 'reverse';
    if (o.text === 'reverse' && !scriptRef && ref.weight === 0) {
      r.warn(o, `track_interface ${name.text}: reverse needs a non-zero weight`);
    }
  }
}

function readAuthentication(r: Reader, opener: Token, instance: string): Authentication {
  let type: Token | undefined;
  let pass: Token | undefined;
  r.block(
    opener,
    'authentication',
    'authentication',
    table([
      ['auth_type', (r, kw) => void (type = r.arg(kw, 'PASS, AH or HMAC'))],
      ['auth_pass', (r, kw) => void (pass = r.arg(kw, 'a password'))],
    ]),
  );
  if (!type) r.fail(opener, `(${instance}) authentication needs 'auth_type PASS|AH|HMAC'`);
  if (type.text !== 'PASS' && type.text !== 'AH' && type.text !== 'HMAC') {
    r.fail(type, `auth_type must be PASS, AH or HMAC, got "${type.text}"`);
  }
  if (!pass) r.fail(opener, `(${instance}) authentication needs 'auth_pass SECRET'`);
  if (pass.text === '') r.fail(pass, 'auth_pass must not be empty');
  let secret = pass.text;
  if (type.text === 'HMAC') {
    if (secret.length < 16) r.warn(pass, `(${instance}) HMAC key is shorter than 16 characters; use a longer random key`);
  } else {
    if (type.text === 'AH') {
      r.warn(type, `(${instance}) auth_type AH (IPsec) cannot be done over UDP; haved checks the password like PASS - prefer HMAC`);
    }
    if (secret.length > 8) {
      r.warn(pass, `(${instance}) Truncating auth_pass to 8 characters (keepalived's rule)`);
      secret = secret.slice(0, 8);
    }
  }
  return { type: type.text, secret, where: whereOf(type) };
}

function readVip(r: Reader, first: Token, block = 'virtual_ipaddress'): VirtualAddress {
  const [addr, mask, extra] = first.text.split('/');
  const ip = checkIP(r, { ...first, text: addr }, `${block} entry`);
  const six = isIPv6(ip);
  const max = six ? 128 : 32;
  let prefix = max;
  if (extra !== undefined || (mask !== undefined && !/^\d{1,3}$/.test(mask)) || Number(mask) > max) {
    r.fail(first, `${block} entry must be IP[/PREFIX] with PREFIX 0..${max}, got "${first.text}"`);
  }
  if (mask !== undefined) prefix = Number(mask);
  const vip: VirtualAddress = { address: ip, prefix, dev: null, brd: null, scope: null, label: null, where: whereOf(first) };
  const isOption = (x: Token): boolean => ['dev', 'brd', 'label', 'scope'].includes(x.text) || IGNORED_VIP_OPTIONS.has(x.text);
  for (let o; (o = r.optional(first, null, isOption)); ) {
    if (o.text === 'dev') vip.dev = r.word(o, 'an interface name');
    else if (o.text === 'label') {
      vip.label = r.word(o, 'a label like eth0:1');
      if (six) r.fail(o, `virtual_ipaddress ${ip}: label is for IPv4 addresses only (iproute2 has no IPv6 labels)`);
    } else if (o.text === 'brd') {
      if (six) r.fail(o, `virtual_ipaddress ${ip}: brd is for IPv4 addresses only (IPv6 has no broadcast)`);
      vip.brd = r.ipv4(o, 'brd');
    }
    else if (o.text === 'scope') {
      const s = r.arg(o, 'site|link|host|nowhere|global');
      if (!SCOPES.has(s.text) && !/^\d+$/.test(s.text)) r.fail(s, `scope must be site, link, host, nowhere or global, got "${s.text}"`);
      vip.scope = s.text;
    } else {
      if (IGNORED_VIP_OPTIONS.get(o.text) === 1) r.arg(o, 'a value');
      r.warn(o, `${block} option '${o.text}' is not supported by haved (ignored)`);
    }
  }
  return vip;
}
