/**
 * Why a connection to the replication port was refused; each has a `repl_refused_<kind>` stats counter.
 * address: source not allowed; busy: too many handshakes in progress; tls: no or untrusted certificate, or not
 * TLS; garbage: not the replication protocol; timeout: a handshake step did not come in time; auth: wrong or
 * missing secret; handshake: any other handshake failure (version, roles, closed half-way).
 *
 * A leaf of its own: the serving threads of repcache -t N count refusals (threads.ts) without loading the gate and
 * node:tls with it.
 */
export const REFUSAL_KINDS = ['address', 'busy', 'tls', 'garbage', 'timeout', 'auth', 'handshake'] as const;
export type RefusalKind = (typeof REFUSAL_KINDS)[number];
