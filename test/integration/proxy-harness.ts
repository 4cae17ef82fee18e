import { resolve } from 'node:path';
import { repoRoot, startProcess, waitForPort, type Daemon } from '../support/daemon.ts';
import { McClient } from '../support/mc-client.ts';
import { freePort } from '../support/ports.ts';

export const PROXY = resolve(repoRoot, 'bin/repcache-proxy');

export interface Proc { port: number; daemon: Daemon }

/** bin/repcache-proxy on a free loopback port with these flags. */
export async function startProxy(args: string[], port?: number): Promise<Proc> {
  port ??= await freePort();
  const daemon = startProcess(PROXY, ['-p', String(port), '-l', '127.0.0.1', ...args]);
  await waitForPort(port, '127.0.0.1', 15_000, daemon);
  return { port, daemon };
}

/** Debian's memcached on a port (a free one by default). */
export async function startMemcached(args: string[] = [], port?: number): Promise<Proc> {
  port ??= await freePort();
  const daemon = startProcess('memcached', ['-p', String(port), '-l', '127.0.0.1', '-U', '0', '-t', '1', '-u', 'nobody', ...args]);
  await waitForPort(port, '127.0.0.1', 10_000, daemon);
  return { port, daemon };
}

/** One request on a fresh connection, read until `until`. */
export async function ask(port: number, data: string | Buffer, until: string | RegExp | ((s: string) => boolean) = '\r\n', timeoutMs = 5000): Promise<string> {
  const c = await McClient.connect(port);
  try {
    return await c.request(data, until, timeoutMs);
  } finally {
    c.close();
  }
}

/** The proxy's stats as a map. */
export async function proxyStats(port: number): Promise<Map<string, string>> {
  const reply = await ask(port, 'stats\r\n', 'END\r\n');
  return new Map([...reply.matchAll(/^STAT (\S+) (.*)\r$/gm)].map((m) => [m[1]!, m[2]!]));
}
