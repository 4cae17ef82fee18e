/** A stranger on the replication port: raw bytes, or the right protocol with a secret of its choosing. */
import { connect } from 'node:net';
import { randomBytes } from 'node:crypto';
import { encode, FrameDecoder, HANDSHAKE_MAX_FRAME, PROTOCOL_VERSION, type Message, type Role } from '../../src/proto/replication/codec.ts';
import { proof } from '../../src/replication/auth.ts';

export function helloFrame(role: Role, nonce: Buffer = randomBytes(16), nodeId = 1000): Buffer {
  return encode({ type: 'hello', version: PROTOCOL_VERSION, nodeId, runId: randomBytes(8).readBigUInt64BE(0), role, listenPort: 0, itemSizeMax: 1 << 20, syncMode: false, nonce, completeness: 'joining', holdsData: false, items: 0 });
}

export interface Reading {
  /** Every byte the node sent. */
  bytes: number;
  /** The frames among them (as far as they decode). */
  frames: Message[];
  /** The node closed the connection within the time. */
  closed: boolean;
}

/**
 * Connects (from `localAddress` if given), sends `send` (all at once, or one byte every `dripMs`) and, when
 * `secret` is given, plays the dialing side of the handshake with it; collects what comes back for `ms`.
 */
export function readFor(o: {
  port: number;
  localAddress?: string;
  send?: Buffer;
  dripMs?: number;
  secret?: string;
  role?: Role;
  /** Sent once the node's HELLO arrived, before our AUTH (if any). */
  afterHello?: Buffer;
  /** Sent right after our AUTH (e.g. frames a pusher hopes get applied). */
  afterAuth?: Buffer;
  ms: number;
}): Promise<Reading> {
  return new Promise((resolve) => {
    const role = o.role ?? 'receiver';
    const nonce = randomBytes(16);
    const out: Reading = { bytes: 0, frames: [], closed: false };
    const decoder = new FrameDecoder(HANDSHAKE_MAX_FRAME * 1024);
    let decoding = true;
    const s = connect({ host: '127.0.0.1', port: o.port, localAddress: o.localAddress });
    let drip: NodeJS.Timeout | null = null;
    const done = () => {
      clearTimeout(timer);
      if (drip) clearInterval(drip);
      s.destroy();
      resolve(out);
    };
    const timer = setTimeout(done, o.ms);
    s.on('connect', () => {
      const send = o.send ?? (o.secret !== undefined || o.afterHello ? helloFrame(role, nonce) : Buffer.alloc(0));
      if (!o.dripMs) return void s.write(send);
      let i = 0;
      drip = setInterval(() => (i < send.length ? s.write(send.subarray(i, ++i)) : clearInterval(drip!)), o.dripMs);
    });
    s.on('data', (chunk: Buffer) => {
      out.bytes += chunk.length;
      if (!decoding) return;
      try {
        decoder.push(chunk, (m) => {
          out.frames.push(m);
          if (m.type !== 'hello') return;
          if (o.afterHello) s.write(o.afterHello);
          if (o.secret === undefined) return;
          s.write(encode({ type: 'auth', proof: proof(o.secret, role, 1000, nonce, m.nonce) }));
          if (o.afterAuth) s.write(o.afterAuth);
        });
      } catch {
        decoding = false;
      }
    });
    s.on('error', () => {});
    s.on('close', () => {
      out.closed = true;
      done();
    });
  });
}

/** Opens `n` connections, `concurrency` at a time, each sending `bytes` and waiting for the node to close it. */
export async function flood(port: number, n: number, bytes: Buffer, opts: { concurrency?: number; localAddress?: string } = {}): Promise<void> {
  let started = 0;
  const one = () => new Promise<void>((resolve) => {
    const s = connect({ host: '127.0.0.1', port, localAddress: opts.localAddress });
    const t = setTimeout(() => s.destroy(), 10_000);
    s.on('connect', () => s.write(bytes));
    s.on('data', () => {});
    s.on('error', () => {});
    s.on('close', () => {
      clearTimeout(t);
      resolve();
    });
  });
  await Promise.all(Array.from({ length: opts.concurrency ?? 50 }, async () => {
    while (started < n) {
      started++;
      await one();
    }
  }));
}
