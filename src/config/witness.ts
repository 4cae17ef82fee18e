import { isIPv4 } from 'node:net';
import { whereOf, type Token } from './lexer.ts';
import type { Witness } from './model.ts';
import { table, type Reader } from './reader.ts';

const MIN_LEASE_MS = 1000;
const MAX_LEASE_MS = 60_000;

/**
 * haved extension, inside a vrrp_instance:
 *
 *   witness {
 *       address 198.18.0.50:7070      # where `haved --witness` listens (IPv4:PORT)
 *       secret_file /etc/haved/witness.secret
 *       lease 3                       # seconds; default 3 × advert_int, at least 1
 *   }
 */
export function readWitness(r: Reader, opener: Token, instance: string): Witness {
  let address: { host: string; port: number } | null = null;
  let secretFile: string | null = null;
  let leaseMs: number | null = null;
  r.block(
    opener,
    'witness',
    'witness',
    table([
      [
        'address',
        (r, kw) => {
          const t = r.arg(kw, 'ADDRESS:PORT, e.g. 198.18.0.50:7070');
          const m = /^([^:]+):(\d{1,5})$/.exec(t.text);
          if (m === null || !isIPv4(m[1]!)) return r.fail(t, `witness address must be IPv4:PORT (e.g. 198.18.0.50:7070), got "${t.text}"`);
          address = { host: m[1]!, port: r.portOf({ ...t, text: m[2]! }, 'witness port') };
        },
      ],
      ['secret_file', (r, kw) => void (secretFile = r.word(kw, 'the path of the shared witness secret'))],
      ['lease', (r, kw) => void (leaseMs = r.timerMs(kw, MIN_LEASE_MS, MAX_LEASE_MS))],
    ]),
  );
  if (address === null) r.fail(opener, `(${instance}) witness needs 'address IPv4:PORT'`);
  if (secretFile === null) r.fail(opener, `(${instance}) witness needs 'secret_file PATH' (the same secret as the witness's --witness-secret-file)`);
  return { address, secretFile, leaseMs, where: whereOf(opener) };
}

/** The lease when the block does not say: three advert intervals (advert_int may come after the block). */
export const defaultWitnessLeaseMs = (advertIntMs: number) => Math.min(Math.max(3 * advertIntMs, MIN_LEASE_MS), MAX_LEASE_MS);
