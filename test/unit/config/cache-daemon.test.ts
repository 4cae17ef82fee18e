import { describe, expect, it } from 'vitest';
import { errorOf, instance, parse } from './helpers.ts';

const block = (body: string): string => `cache_daemon {\n${body}\n}\n`; // body from line 2

describe('cache_daemon', () => {
  it('is null when absent', () => {
    expect(parse(instance('')).cacheDaemon).toBeNull();
  });

  it('reads the documented example', () => {
    const c = parse(
      block(
        [
          '    command "/opt/haved/bin/repcache -p 11211 -m 128 -u nobody -x 192.168.56.12"',
          '    user nobody',
          '    restart_backoff 0.1 10',
          '    restart_limit 10 60',
          '    stable_after 10',
          '    stop_timeout 5',
          '    check_port 11211',
        ].join('\n'),
      ),
    ).cacheDaemon;
    expect(c).toEqual({
      argv: ['/opt/haved/bin/repcache', '-p', '11211', '-m', '128', '-u', 'nobody', '-x', '192.168.56.12'],
      user: 'nobody',
      restart: { backoffInitialMs: 100, backoffMaxMs: 10_000, stableAfterMs: 10_000, maxRestarts: 10, windowMs: 60_000, stopTimeoutMs: 5000 },
      checkPort: 11211,
      where: 'haved.conf:1',
    });
  });

  it('stops a cache that has a memory file (-e) with SIGUSR1, so that it saves its store and restarts warm', () => {
    for (const cmd of ['repcache -e /var/lib/m', 'repcache -e/var/lib/m', 'repcache --memory-file /m -p 1', 'repcache --memory-file=/m']) {
      expect(parse(block(`command "${cmd}"`)).cacheDaemon!.restart.stopSignal, cmd).toBe('SIGUSR1');
    }
    for (const cmd of ['repcache', 'repcache -p 11211 -m 64', 'repcache -e']) {
      expect(parse(block(`command "${cmd}"`)).cacheDaemon!.restart.stopSignal, cmd).toBeUndefined();
    }
    expect(parse('proxy_daemon {\ncommand "repcache-proxy -e /m"\n}\n').proxyDaemon!.restart.stopSignal).toBeUndefined();
  });

  it('defaults everything but the command', () => {
    expect(parse(block('command /usr/bin/repcache')).cacheDaemon).toEqual({
      argv: ['/usr/bin/repcache'],
      user: null,
      restart: { backoffInitialMs: 100, backoffMaxMs: 10_000, stableAfterMs: 10_000, maxRestarts: 10, windowMs: 60_000, stopTimeoutMs: 5000 },
      checkPort: 11211,
      where: 'haved.conf:1',
    });
  });

  it("passes repcache's -t through to the daemon's command line", () => {
    expect(parse('cache_daemon { command "/bin/repcache -t 4 -m 64" }').cacheDaemon!.argv).toEqual(['/bin/repcache', '-t', '4', '-m', '64']);
  });

  it('reads unquoted words after the command as arguments, stopping at a keyword', () => {
    const c = parse('cache_daemon { command /bin/repcache -m 64 user nobody stop_timeout 2 }').cacheDaemon!;
    expect(c.argv).toEqual(['/bin/repcache', '-m', '64']);
    expect(c.user).toBe('nobody');
    expect(c.restart.stopTimeoutMs).toBe(2000);
  });

  it.each([
    ['-p 11300', 11300],
    ['-p11301', 11301],
    ['--port 11302', 11302],
    ['--port=11303', 11303],
    ['-p 1 -p 11304', 11304],
    ['-l 127.0.0.1', 11211],
  ])('takes check_port from the command (%s)', (args, port) => {
    expect(parse(block(`command "repcache ${args}"`)).cacheDaemon!.checkPort).toBe(port);
  });

  it('check_port wins over the command', () => {
    expect(parse(block('command "repcache -p 11300"\ncheck_port 11400')).cacheDaemon!.checkPort).toBe(11400);
  });

  it('restart_backoff without a maximum keeps 10 s, or the initial delay when larger', () => {
    expect(parse(block('command x\nrestart_backoff 0.5')).cacheDaemon!.restart).toMatchObject({ backoffInitialMs: 500, backoffMaxMs: 10_000 });
    expect(parse(block('command x\nrestart_backoff 30')).cacheDaemon!.restart).toMatchObject({ backoffInitialMs: 30_000, backoffMaxMs: 30_000 });
  });

  it('restart_limit without a window keeps 60 s', () => {
    expect(parse(block('command x\nrestart_limit 3')).cacheDaemon!.restart).toMatchObject({ maxRestarts: 3, windowMs: 60_000 });
  });

  it('sits next to the keepalived blocks, in any order', () => {
    const c = parse(`${block('command x')}${instance('')}`);
    expect(c.cacheDaemon?.argv).toEqual(['x']);
    expect(c.instances).toHaveLength(1);
    expect(c.warnings).toEqual([]);
  });

  it('refuses an unknown keyword with its line, suggesting the one it resembles', () => {
    expect(errorOf(block('command x\nrestart_always yes'))).toBe("haved.conf:3: unknown keyword 'restart_always' in cache_daemon: neither haved nor keepalived 2.2 knows it");
    expect(errorOf(block('command x\nrestart_limt 5'))).toBe("haved.conf:3: unknown keyword 'restart_limt' in cache_daemon (did you mean 'restart_limit'?)");
  });

  it.each([
    ['no command', block('user nobody'), `haved.conf:1: cache_daemon needs 'command "PROGRAM [ARGS]"'`],
    ['empty command', block('command ""'), 'haved.conf:2: command expects a program, got an empty string'],
    ['command without value', block('command\nuser nobody'), 'haved.conf:2: command expects a command line (quote it when it has arguments)'],
    ['twice', `${block('command x')}cache_daemon { command y }`, 'haved.conf:4: duplicate cache_daemon block (first defined at haved.conf:1)'],
    ['bad user', block('command x\nuser "no body"'), 'haved.conf:3: user must be a user name or a numeric uid, got "no body"'],
    ['user missing', block('command x\nuser'), 'haved.conf:3: user expects a user name'],
    ['bad backoff', block('command x\nrestart_backoff fast'), 'haved.conf:3: restart_backoff must be a duration in seconds (e.g. 3 or 0.5), got "fast"'],
    ['bad backoff max', block('command x\nrestart_backoff 1 1m'), 'haved.conf:3: restart_backoff must be a duration in seconds (e.g. 3 or 0.5), got "1m"'],
    ['backoff max below initial', block('command x\nrestart_backoff 5 1'), 'haved.conf:3: restart_backoff: the maximum (1) must not be below the initial delay'],
    ['zero backoff', block('command x\nrestart_backoff 0'), 'haved.conf:3: restart_backoff must be between 0.001 and 86400 seconds, got "0"'],
    ['limit zero', block('command x\nrestart_limit 0 60'), 'haved.conf:3: restart_limit must be an integer 1..1000000, got "0"'],
    ['bad window', block('command x\nrestart_limit 5 soon'), 'haved.conf:3: restart_limit must be a duration in seconds (e.g. 3 or 0.5), got "soon"'],
    ['bad stable_after', block('command x\nstable_after -1'), 'haved.conf:3: stable_after must be a duration in seconds (e.g. 3 or 0.5), got "-1"'],
    ['bad stop_timeout', block('command x\nstop_timeout 0'), 'haved.conf:3: stop_timeout must be between 0.001 and 86400 seconds, got "0"'],
    ['bad check_port', block('command x\ncheck_port 70000'), 'haved.conf:3: check_port must be a port 1..65535, got "70000"'],
    ['bad port in the command', block('command "repcache -p http"'),
      'haved.conf:2: cache_daemon: the command\'s port "http" is not a port 1..65535 (or set check_port)'],
    ['missing }', 'cache_daemon {\n  command x\n', "haved.conf:2: missing '}': cache_daemon opened at haved.conf:1 is not closed at end of file"],
    ['missing } before a block', `cache_daemon {\n  command x\n${instance('')}`,
      "haved.conf:3: vrrp_instance cannot be inside cache_daemon: a '}' is missing before it (cache_daemon opened at haved.conf:1)"],
    ['cache_daemon inside an instance', instance('  cache_daemon { command x }'),
      "haved.conf:4: cache_daemon cannot be inside vrrp_instance VI_1: a '}' is missing before it (vrrp_instance VI_1 opened at haved.conf:1)"],
  ])('%s', (_name, text, message) => {
    expect(errorOf(text)).toBe(message);
  });
});

