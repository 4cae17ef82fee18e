import { Writable } from 'node:stream';
import { MessageChannel } from 'node:worker_threads';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { forwardingLogger, replayLog, type ForwardedLog } from '../../../src/log-forward.ts';

function sink() {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  return { logger: pino({ level: 'trace', base: { name: 'repcache' } }, stream), lines };
}

describe('forwardingLogger', () => {
  it('posts the calls at or above its level, with the bindings of its children', () => {
    const posted: ForwardedLog[] = [];
    const log = forwardingLogger((m) => posted.push(m), 'info', { worker: 2 });
    log.debug('dropped');
    log.info({ conn: 1 }, 'opened');
    log.child({ component: 'metrics' }).warn('careful');
    expect(log.isLevelEnabled('debug')).toBe(false);
    expect(log.isLevelEnabled('error')).toBe(true);
    expect(posted).toEqual([
      { type: 'log', level: 'info', bindings: { worker: 2 }, args: [{ conn: 1 }, 'opened'] },
      { type: 'log', level: 'warn', bindings: { worker: 2, component: 'metrics' }, args: ['careful'] },
    ]);
  });

  it('posts the text of an argument that cannot cross threads', () => {
    const { port1, port2 } = new MessageChannel();
    const posted: ForwardedLog[] = [];
    const log = forwardingLogger((m) => {
      port1.postMessage(m); // throws DataCloneError for a function
      posted.push(m);
    }, 'trace');
    log.error({ fn: () => 1 }, 'odd');
    port1.close();
    port2.close();
    expect(posted).toHaveLength(1);
    expect(posted[0].args[1]).toBe('odd');
    expect(posted[0].args[0]).toEqual({ value: '[object Object]' });
  });
});

describe('replayLog', () => {
  it('logs a forwarded call, an error included, as the worker would have', async () => {
    const { logger, lines } = sink();
    const { port1, port2 } = new MessageChannel();
    const got = new Promise<ForwardedLog>((resolve) => port2.once('message', resolve));
    forwardingLogger((m) => port1.postMessage(m), 'debug', { worker: 1 }).error({ err: new Error('boom') }, 'listener error');
    replayLog(logger, await got);
    port1.close();
    port2.close();
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 50, name: 'repcache', worker: 1, msg: 'listener error', err: { type: 'Error', message: 'boom' } });
  });

  it('a child with a level of its own (pino child options) logs below the owner\'s level, as replication does', () => {
    const lines: Array<Record<string, unknown>> = [];
    const stream = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
        done();
      },
    });
    const owner = pino({ level: 'warn' }, stream);
    const posted: ForwardedLog[] = [];
    const worker = forwardingLogger((m) => posted.push(m), 'warn');
    const component = worker.child({ component: 'replication' }, { level: 'info' });
    expect(component.levelVal).toBe(30);
    component.info('ready');
    component.debug('dropped');
    worker.info('dropped too');
    for (const m of posted) replayLog(owner, m);
    expect(lines.map((l) => [l.level, l.component, l.msg])).toEqual([[30, 'replication', 'ready']]);
  });

  it('ignores a level it does not know', () => {
    const { logger, lines } = sink();
    replayLog(logger, { type: 'log', level: 'nope' as 'info', bindings: {}, args: ['x'] });
    expect(lines).toEqual([]);
  });
});
