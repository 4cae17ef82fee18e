import { createServer, type AddressInfo, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { decodeLocal, parseListening, portsSharedWithAnotherProcess, sharedWithOthers } from '../../../src/net/shared-port.ts';

const HEADER = '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n';
const row = (sl: number, local: string, st: string, inode: number) =>
  `   ${sl}: ${local} 00000000:0000 ${st} 00000000:00000000 00:00000000 00000000     0        0 ${inode} 1 000000006e1a9403 100 0 0 10 0\n`;

describe('shared-port: the kernel tables', () => {
  it('keeps the listening sockets only, with their table and inode', () => {
    const text = HEADER + row(0, '0100007F:2BCB', '0A', 101) + row(1, '0100007F:2BCB', '01', 102) + row(2, '00000000:2BCC', '0A', 103);
    expect(parseListening('tcp', text)).toEqual([
      { local: 'tcp:0100007F:2BCB', inode: '101' },
      { local: 'tcp:00000000:2BCC', inode: '103' },
    ]);
    expect(parseListening('tcp', '')).toEqual([]);
  });

  it('decodes IPv4 and IPv6 addresses as the kernel prints them (32-bit words in host order)', () => {
    expect(decodeLocal('tcp:0100007F:2BCB')).toBe('127.0.0.1:11211');
    expect(decodeLocal('tcp:00000000:2BCB')).toBe('0.0.0.0:11211');
    expect(decodeLocal('tcp:000012C6:2BCB')).toBe('198.18.0.0:11211');
    expect(decodeLocal('tcp6:00000000000000000000000001000000:2BCB')).toBe('[::1]:11211');
    expect(decodeLocal('tcp6:B80D0120000000000000000001000000:2BCB')).toBe('[2001:db8::1]:11211');
    expect(decodeLocal('tcp6:00000000000000000000000000000000:2BCB')).toBe('[::]:11211');
  });

  it('reports an address where a socket of ours listens beside a stranger, not one we hold alone or a different address', () => {
    const listening = [
      { local: 'tcp:0100007F:2BCB', inode: '1' },
      { local: 'tcp:0100007F:2BCB', inode: '2' },
      { local: 'tcp:0100007F:2BCB', inode: '9' },
      { local: 'tcp:0200007F:2BCB', inode: '3' },
      { local: 'tcp:0300007F:2BCB', inode: '8' },
    ];
    expect(sharedWithOthers(listening, new Set(['1', '2', '3']))).toEqual(['127.0.0.1:11211']);
    expect(sharedWithOthers(listening, new Set(['1', '2', '9', '3']))).toEqual([]);
    expect(sharedWithOthers(listening, new Set())).toEqual([]);
  });
});

describe('shared-port: on this host', () => {
  const servers: Server[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
  });
  const listen = (port: number, reusePort: boolean) =>
    new Promise<Server>((resolve, reject) => {
      const s = createServer();
      servers.push(s);
      s.once('error', reject);
      s.listen({ port, host: '127.0.0.1', reusePort }, () => resolve(s));
    });

  it.runIf(process.platform === 'linux')('finds nothing when this process alone listens, even twice on one port', async () => {
    const a = await listen(0, true);
    await listen((a.address() as AddressInfo).port, true);
    expect(await portsSharedWithAnotherProcess()).toEqual([]);
  });
});
