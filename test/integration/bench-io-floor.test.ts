/**
 * The cache benchmark's Node floor (scripts/bench/io-floor.ts) stands in for a cache only if a client sees the
 * same bytes from it as from a real one: checked against Debian's memcached for memcaslap's kind of requests.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { resolve } from 'node:path';
import { McClient, startReferenceMemcached } from '../support/mc-client.ts';
import { repoRoot, startProcess, stopAll, waitForPort } from '../support/daemon.ts';
import { freePort } from '../support/ports.ts';

afterAll(stopAll);

async function startFloor(): Promise<number> {
  const port = await freePort();
  const d = startProcess(resolve(repoRoot, 'bin/run-node'), ['scripts/bench/io-floor.ts', String(port)]);
  await waitForPort(port, '127.0.0.1', 10_000, d);
  return port;
}

/** memcaslap's traffic: a set of a 1024-byte value, then gets of that key. */
function script(key: string): Buffer {
  const value = 'x'.repeat(1024);
  return Buffer.from(`set ${key} 0 0 1024\r\n${value}\r\nget ${key}\r\nget ${key}\r\n`, 'latin1');
}

const endsWithTwoGets = (s: string) => s.split('END\r\n').length === 3;

describe('bench io-floor', () => {
  it('answers memcaslap-like requests with the bytes memcached sends, whole or split at every byte', async () => {
    const [floor, ref] = await Promise.all([startFloor(), startReferenceMemcached()]);
    const key = 'k'.repeat(64);
    const bytes = script(key);
    const expected = await McClient.connect(ref.port).then(async (c) => {
      try {
        return await c.request(bytes, endsWithTwoGets);
      } finally {
        c.close();
      }
    });
    expect(expected).toMatch(/^STORED\r\nVALUE k+ 0 1024\r\n/);

    const whole = await McClient.connect(floor);
    const split = await McClient.connect(floor);
    try {
      expect(await whole.request(bytes, endsWithTwoGets)).toBe(expected);
      for (const b of bytes) {
        split.send(Buffer.from([b]));
        await new Promise((r) => setTimeout(r, 1));
      }
      expect(await split.readUntil(endsWithTwoGets)).toBe(expected);
    } finally {
      whole.close();
      split.close();
    }
  });
});
