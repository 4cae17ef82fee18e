import type { RemoteInfo, Socket } from 'node:dgram';
import { describe, expect, it } from 'vitest';
import { UdpRequest } from '../../../src/server/udp.ts';

const rinfo: RemoteInfo = { address: '127.0.0.1', port: 40000, family: 'IPv4', size: 0 };
const socket = {} as Socket;

describe('a UDP request\'s replies', () => {
  it('names its client as stats conns does', () => {
    expect(new UdpRequest(socket, rinfo, () => {}).client).toBe('udp:127.0.0.1:40000');
  });

  it('leave at once, and in order behind one known later (a copy: the reply buffer is reused meanwhile)', async () => {
    const sent: string[] = [];
    const r = new UdpRequest(socket, rinfo, (b) => sent.push(b.toString('latin1')));
    r.send(Buffer.from('first\r\n'));
    let resolve = (_: string) => {};
    r.deferReply(new Promise<string>((res) => (resolve = res)));
    const reused = Buffer.from('VERSION\r\n');
    r.send(reused);
    reused.fill(0);
    expect(sent).toEqual(['first\r\n']);
    resolve('STAT\r\nEND\r\n');
    await new Promise((res) => setTimeout(res, 0));
    expect(sent).toEqual(['first\r\n', 'STAT\r\nEND\r\n', 'VERSION\r\n']);
  });

  it('a reply known after the socket closed goes nowhere, without an error', async () => {
    const r = new UdpRequest(socket, rinfo, () => {
      throw new Error('Not running');
    });
    r.deferReply(Promise.resolve('END\r\n'));
    r.send(Buffer.from('x'));
    await new Promise((res) => setTimeout(res, 0));
  });
});
