import { keyView } from '../cache/hash.ts';
import type { RemoteInfo, Socket as UdpSocket } from 'node:dgram';
import { BadMagicError, BinaryParser, MAGIC_REQUEST } from '../proto/binary/codec.ts';
import type { GetCommand, TextCommand } from '../proto/text/commands.ts';
import { TextParser } from '../proto/text/parser.ts';
import { decodeUdpFrame, encodeUdpReply, isServableRequest, UDP_HEADER_SIZE, writeUdpHeader } from '../proto/text/udp-frame.ts';
import type { BinaryDispatcher, BinaryStream } from './binary-dispatch.ts';
import { CLOSE } from './host.ts';
import type { Dispatcher } from './dispatch.ts';
import type { OutBuffer } from '../net/out-buffer.ts';
import type { ServerCounters } from './stats.ts';
import type { RateLimitedLog } from '../log-limit.ts';

export interface UdpEnv {
  dispatcher: Dispatcher;
  binaryDispatcher: BinaryDispatcher;
  out: OutBuffer;
  counters: ServerCounters;
  maxItemSize: number;
  /** for what datagrams cause: one line per reason per interval */
  log: RateLimitedLog;
}

const END_LENGTH = 'END\r\n'.length;

/**
 * One datagram's request, as the dispatcher sees it (its `conn`): the socket it came on and the client. Its replies
 * leave as they are made, each framed on its own; one known later (-t N's `stats conns`, which asks the other
 * workers) holds back the replies after it in the same datagram, so they leave in order.
 */
export class UdpRequest {
  readonly socket: UdpSocket;
  /** "udp:ip:port" of the client, for `stats conns` */
  readonly client: string;
  readonly #send: (reply: Buffer) => void;
  #waiting: Promise<void> | null = null;

  constructor(socket: UdpSocket, rinfo: RemoteInfo, send: (reply: Buffer) => void) {
    this.socket = socket;
    this.client = `udp:${rinfo.address}:${rinfo.port}`;
    this.#send = send;
  }

  send(reply: Buffer): void {
    if (this.#waiting === null) return this.#send(reply);
    const copy = Buffer.from(reply); // the reply buffer's bytes are reused once this datagram is served
    this.#waiting = this.#waiting.then(() => this.#sendLater(copy));
  }

  deferReply(reply: Promise<string>): void {
    this.#waiting = Promise.all([this.#waiting, reply]).then(([, text]) => this.#sendLater(Buffer.from(text, 'latin1')));
  }

  #sendLater(reply: Buffer): void {
    try {
      this.#send(reply);
    } catch {
      // the server closed its socket meanwhile: the reply has nowhere to go
    }
  }
}

/**
 * Serves memcached's UDP protocol on one socket: each datagram carries one whole request
 * (multi-datagram requests are dropped, as memcached does). Like memcached 1.6.18, every
 * response object is framed on its own: a multi-key get answers one group per key (a miss is a
 * bare header with total 0) and END rides on the last key's group. A datagram whose payload starts
 * with the binary request magic is served in the binary protocol (whatever -B says, as memcached),
 * one group per reply; a datagram answered by nothing (a quiet command) gets a bare header.
 */
export function serveUdp(socket: UdpSocket, env: UdpEnv): void {
  socket.on('message', (msg: Buffer, rinfo: RemoteInfo) => {
    env.counters.bytesRead += msg.length;
    if (msg.length < UDP_HEADER_SIZE) {
      env.counters.udpBadDatagrams++;
      return;
    }
    const frame = decodeUdpFrame(msg);
    if (!isServableRequest(frame)) {
      env.counters.udpBadDatagrams++;
      return;
    }
    const out = env.out;
    const request = new UdpRequest(socket, rinfo, (reply: Buffer) => {
      const datagrams = reply.length === 0 ? [emptyGroup(frame.requestId)] : encodeUdpReply(frame.requestId, reply);
      for (const d of datagrams) {
        env.counters.bytesWritten += d.length;
        socket.send(d, rinfo.port, rinfo.address);
      }
    });
    const send = (reply: Buffer) => request.send(reply);
    const onCommand = (cmd: TextCommand) => {
      if (cmd.kind === 'get' && cmd.keys.length > 1) return perKey(cmd, env, send);
      env.dispatcher.handle(cmd, out, request);
      if (out.length > 0) send(out.take());
    };
    try {
      if (frame.payload.length > 0 && frame.payload[0] === MAGIC_REQUEST) serveBinary(frame.payload, env, send);
      else new TextParser({ maxItemSize: env.maxItemSize }, onCommand).push(frame.payload);
    } catch (err) {
      if (err instanceof BadMagicError) return; // memcached drops the rest of the datagram
      env.log.warn('internal error (udp)', 'a UDP request failed', { remote: rinfo.address, err: (err as Error)?.stack ?? String(err) });
    } finally {
      out.clear();
    }
  });
}

/** The binary requests of one datagram: each reply is a group of its own (an unknown command's once its body is skipped). */
function serveBinary(payload: Buffer, env: UdpEnv, send: (reply: Buffer) => void): void {
  const out = env.out;
  let sent = false;
  let deferred = false;
  /** An unknown command's body runs past the datagram: memcached answers nothing. */
  let swallowing = false;
  const group = () => {
    if (out.length === 0) return;
    sent = true;
    send(out.take());
  };
  const parser = new BinaryParser({ maxValueLength: env.maxItemSize }, (req) => {
    deferred = false;
    const r = env.binaryDispatcher.handle(req, out, stream);
    if (!deferred) group();
    if (r === CLOSE) parser.stop();
  });
  const stream: BinaryStream = {
    swallow(n, then) {
      if (then === undefined) return parser.swallow(n);
      deferred = true;
      swallowing = true;
      parser.swallow(n, () => { swallowing = false; then(); group(); });
    },
  };
  parser.push(payload);
  if (!sent && !swallowing) send(Buffer.alloc(0));
}

function perKey(cmd: GetCommand, env: UdpEnv, send: (reply: Buffer) => void): void {
  const out = env.out;
  const last = cmd.keys.length - 1;
  cmd.keys.forEach((key, i) => {
    const one: GetCommand = { kind: 'get', op: cmd.op, exptime: cmd.exptime, keys: [key], src: key, srcView: keyView(key), keyStart: 0, keyEnd: key.length, multi: false };
    env.dispatcher.handle(one, out, null);
    if (i < last) out.rewind(out.length - END_LENGTH);
    send(out.take());
  });
}

function emptyGroup(requestId: number): Buffer {
  const d = Buffer.allocUnsafe(UDP_HEADER_SIZE);
  writeUdpHeader(d, 0, requestId, 0, 0);
  return d;
}
