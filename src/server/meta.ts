import type { OtherCommand } from '../proto/text/commands.ts';
import type { DispatchHost } from './dispatch.ts';
import type { OutBuffer } from './out-buffer.ts';
import { R } from './replies.ts';

/** Meta protocol commands; returns false for commands it does not implement (answered ERROR). */
export function handleMeta(cmd: OtherCommand, out: OutBuffer, host: DispatchHost): boolean {
  void host;
  switch (cmd.name) {
    case 'mn':
      out.bytes(R.MN);
      return true;
    default:
      return false;
  }
}
