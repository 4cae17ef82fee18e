import type { Socket } from 'node:net';
import { createServer as createTlsServer, type Server as TlsServer, type TLSSocket } from 'node:tls';
import { quoteBytes } from '../log-limit.ts';
import { decodeBody, encode, FrameType, PROTOCOL_MAGIC, PROTOCOL_VERSION, ProtocolError, type Hello } from '../proto/replication/codec.ts';
import type { AccessList } from './access.ts';
import { plainAddress } from './access.ts';
import type { RefusalKind } from './refusals.ts';
import type { LinkSocket, LinkTlsFiles } from './transport.ts';

export type { RefusalKind } from './refusals.ts';

/** The content type of a TLS handshake record: the first byte a TLS client sends. */
const TLS_HANDSHAKE_RECORD = 0x16;

const HELLO_BYTES = encode({
  type: 'hello', version: 0, nodeId: 0, runId: 0n, role: 'sender', listenPort: 0, itemSizeMax: 0, syncMode: false, nonce: Buffer.alloc(16),
  completeness: 'joining', holdsData: false, items: 0,
}).length;

export interface GateOptions {
  access: AccessList;
  /** Mutual TLS on the link: the peer must present a certificate signed by the configured CA. */
  tls: LinkTlsFiles | null;
  /** The peer's HELLO must arrive within this long of the accept. */
  timeoutMs: number;
  /** Connections allowed in the handshake at once (here, and in sessions not yet authenticated). */
  maxPending: number;
  refused(kind: RefusalKind, remote: string, detail: string): void;
  /** The peer said HELLO: a session takes the socket. `settled` is to be called once it authenticated or ended. */
  admit(socket: LinkSocket, hello: Hello, settled: () => void): void;
}

/**
 * The replication port's door: an accepted connection from an address that is not allowed is closed before a
 * byte is read or sent; an allowed one gets (with TLS configured) the TLS handshake, then must send a HELLO
 * and nothing else within the timeout. Only then does a session see it and answer. Everything a stranger
 * sends is counted and reported through `refused`, never quoted at length.
 */
export class InboundGate {
  readonly #o: GateOptions;
  readonly #open = new Set<LinkSocket>();
  #pending = 0;
  /** Never listens: accepted sockets are handed to it, so node:tls verifies the client certificate. */
  readonly #tls: TlsServer | null;
  /** Connections in the TLS handshake, by remote address:port, waiting for their TLS socket. */
  readonly #inTls = new Map<string, (t: TLSSocket) => void>();
  /** The same connections by their raw socket: how a failed handshake is refused. */
  readonly #tlsFailed = new WeakMap<object, (err: Error) => void>();

