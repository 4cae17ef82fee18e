/**
 * The cache server's own timer (clock seconds, crawler, flush sweep, timeouts) runs on the injected clock: with a
 * fake one, idle_timeout closes a connection when fake time says so.
 */
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { CacheClock } from '../../../src/clock.ts';
import { CacheServer } from '../../../src/server/cache-server.ts';
import { defaultServerConfig, type ServerConfig } from '../../../src/server/config.ts';
import { FakeClock } from '../../support/fake-clock.ts';
import { McClient } from '../../support/mc-client.ts';

const open: Array<CacheServer | McClient> = [];
afterEach(async () => {
  for (const x of open.splice(0)) await x.close();
});

describe('the cache server\'s timer', () => {
  it('runs on the injected clock: idle_timeout closes a connection after the fake seconds, and close() cancels it', async () => {
    const clock = new FakeClock();
    const config: ServerConfig = { ...defaultServerConfig, listen: ['127.0.0.1'], extended: {}, port: -1, udpPort: 0, idleTimeout: 1 };
    const server = new CacheServer(config, { logger: pino({ level: 'silent' }), clock: new CacheClock(clock) });
    open.push(server);
    await server.listen();
    expect(clock.pending).toBe(1);
    const c = await McClient.connect(Number(server.addresses()[0].split(':').pop()));
    open.push(c);
    expect(await c.request('version\r\n')).toMatch(/^VERSION /);
    const idleKicks = () => server.generalStats().find(([name]) => name === 'idle_kicks')?.[1];
    clock.advance(1250);
    expect(idleKicks()).toBe(0);
    clock.advance(1000); // idle for more than 1 s of the cache's clock
    expect(idleKicks()).toBe(1);
    await c.waitClosed(5000);
    expect(c.isClosed).toBe(true);
    await server.close();
    expect(clock.pending).toBe(0);
  });
});
