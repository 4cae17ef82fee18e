import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/**
 * Integration files take their ports from below the kernel's ephemeral range, one block per test lane
 * (`test/support/lane.ts` runs one file per lane at a time). A port picked there cannot be taken before the
 * daemon binds it, neither by an outgoing connection of the file running beside (nor by a `listen(0)`), nor by
 * waitForPort's own probe connecting to itself; a port picked by `listen(0)` could be taken by all three.
 * Outside a lane (unit tests) the kernel picks.
 */
const BLOCK = 6000;
const lanes = ['loopback', 'timed'];
let next = -1;

function ephemeralLow(): number {
  try {
    return Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || 32768;
  } catch {
    return 32768;
  }
}

function laneBlock(): [number, number] | null {
  const lane = lanes.indexOf(process.env.HAVED_TEST_LANE ?? '');
  const low = Math.min(ephemeralLow(), 32768) - lanes.length * BLOCK;
  if (lane < 0 || low < 1024) return null;
  return [low + lane * BLOCK, low + (lane + 1) * BLOCK];
}

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

function kernelPick(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** A TCP port on 127.0.0.1 that is free and that no other test picks. */
export async function freePort(): Promise<number> {
  const block = laneBlock();
  if (!block) return kernelPick();
  const [from, to] = block;
  if (next < 0) next = from + Math.floor(Math.random() * BLOCK);
  for (let tries = 0; tries < BLOCK; tries++) {
    const port = next;
    next = next + 1 >= to ? from : next + 1;
    if (await bindable(port)) return port;
  }
  throw new Error(`no free port left in ${from}-${to - 1}`);
}
