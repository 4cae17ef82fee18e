import { proof, verifyProof, newNonce } from './auth.ts';
import { PROTOCOL_VERSION, type Auth, type Hello, type NodeStatus, type Role } from '../proto/replication/codec.ts';

export class HandshakeError extends Error {
  override name = 'HandshakeError';
}

/** The peer uses our node id: one of the two must pick another (see Replicator). */
export class NodeIdCollisionError extends HandshakeError {
  override name = 'NodeIdCollisionError';
  readonly peerRunId: bigint;
  constructor(message: string, peerRunId: bigint) {
    super(message);
    this.peerRunId = peerRunId;
  }
}

/** The peer's AUTH proof is wrong: it does not know our secret (or has one where we have none). */
export class AuthError extends HandshakeError {
  override name = 'AuthError';
}

export interface LocalIdentity {
  nodeId: number;
  runId: bigint;
  listenPort: number;
  itemSizeMax: number;
  syncMode: boolean;
  secret: string;
}

/**
 * The HELLO/AUTH exchange, pure: both sides send HELLO on connect, answer the peer's HELLO with an AUTH proof
 * over both nonces, and verify the peer's AUTH. Refusals throw HandshakeError with the reason to log.
 */
export class Handshake {
  readonly role: Role;
  readonly me: LocalIdentity;
  readonly nonce: Buffer;
  peer: Hello | null = null;
  authed = false;
  /** The peer's run id when it uses our node id (thrown once it authenticated). */
  #collision: bigint | null = null;

  constructor(role: Role, me: LocalIdentity, nonce: Buffer = newNonce()) {
    this.role = role;
    this.me = me;
    this.nonce = nonce;
  }

  /** Our HELLO; `status` is the node's join status now (see JoinPolicy). */
  hello(status: NodeStatus): Hello {
    const { nodeId, runId, listenPort, itemSizeMax, syncMode } = this.me;
    const { completeness, holdsData, items } = status;
    return { type: 'hello', version: PROTOCOL_VERSION, nodeId, runId, role: this.role, listenPort, itemSizeMax, syncMode, completeness, holdsData, items, nonce: this.nonce };
  }

  onHello(m: Hello): Auth {
    if (this.peer) throw new HandshakeError('second HELLO on one link');
    if (m.version !== PROTOCOL_VERSION) throw new HandshakeError(`peer speaks protocol version ${m.version}, we speak ${PROTOCOL_VERSION}`);
    if (m.role === this.role) throw new HandshakeError(`both ends of the link claim the ${m.role} role`);
    if (m.nodeId === this.me.nodeId) {
      if (m.runId === this.me.runId) throw new HandshakeError('connected to itself (a peer address names this node)');
      this.#collision = m.runId;
    }
    this.peer = m;
    return { type: 'auth', proof: proof(this.me.secret, this.role, this.me.nodeId, this.nonce, m.nonce) };
  }

  onAuth(m: Auth): void {
    if (!this.peer) throw new HandshakeError('AUTH before HELLO');
    if (this.authed) throw new HandshakeError('second AUTH on one link');
    if (!verifyProof(this.me.secret, this.peer.role, this.peer.nodeId, this.peer.nonce, this.nonce, m.proof)) {
      throw new AuthError(this.me.secret ? 'authentication failed: wrong or missing replication secret' : 'authentication failed: the peer uses a replication secret and this node has none');
    }
    this.authed = true;
  }

  /** After onAuth: throws NodeIdCollisionError when the (authenticated) peer uses our node id. */
  checkNodeId(): void {
    if (this.#collision !== null) throw new NodeIdCollisionError(`node id collision: peer also uses node id ${this.me.nodeId}`, this.#collision);
  }

  /** Non-fatal differences worth a warning. */
  mismatches(): string[] {
    const p = this.peer;
    if (!p) return [];
    const out: string[] = [];
    if (p.itemSizeMax !== this.me.itemSizeMax) out.push(`item size limit differs (peer ${p.itemSizeMax}, here ${this.me.itemSizeMax}): larger items will not replicate`);
    if (p.syncMode !== this.me.syncMode) out.push(`synchronous mode differs (peer ${p.syncMode ? 'on' : 'off'}, here ${this.me.syncMode ? 'on' : 'off'})`);
    return out;
  }
}
