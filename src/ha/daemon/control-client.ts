import { connect } from 'node:net';
import { LineBuffer, decodeReply, encodeRequest, type ControlReply, type ControlRequest } from '../../proto/control/codec.ts';

/** Replies carry the state dump: bounded, but far above any real one. */
const MAX_REPLY_BYTES = 64 * 1024 * 1024;

/** Why a request got no reply: `code` is the errno (ENOENT, ECONNREFUSED, EACCES…) or TIMEOUT / PROTOCOL. */
export class ControlClientError extends Error {
  override name = 'ControlClientError';
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}

/** Sends one request on the control socket at `path` and resolves the daemon's reply. */
export function request(path: string, req: ControlRequest, opts: { timeoutMs: number }): Promise<ControlReply> {
  return new Promise((resolve, reject) => {
    const sock = connect(path);
    const lines = new LineBuffer(MAX_REPLY_BYTES);
    let settled = false;
    const finish = (err: ControlClientError | null, reply?: ControlReply) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else resolve(reply!);
    };
    const timer = setTimeout(() => finish(new ControlClientError('TIMEOUT', `no reply from ${path} within ${opts.timeoutMs} ms`)), opts.timeoutMs);
    sock.once('connect', () => sock.write(encodeRequest(req)));
    sock.on('error', (e: NodeJS.ErrnoException) => finish(new ControlClientError(e.code ?? 'ERROR', `${path}: ${e.code ?? e.message}`)));
    sock.on('data', (chunk: Buffer) => {
      const got = lines.push(chunk);
      if (got === null) return;
      if ('error' in got) return finish(new ControlClientError('PROTOCOL', `${path}: reply too long`));
      try {
        finish(null, decodeReply(got.line));
      } catch (e) {
        finish(new ControlClientError('PROTOCOL', `${path}: ${(e as Error).message}`));
      }
    });
    sock.once('end', () => finish(new ControlClientError('PROTOCOL', `${path}: the daemon closed the connection without a reply`)));
  });
}