describe('proxy_daemon', () => {
  it('takes the same keywords as cache_daemon; its port comes from -p of the command', () => {
    const c = parse(`${block('command "/opt/haved/bin/repcache -p 11211 -x 10.0.0.2"')}proxy_daemon {\n  command "/opt/haved/bin/repcache-proxy -p 12000 -s 10.0.0.1 -s 10.0.0.2 -b 10.0.0.2 -b 10.0.0.1 --no-backup-writes"\n  restart_backoff 0.1 2\n}\n${instance('')}`);
    expect(c.warnings).toEqual([]);
    expect(c.cacheDaemon!.checkPort).toBe(11211);
    expect(c.proxyDaemon).toEqual({
      argv: ['/opt/haved/bin/repcache-proxy', '-p', '12000', '-s', '10.0.0.1', '-s', '10.0.0.2', '-b', '10.0.0.2', '-b', '10.0.0.1', '--no-backup-writes'],
      user: null,
      restart: { backoffInitialMs: 100, backoffMaxMs: 2000, stableAfterMs: 10_000, maxRestarts: 10, windowMs: 60_000, stopTimeoutMs: 5000 },
      checkPort: 12000,
      where: 'haved.conf:4',
    });
    expect(parse(instance('')).proxyDaemon).toBeNull();
  });

  it.each([
    ['no command', 'proxy_daemon {\n  user nobody\n}\n', `haved.conf:1: proxy_daemon needs 'command "PROGRAM [ARGS]"'`],
    ['twice', 'proxy_daemon { command x }\nproxy_daemon { command y }\n', 'haved.conf:2: duplicate proxy_daemon block (first defined at haved.conf:1)'],
    ['bad port', 'proxy_daemon { command "repcache-proxy -p x" }\n', 'haved.conf:1: proxy_daemon: the command\'s port "x" is not a port 1..65535 (or set check_port)'],
    ['inside an instance', instance('  proxy_daemon { command x }'),
      "haved.conf:4: proxy_daemon cannot be inside vrrp_instance VI_1: a '}' is missing before it (vrrp_instance VI_1 opened at haved.conf:1)"],
  ])('%s', (_name, text, message) => {
    expect(errorOf(text)).toBe(message);
  });
});
