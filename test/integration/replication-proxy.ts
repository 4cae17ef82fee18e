import { createServer, connect, type Server, type Socket } from 'node:net';

/**
 * A TCP forwarder on 127.0.0.1 whose traffic can be cut and healed, to simulate a partition; optionally a slow
 * link (`bytesPerSecond` from the dialing side to the target, e.g. a full copy over a WAN).
 */
export class CuttableProxy {
  readonly target: number;
  readonly bytesPerSecond: number;
  port = 0;
  #server: Server | null = null;
  #sockets = new Set<Socket>();
  #cut = false;

  constructor(targetPort: number, opts: { bytesPerSecond?: number } = {}) {
    this.target = targetPort;
    this.bytesPerSecond = opts.bytesPerSecond ?? 0;
  }

  async start(port = 0): Promise<number> {
    const server = createServer((client) => {
      if (this.#cut) return client.destroy();
      const upstream = connect({ host: '127.0.0.1', port: this.target });
      for (const s of [client, upstream]) {
        this.#sockets.add(s);
        s.on('close', () => this.#sockets.delete(s));
        s.on('error', () => {});
      }
      if (this.bytesPerSecond > 0) this.#throttle(client, upstream);
      else client.pipe(upstream);
      upstream.pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    this.#server = server;
    await new Promise<void>((res) => server.listen(port, '127.0.0.1', res));
    this.port = (server.address() as { port: number }).port;
    return this.port;
  }

  /** Forwards from -> to at most bytesPerSecond (per connection), pausing the source when ahead. */
  #throttle(from: Socket, to: Socket): void {
    const start = Date.now();
    let sent = 0;
    from.on('data', (chunk: Buffer) => {
      to.write(chunk);
      sent += chunk.length;
      const aheadMs = (sent / this.bytesPerSecond) * 1000 - (Date.now() - start);
      if (aheadMs > 5) {
        from.pause();
        setTimeout(() => from.resume(), aheadMs);
      }
    });
    from.on('end', () => to.end());
  }

  /** Drops every connection and refuses new ones until heal(). */
  cut(): void {
    this.#cut = true;
    for (const s of this.#sockets) s.destroy();
  }

  heal(): void {
    this.#cut = false;
  }

  async stop(): Promise<void> {
    this.cut();
    const s = this.#server;
    this.#server = null;
    if (s) await new Promise<void>((res) => s.close(() => res()));
  }
}
