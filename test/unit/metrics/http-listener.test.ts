import { connect, createServer, type Socket } from 'node:net';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { MetricsListenError, MetricsListener, type MetricsLimits } from '../../../src/metrics/http-listener.ts';

const source = { contentType: 'text/plain; version=0.0.4; charset=utf-8', scrape: async () => 'up 1\n' };
let listeners: MetricsListener[] = [];
const sockets: Socket[] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(listeners.map((l) => l.close()));
  listeners = [];
});

async function start(limits: Partial<MetricsLimits> = {}, src = source) {
  const l = new MetricsListener({ address: { host: '127.0.0.1', port: 0 }, source: src, log: pino({ level: 'silent' }), limits });
  await l.listen();
  listeners.push(l);
  return l.address().port;
}

/** Sends raw bytes, returns everything the server wrote until it closed (or `ms` passed: then `open`). */
function raw(port: number, bytes: string | Buffer, ms = 3000): Promise<{ text: string; closed: boolean; afterMs: number }> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const s = connect(port, '127.0.0.1');
    sockets.push(s);
    let text = '';
    const timer = setTimeout(() => resolve({ text, closed: false, afterMs: performance.now() - t0 }), ms);
    s.on('data', (d) => (text += d.toString('latin1')));
    s.on('error', () => {});
    s.on('close', () => {
      clearTimeout(timer);
      resolve({ text, closed: true, afterMs: performance.now() - t0 });
    });
    s.write(bytes);
  });
}

const status = (text: string) => Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1]);

describe('MetricsListener (GET /metrics over node:http, bounded)', () => {
  it('answers GET /metrics with the exposition and its content type', async () => {
    const port = await start();
    const r = await fetch(`http://127.0.0.1:${port}/metrics`);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe(source.contentType);
    expect(await r.text()).toBe('up 1\n');
    const q = await fetch(`http://127.0.0.1:${port}/metrics?name[]=up`);
    expect(q.status).toBe(200);
  });

  it('404 for other paths, 405 for other methods, HEAD without a body', async () => {
    const port = await start();
    expect((await fetch(`http://127.0.0.1:${port}/`)).status).toBe(404);
    expect((await fetch(`http://127.0.0.1:${port}/metrics/x`)).status).toBe(404);
    const post = await fetch(`http://127.0.0.1:${port}/metrics`, { method: 'POST', body: 'x'.repeat(100_000) });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
    const head = await fetch(`http://127.0.0.1:${port}/metrics`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
  });

  it('500 (not a crash) when collecting fails', async () => {
    const port = await start({}, { contentType: 'text/plain', scrape: async () => Promise.reject(new Error('boom')) });
    expect((await fetch(`http://127.0.0.1:${port}/metrics`)).status).toBe(500);
    expect((await fetch(`http://127.0.0.1:${port}/metrics`)).status).toBe(500);
  });

  it('garbage bytes get 400 and the connection closes', async () => {
    const port = await start();
    const r = await raw(port, Buffer.from([0x00, 0xff, 0x13, 0x37, 0x0d, 0x0a, 0x0d, 0x0a]));
    expect(r.closed).toBe(true);
    expect(status(r.text)).toBe(400);
    const r2 = await raw(port, 'GET /metrics HTTP/9.9 what\r\n\r\n');
    expect(r2.closed).toBe(true);
    expect(status(r2.text)).toBe(400);
  });

  it('headers beyond the size limit get 431 and the connection closes', async () => {
    const port = await start({ maxHeaderBytes: 4096 });
    const r = await raw(port, `GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(64 * 1024)}\r\n\r\n`);
    expect(r.closed).toBe(true);
    expect(status(r.text)).toBe(431);
  });

  it('a request that never finishes (slowloris) is closed after the header timeout', async () => {
    const port = await start({ headersTimeoutMs: 300 });
    const r = await raw(port, 'GET /metrics HTTP/1.1\r\nHost: x\r\n', 5000);
    expect(r.closed).toBe(true);
    expect(r.afterMs).toBeLessThan(4000); // bounded: 300 ms + the 150 ms check interval, with margin
  });

  it('a client that stops reading a large answer is closed after the idle timeout', async () => {
    const size = 32 * 1024 * 1024;
    const port = await start({ idleTimeoutMs: 300 }, { contentType: 'text/plain', scrape: async () => 'x'.repeat(size) });
    const got = await new Promise<{ bytes: number; closed: boolean }>((resolve) => {
      const s = connect(port, '127.0.0.1');
      sockets.push(s);
      let bytes = 0;
      s.on('error', () => {});
      s.on('data', (d) => (bytes += d.length));
      s.on('close', () => resolve({ bytes, closed: true }));
      s.write('GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n');
      s.pause(); // stops reading: the server's writes stall once the socket buffers are full
      setTimeout(() => s.resume(), 1500); // then read what is left: the server has cut the answer short
      setTimeout(() => resolve({ bytes, closed: false }), 4000);
    });
    expect(got.closed).toBe(true);
    expect(got.bytes).toBeLessThan(size);
  });

  it('a connection flood holds at most maxConnections sockets, and scrapes work again afterwards', async () => {
    const port = await start({ maxConnections: 4, headersTimeoutMs: 1000 });
    const held = Array.from({ length: 4 }, () => raw(port, 'GET /metrics HTTP/1.1\r\n', 5000));
    await new Promise((r) => setTimeout(r, 100));
    const extra = await Promise.all(Array.from({ length: 40 }, () => raw(port, 'GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n', 5000)));
    // every connection beyond the four is closed at accept, unanswered
    expect(extra.every((r) => r.closed && r.text === '')).toBe(true);
    const first = await Promise.all(held);
    expect(first.every((r) => r.closed)).toBe(true); // the header timeout freed them
    const ok = await fetch(`http://127.0.0.1:${port}/metrics`);
    expect(ok.status).toBe(200);
  });

  it('a request flood is answered one by one without growing anything', async () => {
    const port = await start();
    const rounds = await Promise.all(
      Array.from({ length: 8 }, async () => {
        let n = 0;
        for (let i = 0; i < 25; i++) if ((await fetch(`http://127.0.0.1:${port}/nope${i}`)).status === 404) n++;
        return n;
      }),
    );
    expect(rounds.reduce((a, b) => a + b, 0)).toBe(200);
    expect((await fetch(`http://127.0.0.1:${port}/metrics`)).status).toBe(200);
  });

  it('an address in use is a MetricsListenError naming it', async () => {
    const busy = createServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', () => r()));
    const port = (busy.address() as { port: number }).port;
    const l = new MetricsListener({ address: { host: '127.0.0.1', port }, source, log: pino({ level: 'silent' }) });
    await expect(l.listen()).rejects.toThrow(MetricsListenError);
    await expect(l.listen()).rejects.toThrow(`127.0.0.1:${port}: EADDRINUSE`);
    busy.close();
  });
});
