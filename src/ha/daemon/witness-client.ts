import { readFileSync } from 'node:fs';
import type { Witness } from '../../config/model.ts';
import { defaultWitnessLeaseMs } from '../../config/witness.ts';
import type { Clock } from '../../clock.ts';
import type { Logger } from '../../log.ts';
import type { RateLimitedLog } from '../../log-limit.ts';
import { SequenceCounter } from '../../proto/advert/replay.ts';
import { decodeWitness, encodeWitness, type WitnessErrorCode } from '../../proto/witness/codec.ts';
import { WitnessGuard, type WitnessEventKind } from '../core/witness-guard.ts';
import type { VrrpInstance } from '../core/vrrp-instance.ts';
import { udpWitnessLink, type WitnessLink, type WitnessLinkFactory } from '../adapters/witness-socket.ts';

/** The witness secret file is missing, unreadable or too short. */
export class WitnessSecretError extends Error {
  override name = 'WitnessSecretError';
}

/** Reads a shared secret file: its content without surrounding white space, at least 16 bytes. */
export function readWitnessSecret(path: string, where: string): Buffer {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new WitnessSecretError(`${where}: cannot read the witness secret_file ${path}: ${(e as Error).message}`);
  }
  const secret = Buffer.from(text.trim(), 'utf8');
  if (secret.length < 16) throw new WitnessSecretError(`${where}: the witness secret in ${path} is shorter than 16 bytes; make one with: head -c 32 /dev/urandom | base64`);
  return secret;
}

/** The problems with the witness secret files of a config, one message each (file:line of the witness block). */
export function witnessSecretProblems(instances: readonly { witness: Witness | null }[]): string[] {
  const out: string[] = [];
  for (const i of instances) {
    if (!i.witness) continue;
    try {
      readWitnessSecret(i.witness.secretFile, i.witness.where);
    } catch (e) {
      if (!(e instanceof WitnessSecretError)) throw e;
      out.push(e.message);
    }
  }
  return out;
}

export interface WitnessClientDeps {
  clock: Clock;
  log: Logger;
  dropLog: RateLimitedLog;
  link?: WitnessLinkFactory;
  /** The secret (tests); default: read from the config's secret_file. */
  secret?: Buffer;
}

/** Wires one instance's WitnessGuard to the witness over a WitnessLink, with the codec and its checks. */
export class WitnessClient {
  readonly guard: WitnessGuard;
  readonly config: Witness;
  readonly drops: Partial<Record<WitnessErrorCode | 'NOT_FOR_US' | 'SEND_FAILED', number>> = {};
  #link: WitnessLink;
  #key: Buffer;
  #seq = new SequenceCounter();
  #deps: WitnessClientDeps;
  #vrid: number;
  #nodeId: string;

  constructor(config: Witness, vrid: number, nodeId: string, instance: VrrpInstance, deps: WitnessClientDeps, onStepDown: () => void) {
    this.config = config;
    this.#deps = deps;
    this.#vrid = vrid;
    this.#nodeId = nodeId;
    this.#key = deps.secret ?? readWitnessSecret(config.secretFile, config.where);
    this.guard = new WitnessGuard({
      clock: deps.clock,
      leaseMs: config.leaseMs ?? defaultWitnessLeaseMs(instance.advertIntMs),
      request: (held, leaseMs) => this.#request(held, leaseMs),
      state: () => instance.state,
      wantsMaster: () => instance.wantsMaster,
      stepDown: (reason) => {
        onStepDown();
        instance.stepDown(reason);
      },
      opened: (reason) => instance.gateOpened(reason),
      event: (kind, message) => this.#event(kind, message),
    });
    this.#link = (deps.link ?? udpWitnessLink)(
      config.address,
      (buf) => this.#receive(buf),
      (e) => this.#drop('SEND_FAILED', `witness ${config.address.host}:${config.address.port} unreachable: ${e.message}`),
    );
    instance.attachGate(this.guard);
  }

  start(): void {
    this.guard.start();
  }

  stop(): void {
    this.guard.stop();
    this.#link.close();
  }

  status() {
    return { address: `${this.config.address.host}:${this.config.address.port}`, leaseMs: this.guard.leaseMs, ...this.guard.status(), dropped: { ...this.drops } };
  }

  #request(held: boolean, leaseMs: number): bigint {
    const sequence = this.#seq.next();
    this.#link.send(encodeWitness({ kind: 'REQUEST', vrid: this.#vrid, nodeId: this.#nodeId, held, leaseMs, sequence }, this.#key));
    return sequence;
  }

  #receive(buf: Buffer): void {
    const r = decodeWitness(buf, this.#key);
    if (!r.ok) return this.#drop(r.error.code, `witness reply dropped: ${r.error.message}`);
    const m = r.message;
    if (m.kind !== 'REPLY' || m.vrid !== this.#vrid || m.nodeId !== this.#nodeId) {
      return this.#drop('NOT_FOR_US', `witness message dropped: a ${m.kind} for VRID ${m.vrid}, not a reply to us`);
    }
    this.guard.reply(m);
  }

  #drop(code: WitnessErrorCode | 'NOT_FOR_US' | 'SEND_FAILED', message: string): void {
    this.drops[code] = (this.drops[code] ?? 0) + 1;
    this.#deps.dropLog.warn(`witness-${code}`, message, { code });
  }

  #event(kind: WitnessEventKind, message: string): void {
    if (kind === 'reply-dropped') return this.#drop('REPLAYED', message);
    this.#deps.log[kind === 'step-down' || kind === 'lease-lost' || kind === 'paused' ? 'warn' : 'info']({ event: `witness-${kind}` }, message);
  }
}