  constructor(opts: GateOptions) {
    this.#o = opts;
    this.#tls = opts.tls ? createTlsServer({ ...opts.tls, requestCert: true, rejectUnauthorized: true }) : null;
    this.#tls?.on('secureConnection', (t: TLSSocket) => this.#inTls.get(`${t.remoteAddress}:${t.remotePort}`)?.(t));
    // a TLSSocket made over an accepted net.Socket keeps it as _parent; were that to go, the raw socket's close refuses
    this.#tls?.on('tlsClientError', (err: Error, t: TLSSocket) => {
      const raw = (t as TLSSocket & { _parent?: unknown })._parent;
      if (typeof raw === 'object' && raw !== null) this.#tlsFailed.get(raw)?.(err);
    });
  }

  /** Connections in the handshake (for stats and tests). */
  get pending(): number {
    return this.#pending;
  }

  accept(raw: LinkSocket): void {
    const o = this.#o;
    const remote = plainAddress(raw.remoteAddress ?? '');
    const who = `${remote}:${raw.remotePort ?? 0}`;
    // every refusal is counted before the socket closes: whoever sees the close and then asks for `stats` sees it
    if (!o.access.allows(remote)) {
      o.refused('address', who, `${remote} is not a configured peer (-x) or an allowed address`);
      raw.resetAndDestroy();
      return;
    }
    if (this.#pending >= o.maxPending) {
      o.refused('busy', who, `${this.#pending} handshakes already in progress`);
      raw.resetAndDestroy();
      return;
    }
    this.#pending++;
    let settled = false;
    const settle = () => {
      if (settled) return;
      settled = true;
      this.#pending--;
    };
    let socket: LinkSocket = raw;
    this.#open.add(raw);
    let got: Buffer = Buffer.alloc(0);
    let phase: 'tls' | 'hello' = this.#tls ? 'tls' : 'hello';
    const key = `${raw.remoteAddress}:${raw.remotePort}`;
    const refuse = (kind: RefusalKind, detail: string) => {
      cleanup();
      settle();
      o.refused(kind, who, detail);
      socket.destroy();
      raw.destroy();
    };
    const timer = setTimeout(() => refuse('timeout', phase === 'tls' ? `no TLS handshake within ${o.timeoutMs} ms` : `no HELLO within ${o.timeoutMs} ms`), o.timeoutMs);
    const onData = (chunk: Buffer) => {
      got = got.length === 0 ? chunk : Buffer.concat([got, chunk]);
      const verdict = firstBytesVerdict(got);
      if (verdict === 'wait') return;
      if (verdict) return refuse(verdict.kind, verdict.detail);
      if (got.length < HELLO_BYTES) return;
      let hello: Hello;
      try {
        hello = decodeBody(FrameType.HELLO, got.subarray(5, HELLO_BYTES)) as Hello;
      } catch (err) {
        if (!(err instanceof ProtocolError)) throw err;
        return refuse('garbage', err.message);
      }
      cleanup();
      o.admit(socket, hello, settle);
    };
    const onError = (err: Error) => (phase === 'tls' ? refuse('tls', err.message) : refuse('handshake', `${err.message} before HELLO`));
    const onClose = () => {
      if (phase === 'tls') refuse('tls', 'TLS handshake failed: not TLS, or no certificate signed by our CA');
      else refuse('handshake', got.length ? `closed after ${got.length} bytes of HELLO` : 'closed before HELLO');
    };
    // TLS: the first byte, before node:tls sees the connection (see below)
    const first = (): void => {
      if (phase !== 'tls' || settled) return;
      const b = (raw as Socket).read(1) as Buffer | null;
      if (b === null) return;
      raw.off('readable', first);
      if (b[0] !== TLS_HANDSHAKE_RECORD) return refuse('tls', `not TLS: ${quoteBytes(b)}`);
      (raw as Socket).unshift(b);
      // TLS is only configured over TCP (TcpTransport), whose accepted connections are net.Sockets; node:tls reads
      // the byte put back before anything else
      this.#tls!.emit('connection', raw as Socket);
    };
    const cleanup = () => {
      clearTimeout(timer);
      this.#open.delete(raw);
      this.#inTls.delete(key);
      this.#tlsFailed.delete(raw);
      raw.off('readable', first);
      for (const s of new Set([socket, raw])) {
        s.off('data', onData);
        s.off('error', onError);
        s.off('close', onClose);
      }
    };
    const listen = (s: LinkSocket) => {
      s.on('data', onData);
      s.on('error', onError);
      s.on('close', onClose);
    };
    if (!this.#tls) return listen(raw);
    raw.on('error', onError);
    raw.on('close', onClose);
    this.#inTls.set(key, (t) => {
      // node:tls checked the certificate against our CA (rejectUnauthorized) before this.
      this.#inTls.delete(key);
      this.#tlsFailed.delete(raw);
      raw.off('error', onError);
      raw.off('close', onClose);
      socket = t;
      phase = 'hello';
      listen(t);
    });
    // node:tls closes a connection whose handshake fails before it says so (tlsClientError): counted there, in the
    // same turn, rather than at the close that follows a turn later
    this.#tlsFailed.set(raw, (err) => refuse('tls', `TLS handshake failed: ${err.message}`));
    // The first byte of a TLS connection is a handshake record's: anything else (plain text, a repcache without
    // TLS) is refused here, counted before its close, without handing it to node:tls.
    raw.on('readable', first);
  }

  /** Drops every connection still in the handshake. */
  close(): void {
    for (const s of this.#open) s.destroy();
    this.#open.clear();
    this.#inTls.clear();
  }
}

/**
 * What the first bytes of a connection say before its HELLO is whole: null (so far a HELLO of ours), `wait` (too
 * few bytes to tell a HELLO of another protocol version from garbage), or why the connection is refused.
 */
export function firstBytesVerdict(b: Buffer): { kind: 'garbage' | 'handshake'; detail: string } | 'wait' | null {
  const version = otherVersion(b);
  if (version === undefined) return 'wait';
  if (version !== null) return { kind: 'handshake', detail: `peer speaks replication protocol version ${version}, this node speaks ${PROTOCOL_VERSION}` };
  const why = notAHello(b);
  return why ? { kind: 'garbage', detail: `${why}: "${quoteBytes(b)}"` } : null;
}

/**
 * The protocol version of a HELLO of another version (its frame has another length), null when the bytes are
 * not one, undefined while too few bytes have come to tell (only when the length word is a plausible one).
 */
function otherVersion(b: Buffer): number | null | undefined {
  if (b.length < 4) return null;
  const length = b.readUInt32BE(0);
  if (length === HELLO_BYTES - 4 || length > 1024) return null;
  if (b.length < 11) return undefined;
  return b[4] === FrameType.HELLO && b.readUInt32BE(5) === PROTOCOL_MAGIC ? b.readUInt16BE(9) : null;
}

/** Why the first bytes of a connection cannot be the start of a HELLO frame (null: they can). */
function notAHello(b: Buffer): string | null {
  if (b.length >= 4 && b.readUInt32BE(0) !== HELLO_BYTES - 4) return 'not the replication protocol';
  if (b.length >= 5 && b[4] !== FrameType.HELLO) return 'a frame other than HELLO first';
  if (b.length > HELLO_BYTES) return 'data before the handshake';
  return null;
}
