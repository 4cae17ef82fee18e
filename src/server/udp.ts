import type { RemoteInfo, Socket as UdpSocket } from 'node:dgram';
import type { TextCommand } from '../proto/text/commands.ts';
import { TextParser } from '../proto/text/parser.ts';
import type { Dispatcher } from './dispatch.ts';
import type { OutBuffer } from './out-buffer.ts';
import type { ServerCounters } from './stats.ts';

export const UDP_HEADER_SIZE = 8;
/** memcached's UDP_MAX_PAYLOAD_SIZE: a reply datagram, header included, is at most this long. */
export const UDP_MAX_DATAGRAM = 1400;

export interface UdpHeader { requestId: number; seq: number; total: number }

/** Reads memcached's 8-byte frame header; null when the datagram is too short. */
export function decodeUdpHeader(d: Buffer): UdpHeader | null {
  if (d.length < UDP_HEADER_SIZE) return null;
  return { requestId: d.readUInt16BE(0), seq: d.readUInt16BE(2), total: d.readUInt16BE(4) };
}

/** Splits one reply into framed datagrams (request id echoed, sequence 0..n-1, total n). */
export function encodeUdpReply(requestId: number, reply: Buffer): Buffer[] {
  const room = UDP_MAX_DATAGRAM - UDP_HEADER_SIZE;
  const total = Math.max(1, Math.ceil(reply.length / room));
  const out: Buffer[] = [];
  for (let seq = 0; seq < total; seq++) {
    const body = reply.subarray(seq * room, (seq + 1) * room);
    const d = Buffer.allocUnsafe(UDP_HEADER_SIZE + body.length);
    d.writeUInt16BE(requestId, 0);
    d.writeUInt16BE(seq, 2);
    d.writeUInt16BE(total, 4);
    d.writeUInt16BE(0, 6);
    body.copy(d, UDP_HEADER_SIZE);
    out.push(d);
  }
  return out;
}

export interface UdpEnv {
  dispatcher: Dispatcher;
  out: OutBuffer;
  counters: ServerCounters;
  maxItemSize: number;
}

/**
 * Serves memcached's UDP protocol on one socket: each datagram carries one whole request
 * (multi-datagram requests are dropped, as memcached does); each command's reply goes back
 * framed, split over as many datagrams as it needs.
 */
export function serveUdp(socket: UdpSocket, env: UdpEnv): void {
  socket.on('message', (msg: Buffer, rinfo: RemoteInfo) => {
    env.counters.bytesRead += msg.length;
    const head = decodeUdpHeader(msg);
    if (!head || head.total !== 1 || head.seq !== 0) return;
    const out = env.out;
    const send = (cmd: TextCommand) => {
      env.dispatcher.handle(cmd, out, null);
      if (out.length === 0) return;
      for (const d of encodeUdpReply(head.requestId, out.take())) {
        env.counters.bytesWritten += d.length;
        socket.send(d, rinfo.port, rinfo.address);
      }
    };
    try {
      new TextParser({ maxItemSize: env.maxItemSize }, send).push(msg.subarray(UDP_HEADER_SIZE));
    } finally {
      out.clear();
    }
  });
}
