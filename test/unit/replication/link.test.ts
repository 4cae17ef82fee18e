import { describe, expect, it } from 'vitest';
import { LinkMachine, type LinkState } from '../../../src/replication/link.ts';

function setup(dials = true) {
  let now = 0;
  const calls: string[] = [];
  const states: LinkState[] = [];
  const m = new LinkMachine({
    dials,
    now: () => now,
    timing: { connectTimeoutMs: 1000, heartbeatMs: 100, deadAfterMs: 500, backoffMinMs: 100, backoffMaxMs: 400 },
    effects: {
      connect: () => calls.push('connect'),
      close: (r) => calls.push(`close:${r}`),
      heartbeat: () => calls.push('hb'),
      stateChanged: (_f, t) => states.push(t),
    },
  });
  return { m, calls, states, advance: (ms: number) => { now += ms; m.tick(); } };
}

describe('link state machine', () => {
  it('connects, handshakes, copies, streams, heartbeats', () => {
    const { m, calls, states, advance } = setup();
    m.start();
    m.connected();
    m.handshakeDone(true);
    m.syncDone();
    expect(states).toEqual(['connecting', 'handshaking', 'syncing', 'streaming']);
    expect(m.fullSyncs).toBe(1);
    advance(100);
    expect(calls).toEqual(['connect', 'hb']);
  });

  it('declares a silent peer dead and reconnects with growing, capped backoff', () => {
    const { m, calls, states, advance } = setup();
    m.start();
    m.connected();
    m.handshakeDone(false);
    for (let i = 0; i < 5; i++) advance(100);
    expect(m.state).toBe('backoff');
    expect(calls.some((c) => c.startsWith('close:peer silent'))).toBe(true);
    advance(100); // first retry after 100 ms
    expect(m.state).toBe('connecting');
    m.failed('refused'); // next waits 200
    advance(150);
    expect(m.state).toBe('backoff');
    advance(50);
    expect(m.state).toBe('connecting');
    m.failed('x'); // 400
    advance(400);
    m.failed('x'); // capped at 400
    advance(399);
    expect(m.state).toBe('backoff');
    advance(1);
    expect(m.state).toBe('connecting');
    expect(states.filter((s) => s === 'connecting').length).toBe(5);
  });

  it('times out a hanging connect or handshake', () => {
    const { m, advance } = setup();
    m.start();
    advance(1000);
    expect(m.state).toBe('backoff');
    expect(m.lastError).toMatch(/connecting timed out/);
  });

  it('kick retries at once; a resume resets the backoff', () => {
    const { m, advance } = setup();
    m.start();
    m.failed('a');
    m.kick();
    expect(m.state).toBe('connecting');
    m.connected();
    m.handshakeDone(false);
    expect(m.resumes).toBe(1);
    m.failed('b');
    advance(100);
    expect(m.state).toBe('connecting');
  });

  it('an accepted link ends closed instead of reconnecting', () => {
    const { m } = setup(false);
    m.connected();
    m.failed('gone');
    expect(m.state).toBe('closed');
  });

  it('waits for a joining peer past the handshake timeout, with heartbeats, then copies', () => {
    const { m, calls, states, advance } = setup();
    m.start();
    m.connected();
    m.waiting('the peer is still joining');
    for (let i = 0; i < 30; i++) {
      m.received(); // the peer's heartbeats
      advance(100);
    }
    expect(m.state).toBe('waiting');
    expect(calls.filter((c) => c === 'hb').length).toBe(30);
    m.handshakeDone(true);
    expect(states).toEqual(['connecting', 'handshaking', 'waiting', 'syncing']);
    advance(500); // a silent peer is dead while waiting too
    expect(m.state).toBe('backoff');
  });

  it('a live link can fall back to a full resync', () => {
    const { m } = setup();
    m.start();
    m.connected();
    m.handshakeDone(false);
    m.resync('log overflow');
    expect(m.state).toBe('syncing');
    expect(m.fullSyncs).toBe(1);
  });
});
