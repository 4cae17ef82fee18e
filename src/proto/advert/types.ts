/** The advert message haved nodes exchange over UDP (not wire-compatible with VRRP, see codec.ts). */
export const AdvertKind = { ADVERT: 1, BACKUP_HELLO: 2 } as const;
export type AdvertKindName = keyof typeof AdvertKind;

export interface AdvertVip {
  address: string; // IPv4 dotted quad or IPv6 (the advert's family)
  prefix: number;
}

export interface AdvertMessage {
  kind: AdvertKindName;
  vrid: number; // 1..255
  priority: number; // 0..255; 0 = the master resigns
  advertIntMs: number; // on the wire in centiseconds, 10..655350
  nodeId: string; // stable sender id (router_id or primary address), 1..255 UTF-8 bytes
  primaryAddress: string; // IPv4 or IPv6 (sets the advert's family), the election tie-break
  vips: AdvertVip[]; // at most 255
  successor: string | null; // node id of the backup a resigning master hands over to
  sequence: bigint; // u64, per sender, strictly increasing across restarts
}

export type AdvertAuth =
  | { type: 'none' }
  /** keepalived-compatible cleartext password: at most 8 bytes, compared in constant time. */
  | { type: 'PASS'; password: string }
  /** HMAC-SHA256 over the whole packet with a shared key; the caller adds a ReplayWindow. */
  | { type: 'HMAC'; key: string | Uint8Array };

export const AuthType = { none: 0, PASS: 1, HMAC: 2 } as const;

export type AdvertErrorCode =
  | 'TRUNCATED'
  | 'BAD_MAGIC'
  | 'BAD_VERSION'
  | 'BAD_KIND'
  | 'BAD_FIELD'
  | 'TRAILING_BYTES'
  | 'AUTH_MISMATCH' // auth type differs from ours
  | 'BAD_AUTH' // wrong password or HMAC
  | 'REPLAYED';

/** Why an advert was dropped; the receiver counts these by `code`. */
export class AdvertDecodeError extends Error {
  override name = 'AdvertDecodeError';
  readonly code: AdvertErrorCode;
  constructor(code: AdvertErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

/** A field that cannot be encoded (programming or config error, never a network condition). */
export class AdvertEncodeError extends Error {
  override name = 'AdvertEncodeError';
}

export type DecodeResult = { ok: true; message: AdvertMessage } | { ok: false; error: AdvertDecodeError };
