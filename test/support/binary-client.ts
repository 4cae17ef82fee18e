/** Builds binary-protocol requests and reads response packets, for tests that talk to a server directly. */
import { connect, type Socket } from 'node:net';

export interface RequestSpec {
  opcode: number;
  key?: string | Buffer;
  extras?: Buffer;
  value?: string | Buffer;
  opaque?: number;
  cas?: bigint;
  /** overrides the body length computed from extras + key + value */
  bodyLength?: number;
  magic?: number;
}

export function request(r: RequestSpec): Buffer {
  const key = typeof r.key === 'string' ? Buffer.from(r.key, 'latin1') : (r.key ?? Buffer.alloc(0));
  const extras = r.extras ?? Buffer.alloc(0);
  const value = typeof r.value === 'string' ? Buffer.from(r.value, 'latin1') : (r.value ?? Buffer.alloc(0));
  const h = Buffer.alloc(24);
  h[0] = r.magic ?? 0x80;
  h[1] = r.opcode;
  h.writeUInt16BE(key.length, 2);
  h[4] = extras.length;
  h.writeUInt32BE(r.bodyLength ?? extras.length + key.length + value.length, 8);
  h.writeUInt32BE(r.opaque ?? 0, 12);
  h.writeBigUInt64BE(r.cas ?? 0n, 16);
  return Buffer.concat([h, extras, key, value]);
}

/** flags + exptime extras of the set family */
export function setExtras(flags: number, exptime: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt32BE(flags >>> 0, 0);
  b.writeUInt32BE(exptime >>> 0, 4);
  return b;
}

/** delta, initial, expiration extras of INCREMENT/DECREMENT */
export function arithExtras(delta: bigint, initial: bigint, expiration: number): Buffer {
  const b = Buffer.alloc(20);
  b.writeBigUInt64BE(delta, 0);
  b.writeBigUInt64BE(initial, 8);
  b.writeUInt32BE(expiration >>> 0, 16);
  return b;
}

export function u32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v >>> 0);
  return b;
}

export interface ResponsePacket {
  magic: number;
  opcode: number;
  status: number;
  datatype: number;
  opaque: number;
  cas: bigint;
  extras: Buffer;
  key: Buffer;
  value: Buffer;
}

/** Splits a byte stream into response packets; `rest` is an incomplete tail. */
export function parseResponses(b: Buffer): { packets: ResponsePacket[]; rest: Buffer } {
  const packets: ResponsePacket[] = [];
  let at = 0;
  while (b.length - at >= 24) {
    const keylen = b.readUInt16BE(at + 2);
    const extlen = b[at + 4];
    const bodylen = b.readUInt32BE(at + 8);
    if (b.length - at < 24 + bodylen) break;
    const body = at + 24;
    packets.push({
      magic: b[at], opcode: b[at + 1], status: b.readUInt16BE(at + 6), datatype: b[at + 5],
      opaque: b.readUInt32BE(at + 12), cas: b.readBigUInt64BE(at + 16),
      extras: b.subarray(body, body + extlen),
      key: b.subarray(body + extlen, body + extlen + keylen),
      value: b.subarray(body + extlen + keylen, body + bodylen),
    });
    at = body + bodylen;
  }
  return { packets, rest: b.subarray(at) };
}

export interface Exchange {
  bytes: Buffer;
  closed: boolean;
}

/**
 * Sends `data` on a fresh connection, in the pieces `splits` cuts it into (offsets), and collects
 * the reply until `done` says it is complete, the server closes, or nothing arrives for idleMs.
 */
export function exchange(
  port: number, data: Buffer, opts: { splits?: number[]; done?: (b: Buffer) => boolean; idleMs?: number } = {},
): Promise<Exchange> {
  const idleMs = opts.idleMs ?? 300;
  return new Promise((resolve, reject) => {
    const sock: Socket = connect(port, '127.0.0.1');
    sock.setNoDelay(true);
    const got: Buffer[] = [];
    let closed = false;
    let timer: NodeJS.Timeout | undefined;
    const finish = () => {
      clearTimeout(timer);
      sock.destroy();
      resolve({ bytes: Buffer.concat(got), closed });
    };
    const arm = () => { clearTimeout(timer); timer = setTimeout(finish, idleMs); };
    sock.on('data', (c) => {
      got.push(c);
      if (opts.done?.(Buffer.concat(got))) finish(); else arm();
    });
    sock.on('end', () => { closed = true; finish(); });
    sock.on('close', () => { closed = true; finish(); });
    sock.on('error', (e) => { if ((e as NodeJS.ErrnoException).code === 'ECONNRESET') { closed = true; finish(); } else reject(e); });
    sock.on('connect', async () => {
      const cuts = [0, ...(opts.splits ?? []).filter((s) => s > 0 && s < data.length), data.length];
      for (let i = 1; i < cuts.length; i++) {
        if (sock.destroyed) return;
        sock.write(data.subarray(cuts[i - 1], cuts[i]));
        if (i < cuts.length - 1) await new Promise((r) => setTimeout(r, 2));
      }
      arm();
    });
  });
}
