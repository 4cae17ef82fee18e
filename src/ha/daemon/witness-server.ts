import { createSocket, type Socket } from 'node:dgram';
import type { Clock } from '../../clock.ts';
import type { Logger } from '../../log.ts';
import { RateLimitedLog } from '../../log-limit.ts';
import { ReplayWindow } from '../../proto/advert/replay.ts';
import { decodeWitness, encodeWitness, type WitnessErrorCode } from '../../proto/witness/codec.ts';
import { WitnessGrants } from '../core/witness-grants.ts';

export interface WitnessServerOptions {
  host: string;
  port: number;
  secret: Buffer;
  maxLeaseMs: number;
  clock: Clock;
  log: Logger;
}

/** The witness cannot bind its address. */
export class WitnessListenError extends Error {
  override name = 'WitnessListenError';
}

/**
 * `haved --witness ADDRESS:PORT`: answers lease requests of haved nodes (WitnessGrants) on one UDP socket.
 * A datagram that does not authenticate, is not a request, or repeats a sequence already seen is dropped and
 * counted, and grants nothing; the logs say so once a minute per reason, with the count.
 */
export class WitnessServer {
  readonly grants: WitnessGrants;
  readonly drops: Partial<Record<WitnessErrorCode, number>> = {};
  #o: WitnessServerOptions;
  #replay = new ReplayWindow({ maxSenders: 4096 });
  #dropLog: RateLimitedLog;
  #sock: Socket | null = null;
  #holders = new Map<number, string>();

  constructor(opts: WitnessServerOptions) {
    this.#o = opts;
    this.grants = new WitnessGrants({ clock: opts.clock, maxLeaseMs: opts.maxLeaseMs });
    this.#dropLog = new RateLimitedLog(opts.log, { now: () => opts.clock.now() });
  }

  /** One datagram in, the reply to send back (or null: dropped). No socket: the unit tests call it. */
  handle(buf: Buffer, from: string): Buffer | null {
    const r = decodeWitness(buf, this.#o.secret);
    if (!r.ok) return this.#drop(r.error.code, from, `witness request from ${from} dropped: ${r.error.message}`);
    const m = r.message;
    if (m.kind !== 'REQUEST') return this.#drop('BAD_KIND', from, `witness message from ${from} dropped: a reply, not a request`);
    const verdict = this.#replay.accept(`${m.vrid}/${m.nodeId}`, m.sequence);
    if (verdict !== 'ok') return this.#drop('REPLAYED', from, `witness request from ${from} dropped: ${verdict} (sequence ${m.sequence})`);
    const a = this.grants.request(m);
    if (a.verdict === 'GRANTED' && this.#holders.get(m.vrid) !== m.nodeId) {
      this.#o.log.info({ vrid: m.vrid, holder: m.nodeId, from, leaseMs: a.leaseMs }, `VRID ${m.vrid}: lease granted to ${m.nodeId}`);
      this.#holders.set(m.vrid, m.nodeId);
    }
    return encodeWitness({ kind: 'REPLY', vrid: m.vrid, nodeId: m.nodeId, verdict: a.verdict, leaseMs: a.leaseMs, holder: a.holder, sequence: m.sequence }, this.#o.secret);
  }

  listen(): Promise<void> {
    const sock = createSocket('udp4');
    this.#sock = sock;
    sock.on('message', (msg, rinfo) => {
      const reply = this.handle(msg, rinfo.address);
      if (reply) sock.send(reply, rinfo.port, rinfo.address, () => {});
    });
    return new Promise((resolve, reject) => {
      sock.once('error', (e) => reject(new WitnessListenError(`cannot listen on ${this.#o.host}:${this.#o.port}: ${e.message}`)));
      sock.bind(this.#o.port, this.#o.host, () => {
        sock.removeAllListeners('error');
        sock.on('error', (e) => this.#o.log.warn({ err: e.message }, 'witness socket error'));
        resolve();
      });
    });
  }

  close(): Promise<void> {
    this.#dropLog.flush();
    const sock = this.#sock;
    this.#sock = null;
    return new Promise((resolve) => (sock ? sock.close(() => resolve()) : resolve()));
  }

  status() {
    return { leases: this.grants.leases(), quietLeftMs: this.grants.quietLeftMs, counters: { ...this.grants.counters }, dropped: { ...this.drops } };
  }

  #drop(code: WitnessErrorCode, from: string, message: string): null {
    this.drops[code] = (this.drops[code] ?? 0) + 1;
    this.#dropLog.warn(code, message, { from, code });
    return null;
  }
}
