import type { Draft, InstanceDraft } from './draft.ts';
import { DEFAULTS } from './draft.ts';
import { whereOf } from './lexer.ts';
import type { Reader } from './reader.ts';

/** haved's advert carries at most this many addresses (keepalived's VRRP packets 20, then it warns). */
const MAX_ADVERT_VIPS = 255;

/** Defaults that depend on other keywords, and checks across blocks (after everything is read). */
export function resolve(r: Reader, d: Draft): void {
  for (const i of d.instances) resolveInstance(r, d, i);
  checkVrids(r, d);
  checkSyncGroups(r, d);
  for (const vs of d.virtualServers) {
    vs.vipInstances = d.instances.filter((i) => i.value.virtualIpAddresses.some((v) => v.address === vs.address)).map((i) => i.value.name);
  }
}

function resolveInstance(r: Reader, d: Draft, draft: InstanceDraft): void {
  const { value: v, seen, opener } = draft;
  const label = `vrrp_instance ${v.name}`;
  if (!seen.has('interface')) r.error(opener, `${label} needs 'interface IFNAME'`);
  if (!seen.has('virtual_router_id')) r.error(opener, `${label} needs 'virtual_router_id 1..255'`);
  if (!seen.has('interface') || !seen.has('virtual_router_id')) draft.broken = true;

  // keepalived: no priority → 255 for state MASTER, else 100; no state → derived from the priority.
  if (!seen.has('priority')) v.priority = v.state === 'MASTER' ? DEFAULTS.ownerPriority : DEFAULTS.priority;
  else if (!seen.has('state')) v.state = v.priority === DEFAULTS.ownerPriority ? 'MASTER' : 'BACKUP';

  const nopreempt = seen.get('nopreempt');
  if (v.nopreempt && v.priority === DEFAULTS.ownerPriority) {
    r.warn(nopreempt ?? opener, `(${v.name}) nopreempt is incompatible with priority 255 - resetting nopreempt (as keepalived)`);
    v.nopreempt = false;
  }
  if (v.nopreempt && v.state === 'MASTER') {
    r.warn(
      nopreempt ?? opener,
      `(${v.name}) state MASTER with nopreempt: keepalived would clear nopreempt; haved keeps it, so a recovered node does not take the VIP back`,
    );
  }
  const delay = seen.get('preempt_delay');
  if (delay && v.preemptDelayMs > 0 && (v.nopreempt || v.state === 'MASTER')) {
    r.warn(delay, `(${v.name}) preempt_delay does nothing with ${v.nopreempt ? 'nopreempt' : 'state MASTER'} - clearing it (as keepalived)`);
    v.preemptDelayMs = 0;
  }

  const g = d.global;
  if (!seen.has('garp_master_delay')) v.garpMasterDelayMs = g.garpMasterDelayMs;
  if (!seen.has('garp_master_repeat')) v.garpMasterRepeat = g.garpMasterRepeat;
  if (!seen.has('garp_master_refresh')) v.garpMasterRefreshMs = g.garpMasterRefreshMs;
  if (!seen.has('garp_master_refresh_repeat')) v.garpMasterRefreshRepeat = g.garpMasterRefreshRepeat;
  if (!seen.has('garp_lower_prio_delay')) v.garpLowerPrioDelayMs = g.garpLowerPrioDelayMs ?? v.garpMasterDelayMs;
  if (!seen.has('garp_lower_prio_repeat')) v.garpLowerPrioRepeat = g.garpLowerPrioRepeat ?? v.garpMasterRepeat;

  const mcastSrc = seen.get('mcast_src_ip');
  if (mcastSrc && v.unicastPeers.length > 0) {
    r.error(
      whereOf(mcastSrc),
      `(${v.name}) mcast_src_ip cannot be mixed with unicast_peer: use unicast_src_ip with unicast_peer, or multicast without unicast_peer`,
    );
  }
  const ucastSrc = seen.get('unicast_src_ip');
  if (ucastSrc && v.unicastPeers.length === 0) {
    r.warn(ucastSrc, `(${v.name}) unicast_src_ip without unicast_peer: adverts go to the multicast group ${g.mcastGroup4}`);
  }
  if (v.unicastSrcIp && v.unicastPeers.includes(v.unicastSrcIp)) {
    r.error(whereOf(ucastSrc ?? opener), `(${v.name}) unicast_peer lists our own unicast_src_ip ${v.unicastSrcIp}`);
  }
  const allowed = seen.get('allowed_peers');
  if (allowed && v.unicastPeers.length > 0) {
    r.warn(allowed, `(${v.name}) allowed_peers is for multicast: with unicast_peer only the unicast peers' adverts are accepted (allowed_peers ignored)`);
    v.allowedPeers = [];
  }
  const auth = v.authentication;
  if (auth && auth.type !== 'HMAC') {
    const how =
      v.unicastPeers.length > 0 || v.allowedPeers.length > 0
        ? "by spoofing a peer's address"
        : 'from any address (no unicast_peer or allowed_peers)';
    r.warn(auth.where, `(${v.name}) auth_type ${auth.type} is cleartext: anyone who sees one advert can forge others and take the VIP away ${how}; use auth_type HMAC`);
  }

  for (const ref of v.trackScripts) {
    if (!d.scripts.has(ref.name)) {
      const known = [...d.scripts.keys()];
      r.error(
        ref.where,
        `(${v.name}) track_script '${ref.name}' is not a defined vrrp_script${known.length ? ` (defined: ${known.join(', ')})` : ''}`,
      );
    }
  }
  if (v.virtualIpAddresses.length === 0 && v.virtualIpAddressesExcluded.length === 0) r.warn(opener, `(${v.name}) has no virtual_ipaddress`);
  if (v.virtualIpAddresses.length > MAX_ADVERT_VIPS) {
    r.error(
      v.virtualIpAddresses[MAX_ADVERT_VIPS]!.where,
      `(${v.name}) at most ${MAX_ADVERT_VIPS} virtual_ipaddress entries fit in an advert (${v.virtualIpAddresses.length} listed): put the others in virtual_ipaddress_excluded`,
    );
  }
  const vips = new Map<string, string>();
  for (const vip of [...v.virtualIpAddresses, ...v.virtualIpAddressesExcluded]) {
    const first = vips.get(vip.address);
    if (first) r.error(vip.where, `(${v.name}) virtual_ipaddress ${vip.address} is listed twice (first at ${first})`);
    else vips.set(vip.address, vip.where);
  }
}

