import type { HaDaemon } from './daemon.ts';

export type DaemonStatus = ReturnType<HaDaemon['status']>;

/** `haved status` text: one block per instance (state, priority, VIPs, faults), then the checks. */
export function formatStatus(s: DaemonStatus): string {
  const out: string[] = [];
  out.push(`haved pid ${s.pid}, config ${s.configFile}, started ${s.startedAt}, state at ${s.updatedAt}${s.stopping ? ' (stopping)' : ''}`);
  if (s.vipManagement && s.vipManagement !== 'on') out.push(`VIP management ${s.vipManagement}`);
  if (s.gratuitousArp?.startsWith('impossible')) out.push(`gratuitous ARP ${s.gratuitousArp}`);
  if (s.maintenanceSince) out.push(`MAINTENANCE since ${s.maintenanceSince}: no instance claims a VIP ('haved maintenance off' ends it)`);
  if (s.cache) {
    const c = s.cache;
    const warm = c.warmth === 'warm' ? 'warm' : `${c.warmth}${c.coldForMs !== null ? ` for ${Math.round(c.coldForMs)} ms` : ''} (holding: no preemption)`;
    out.push(`cache ${c.state}${c.pid !== null ? ` pid ${c.pid}` : ''}  restarts ${c.restarts}  ${warm}  replication_state ${c.replicationState ?? '-'}  port ${c.checkPort}`);
    const heard = c.peersHeardMsAgo === null ? '' : ` (peers heard ${c.peersHeardMsAgo} ms ago)`;
    if (!c.replicationCurrent) out.push(`  replication not current${heard}: failback waits (taking over from a master that is gone does not)`);
    else if (c.peersHeardMsAgo !== null) out.push(`  replication current${heard}`);
    out.push(`  command: ${c.argv.join(' ')}`);
    if (c.lastExit) out.push(`  last exit: ${c.lastExit}${c.nextStartInMs !== null ? `; next start in ${c.nextStartInMs} ms` : ''}`);
    if (c.lastWarmUpMs !== null) out.push(`  last warm-up took ${Math.round(c.lastWarmUpMs)} ms`);
  }
  if (s.proxy) {
    const p = s.proxy;
    out.push(`proxy ${p.state}${p.pid !== null ? ` pid ${p.pid}` : ''}  restarts ${p.restarts}  port ${p.port}`);
    out.push(`  command: ${p.argv.join(' ')}`);
    if (p.lastExit) out.push(`  last exit: ${p.lastExit}${p.nextStartInMs !== null ? `; next start in ${p.nextStartInMs} ms` : ''}`);
  }
  for (const i of s.instances) {
    const base = i.priorityOverride != null ? `override ${i.priorityOverride}, configured ${i.basePriority}` : `base ${i.basePriority}`;
    const prio = i.priority === i.basePriority && i.priorityOverride == null ? `${i.priority}` : `${i.priority} (${base})`;
    out.push(`instance ${i.name}: ${i.state}  priority ${prio}  vrid ${i.vrid} on ${i.interface}  ${i.transport}  auth ${i.auth}`);
    out.push(`  VIPs ${i.vipsInstalled ? '(installed)' : '(not installed)'}: ${i.vips.join(', ') || 'none'}`);
    if (i.master) out.push(`  master: ${i.master.nodeId} priority ${i.master.priority}`);
    if (i.preemptSchedule) out.push(`  preempt_schedule "${i.preemptSchedule.schedule}": ${i.preemptSchedule.open ? `window open (closes in ${i.preemptSchedule.closesInMs} ms)` : 'outside the window (failback deferred)'}`);
    if (i.faults.length > 0) out.push(`  faults: ${i.faults.join('; ')}`);
    if (i.witness) out.push(`  ${formatWitness(i.witness)}`);
    if (i.lastTransition) out.push(`  last transition ${i.lastTransition.from} -> ${i.lastTransition.to} at ${i.lastTransition.at}: ${i.lastTransition.reason}`);
    const drops = Object.entries(i.dropped).map(([k, n]) => `${k} ${n}`).join(', ');
    const extra = [
      drops ? `dropped ${drops}` : '',
      i.counters.announcements ? `re-announced ${i.counters.announcements}` : '',
      i.counters.pausesDetected ? `pauses ${i.counters.pausesDetected}` : '',
    ].filter(Boolean);
    out.push(`  adverts sent ${i.counters.advertsSent}, received ${i.counters.advertsReceived}${extra.map((e) => `, ${e}`).join('')}`);
  }
  for (const g of s.syncGroups) out.push(`sync group ${g.name}: ${g.state} (${g.members.map((m) => `${m.name} ${m.state}`).join(', ')})`);
  for (const c of s.checks) out.push(`check ${c.name}: ${c.state}${c.local ? ' (local cache: drives FAULT)' : ''}  last: ${c.last || '-'}`);
  return out.join('\n');
}

function formatWitness(w: NonNullable<DaemonStatus['instances'][number]['witness']>): string {
  const lease = w.lease === 'held' ? `lease held (${w.leaseLeftMs} ms left)` : `no lease${w.holder ? ` (held by ${w.holder})` : ''}`;
  const peer = w.peerHeardMsAgo === null ? 'peer not heard' : `peer heard ${w.peerHeardMsAgo} ms ago`;
  const drops = Object.entries(w.dropped).map(([k, n]) => `${k} ${n}`).join(', ');
  const c = w.counters;
  return (
    `witness ${w.address}: ${lease}, last answer ${w.lastVerdict ?? '-'}, ${peer}${w.waiting ? ', waiting for the lease to become MASTER' : ''}; ` +
    `requests ${c.requests}, granted ${c.granted}, refused ${c.refused}, step-downs ${c.stepDowns}${drops ? `, dropped ${drops}` : ''}`
  );
}
