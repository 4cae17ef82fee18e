import type { Draft } from './draft.ts';
import { whereOf, type Token } from './lexer.ts';
import type { SyncGroup } from './model.ts';
import { table, type Reader, type Table } from './reader.ts';
import { misplacedNotifyFifo } from './notify-fifo.ts';

/** `vrrp_sync_group NAME { group { … } notify… }` */
export function readSyncGroup(r: Reader, opener: Token, d: Draft): void {
  const name = r.arg(opener, 'a group name');
  const dup = d.syncGroups.find((g) => g.name === name.text);
  if (dup) r.fail(name, `duplicate vrrp_sync_group '${name.text}' (first defined at ${dup.where})`);
  const g: SyncGroup = {
    name: name.text,
    members: [],
    notify: null,
    notifyMaster: null,
    notifyBackup: null,
    notifyFault: null,
    notifyStop: null,
    where: whereOf(opener),
  };
  const memberTokens: Token[] = [];
  const t: Table = table([
    ['group', (r, kw) => r.items(kw, 'group', (m) => void memberTokens.push(m))],
    ['notify', (r, kw) => void (g.notify = r.notify(kw, t))],
    ['notify_master', (r, kw) => void (g.notifyMaster = r.notify(kw, t))],
    ['notify_backup', (r, kw) => void (g.notifyBackup = r.notify(kw, t))],
    ['notify_fault', (r, kw) => void (g.notifyFault = r.notify(kw, t))],
    ['notify_stop', (r, kw) => void (g.notifyStop = r.notify(kw, t))],
    [['notify_fifo', 'notify_fifo_script', 'vrrp_notify_fifo', 'vrrp_notify_fifo_script'], misplacedNotifyFifo],
  ]);
  r.block(opener, `vrrp_sync_group ${g.name}`, 'vrrp_sync_group', t);
  g.members = memberTokens.map((m) => m.text);
  d.groupMembers.set(g, memberTokens);
  d.syncGroups.push(g);
}
