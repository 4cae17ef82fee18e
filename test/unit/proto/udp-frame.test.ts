import { describe, expect, it } from 'vitest';
import { UdpFrameError, decodeUdpFrame, encodeUdpReply, isServableRequest } from '../../../src/proto/text/udp-frame.ts';

const header = (id: number, seq: number, total: number, reserved = 0) => Buffer.from([id >> 8, id & 255, seq >> 8, seq & 255, total >> 8, total & 255, reserved >> 8, reserved & 255]);

describe('memcached UDP frame header', () => {
  it('decodes a request datagram', () => {
    const d = Buffer.concat([header(0x1234, 0, 1), Buffer.from('get a\r\n')]);
    const f = decodeUdpFrame(d);
    expect(f).toMatchObject({ requestId: 0x1234, seq: 0, total: 1 });
    expect(f.payload.toString()).toBe('get a\r\n');
    expect(isServableRequest(f)).toBe(true);
  });

  it('serves total == 1 whatever the sequence and reserved bytes, like memcached', () => {
    expect(isServableRequest(decodeUdpFrame(header(9, 5, 1, 0x0101)))).toBe(true);
    expect(isServableRequest(decodeUdpFrame(header(8, 0, 2)))).toBe(false);
    expect(isServableRequest(decodeUdpFrame(header(8, 0, 0)))).toBe(false);
  });

  it('rejects a datagram shorter than the header', () => {
    expect(() => decodeUdpFrame(Buffer.alloc(7))).toThrow(UdpFrameError);
    expect(() => decodeUdpFrame(Buffer.alloc(7))).toThrow(/shorter than the 8-byte frame header/);
  });

  it('splits a reply like memcached 1.6.18: 1400-byte datagrams, header included', () => {
    // Observed: `get big` of a 3000-byte value came back as 1400 + 1400 + 244 bytes, seq 0..2 of 3.
    const reply = Buffer.concat([Buffer.from('VALUE big 0 3000\r\n'), Buffer.alloc(3000, 'v'), Buffer.from('\r\n')]);
    const ds = encodeUdpReply(0x1234, reply);
    expect(ds.map((d) => d.length)).toEqual([1400, 1400, 244]);
    ds.forEach((d, i) => expect([...d.subarray(0, 8)]).toEqual([0x12, 0x34, 0, i, 0, 3, 0, 0]));
    expect(Buffer.concat(ds.map((d) => d.subarray(8))).equals(reply)).toBe(true);
  });

  it('joins reply parts across datagram boundaries', () => {
    const parts = [Buffer.alloc(1000, 'a'), Buffer.alloc(0), Buffer.alloc(1000, 'b'), Buffer.from('END\r\n')];
    const ds = encodeUdpReply(7, parts, 108);
    expect(ds.every((d) => d.length <= 108)).toBe(true);
    expect(ds).toHaveLength(Math.ceil(2005 / 100));
    expect(Buffer.concat(ds.map((d) => d.subarray(8))).equals(Buffer.concat(parts))).toBe(true);
    expect(ds.at(-1)!.readUInt16BE(2)).toBe(ds.length - 1);
  });

  it('refuses a datagram size with no room for the payload, and a reply needing more than 65535 datagrams', () => {
    expect(() => encodeUdpReply(1, Buffer.from('END\r\n'), 8)).toThrow(UdpFrameError);
    expect(() => encodeUdpReply(1, Buffer.from('END\r\n'), 8)).toThrow(new UdpFrameError('maxDatagram 8 leaves no room after the header'));
    const huge = Buffer.alloc(65536);
    expect(() => encodeUdpReply(1, huge, 9)).toThrow(new UdpFrameError('reply of 65536 bytes needs 65536 datagrams, more than 65535'));
    expect(encodeUdpReply(1, huge.subarray(0, 65535), 9)).toHaveLength(65535);
  });

  it('frames a short or empty reply as one datagram', () => {
    const [d] = encodeUdpReply(0xffff, Buffer.from('END\r\n'));
    expect([...d]).toEqual([0xff, 0xff, 0, 0, 0, 1, 0, 0, ...Buffer.from('END\r\n')]);
    expect(encodeUdpReply(1, Buffer.alloc(0))).toHaveLength(1);
  });
});
