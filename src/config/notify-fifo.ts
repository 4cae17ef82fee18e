import { isAbsolute } from 'node:path';
import type { Draft } from './draft.ts';
import { whereOf, type Token } from './lexer.ts';
import type { NotifyCommand, NotifyFifo } from './model.ts';
import type { Handler, Reader, Table } from './reader.ts';

/**
 * global_defs `notify_fifo PATH [user [group]]`, `notify_fifo_script SCRIPT [user [group]]` and their `vrrp_`
 * forms (keepalived writes the vrrp lines to both). Returns the handlers for the global_defs table; `check`
 * runs after the block (a script needs its FIFO, two FIFOs cannot share a path).
 */
export function notifyFifoHandlers(d: Draft, table: () => Table): { entries: Array<[string, Handler]>; check(r: Reader): void } {
  const scripts = new Map<string, { cmd: NotifyCommand; kw: Token }>();
  const fifo = (r: Reader, kw: Token): void => {
    const path = r.arg(kw, 'the path of a FIFO');
    if (!isAbsolute(path.text)) r.fail(path, `${kw.text} must be an absolute path, got "${path.text}"`);
    const user = r.optional(kw, table());
    const group = user ? r.optional(kw, table()) : undefined;
    const other = d.global.notifyFifos.find((f) => f.path === path.text || f.keyword === kw.text);
    if (other) r.fail(kw, `${kw.text} ${path.text}: ${other.keyword === kw.text ? `${kw.text} is already set` : 'the FIFO names must all be different'} (${other.keyword} at ${other.where})`);
    d.global.notifyFifos.push({ keyword: kw.text, path: path.text, user: user?.text ?? null, group: group?.text ?? null, script: null, where: whereOf(kw) });
  };
  const script = (r: Reader, kw: Token): void => {
    const cmd = r.notify(kw, table());
    scripts.set(kw.text.replace(/_script$/, ''), { cmd, kw });
  };
  return {
    entries: [
      ['notify_fifo', fifo],
      ['vrrp_notify_fifo', fifo],
      ['notify_fifo_script', script],
      ['vrrp_notify_fifo_script', script],
    ],
    check(r: Reader): void {
      for (const [keyword, { cmd, kw }] of scripts) {
        const f = d.global.notifyFifos.find((x) => x.keyword === keyword);
        if (!f) r.error(kw, `${kw.text} needs '${keyword} PATH' in global_defs (the script is given the FIFO's path)`);
        else f.script = cmd;
      }
    },
  };
}

/** notify_fifo inside a vrrp_instance or vrrp_sync_group: keepalived reads it only in global_defs. */
export const misplacedNotifyFifo: Handler = (r, kw) => {
  r.fail(kw, `${kw.text} belongs in global_defs (one FIFO carries every instance's and sync group's lines, as in keepalived)`);
};

export type { NotifyFifo };
