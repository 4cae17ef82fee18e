import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parsePeer, replicationFromArgs, ReplicationConfigError } from '../../../src/replication/options.ts';

describe('replication options', () => {
  const dirs: string[] = [];
  const scratch = (prefix: string) => { const d = mkdtempSync(join(tmpdir(), prefix)); dirs.push(d); return d; };
  afterAll(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

  it('parses peers with the -X port as default', () => {
    expect(parsePeer('10.0.0.2', 16000)).toEqual({ host: '10.0.0.2', port: 16000 });
    expect(parsePeer('node-b:11300', 16000)).toEqual({ host: 'node-b', port: 11300 });
    expect(parsePeer('[::1]:5', 1)).toEqual({ host: '::1', port: 5 });
  });

  it('refuses bad peers with a clear error', () => {
    expect(() => parsePeer('a:b:c', 1)).toThrow(/invalid replication peer 'a:b:c'/);
    expect(() => parsePeer('host:0', 1)).toThrow(/invalid port/);
    expect(() => parsePeer('host:70000', 1)).toThrow(ReplicationConfigError);
  });

  it('is off without peers, port or repl_* options', () => {
    expect(replicationFromArgs({ peers: [], port: 11212 }, {}, 1 << 20)).toBeNull();
    expect(replicationFromArgs({ peers: [], port: 16000 }, {}, 1 << 20)?.peers).toEqual([]);
    expect(replicationFromArgs({ peers: [], port: 11212, portGiven: true }, {}, 1 << 20)?.port).toBe(11212); // -X 11212 said so
  });

  it('reads the extended options and the secret file', () => {
    const dir = scratch('rp-opt-');
    const file = join(dir, 'secret');
    writeFileSync(file, 's3cret\n');
    const o = replicationFromArgs({ peers: ['b'], port: 16000 }, { repl_secret_file: file, repl_sync: true, repl_sync_timeout: '250', repl_node_id: '7', repl_queue: '1024' }, 1 << 20)!;
    expect(o).toMatchObject({ peers: [{ host: 'b', port: 16000 }], secret: 's3cret', syncMode: true, syncTimeoutMs: 250, nodeId: 7, logCapacity: 1024 });
  });

  it("repcached's -X listen:connect: peers without a port are dialed on the connect port", () => {
    const o = replicationFromArgs({ peers: ['127.0.0.1', '127.0.0.2:9'], port: 16000, connectPort: 16001 }, {}, 1)!;
    expect(o.port).toBe(16000);
    expect(o.peers).toEqual([{ host: '127.0.0.1', port: 16001 }, { host: '127.0.0.2', port: 9 }]);
  });

  it('listens where -l says, unless repl_listen says otherwise', () => {
    const hosts = (listen: string[], ext: Record<string, string | true> = {}) => replicationFromArgs({ peers: [], port: 16000 }, ext, 1, listen)!.listenHosts;
    expect(hosts([])).toBeUndefined(); // all interfaces, as the client port
    expect(hosts(['127.0.0.1', 'notls:127.0.0.2:11311', '[::1]:5', '127.0.0.1'])).toEqual(['127.0.0.1', '127.0.0.2', '::1']);
    expect(hosts(['127.0.0.1'], { repl_listen: '198.18.0.1' })).toEqual(['198.18.0.1']);
    expect(hosts([], { repl_listen: '[::1]' })).toEqual(['::1']);
    expect(() => hosts([], { repl_listen: true })).toThrow('-o repl_listen needs an address');
  });

  it('a peer off loopback needs a secret or TLS, or repl_insecure to accept the risk', () => {
    const r = (peers: string[], ext: Record<string, string | true> = {}) => () => replicationFromArgs({ peers, port: 16000 }, ext, 1);
    expect(r(['198.18.0.2'])).toThrow(/replication peer 198\.18\.0\.2 is not on loopback, and no secret is set.*-o repl_secret_file=FILE.*repl_tls_cert.*-o repl_insecure/);
    expect(r(['node-b'])).toThrow(/peer node-b is not on loopback/); // a name could be anywhere
    expect(r(['127.0.0.1', 'localhost:9', '[::1]:7'])).not.toThrow();
    expect(r(['198.18.0.2'], { repl_secret: 's' })).not.toThrow();
    expect(r(['198.18.0.2'], { repl_insecure: true })).not.toThrow();
    expect(r([], { repl_allow: '198.18.0.0/24' })).toThrow(/198\.18\.0\.0\/24 is not on loopback/);
    expect(r([], { repl_allow: '127.0.0.0/8;::1' })).not.toThrow();
    expect(r([], { repl_allow: '0.0.0.0/0' })).toThrow(/not on loopback/);
  });

  it('a remote peer cannot reach a replication port bound to loopback: refused at start', () => {
    expect(() => replicationFromArgs({ peers: ['198.18.0.2'], port: 16000 }, { repl_secret: 's' }, 1, ['127.0.0.1'])).toThrow(
      /replication peer 198\.18\.0\.2 cannot reach this node: the replication port listens on 127\.0\.0\.1 only.*-o repl_listen=ADDRESS/,
    );
    expect(replicationFromArgs({ peers: ['198.18.0.2'], port: 16000 }, { repl_secret: 's', repl_listen: '0.0.0.0' }, 1, ['127.0.0.1'])?.listenHosts).toEqual(['0.0.0.0']);
  });

  it('repl_allow: addresses and prefixes, anything else refused by name', () => {
    const allow = (v: string | true) => replicationFromArgs({ peers: [], port: 16000 }, { repl_allow: v, repl_insecure: true }, 1)!.allow;
    expect(allow('198.18.0.5; 198.18.1.0/24;2001:db8::/32')).toEqual(['198.18.0.5', '198.18.1.0/24', '2001:db8::/32']);
    expect(() => allow('node-b')).toThrow("-o repl_allow: 'node-b' is not an address or address/prefix");
    expect(() => allow('198.18.0.0/33')).toThrow(/prefix of 33 bits is too long for IPv4/);
    expect(() => allow(true)).toThrow(/repl_allow needs addresses/);
  });

  it('TLS needs the certificate, the key and the CA, readable and valid', () => {
    const dir = scratch('rp-tls-');
    const junk = join(dir, 'junk.pem');
    writeFileSync(junk, 'not a certificate\n');
    const r = (ext: Record<string, string | true>) => () => replicationFromArgs({ peers: ['127.0.0.1'], port: 16000 }, ext, 1);
    expect(r({ repl_tls_cert: junk })).toThrow('replication TLS needs all of repl_tls_cert, repl_tls_key and repl_tls_ca (missing repl_tls_key, repl_tls_ca)');
    expect(r({ repl_tls_cert: junk, repl_tls_key: join(dir, 'nope'), repl_tls_ca: junk })).toThrow(/cannot read the replication TLS key .*nope/);
    expect(r({ repl_tls_cert: junk, repl_tls_key: junk, repl_tls_ca: junk })).toThrow(/^replication TLS: .*\(repl_tls_cert, repl_tls_key, repl_tls_ca\)$/);
  });

  it('repl_sync: bare, 1 or on turn it on; 0 or off leave it off', () => {
    const sync = (v: string | true) => replicationFromArgs({ peers: ['127.0.0.1'], port: 1 }, { repl_sync: v }, 1)!.syncMode;
    expect([sync(true), sync('1'), sync('on')]).toEqual([true, true, true]);
    expect(['0', 'off'].map((v) => sync(v))).toEqual([false, false]);
  });

  it('repl_complete: the operator declares the node complete from the start', () => {
    const complete = (ext: Record<string, string | true>) => replicationFromArgs({ peers: ['127.0.0.1'], port: 1 }, ext, 1)!.startComplete;
    expect([complete({}), complete({ repl_complete: true }), complete({ repl_complete: 'off' })]).toEqual([false, true, false]);
    expect(() => complete({ repl_complete: 'always' })).toThrow("-o repl_complete takes no value or one of 1, on, 0, off, got 'always'");
  });

  it('refuses bad values', () => {
    const r = (ext: Record<string, string | true>) => () => replicationFromArgs({ peers: ['127.0.0.1'], port: 1 }, ext, 1);
    expect(r({ repl_node_id: '0' })).toThrow(/repl_node_id needs an integer 1..1023/);
    expect(r({ repl_sync_timeout: 'soon' })).toThrow(/repl_sync_timeout/);
    expect(r({ repl_queue: '4' })).toThrow(/repl_queue/);
    expect(r({ repl_secret_file: '/nonexistent/secret' })).toThrow(/cannot read the replication secret file/);
    expect(r({ repl_sync: 'yes' })).toThrow("-o repl_sync takes no value or one of 1, on, 0, off, got 'yes'");
  });
});
