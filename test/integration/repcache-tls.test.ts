/**
 * TLS on the client port (-Z): openssl s_client and pymemcache against a CA made here, memcached's stats and
 * settings fields (Debian's memcached is built with TLS), a plain client on the TLS port, client certificates,
 * refresh_certs, and the start-up errors.
 */
import { execFile } from 'node:child_process';
import { copyFileSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bin, stopAll } from '../support/daemon.ts';
import { makeCa } from '../support/certs.ts';
import { McClient } from '../support/mc-client.ts';
import { freePort } from '../support/ports.ts';
import { parseStats, startCache, userArgs, type CacheInstance } from './repcache-harness.ts';

interface Exit { code: number; stdout: string; stderr: string }
function run(cmd: string, args: string[], input?: string): Promise<Exit> {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
    if (input !== undefined) child.stdin!.end(input);
  });
}

const { dir, ca, certs } = makeCa(['server', 'client', 'other-server'], 'client-tls');
const other = makeCa(['stranger'], 'other');
// a copy the refresh test may replace
const served = { cert: join(dir, 'served.pem'), key: join(dir, 'served.key') };
copyFileSync(certs.server.cert, served.cert);
copyFileSync(certs.server.key, served.key);
const tlsArgs = (...extra: string[]) => ['-Z', '-o', [`ssl_chain_cert=${served.cert}`, `ssl_key=${served.key}`, ...extra].join(',')];

interface TlsOpts { cert?: string; key?: string; ca?: string }

/** Opens a TLS connection (trusting `ca`), sends `data`, reads until quiet; resolves the reply and the peer's CN. */
function tlsTalk(port: number, data: string, opts: TlsOpts = {}): Promise<{ reply: string; cn: string | undefined }> {
  return new Promise((resolve, reject) => {
    const s: TLSSocket = tlsConnect({
      host: '127.0.0.1', port, ca: readPem(opts.ca ?? ca), checkServerIdentity: () => undefined,
      ...(opts.cert ? { cert: readPem(opts.cert), key: readPem(opts.key!) } : {}),
    });
    let reply = '';
    let timer: NodeJS.Timeout | undefined;
    let cn: string | undefined;
    const done = () => { clearTimeout(timer); s.destroy(); resolve({ reply, cn }); };
    s.once('secureConnect', () => { const n = s.getPeerCertificate()?.subject?.CN; cn = Array.isArray(n) ? n[0] : n; });
    s.once('secureConnect', () => { s.write(data); timer = setTimeout(done, 300); });
    s.on('data', (d: Buffer) => { reply += d.toString('latin1'); clearTimeout(timer); timer = setTimeout(done, 150); });
    s.once('error', (e) => { clearTimeout(timer); reject(e); });
    s.once('close', () => { if (reply !== '') done(); });
  });
}
const readPem = (p: string) => readFileSync(p);

afterAll(async () => {
  await stopAll();
  rmSync(dir, { recursive: true, force: true });
  rmSync(other.dir, { recursive: true, force: true });
});

describe('-Z: TLS on the client port', () => {
  let server: CacheInstance;
  let reference: CacheInstance;
  beforeAll(async () => {
    [server, reference] = await Promise.all([startCache('repcache', tlsArgs()), startCache('memcached', tlsArgs())]);
  });

  it('openssl s_client: the commands over TLS, and the certificate the CA signed', async () => {
    const r = await run('sh', ['-c', `(printf 'set tls:a 0 0 5\\r\\nhello\\r\\nget tls:a\\r\\n'; sleep 1) | openssl s_client -connect 127.0.0.1:${server.port} -CAfile ${ca} -quiet -no_ign_eof -verify_return_error 2>&1`]);
    expect(r.stdout).toContain('STORED\r\nVALUE tls:a 0 5\r\nhello\r\nEND\r\n');
    expect(r.stdout).toMatch(/depth=0 CN ?= ?server/);
    expect(r.stdout).not.toMatch(/verify error/);
  });

  it('stats and stats settings have memcached\'s TLS fields, in memcached\'s places', async () => {
    const names = async (port: number, cmd: string) => [...parseStats((await tlsTalk(port, `${cmd}\r\n`)).reply)];
    const [mine, theirs] = await Promise.all([names(server.port, 'stats'), names(reference.port, 'stats')]);
    const around = (list: Array<[string, string]>) => {
      const i = list.findIndex(([n]) => n === 'ssl_handshake_errors');
      return list.slice(i - 1, i + 3).map(([n]) => n);
    };
    expect(around(mine)).toEqual(['log_watchers', 'ssl_handshake_errors', 'time_since_server_cert_refresh', 'unexpected_napi_ids']);
    expect(around(mine)).toEqual(around(theirs));
    const [s1, s2] = await Promise.all([names(server.port, 'stats settings'), names(reference.port, 'stats settings')]);
    const ssl = (list: Array<[string, string]>) => list.filter(([n]) => n.startsWith('ssl_'));
    expect(ssl(s1)).toEqual(ssl(s2));
    expect(new Map(s1).get('ssl_enabled')).toBe('yes');
  });

  it('a plain client on the TLS port: closed, counted as a handshake error, the node keeps serving', async () => {
    const before = Number(parseStats((await tlsTalk(server.port, 'stats\r\n')).reply).get('ssl_handshake_errors'));
    for (let i = 0; i < 5; i++) {
      const c = await McClient.connect(server.port);
      c.send('get tls:a\r\n');
      await c.waitClosed(3000);
      expect(c.take()).not.toContain('VALUE');
    }
    const after = parseStats((await tlsTalk(server.port, 'stats\r\n')).reply);
    expect(Number(after.get('ssl_handshake_errors'))).toBe(before + 5);
    expect((await tlsTalk(server.port, 'get tls:a\r\n')).reply).toBe('VALUE tls:a 0 5\r\nhello\r\nEND\r\n');
  });

  it('pymemcache with tls_context', async () => {
    const r = await run('/usr/bin/python3', ['-c', `
import ssl, sys
from pymemcache.client.base import Client
ctx = ssl.create_default_context(cafile=sys.argv[2])
ctx.check_hostname = False
c = Client(('127.0.0.1', int(sys.argv[1])), tls_context=ctx)
c.set('py:tls', 'over tls')
print(c.get('py:tls').decode(), c.get('tls:a').decode())
`, String(server.port), ca]);
    expect(r.stdout.trim()).toBe('over tls hello');
  });

  it('a client that does not trust the server\'s CA fails its handshake', async () => {
    await expect(tlsTalk(server.port, 'version\r\n', { ca: other.ca })).rejects.toThrow(/certificate/);
  });
});

