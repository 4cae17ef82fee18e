import { describe, expect, it } from 'vitest';
import { AccessList, isLoopback, parseAllowEntry, plainAddress } from '../../../src/replication/access.ts';
import { encode, FrameType, PROTOCOL_VERSION } from '../../../src/proto/replication/codec.ts';
import { firstBytesVerdict } from '../../../src/replication/gate.ts';

describe('replication access list', () => {
  it('allows the peers, the allow list and nothing else', () => {
    const a = new AccessList({ allow: ['198.18.1.0/24', '2001:db8::/32'] });
    a.addAddress('198.18.0.2');
    a.addAddress('::ffff:198.18.0.3');
    for (const ok of ['198.18.0.2', '::ffff:198.18.0.2', '198.18.0.3', '198.18.1.77', '2001:db8::5']) expect(a.allows(ok), ok).toBe(true);
    for (const no of ['198.18.0.4', '127.0.0.1', '::1', '2001:db9::1', '', undefined, 'node-b']) expect(a.allows(no), String(no)).toBe(false);
    expect(a.describe()).toBe('198.18.1.0/24, 2001:db8::/32, 198.18.0.2, 198.18.0.3');
  });

  it('a node without -x: its own listen addresses, looked up at most once a second', () => {
    let t = 0;
    let calls = 0;
    let own = new Set(['127.0.0.1']);
    const a = new AccessList({ own: () => (calls++, own), now: () => t });
    expect(a.allows('127.0.0.1')).toBe(true);
    expect(a.allows('127.0.0.9')).toBe(false); // loopback, but not an address of this node
    own = new Set(['127.0.0.1', '198.18.0.100']); // a VIP arrives
    expect(a.allows('198.18.0.100')).toBe(false);
    t = 1000;
    expect(a.allows('198.18.0.100')).toBe(true);
    expect(calls).toBe(2);
  });

  it('reads entries and says what is wrong with a bad one', () => {
    expect(parseAllowEntry('10.1.0.0/16')).toEqual({ address: '10.1.0.0', bits: 16, family: 'ipv4' });
    expect(parseAllowEntry('[::1]')).toEqual({ address: '::1', bits: 128, family: 'ipv6' });
    expect(() => parseAllowEntry('10.1.0.0/')).toThrow("'10.1.0.0/' is not an address or address/prefix");
    expect(() => parseAllowEntry('::/129')).toThrow('too long for IPv6');
  });

  it('loopback is 127/8, ::1 and localhost', () => {
    expect(['127.0.0.1', '127.9.9.9', '::1', '[::1]', 'localhost', '::ffff:127.0.0.1'].every(isLoopback)).toBe(true);
    expect(['198.18.0.1', '::', '0.0.0.0', 'node-b', '128.0.0.1'].some(isLoopback)).toBe(false);
    expect(plainAddress('::ffff:10.0.0.1')).toBe('10.0.0.1');
    expect(plainAddress('::ffff:abcd')).toBe('::ffff:abcd');
  });
});

describe('the first bytes on the replication port', () => {
  const hello = encode({
    type: 'hello', version: PROTOCOL_VERSION, nodeId: 1, runId: 1n, role: 'sender', listenPort: 0, itemSizeMax: 1024, syncMode: false,
    nonce: Buffer.alloc(16), completeness: 'joining', holdsData: false, items: 0,
  });
  // protocol 1: same magic, version 1, a shorter HELLO
  const v1Hello = Buffer.concat([Buffer.from([0, 0, 0, 41, FrameType.HELLO]), Buffer.from('48565250', 'hex'), Buffer.from([0, 1]), Buffer.alloc(34)]);

  it('a HELLO of ours, whole or in part, passes', () => {
    for (let n = 0; n <= hello.length; n++) expect(firstBytesVerdict(hello.subarray(0, n))).toBeNull();
  });

  it('names the protocol version of an older or newer peer', () => {
    expect(firstBytesVerdict(v1Hello.subarray(0, 10))).toBe('wait');
    expect(firstBytesVerdict(v1Hello)).toEqual({ kind: 'handshake', detail: 'peer speaks replication protocol version 1, this node speaks 3' });
  });

  it('refuses garbage at once, quoting a short escaped prefix', () => {
    expect(firstBytesVerdict(Buffer.from('get precious\r\n'))).toEqual({ kind: 'garbage', detail: 'not the replication protocol: "get precious\\x0d\\x0a"' });
    expect(firstBytesVerdict(Buffer.concat([hello, Buffer.from([0])]))).toMatchObject({ kind: 'garbage', detail: expect.stringMatching(/^data before the handshake/) });
    expect(firstBytesVerdict(Buffer.from([0, 0, 0, 41, 1, 0, 0, 0, 0, 0, 1]))).toMatchObject({ kind: 'garbage' });
  });
});
