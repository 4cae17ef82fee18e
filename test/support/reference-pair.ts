import { afterAll, beforeAll } from 'vitest';
import type { CacheServer } from '../../src/server/cache-server.ts';
import { stopAll } from './daemon.ts';
import { startCacheServer, startReferenceMemcached } from './mc-client.ts';

/**
 * For a describe block that compares repcache with memcached: starts Debian's memcached and an in-process
 * CacheServer before its tests and stops both after. The ports are filled in once beforeAll has run.
 */
export function useReferenceAndOurs(): { readonly ref: number; readonly ours: number } {
  const ports = { ref: 0, ours: 0 };
  let server: CacheServer | undefined;
  beforeAll(async () => {
    ports.ref = (await startReferenceMemcached()).port;
    const ours = await startCacheServer();
    server = ours.server;
    ports.ours = ours.port;
  });
  afterAll(async () => {
    await server?.close();
    await stopAll();
  });
  return ports;
}
