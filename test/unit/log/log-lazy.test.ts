import { Writable } from 'node:stream';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { lazyLogger, type Logger } from '../../../src/log.ts';

function made(level: pino.LevelWithSilent) {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  let builds = 0;
  const make = (): Logger => {
    builds++;
    return pino({ level, base: { name: 'repcache' } }, stream);
  };
  return { lines, make, builds: () => builds };
}

describe('lazyLogger', () => {
  it('builds nothing while no line at its level is written', () => {
    const { make, builds, lines } = made('warn');
    const log = lazyLogger(make, 'warn');
    log.info('quiet');
    log.debug({ a: 1 }, 'quieter');
    const child = log.child({ component: 'server' });
    child.info('still quiet');
    expect(log.isLevelEnabled('info')).toBe(false);
    expect(log.isLevelEnabled('warn')).toBe(true);
    expect([log.level, log.levelVal, child.level]).toEqual(['warn', 40, 'warn']);
    let flushed = false;
    child.flush(() => { flushed = true; });
    expect(flushed).toBe(true);
    expect(builds()).toBe(0);
    expect(lines).toEqual([]);
  });

  it('builds the logger once, on the first line, and writes what pino would', () => {
    const { make, builds, lines } = made('warn');
    const log = lazyLogger(make, 'warn');
    const child = log.child({ component: 'server' });
    child.warn({ conn: 3 }, 'odd client');
    log.error('boom');
    child.warn('again');
    expect(builds()).toBe(1);
    expect(lines.map(({ level, name, component, conn, msg }) => ({ level, name, component, conn, msg }))).toEqual([
      { level: 40, name: 'repcache', component: 'server', conn: 3, msg: 'odd client' },
      { level: 50, name: 'repcache', component: undefined, conn: undefined, msg: 'boom' },
      { level: 40, name: 'repcache', component: 'server', conn: undefined, msg: 'again' },
    ]);
  });

  it('a child with a level of its own logs below the parent\'s, as replication does', () => {
    const { make, builds, lines } = made('warn');
    const log = lazyLogger(make, 'warn');
    const replication = log.child({ component: 'replication' }, { level: 'info' });
    expect(replication.levelVal).toBe(30);
    replication.debug('dropped');
    expect(builds()).toBe(0);
    replication.info('ready');
    log.info('dropped too');
    expect(lines.map((l) => [l.level, l.component, l.msg])).toEqual([[30, 'replication', 'ready']]);
  });
});
