import type { LinkSocket } from './transport.ts';
import { encode, type FrameDecoder, type ItemFrame, ProtocolError, type Message } from '../proto/replication/codec.ts';
import { AuthError, HandshakeError, NodeIdCollisionError } from './handshake.ts';
import type { LinkMachine } from './link.ts';
import type { SessionContext } from './context.ts';

/** How long a refused peer gets to read our error frame before the socket is destroyed. */
const REFUSAL_LINGER_MS = 200;

/**
 * Ends a link's socket. A peer we refused is told why (an error frame) before the socket closes; any other
 * ending cuts the connection at once.
 */
export function closeLinkSocket(s: LinkSocket, reason: string): void {
  if (s.writable && reason.startsWith('refused')) {
    s.end(encode({ type: 'error', reason }));
    setTimeout(() => s.destroy(), REFUSAL_LINGER_MS).unref();
  } else s.destroy();
}

/**
 * Decodes one chunk from a peer. A malformed frame or a failed handshake refuses the peer: logged, and the
 * link fails with a reason starting with "refused" (so closeLinkSocket tells the peer). Returns false then.
 * `stranger`: an inbound link not yet authenticated, whose refusals are counted and logged at a bounded rate
 * instead of one line each.
 */
export function decodeOrRefuse(
  ctx: SessionContext,
  machine: LinkMachine,
  peer: string,
  decoder: FrameDecoder,
  chunk: Buffer,
  onMessage: (m: Message) => void,
  onItem?: (f: ItemFrame) => void,
  stranger = false,
): boolean {
  try {
    decoder.push(chunk, onMessage, onItem);
    return true;
  } catch (err) {
    if (!(err instanceof ProtocolError || err instanceof HandshakeError)) throw err;
    if (err instanceof NodeIdCollisionError) ctx.nodeIdCollision(err.peerRunId);
    if (stranger) ctx.refused(err instanceof AuthError ? 'auth' : err instanceof ProtocolError ? 'garbage' : 'handshake', peer, err.message);
    else ctx.logger.warn({ peer, reason: err.message }, 'replication: refused peer');
    machine.failed(`refused: ${err.message}`);
    return false;
  }
}

/** How an inbound link that never authenticated ended, as a refusal (null: it was refused already, or stopped). */
export function strangerEnding(reason: string): { kind: 'timeout' | 'handshake'; detail: string } | null {
  if (reason.startsWith('refused') || reason === 'shutdown' || reason.startsWith('replaced')) return null;
  return { kind: /timed out/.test(reason) ? 'timeout' : 'handshake', detail: reason };
}
