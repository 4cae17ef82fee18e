/** Priority arithmetic shared by the instance and the trackers (keepalived vrrp_track.c semantics). */
import { ipv6ToBytes } from '../../proto/advert/codec.ts';

export const OWNER_PRIORITY = 255;

/** Base + tracker weights clamped to 1..254; an owner (255) never moves. */
export function effectivePriority(base: number, adjustments: Iterable<number>): number {
  if (base === OWNER_PRIORITY) return OWNER_PRIORITY;
  let p = base;
  for (const d of adjustments) p += d;
  return Math.min(254, Math.max(1, p));
}

/** VRRPv3 skew: (256 − priority) × interval / 256, in ms (fractional). */
export function skewMs(priority: number, masterAdvertIntMs: number): number {
  return ((256 - priority) * masterAdvertIntMs) / 256;
}

/** Master-down interval: 3 × interval + skew. */
export function masterDownMs(priority: number, masterAdvertIntMs: number): number {
  return 3 * masterAdvertIntMs + skewMs(priority, masterAdvertIntMs);
}

export function ipv4ToNumber(address: string): number {
  const parts = address.split('.');
  let n = 0;
  for (const p of parts) n = n * 256 + (Number(p) & 255);
  return parts.length === 4 ? n : 0;
}

/** An IPv4 or IPv6 address as a number for the tie-break (RFC 5798 compares the addresses as integers). */
export function addressRank(address: string): bigint {
  const a = address.replace(/%.*$/, '');
  if (!a.includes(':')) return BigInt(ipv4ToNumber(a));
  const b = ipv6ToBytes(a);
  return b ? BigInt(`0x${b.toString('hex')}`) : 0n;
}

export interface Candidate {
  priority: number;
  primaryAddress: string;
  nodeId: string;
}

/**
 * Election order: higher priority, then higher primary address (RFC 5798 §6.4.3), then node id, so that the
 * order is total and both ends of any comparison agree on who wins.
 */
export function outranks(a: Candidate, b: Candidate): boolean {
  if (a.priority !== b.priority) return a.priority > b.priority;
  const aa = addressRank(a.primaryAddress);
  const ba = addressRank(b.primaryAddress);
  if (aa !== ba) return aa > ba;
  return a.nodeId > b.nodeId;
}
