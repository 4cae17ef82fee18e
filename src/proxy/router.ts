import type { OutBuffer } from '../net/out-buffer.ts';
import type { Shape } from './call.ts';
import type { ProxyCounters, RequestHost } from './requests.ts';
import type { Session } from './session.ts';

/** What a binary response needs of its request. */
export interface BinaryRequestId {
  opcode: number;
  opaque: number;
}

/**
 * What a protocol front end (the text one in core.ts, the binary one in binary.ts) asks of the proxy core: route
 * a read or a write to the key's servers, and the proxy's own stats.
 */
export interface Router extends RequestHost {
  readonly counters: ProxyCounters & { commands: Record<string, number> };
  /** A read: to the key's server, asked again on its backup if that fails (see ProxyCore). */
  routeRead(s: Session, key: Uint8Array, shape: Shape, encode: (out: OutBuffer) => void, bin: BinaryRequestId | null): void;
  /** A write: to the key's main server, and its backup as the backup mode says (see ProxyCore). */
  routeWrite(s: Session, key: Uint8Array, silent: boolean, shape: Shape, idempotent: boolean, encode: (out: OutBuffer) => void, bin?: BinaryRequestId | null): void;
  statsText(backendsOnly?: boolean, settings?: boolean): string;
  resetStats(): void;
}
