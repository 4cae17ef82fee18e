import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TlsFiles { cert: string; key: string; ca: string }

const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });

/** A throw-away CA (P-256, one day) and `names` certificates it signed, as PEM files in a fresh directory. */
export function makeCa(names: string[], prefix = 'ca'): { dir: string; ca: string; certs: Record<string, TlsFiles> } {
  const dir = mkdtempSync(join(tmpdir(), `${prefix}-`));
  const ca = join(dir, 'ca.pem');
  const caKey = join(dir, 'ca.key');
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  openssl('req', '-x509', ...ec, '-keyout', caKey, '-out', ca, '-days', '1', '-subj', `/CN=${prefix} test CA`);
  const certs: Record<string, TlsFiles> = {};
  for (const name of names) {
    const key = join(dir, `${name}.key`);
    const csr = join(dir, `${name}.csr`);
    const cert = join(dir, `${name}.pem`);
    openssl('req', ...ec, '-keyout', key, '-out', csr, '-subj', `/CN=${name}`);
    openssl('x509', '-req', '-in', csr, '-CA', ca, '-CAkey', caKey, '-CAcreateserial', '-out', cert, '-days', '1');
    certs[name] = { cert, key, ca };
  }
  return { dir, ca, certs };
}

export const readTls = (f: TlsFiles) => ({ cert: readFileSync(f.cert), key: readFileSync(f.key), ca: readFileSync(f.ca) });