function checkVrids(r: Reader, d: Draft): void {
  const byKey = new Map<string, InstanceDraft>();
  for (const i of d.instances) {
    if (i.broken) continue;
    const v = i.value;
    const key = `${v.interface}/${v.virtualRouterId}`;
    const other = byKey.get(key);
    if (other) {
      r.error(
        whereOf(i.seen.get('virtual_router_id') ?? i.opener),
        `virtual_router_id ${v.virtualRouterId} on ${v.interface} is already used by vrrp_instance ${other.value.name} (${other.value.where})`,
      );
      continue;
    }
    byKey.set(key, i);
  }
}

/** Members exist and are in one group only (each member checked, every problem reported). */
function checkSyncGroups(r: Reader, d: Draft): void {
  const groupOf = new Map<string, string>();
  for (const g of d.syncGroups) {
    for (const m of d.groupMembers.get(g) ?? []) {
      if (!d.instances.some((i) => i.value.name === m.text)) {
        r.error(m, `vrrp_sync_group ${g.name}: '${m.text}' is not a vrrp_instance`);
        continue;
      }
      const other = groupOf.get(m.text);
      if (other !== undefined) {
        r.error(m, `vrrp_sync_group ${g.name}: vrrp_instance ${m.text} is already in vrrp_sync_group ${other} (an instance can be in one group only)`);
        continue;
      }
      groupOf.set(m.text, g.name);
      const member = d.instances.find((i) => i.value.name === m.text)!.value;
      if (member.witness) r.error(m, `vrrp_sync_group ${g.name}: vrrp_instance ${m.text} has a witness, which haved does not support in a sync group (the group would promote it without the lease)`);
    }
    if (g.members.length === 0) r.error(g.where, `vrrp_sync_group ${g.name} needs 'group { INSTANCE … }'`);
    if (g.members.length === 1) {
      r.warn(
        g.where,
        `vrrp_sync_group ${g.name} has only 1 virtual router - this probably isn't what you want (as keepalived warns)`,
      );
    }
  }
}
