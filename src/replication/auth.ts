import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { NONCE_BYTES, type Role } from '../proto/replication/codec.ts';

/**
 * Challenge-response proof of the shared secret: each side proves it knows the secret by signing both nonces,
 * the peer's first, so a recorded proof is useless on another connection. With no secret configured the key is
 * empty: the exchange still runs (and both sides must agree that there is no secret).
 */
export function proof(secret: string, role: Role, nodeId: number, ownNonce: Buffer, peerNonce: Buffer): Buffer {
  return createHmac('sha256', secret).update(`haved-repl-v1 ${role} ${nodeId} `).update(peerNonce).update(ownNonce).digest();
}

export function verifyProof(secret: string, peerRole: Role, peerNodeId: number, peerNonce: Buffer, ownNonce: Buffer, got: Buffer): boolean {
  const want = proof(secret, peerRole, peerNodeId, peerNonce, ownNonce);
  return got.length === want.length && timingSafeEqual(got, want);
}

export const newNonce = (): Buffer => randomBytes(NONCE_BYTES);