describe('-Z with client certificates (ssl_verify_mode, ssl_ca_cert)', () => {
  let required: CacheInstance;
  let requested: CacheInstance;
  beforeAll(async () => {
    [required, requested] = await Promise.all([
      startCache('repcache', tlsArgs('ssl_verify_mode=2', `ssl_ca_cert=${ca}`)),
      startCache('repcache', tlsArgs('ssl_verify_mode=1', `ssl_ca_cert=${ca}`)),
    ]);
  });

  it('mode 2 (require): a certificate signed by ssl_ca_cert gets in; none, or another CA\'s, does not', async () => {
    expect((await tlsTalk(required.port, 'version\r\n', certs.client)).reply).toMatch(/^VERSION /);
    // (with TLS 1.3 the client's side of the handshake completes before the server refuses it: no reply, or an error)
    const refused = (o: TlsOpts) => tlsTalk(required.port, 'version\r\n', o).then((r) => r.reply, (e: Error) => e.message);
    expect(await refused({})).not.toMatch(/^VERSION /);
    expect(await refused({ cert: other.certs.stranger.cert, key: other.certs.stranger.key })).not.toMatch(/^VERSION /);
    expect(Number(parseStats((await tlsTalk(required.port, 'stats\r\n', certs.client)).reply).get('ssl_handshake_errors'))).toBeGreaterThanOrEqual(2);
  });

  it('mode 1 (request): no certificate is fine, a wrong one is refused', async () => {
    expect((await tlsTalk(requested.port, 'version\r\n')).reply).toMatch(/^VERSION /);
    expect((await tlsTalk(requested.port, 'version\r\n', certs.client)).reply).toMatch(/^VERSION /);
    const wrong = await tlsTalk(requested.port, 'version\r\n', { cert: other.certs.stranger.cert, key: other.certs.stranger.key }).catch((e: Error) => ({ reply: e.message }));
    expect(wrong.reply).not.toMatch(/^VERSION /);
  });
});

describe('a silent connection to the TLS port', () => {
  it('is closed once read_timeout passes without a handshake, and counted', async () => {
    const server = await startCache('repcache', [...tlsArgs(), '-o', 'read_timeout=1']);
    const errors = async () => Number(parseStats((await tlsTalk(server.port, 'stats\r\n')).reply).get('ssl_handshake_errors'));
    const before = await errors(); // (the harness's probe of the port was one)
    const c = await McClient.connect(server.port);
    await c.waitClosed(5000);
    expect(await errors()).toBe(before + 1);
    await server.daemon.stop();
  });
});

describe('handshakes in progress count against -c', () => {
  it('beyond -c silent connections are closed at once; once they go, a client gets in', async () => {
    const server = await startCache('repcache', [...tlsArgs(), '-c', '3']);
    const silent = await Promise.all(Array.from({ length: 5 }, () => McClient.connect(server.port)));
    await new Promise((r) => setTimeout(r, 300));
    expect(silent.filter((c) => c.isClosed).length).toBe(2);
    for (const c of silent) c.close();
    await new Promise((r) => setTimeout(r, 300));
    expect((await tlsTalk(server.port, 'version\r\n')).reply).toMatch(/^VERSION /);
    await server.daemon.stop();
  });
});

