import { decodeAdvert, encodeAdvert } from './codec.ts';
import { ReplayWindow, SequenceCounter } from './replay.ts';
import type { ReplayWindowOptions } from './replay.ts';
import { AdvertDecodeError } from './types.ts';
import type { AdvertAuth, AdvertMessage, DecodeResult } from './types.ts';

export * from './types.ts';
export { ADVERT_MAGIC, ADVERT_VERSION, HEADER_BYTES, decodeAdvert, encodeAdvert, peekVrid } from './codec.ts';
export { ReplayWindow, SequenceCounter, SEQUENCE_TIME_SHIFT } from './replay.ts';
export type { ReplayVerdict, ReplayWindowOptions } from './replay.ts';

export interface AdvertCodecOptions {
  auth: AdvertAuth;
  /** Wall clock in ms (sequence seeding, first-contact check). Default Date.now. */
  wallNow?: () => number;
  replay?: Omit<ReplayWindowOptions, 'wallNow'>;
}

/**
 * One instance's advert endpoint state: numbers outgoing adverts and, with HMAC, rejects replays.
 * Replay state is keyed by (VRID, node id), so one codec may serve several instances sharing a key.
 */
export class AdvertCodec {
  readonly auth: AdvertAuth;
  #sequence: SequenceCounter;
  #replay: ReplayWindow | null;

  constructor(opts: AdvertCodecOptions) {
    this.auth = opts.auth;
    const wallNow = opts.wallNow ?? Date.now;
    this.#sequence = new SequenceCounter(wallNow);
    this.#replay = opts.auth.type === 'HMAC' ? new ReplayWindow({ ...opts.replay, wallNow }) : null;
  }

  encode(msg: Omit<AdvertMessage, 'sequence'>): Buffer {
    return encodeAdvert({ ...msg, sequence: this.#sequence.next() }, this.auth);
  }

  decode(buf: Uint8Array): DecodeResult {
    const result = decodeAdvert(buf, this.auth);
    if (!result.ok || this.#replay === null) return result;
    const { vrid, nodeId, sequence } = result.message;
    const verdict = this.#replay.accept(`${vrid}/${nodeId}`, sequence);
    if (verdict === 'ok') return result;
    return { ok: false, error: new AdvertDecodeError('REPLAYED', `advert from ${nodeId} rejected: ${verdict} (sequence ${sequence})`) };
  }
}
