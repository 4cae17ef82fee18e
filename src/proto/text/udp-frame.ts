/**
 * memcached's UDP frame header: every datagram starts with 8 bytes, big-endian
 * request id, sequence number, total datagrams, reserved (0), then text protocol.
 */

export const UDP_HEADER_SIZE = 8;
/** memcached's UDP_MAX_PAYLOAD_SIZE: a reply datagram, header included, is at most this long. */
export const UDP_MAX_DATAGRAM = 1400;

export interface UdpFrame {
  requestId: number;
  seq: number;
  total: number;
  /** The text after the header (a view into the datagram). */
  payload: Buffer;
}

export class UdpFrameError extends Error {
  override name = 'UdpFrameError';
}

export function decodeUdpFrame(datagram: Buffer): UdpFrame {
  if (datagram.length < UDP_HEADER_SIZE) {
    throw new UdpFrameError(`datagram of ${datagram.length} bytes is shorter than the ${UDP_HEADER_SIZE}-byte frame header`);
  }
  return {
    requestId: datagram.readUInt16BE(0),
    seq: datagram.readUInt16BE(2),
    total: datagram.readUInt16BE(4),
    payload: datagram.subarray(UDP_HEADER_SIZE),
  };
}

/**
 * memcached serves only requests that fit one datagram: it checks total == 1 and silently drops
 * anything else (the sequence number and reserved bytes are not checked).
 */
export const isServableRequest = (frame: UdpFrame): boolean => frame.total === 1;

export function writeUdpHeader(buf: Buffer, off: number, requestId: number, seq: number, total: number): void {
  buf.writeUInt16BE(requestId & 0xffff, off);
  buf.writeUInt16BE(seq, off + 2);
  buf.writeUInt16BE(total, off + 4);
  buf.writeUInt16BE(0, off + 6);
}

/**
 * Frames one reply into datagrams of at most maxDatagram bytes (header included), numbered
 * 0..n-1 of n. memcached 1.6.18 frames each response object separately: a multi-key get sends
 * one group per hit (sequence restarting at 0) and the END rides on the last one; pass the
 * parts in `reply` accordingly, or the whole reply at once for one contiguous group.
 */
export function encodeUdpReply(requestId: number, reply: Buffer | readonly Buffer[], maxDatagram = UDP_MAX_DATAGRAM): Buffer[] {
  const room = maxDatagram - UDP_HEADER_SIZE;
  if (room <= 0) throw new UdpFrameError(`maxDatagram ${maxDatagram} leaves no room after the header`);
  const parts = Buffer.isBuffer(reply) ? [reply] : reply;
  let length = 0;
  for (const p of parts) length += p.length;
  const total = Math.max(1, Math.ceil(length / room));
  if (total > 0xffff) throw new UdpFrameError(`reply of ${length} bytes needs ${total} datagrams, more than 65535`);
  const out: Buffer[] = [];
  let part = 0;
  let partOff = 0;
  for (let seq = 0; seq < total; seq++) {
    const size = Math.min(room, length - seq * room);
    const d = Buffer.allocUnsafe(UDP_HEADER_SIZE + size);
    writeUdpHeader(d, 0, requestId, seq, total);
    let off = UDP_HEADER_SIZE;
    while (off < d.length) {
      const p = parts[part];
      const n = p.copy(d, off, partOff, Math.min(p.length, partOff + (d.length - off)));
      off += n;
      partOff += n;
      if (partOff === p.length) {
        part++;
        partOff = 0;
      }
    }
    out.push(d);
  }
  return out;
}