describe('refresh_certs', () => {
  it('loads new certificates for new connections; a broken file keeps the old ones and says why', async () => {
    const server = await startCache('repcache', tlsArgs());
    expect((await tlsTalk(server.port, 'version\r\n')).cn).toBe('server');
    copyFileSync(certs['other-server'].cert, served.cert);
    copyFileSync(certs['other-server'].key, served.key);
    expect((await tlsTalk(server.port, 'refresh_certs\r\n')).reply).toBe('OK\r\n');
    expect((await tlsTalk(server.port, 'version\r\n')).cn).toBe('other-server');
    expect(Number(parseStats((await tlsTalk(server.port, 'stats\r\n')).reply).get('time_since_server_cert_refresh'))).toBeLessThanOrEqual(2);
    writeFileSync(served.cert, 'garbage\n');
    const reply = (await tlsTalk(server.port, 'refresh_certs\r\n')).reply;
    expect(reply).toMatch(new RegExp(`^Error loading the (certificate chain|key): ${served.cert.replace(/[.]/g, '\\.')} : .+\\r\\n$`));
    expect((await tlsTalk(server.port, 'version\r\n')).cn).toBe('other-server');
    copyFileSync(certs.server.cert, served.cert);
    copyFileSync(certs.server.key, served.key);
    await server.daemon.stop();
  });

  it('without -Z: memcached\'s "Error TLS not enabled"', async () => {
    const [mine, theirs] = await Promise.all([startCache('repcache'), startCache('memcached')]);
    const ask = async (port: number) => { const c = await McClient.connect(port); try { return await c.request('refresh_certs\r\n'); } finally { c.close(); } };
    expect(await ask(mine.port)).toBe('Error TLS not enabled\r\n');
    expect(await ask(mine.port)).toBe(await ask(theirs.port));
  });
});

describe('-l notls: and TLS with authentication', () => {
  it('a notls: listener serves plain text next to the TLS one', async () => {
    const plainPort = await freePort();
    const server = await startCache('repcache', [...tlsArgs(), '-l', `notls:127.0.0.1:${plainPort}`]);
    const c = await McClient.connect(plainPort);
    expect(await c.request('version\r\n')).toMatch(/^VERSION /);
    c.close();
    expect((await tlsTalk(server.port, 'version\r\n')).reply).toMatch(/^VERSION /);
    await server.daemon.stop();
  });

  it('-Z -Y: the text authentication runs inside TLS', async () => {
    const auth = join(dir, 'auth');
    writeFileSync(auth, 'alice:secret\n');
    const server = await startCache('repcache', [...tlsArgs(), '-Y', auth]);
    expect((await tlsTalk(server.port, 'get k\r\n')).reply).toBe('CLIENT_ERROR unauthenticated\r\n');
    expect((await tlsTalk(server.port, 'set a 0 0 12\r\nalice secret\r\nset k 0 0 1\r\nv\r\nget k\r\n')).reply).toBe('STORED\r\nSTORED\r\nVALUE k 0 1\r\nv\r\nEND\r\n');
    await server.daemon.stop();
  });
});

describe('start-up errors', () => {
  const repcache = (...args: string[]) => run(bin('repcache'), [...userArgs(), '-l', '127.0.0.1', '-p', '0', ...args]);
  const both = (...args: string[]) => Promise.all([repcache(...args), run('memcached', [...userArgs(), '-l', '127.0.0.1', '-p', '0', '-U', '0', ...args])]);

  it('option errors as memcached\'s', async () => {
    for (const opt of ['ssl_verify_mode=4', 'ssl_min_version=5', 'ssl_min_version=x']) {
      const [mine, theirs] = await both('-Z', '-o', `ssl_chain_cert=${served.cert},ssl_key=${served.key},${opt}`);
      expect({ code: mine.code, stderr: mine.stderr }).toEqual({ code: theirs.code, stderr: theirs.stderr });
    }
    const [mine, theirs] = await both(...tlsArgs());
    expect(mine).toMatchObject({ code: 64, stderr: 'ERROR: You cannot enable SSL without a TCP port.\n' });
    expect(theirs.stderr).toBe(mine.stderr);
  });

  it('certificate files that do not load: memcached\'s wording, exit 64', async () => {
    const port = String(await freePort());
    const start = (...o: string[]) => run(bin('repcache'), [...userArgs(), '-l', '127.0.0.1', '-p', port, '-Z', '-o', o.join(',')]);
    expect(await start(`ssl_chain_cert=${join(dir, 'none.pem')}`, `ssl_key=${served.key}`))
      .toMatchObject({ code: 64, stderr: `Error loading the certificate chain: ${join(dir, 'none.pem')} : No such file or directory\n` });
    expect(await start(`ssl_chain_cert=${served.cert}`, `ssl_key=${certs.client.key}`))
      .toMatchObject({ code: 64, stderr: expect.stringMatching(new RegExp(`^Error loading the key: ${certs.client.key} : .*mismatch`)) });
    expect(await start(`ssl_chain_cert=${served.cert}`, `ssl_key=${served.key}`, `ssl_ca_cert=${join(dir, 'none')}`))
      .toMatchObject({ code: 64, stderr: `Error loading the CA certificate: ${join(dir, 'none')} : No such file or directory\n` });
    expect(await start(`ssl_chain_cert=${served.cert}`, `ssl_key=${served.key}`, 'ssl_ciphers=BOGUS'))
      .toMatchObject({ code: 64, stderr: 'Error setting the provided cipher(s): BOGUS\n' });
  });
});
