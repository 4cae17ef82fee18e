import type { Socket } from 'node:net';
import type { TextCommand } from '../proto/text/commands.ts';
import { TextParser } from '../proto/text/parser.ts';
import { CLOSE, type Dispatcher } from './dispatch.ts';
import type { OutBuffer } from './out-buffer.ts';
import type { ServerCounters } from './stats.ts';
import type { Logger } from '../log.ts';

export interface ConnectionEnv {
  dispatcher: Dispatcher;
  /** One reply buffer shared by every connection: a 'data' chunk is handled start to end synchronously. */
  out: OutBuffer;
  counters: ServerCounters;
  maxItemSize: number;
  now(): number;
  logger: Logger;
  traceCommands: boolean;
}

/** One client stream (TCP or unix): parse every command in a chunk, reply with one write. */
export class Connection {
  readonly id: number;
  readonly socket: Socket;
  /** "tcp:ip:port" of the peer and of the listener, for `stats conns` */
  readonly addr: string;
  readonly listenAddr: string;
  lastCommandAt: number;
  readonly #env: ConnectionEnv;
  readonly #parser: TextParser;
  #closing = false;

  constructor(id: number, socket: Socket, listenAddr: string, env: ConnectionEnv) {
    this.id = id;
    this.socket = socket;
    this.listenAddr = listenAddr;
    this.addr = socket.remoteAddress ? `tcp:${socket.remoteAddress}:${socket.remotePort}` : listenAddr;
    this.#env = env;
    this.lastCommandAt = env.now();
    this.#parser = new TextParser({ maxItemSize: env.maxItemSize }, (cmd) => this.#onCommand(cmd));
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('drain', () => socket.resume());
    socket.on('error', (err) => env.logger.debug({ conn: id, err: err.message }, 'connection error'));
  }

  #onData(chunk: Buffer): void {
    if (this.#closing) return;
    const env = this.#env;
    env.counters.bytesRead += chunk.length;
    this.lastCommandAt = env.now();
    try {
      this.#parser.push(chunk);
    } catch (err) {
      env.logger.error({ conn: this.id, err }, 'command failed');
      env.out.latin1('SERVER_ERROR internal error\r\n');
      this.#closing = true;
    }
    this.#flush();
  }

  #onCommand(cmd: TextCommand): void {
    if (this.#closing) return;
    if (this.#env.traceCommands) this.#trace(cmd);
    if (this.#env.dispatcher.handle(cmd, this.#env.out, this) === CLOSE) this.#closing = true;
  }

  #flush(): void {
    const out = this.#env.out;
    const socket = this.socket;
    if (out.length > 0) {
      const bytes = out.take();
      this.#env.counters.bytesWritten += bytes.length;
      if (!socket.write(bytes) && !this.#closing) socket.pause();
    }
    if (this.#closing) socket.destroySoon();
  }

  #trace(cmd: TextCommand): void {
    const what = 'op' in cmd ? cmd.op : cmd.kind === 'other' ? cmd.name : cmd.kind;
    const key = 'key' in cmd ? cmd.key.toString('latin1') : 'keys' in cmd ? cmd.keys.map((k) => k.toString('latin1')).join(' ') : undefined;
    this.#env.logger.trace({ conn: this.id, cmd: what, key }, 'command');
  }

  get closing(): boolean {
    return this.#closing;
  }

  close(): void {
    this.#closing = true;
    this.socket.destroy();
  }
}
