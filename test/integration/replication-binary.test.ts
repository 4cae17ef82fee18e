/** Writes made over the binary protocol replicate like text ones. */
import { afterAll, describe, expect, it } from 'vitest';
import { stopAll } from '../support/daemon.ts';
import { freePort } from '../support/ports.ts';
import { arithExtras, exchange, parseResponses, request, setExtras } from '../support/binary-client.ts';
import { eventually, get, startNode, stats } from './replication-cluster.ts';

afterAll(stopAll);

const NOOP = 0x0a;
const hasNoop = (b: Buffer) => parseResponses(b).packets.some((p) => p.opcode === NOOP);

async function binary(port: number, ...reqs: Buffer[]): Promise<number[]> {
  const r = await exchange(port, Buffer.concat([...reqs, request({ opcode: NOOP })]), { done: hasNoop });
  return parseResponses(r.bytes).packets.filter((p) => p.opcode !== NOOP).map((p) => p.status);
}

describe('repcache replication of binary-protocol writes', () => {
  it('set, incr with create, append and delete reach the peer', async () => {
    const [ra, rb] = [await freePort(), await freePort()];
    const a = await startNode({ rport: ra, peers: [rb] });
    const b = await startNode({ rport: rb, peers: [ra] });
    await eventually(async () => (await stats(a.port)).repl_peer_0_state === 'streaming', 'A linked to B');

    expect(await binary(a.port,
      request({ opcode: 0x01, key: 'bk', extras: setExtras(0, 0), value: 'bin' }),
      request({ opcode: 0x05, key: 'bn', extras: arithExtras(1n, 41n, 0) }),
      request({ opcode: 0x05, key: 'bn', extras: arithExtras(1n, 0n, 0) }),
      request({ opcode: 0x11, key: 'bq', extras: setExtras(0, 0), value: 'quiet' }),
    )).toEqual([0, 0, 0]);
    await eventually(async () => (await get(b.port, 'bk')) === 'bin' && (await get(b.port, 'bn')) === '42'
      && (await get(b.port, 'bq')) === 'quiet', 'binary writes on B');

    expect(await binary(b.port, request({ opcode: 0x0e, key: 'bk', value: '!' }), request({ opcode: 0x04, key: 'bq' }))).toEqual([0, 0]);
    await eventually(async () => (await get(a.port, 'bk')) === 'bin!' && (await get(a.port, 'bq')) === null, 'append and delete on A');
  });
});
