/**
 * TLS on the client port (memcached's -Z and its -o ssl_* options): what the options mean for node:tls, loading
 * the certificate files (at start-up and on `refresh_certs`) with memcached's messages for what fails.
 */
// node:fs is taken when a file is read (see auth-file.ts)
import type { SecureContextOptions, TlsOptions } from 'node:tls';

export class TlsConfigError extends Error {
  override name = 'TlsConfigError';
}

/** -o ssl_* as memcached names them; null: not given. */
export interface TlsSettings {
  chainCert: string | null;
  key: string | null;
  caCert: string | null;
  /** 0 none, 1 request (a certificate given must verify), 2 require, 3 once (as 1: one handshake per connection) */
  verifyMode: number;
  ciphers: string | null;
  /** 0..3: TLS 1.0 .. 1.3 */
  minVersion: number;
  sessionCache: boolean;
}

const MIN_VERSIONS = ['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3'] as const;
/** `stats settings`' names of the minimum versions. */
export const MIN_VERSION_NAMES = ['tlsv1.0', 'tlsv1.1', 'tlsv1.2', 'tlsv1.3'] as const;

/** The settings in a config's -o options (already checked by the command line). */
export function tlsSettingsOf(extended: Readonly<Record<string, string | true>>): TlsSettings {
  const str = (name: string): string | null => (typeof extended[name] === 'string' ? (extended[name] as string) : null);
  return {
    chainCert: str('ssl_chain_cert'),
    key: str('ssl_key'),
    caCert: str('ssl_ca_cert'),
    verifyMode: Number(str('ssl_verify_mode') ?? 0),
    ciphers: str('ssl_ciphers'),
    minVersion: Number(str('ssl_min_version') ?? 2),
    sessionCache: 'ssl_session_cache' in extended,
  };
}

function read(path: string | null, what: string): Buffer {
  if (path === null) throw new TlsConfigError(`Error loading the ${what}: no file given (-o ssl_chain_cert=FILE,ssl_key=FILE)`);
  try {
    return process.getBuiltinModule('node:fs').readFileSync(path);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new TlsConfigError(`Error loading the ${what}: ${path} : ${e.code === 'ENOENT' ? 'No such file or directory' : e.message}`);
  }
}

/**
 * Reads the certificate files and checks they make a context (the key matches the certificate, the ciphers
 * exist). Throws TlsConfigError with memcached's wording ("Error loading the certificate chain: FILE : why").
 */
export function loadTlsContext(s: TlsSettings): SecureContextOptions {
  const cert = read(s.chainCert, 'certificate chain');
  // memcached: "private key, if not part of the ssl_chain_cert"
  const key = s.key === null ? cert : read(s.key, 'key');
  const ca = s.caCert === null ? undefined : read(s.caCert, 'CA certificate');
  const options: SecureContextOptions = {
    cert, key, ca, minVersion: MIN_VERSIONS[s.minVersion], ...(s.ciphers !== null ? { ciphers: s.ciphers } : {}),
  };
  try {
    process.getBuiltinModule('node:tls').createSecureContext(options);
  } catch (err) {
    const msg = (err as Error).message;
    if (/cipher/i.test(msg)) throw new TlsConfigError(`Error setting the provided cipher(s): ${s.ciphers}`);
    if (/key|PRIVATE/i.test(msg) && !/certificate/i.test(msg)) throw new TlsConfigError(`Error loading the key: ${s.key ?? s.chainCert} : ${msg}`);
    if (ca !== undefined && /CA|x509|X509/.test(msg) && !/key/i.test(msg)) throw new TlsConfigError(`Error loading the CA certificate: ${s.caCert} : ${msg}`);
    if (/mismatch/i.test(msg)) throw new TlsConfigError(`Error loading the key: ${s.key ?? s.chainCert} : ${msg}`);
    throw new TlsConfigError(`Error loading the certificate chain: ${s.chainCert} : ${msg}`);
  }
  return options;
}

/** The tls.Server options for the settings: the context plus how client certificates are asked for. */
export function tlsServerOptions(s: TlsSettings, context: SecureContextOptions): TlsOptions {
  return {
    ...context,
    // 1 and 3 ask for a certificate and refuse one that does not verify (checked on secureConnection); 2 needs one
    requestCert: s.verifyMode !== 0,
    rejectUnauthorized: s.verifyMode === 2,
  };
}
