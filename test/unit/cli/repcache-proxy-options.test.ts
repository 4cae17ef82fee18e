import { describe, expect, it } from 'vitest';
import { parseProxyArgs, usage } from '../../../src/cli/repcache-proxy-options.ts';

const args = (s: string) => s.split(' ').filter(Boolean);

describe('repcache-proxy flags', () => {
  it("reads seed 003's magent command line", () => {
    const o = parseProxyArgs(args('-u root -n 51200 -l 172.17.7.66 -p 12000 -s 172.17.7.101:11211 -b 172.17.7.102:11211'));
    expect(o.user).toBe('root');
    expect(o.maxConns).toBe(51200);
    expect(o.listen).toEqual(['172.17.7.66']);
    expect(o.port).toBe(12000);
    expect(o.proxy.placement.main).toEqual([{ host: '172.17.7.101', port: 11211, weight: 1 }]);
    expect(o.proxy.placement.backup).toEqual([{ host: '172.17.7.102', port: 11211, weight: 1 }]);
    expect(o.proxy.placement.backupMode).toBe('copy');
    expect(o.daemonize).toBe(false);
  });

  it('magent defaults, its no-op flags, bundling and long options', () => {
    const o = parseProxyArgs(args('-kD -g 0 -s a -s b:11311,3 -vv -d -P /run/p.pid -i4 --timeout=250 --failure-limit 3 --retry-timeout 100 -I 2m'));
    expect(o.port).toBe(11211);
    expect(o.listen).toEqual(['0.0.0.0']);
    expect(o.proxy.placement.main).toEqual([{ host: 'a', port: 11211, weight: 1 }, { host: 'b', port: 11311, weight: 3 }]);
    expect([o.verbosity, o.daemonize, o.pidFile, o.proxy.connections]).toEqual([2, true, '/run/p.pid', 4]);
    expect(o.proxy.timeoutMs).toBe(250);
    expect(o.proxy.health).toEqual({ failureLimit: 3, retryInitialMs: 100, retryMaxMs: 30_000 });
    expect(o.proxy.maxItemSize).toBe(2 * 1024 * 1024);
    expect(parseProxyArgs(args('-s a -l 127.0.0.1,::1 -l 10.0.0.1')).listen).toEqual(['127.0.0.1', '::1', '10.0.0.1']);
    expect(parseProxyArgs(args('-s a -s b -b b -b a --no-backup-writes')).proxy.placement.backupMode).toBe('pairs');
    expect(parseProxyArgs(args('-s a --distribution modula --hash crc32')).proxy.placement).toMatchObject({ distribution: 'modula', hash: 'crc32' });
    expect(parseProxyArgs(['-h']).action).toBe('help');
    expect(parseProxyArgs(['-V']).action).toBe('version');
  });

  it('refuses unknown and malformed flags with a one-line reason', () => {
    const bad: [string, string][] = [
      ['-s a -x', 'unknown option "-x"'],
      ['-s a --bogus', 'unknown option "--bogus"'],
      ['-s', 'option "-s" needs a value'],
      ['-s a -p', 'option "-p" needs a value'],
      ['-s a -p 70000', '-p: the port must be an integer 0..65535, got "70000"'],
      ['-s a -n 0', '-n: the connection limit must be an integer 1..1000000, got "0"'],
      ['-s a:0', '-s: bad server "a:0": port must be 1..65535, got "0"'],
      ['-s a,x', '-s: bad server "a,x": weight must be a positive integer, got "x"'],
      ['-p 12000', 'no server: give at least one -s HOST[:PORT]'],
      ['-s a -p 0', 'nothing to listen on: -p 0 and no -f'],
      ['-s a -s b -b c --no-backup-writes', '--no-backup-writes pairs -b N with -s N: give as many -b as -s (2 -s, 1 -b)'],
      ['-s a --hash crc32', '--hash: ketama always hashes with md5 (--hash is for --distribution modula)'],
      ['-s a --distribution random', '--distribution: ketama or modula, got "random"'],
      ['-s a --timeout 5', '--timeout: the timeout (ms) must be an integer 10..600000, got "5"'],
      ['-s a -I 1', '-I: size must be 1k..1024m (bytes, or with a k or m suffix), got "1"'],
      ['-s a -d=1', 'unknown option "-="'],
      ['-s a --daemon=1', 'option "--daemon" takes no value'],
      ['-s a extra', 'unexpected argument "extra"'],
      ['-s a -l ,', '-l: an empty address in ","'],
    ];
    for (const [line, message] of bad) expect(() => parseProxyArgs(args(line)), line).toThrow(message);
  });

  it('documents every flag it takes', () => {
    for (const flag of ['-s', '-b', '--no-backup-writes', '-p', '-l', '-f', '-n', '-i', '-I', '--timeout', '--failure-limit', '--retry-timeout', '--distribution', '--hash', '-u', '-d', '-P', '-v', '-h', '-V', '-k', '-D', '-g']) {
      expect(usage()).toContain(flag);
    }
  });
});
