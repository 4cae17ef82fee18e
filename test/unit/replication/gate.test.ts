import { EventEmitter } from 'node:events';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { AccessList } from '../../../src/replication/access.ts';
import { InboundGate, type RefusalKind } from '../../../src/replication/gate.ts';
import type { LinkSocket } from '../../../src/replication/transport.ts';
import { helloFrame } from '../../integration/replication-stranger.ts';

/** An accepted connection without a socket: records whether it was closed. */
class FakeSocket extends EventEmitter {
  destroyed = false;
  readonly writable = true;
  readonly remoteAddress: string;
  readonly remotePort: number;
  constructor(remoteAddress: string, remotePort: number) {
    super();
    this.remoteAddress = remoteAddress;
    this.remotePort = remotePort;
  }
  write(): boolean {
    return true;
  }
  destroy(): this {
    if (!this.destroyed) {
      this.destroyed = true;
      queueMicrotask(() => this.emit('close'));
    }
    return this;
  }
  resetAndDestroy(): this {
    return this.destroy();
  }
  setNoDelay(): this {
    return this;
  }
  end(): this {
    return this.destroy();
  }
}

afterEach(() => {
  vi.useRealTimers();
});

/** A gate whose refusals note whether the socket was still open when they were counted. */
function gate(maxPending = 8) {
  const refusals: Array<{ kind: RefusalKind; openWhenCounted: boolean }> = [];
  const sockets = new Map<string, FakeSocket>();
  const g = new InboundGate({
    access: new AccessList({ allow: ['127.0.0.1'] }),
    tls: null,
    timeoutMs: 1000,
    maxPending,
    refused: (kind, who) => refusals.push({ kind, openWhenCounted: !sockets.get(who)!.destroyed }),
    admit: () => {},
  });
  const connect = (from = '127.0.0.1') => {
    const s = new FakeSocket(from, 40000 + sockets.size);
    sockets.set(`${from}:${s.remotePort}`, s);
    g.accept(s as unknown as LinkSocket);
    return s;
  };
  return { g, refusals, connect };
}

describe('the replication port counts each refusal before it closes the connection (stats never lag a close)', () => {
  it('address, garbage, another protocol version, closed half-way, timeout, busy', () => {
    vi.useFakeTimers();
    const { refusals, connect } = gate(2);
    connect('127.0.0.9');
    connect().emit('data', Buffer.from('get precious\r\n'));
    const v1Hello = Buffer.concat([Buffer.from([0, 0, 0, 41, 1]), Buffer.from('48565250', 'hex'), Buffer.from([0, 1]), Buffer.alloc(34)]);
    connect().emit('data', v1Hello);
    const half = connect();
    half.emit('data', helloFrame('sender').subarray(0, 10));
    half.emit('close');
    connect(); // silent: the timeout
    connect(); // both pending handshakes taken: busy
    connect();
    vi.advanceTimersByTime(1000);
    expect(refusals.map((r) => r.kind)).toEqual(['address', 'garbage', 'handshake', 'handshake', 'busy', 'timeout', 'timeout']);
    // the socket closed by node (half) was closed already; every other one was counted while still open
    expect(refusals.filter((_, i) => i !== 3).every((r) => r.openWhenCounted)).toBe(true);
  });
});
