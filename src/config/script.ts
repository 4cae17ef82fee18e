import type { Draft } from './draft.ts';
import { DEFAULTS } from './draft.ts';
import { whereOf, type Token } from './lexer.ts';
import type { VrrpScript } from './model.ts';
import { table, type Reader, type Table } from './reader.ts';

const MAX_TIMER_MS = 1_000_000;

/** `vrrp_script NAME { … }` */
export function readScript(r: Reader, opener: Token, d: Draft): void {
  const name = r.arg(opener, 'a script name');
  const dup = d.scripts.get(name.text);
  if (dup) r.fail(name, `duplicate vrrp_script '${name.text}' (first defined at ${dup.where})`);
  const s: VrrpScript = {
    name: name.text,
    script: [],
    intervalMs: DEFAULTS.scriptIntervalMs,
    timeoutMs: -1,
    weight: 0,
    rise: 1,
    fall: 1,
    user: null,
    initFail: false,
    where: whereOf(opener),
  };
  let scriptKeyword = false;
  const t: Table = table([
    [
      'script',
      (r, kw) => {
        scriptKeyword = true;
        s.script = r.commandLine(kw, t, 'a command', 'a command').argv;
      },
    ],
    ['interval', (r, kw) => void (s.intervalMs = r.timerMs(kw, 1, MAX_TIMER_MS))],
    ['timeout', (r, kw) => void (s.timeoutMs = r.timerMs(kw, 1, MAX_TIMER_MS))],
    [
      'weight',
      (r, kw) => {
        s.weight = r.int(kw, -253, 253);
        if (r.optional(kw, t, (x) => x.text === 'reverse' || x.text === 'noreverse')) {
          r.warn(kw, `vrrp_script ${s.name}: reverse is only supported on the track_script line (ignored)`);
        }
      },
    ],
    ['rise', (r, kw) => void (s.rise = r.int(kw, 1, 1_000_000))],
    ['fall', (r, kw) => void (s.fall = r.int(kw, 1, 1_000_000))],
    [
      'user',
      (r, kw) => {
        s.user = r.word(kw, 'a user name [group]');
        if (r.optional(kw, t)) r.warn(kw, `vrrp_script ${s.name}: the group is not supported by haved (ignored)`);
      },
    ],
    ['init_fail', () => void (s.initFail = true)],
  ]);
  r.block(opener, `vrrp_script ${s.name}`, 'vrrp_script', t);
  if (!scriptKeyword) r.fail(opener, `vrrp_script ${s.name} needs 'script "COMMAND [ARGS]"'`);
  if (s.timeoutMs < 0) s.timeoutMs = s.intervalMs;
  d.scripts.set(s.name, s);
}
