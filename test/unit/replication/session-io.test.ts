import { describe, expect, it } from 'vitest';
import { encode, FrameDecoder, type Message } from '../../../src/proto/replication/codec.ts';
import type { SessionContext } from '../../../src/replication/context.ts';
import { AuthError, HandshakeError, NodeIdCollisionError } from '../../../src/replication/handshake.ts';
import type { LinkMachine } from '../../../src/replication/link.ts';
import { decodeOrRefuse } from '../../../src/replication/session-io.ts';

function setup() {
  const events: string[] = [];
  const ctx = {
    logger: { warn: (o: { reason: string; peer: string }, msg: string) => events.push(`warn ${o.peer} ${msg}: ${o.reason}`) },
    nodeIdCollision: (runId: bigint) => events.push(`collision ${runId}`),
    refused: (kind: string, peer: string, detail: string) => events.push(`refused ${kind} ${peer}: ${detail}`),
  } as unknown as SessionContext;
  const machine = { failed: (r: string) => events.push(`failed ${r}`) } as unknown as LinkMachine;
  return { ctx, machine, events };
}

describe('decodeOrRefuse', () => {
  it('hands decoded frames on and reports success', () => {
    const { ctx, machine, events } = setup();
    const got: Message[] = [];
    const ok = decodeOrRefuse(ctx, machine, 'p:1', new FrameDecoder(), encode({ type: 'heartbeat', seq: 7n }), (m) => got.push(m));
    expect(ok).toBe(true);
    expect(got).toEqual([{ type: 'heartbeat', seq: 7n }]);
    expect(events).toEqual([]);
  });

  it('refuses a peer sending garbage: logged, and the link fails with a "refused" reason', () => {
    const { ctx, machine, events } = setup();
    const ok = decodeOrRefuse(ctx, machine, 'p:1', new FrameDecoder(), Buffer.alloc(8), () => {});
    expect(ok).toBe(false);
    expect(events).toEqual([
      expect.stringMatching(/^warn p:1 replication: refused peer: frame length 0 out of range/),
      expect.stringMatching(/^failed refused: frame length 0 out of range/),
    ]);
  });

  it('reports a node id collision to the replicator before refusing', () => {
    const { ctx, machine, events } = setup();
    const ok = decodeOrRefuse(ctx, machine, 'p:1', new FrameDecoder(), encode({ type: 'heartbeat', seq: 1n }), () => {
      throw new NodeIdCollisionError('peer uses our node id 3', 42n);
    });
    expect(ok).toBe(false);
    expect(events).toEqual(['collision 42', 'warn p:1 replication: refused peer: peer uses our node id 3', 'failed refused: peer uses our node id 3']);
  });

  it('a stranger (inbound, not authenticated) is counted by kind, not logged line by line', () => {
    const { ctx, machine, events } = setup();
    const hb = encode({ type: 'heartbeat', seq: 1n });
    decodeOrRefuse(ctx, machine, 'p:1', new FrameDecoder(), Buffer.alloc(8), () => {}, undefined, true);
    decodeOrRefuse(ctx, machine, 'p:2', new FrameDecoder(), hb, () => { throw new AuthError('authentication failed: wrong or missing replication secret'); }, undefined, true);
    decodeOrRefuse(ctx, machine, 'p:3', new FrameDecoder(), hb, () => { throw new HandshakeError('both ends of the link claim the sender role'); }, undefined, true);
    expect(events.filter((e) => e.startsWith('refused'))).toEqual([
      expect.stringMatching(/^refused garbage p:1: frame length 0 out of range/),
      'refused auth p:2: authentication failed: wrong or missing replication secret',
      'refused handshake p:3: both ends of the link claim the sender role',
    ]);
    expect(events.some((e) => e.startsWith('warn'))).toBe(false);
  });

  it('lets any other error through', () => {
    const { ctx, machine } = setup();
    const chunk = encode({ type: 'heartbeat', seq: 1n });
    expect(() => decodeOrRefuse(ctx, machine, 'p:1', new FrameDecoder(), chunk, () => { throw new TypeError('bug'); })).toThrow(TypeError);
  });
});
