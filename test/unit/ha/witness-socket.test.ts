import { createSocket } from 'node:dgram';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { systemClock } from '../../../src/clock.ts';
import { udpWitnessLink } from '../../../src/ha/adapters/witness-socket.ts';
import { WitnessServer } from '../../../src/ha/daemon/witness-server.ts';
import { decodeWitness, encodeWitness } from '../../../src/proto/witness/codec.ts';
import { freePort } from '../../support/ports.ts';
import { waitFor } from '../../support/wait.ts';

const SECRET = Buffer.from('socket-test-secret-0123456789');

describe('the witness over UDP on loopback', () => {
  it('a request is answered; garbage to the witness is dropped and counted', async () => {
    const port = await freePort();
    const lines: Record<string, unknown>[] = [];
    const server = new WitnessServer({ host: '127.0.0.1', port, secret: SECRET, maxLeaseMs: 1000, clock: systemClock, log: pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s)) }) });
    await server.listen();
    const got: Buffer[] = [];
    const errors: Error[] = [];
    const link = udpWitnessLink({ host: '127.0.0.1', port }, (b) => got.push(b), (e) => errors.push(e));
    try {
      link.send(encodeWitness({ kind: 'REQUEST', vrid: 9, nodeId: 'n1', held: true, leaseMs: 800, sequence: 5n }, SECRET));
      await waitFor('the reply', () => got.length === 1, 5000, 10);
      expect(decodeWitness(got[0]!, SECRET)).toMatchObject({ ok: true, message: { kind: 'REPLY', verdict: 'GRANTED', leaseMs: 800, sequence: 5n, nodeId: 'n1' } });
      expect(server.status().leases).toMatchObject([{ vrid: 9, holder: 'n1' }]);
      // garbage to the witness: dropped, counted, one log line
      const stranger = createSocket('udp4');
      await new Promise<void>((r) => stranger.send(Buffer.from('hello'), port, '127.0.0.1', () => r()));
      await waitFor('the drop', () => server.drops.BAD_MAGIC === 1, 5000, 10);
      expect(lines.some((l) => l.code === 'BAD_MAGIC')).toBe(true);
      stranger.close();
      expect(errors).toEqual([]);
    } finally {
      link.close();
      await server.close();
    }
  });

  it('a witness that cannot bind says so', async () => {
    const port = await freePort();
    const a = new WitnessServer({ host: '127.0.0.1', port, secret: SECRET, maxLeaseMs: 1000, clock: systemClock, log: pino({ level: 'silent' }) });
    await a.listen();
    const b = new WitnessServer({ host: '127.0.0.1', port, secret: SECRET, maxLeaseMs: 1000, clock: systemClock, log: pino({ level: 'silent' }) });
    await expect(b.listen()).rejects.toThrow(`cannot listen on 127.0.0.1:${port}: bind EADDRINUSE`);
    await a.close();
    await b.close();
  });
});
