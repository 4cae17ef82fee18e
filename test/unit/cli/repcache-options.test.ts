import { describe, expect, it } from 'vitest';
import { defaultServerConfig } from '../../../src/server/config.ts';
import { defaultThreads, parseItemSize, parseRepcacheArgs, threadsOverCpusWarning, usage, VERSION_LINE } from '../../../src/cli/repcache-options.ts';
import { UsageError } from '../../../src/cli/usage-error.ts';

const parse = (...argv: string[]) => parseRepcacheArgs(argv);
function failure(...argv: string[]): { message: string; exitCode: number } {
  try {
    parse(...argv);
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    return { message: (err as UsageError).message, exitCode: (err as UsageError).exitCode };
  }
  throw new Error(`expected ${argv.join(' ')} to fail`);
}

describe('repcache options: defaults', () => {
  it('no flags give memcached 1.6 defaults', () => {
    const o = parse();
    expect(o.action).toBe('run');
    // the default -t depends on the CPUs (below); on one CPU it is defaultServerConfig's single thread
    expect(parseRepcacheArgs([], 1).config).toEqual({ ...defaultServerConfig, listen: [], extended: {} });
    expect(o.config.port).toBe(11211);
    expect(o.config.udpPort).toBe(0);
    expect(o.config.memoryLimitMB).toBe(64);
    expect(o.config.maxConnections).toBe(1024);
    expect(o.config.growthFactor).toBe(1.25);
    expect(o.config.minChunk).toBe(48);
    expect(o.config.pageSize).toBe(1024 * 1024);
    expect(o.replication).toEqual({ peers: [], port: 11212 });
  });

  it('does not mutate the shared defaults', () => {
    parse('-l', '127.0.0.1', '-o', 'track_sizes');
    expect(defaultServerConfig.listen).toEqual([]);
    expect(defaultServerConfig.extended).toEqual({});
  });
});

describe('repcache options: getopt forms', () => {
  it('separate and attached values', () => {
    expect(parse('-m', '128').config.memoryLimitMB).toBe(128);
    expect(parse('-m128').config.memoryLimitMB).toBe(128);
  });

  it('long forms with = and with a separate value, and unique prefixes', () => {
    expect(parse('--port=1234').config.port).toBe(1234);
    expect(parse('--memory-limit', '32').config.memoryLimitMB).toBe(32);
    expect(parse('--conn=10').config.maxConnections).toBe(10);
    expect(parse('--disable-dumping').config.dumpEnabled).toBe(false);
  });

  it('bundled short flags', () => {
    expect(parse('-vv').config.verbosity).toBe(2);
    expect(parse('-vvv').config.verbosity).toBe(3);
    expect(parse('-v', '-v').config.verbosity).toBe(2);
    const o = parse('-dM');
    expect(o.config.daemonize).toBe(true);
    expect(o.config.evictions).toBe(false);
    expect(parse('-dp5000').config.port).toBe(5000);
  });

  it('the seeds\' command line', () => {
    const o = parse('-d', '-m', '128', '-u', 'root', '-l', '127.0.0.1', '-p', '11211', '-c', '256', '-P', '/tmp/x.pid');
    expect(o.config).toMatchObject({ daemonize: true, memoryLimitMB: 128, user: 'root', listen: ['127.0.0.1'], port: 11211, maxConnections: 256, pidFile: '/tmp/x.pid' });
  });

  it('every memcached flag maps onto the config', () => {
    const o = parse('-U', '11300', '-s', '/tmp/s', '-a', '0755', '-A', '-f', '1.5', '-n', '64', '-t', '2', '-R', '5', '-C',
      '-b', '50', '-B', 'ascii', '-I', '2m', '-m', '16', '-F', '-L', '-D', '#', '-k', '-r', '-W');
    expect(o.config).toMatchObject({ udpPort: 11300, unixSocket: '/tmp/s', unixMask: 0o755, shutdownEnabled: true, growthFactor: 1.5,
      minChunk: 64, threads: 2, reqsPerEvent: 5, casEnabled: false, backlog: 50, protocol: 'ascii', pageSize: 2 * 1024 * 1024,
      memoryLimitMB: 16, flushEnabled: false, largePages: true, statKeyPrefix: '#', detailEnabled: true });
  });

  it('-l takes comma lists and repeats', () => {
    expect(parse('-l', '127.0.0.1,::1', '-l', '127.0.0.2').config.listen).toEqual(['127.0.0.1', '::1', '127.0.0.2']);
  });

  it('-I sizes', () => {
    expect(parseItemSize('1k')).toBe(1024);
    expect(parseItemSize('1024m')).toBe(1024 ** 3);
    expect(parseItemSize('4M')).toBe(4 * 1024 ** 2);
    expect(parseItemSize('524288')).toBe(524288);
    expect(parse('-I', '1024m', '-m', '4096').config.pageSize).toBe(1024 ** 3);
  });

  it('-o suboptions', () => {
    const o = parse('-o', 'track_sizes,no_lru_crawler,hashpower=20,idle_timeout=30,slab_chunk_max=262144,modern,ext_path=/x:1g');
    expect(o.config).toMatchObject({ trackSizes: true, lruCrawler: false, hashPower: 20, idleTimeout: 30, slabChunkMax: 262144 });
    expect(o.config.extended).toMatchObject({ track_sizes: true, hashpower: '20', modern: true, ext_path: '/x:1g' });
  });

  it("repcache's own limits on one client: -o output_limit, read_timeout, drain_timeout", () => {
    expect(parse().config).toMatchObject({ outputLimit: 256 * 1024, readTimeout: 60, drainTimeout: 30 });
    const o = parse('-o', 'output_limit=64k,read_timeout=5,drain_timeout=0');
    expect(o.config).toMatchObject({ outputLimit: 64 * 1024, readTimeout: 5, drainTimeout: 0 });
    expect(parse('-o', 'output_limit=2m').config.outputLimit).toBe(2 * 1024 * 1024);
    expect(parse('-o', 'output_limit=4096').config.outputLimit).toBe(4096);
  });

  it('-o metrics_listen=ADDRESS:PORT (off by default)', () => {
    expect(parse().config.extended.metrics_listen).toBeUndefined();
    expect(parse('-o', 'metrics_listen=127.0.0.1:9150').config.extended.metrics_listen).toBe('127.0.0.1:9150');
    expect(parse('-o', 'metrics_listen=[::1]:9150').config.extended.metrics_listen).toBe('[::1]:9150');
  });

  it('replication flags -x (repeatable) and -X', () => {
    const o = parse('-x', 'peer1', '-x', '10.0.0.2:11222', '-X', '11300');
    expect(o.replication).toEqual({ peers: ['peer1', '10.0.0.2:11222'], port: 11300, portGiven: true });
    expect(o.config.dumpEnabled).toBe(true);
  });

  it("repcached's -X <listen:connect>, and the last -X wins", () => {
    expect(parse('-x', '127.0.0.1', '-X', '11300:11301').replication).toEqual({ peers: ['127.0.0.1'], port: 11300, connectPort: 11301, portGiven: true });
    expect(parse('-X', '11300:11301', '-X', '11400').replication).toEqual({ peers: [], port: 11400, portGiven: true });
  });

  it("repcached's -q <num> sets the replication log size", () => {
    expect(parse('-x', '127.0.0.1', '-q', '8192').config.extended.repl_queue).toBe('8192');
  });

  it('--replication-allow and -o repl_allow add up', () => {
    const o = parse('--replication-allow', '198.18.0.5', '-o', 'repl_allow=198.18.1.0/24,repl_insecure', '-o', 'repl_allow=::1');
    expect(o.config.extended).toMatchObject({ repl_allow: '198.18.0.5;198.18.1.0/24;::1', repl_insecure: true });
  });

  it("-h shows repcached's own -x and -X lines", () => {
    expect(usage()).toContain('-x <ip_addr>  hostname or IP address of peer repcached\n');
    expect(usage()).toContain('-X <num:num>  TCP port number for replication. <listen:connect> (default: 11212)\n');
  });

  it('-h, -V and -i actions', () => {
    expect(parse('-h').action).toBe('help');
    expect(parse('--version').action).toBe('version');
    expect(parse('-i').action).toBe('license');
    expect(VERSION_LINE).toBe('repcache 0.1.0 (memcached 1.6.18 compatible)');
    expect(usage()).toContain('--memory-limit');
  });

  it('-t above 64 warns like memcached', () => {
    expect(parse('-t', '65').warnings[0]).toMatch(/^WARNING: Setting a high number of workerthreads/);
  });
});

describe('repcache options: bad values (memcached 1.6.18 messages)', () => {
  const cases: [string[], string, number][] = [
    [['-c', '0'], 'Maximum connections must be greater than 0', 1],
    [['-c', '-1'], 'Maximum connections must be greater than 0', 1],
    [['-t', '0'], 'Number of threads must be greater than 0', 1],
    [['-t', 'abc'], 'Number of threads must be greater than 0', 1],
    [['-B', 'http'], 'Invalid value for binding protocol: http\n -- should be one of auto, binary, or ascii', 64],
    [['-I', '2k'], 'slab_chunk_max (bytes: 524288) cannot be larger than -I (item_size_max 2048)', 64],
    [['-I', '512'], 'Item max size cannot be less than 1024 bytes.', 64],
    [['-I', '2000m'], 'Cannot set item size limit higher than 1/2 of memory max.', 64],
    [['-I', '1025m', '-m', '8192'], 'Cannot set item size limit higher than a gigabyte.', 64],
    [['-m', '1'], 'Cannot set item size limit higher than 1/2 of memory max.', 64],
    [['-m', '0'], 'Cannot set item size limit higher than 1/2 of memory max.', 64],
    [['-f', '0.5'], 'Factor must be greater than 1', 1],
    [['-f', '1'], 'Factor must be greater than 1', 1],
    [['-f', 'abc'], 'Factor must be greater than 1', 1],
    [['-n', '0'], 'Chunk size must be greater than 0', 1],
    [['-R', '0'], 'Number of requests per event must be greater than 0', 1],
    [['-p', '70000'], 'ERROR: Invalid port number 70000.', 64],
    [['-p', 'abc'], 'ERROR: Invalid port number abc.', 64],
    [['-U', '70000'], 'ERROR: Invalid port number 70000.', 64],
    [['-p', '-2'], 'ERROR: Invalid port number -2.', 64],
    [['-U', '-2'], 'ERROR: Invalid port number -2.', 64],
    [['-D', ''], 'No delimiter specified', 1],
    [['-o', 'bogus'], 'Illegal suboption "bogus"', 1],
    [['-o', 'proxy_config=x'], 'Illegal suboption "proxy_config=x"', 1],
    [['-o', 'repl_secrte=abc'], 'Illegal suboption "repl_secrte=abc"', 1],
    [['-o', 'hashpower'], 'Missing numeric argument for hashpower', 1],
    [['-o', 'hashpower=5'], 'Initial hashtable multiplier of 5 is too low', 1],
    [['-o', 'hashpower=99'], 'Initial hashtable multiplier of 99 is too high\nChoose a value based on "STAT hash_power_level" from a running instance', 1],
    [['-o', 'slab_automove=9'], 'slab_automove must be between 0 and 2', 1],
    [['-o', 'hot_lru_pct=99'], 'hot_lru_pct must be > 1 and < 80', 1],
    [['-o', 'hot_lru_pct=50,warm_lru_pct=50'], 'hot_lru_pct + warm_lru_pct cannot be more than 80% combined', 64],
    [['-o', 'hash_algorithm=foo'], 'Unknown hash_algorithm option (jenkins, murmur3, xxh3)', 1],
    [['-o', 'slab_chunk_max=2000'], '-I (item_size_max: 1048576) must be evenly divisible by slab_chunk_max (bytes: 2000)', 64],
    [['-o', 'tail_repair_time=5'], 'Cannot set tail_repair_time to less than 10 seconds', 1],
    [['-o', 'lru_crawler_sleep=5000000'], 'LRU crawler sleep must be between 0 and 1 second', 1],
    [['-Q'], 'repcache: invalid option -- \'Q\'\nIllegal argument "?"', 1],
    [['--bogus'], 'repcache: unrecognized option \'--bogus\'\nIllegal argument "?"', 1],
    [['-p'], 'repcache: option requires an argument -- \'p\'\nIllegal argument "?"', 1],
    [['--port'], 'repcache: option \'--port\' requires an argument\nIllegal argument "?"', 1],
    [['--daemon=yes'], 'repcache: option \'--daemon\' doesn\'t allow an argument\nIllegal argument "?"', 1],
    [['--m'], 'repcache: option \'--m\' is ambiguous; possibilities: \'--memory-limit\' \'--max-reqs-per-event\' \'--max-item-size\' \'--memory-file\'\nIllegal argument "?"', 1],
    [['-o', 'slab_automove_ratio=1'], 'slab_automove_ratio must be > 0 and < 1', 1],
    [['-o', 'slab_automove_window=2'], 'slab_automove_window must be > 2', 1],
    [['-o', 'lru_crawler_tocrawl=x'], 'lru_crawler_tocrawl takes a numeric 32bit value', 1],
    [['-o', 'hot_max_factor=0'], 'hot_max_factor must be > 0', 1],
    [['-o', 'idle_timeout=x'], 'could not parse argument to idle_timeout', 1],
    [['-o', 'idle_timeout=-1'], 'could not parse argument to idle_timeout', 1],
    [['-o', 'output_limit=100'], 'output_limit must be 1k..1024m (bytes, or with a k or m suffix)', 1],
    [['-o', 'output_limit=lots'], 'output_limit must be 1k..1024m (bytes, or with a k or m suffix)', 1],
    [['-o', 'output_limit'], 'Missing numeric argument for output_limit', 1],
    [['-o', 'read_timeout=-1'], 'could not parse argument to read_timeout', 1],
    [['-o', 'drain_timeout=soon'], 'could not parse argument to drain_timeout', 1],
    [['-o', 'metrics_listen'], 'Missing metrics_listen argument (ADDRESS:PORT)', 1],
    [['-o', 'metrics_listen=9150'], "metrics_listen needs ADDRESS:PORT (e.g. 127.0.0.1:9650 or [::1]:9650), got '9150'", 1],
    [['-o', 'metrics_listen=127.0.0.1:0'], 'metrics_listen: port 0 is out of range (1..65535)', 1],
  ];
  it.each(cases)('%j', (argv, message, exitCode) => {
    expect(failure(...argv)).toEqual({ message, exitCode });
  });

  // Where memcached's own message is unhelpful or missing, repcache says what is wrong.
  const clearer: [string[], string][] = [
    [['-m', 'abc'], 'Invalid value for memory limit (megabytes): abc'],
    [['-I', '1g'], 'Invalid value for -I: 1g (bytes, or with a k or m suffix: 1k..1024m)'],
    [['-a', '999'], 'Invalid value for unix socket mask (octal): 999'],
    [['-b', 'x'], 'Invalid value for listen backlog: x'],
    [['-x', ''], "Invalid replication peer: ''"],
    [['-x', 'a b'], "Invalid replication peer: 'a b'"],
    [['-X', '0'], 'ERROR: Invalid replication port number 0.'],
    [['-X', 'abc'], 'ERROR: Invalid replication port number abc.'],
    [['-X', '11212:0'], 'ERROR: Invalid replication port number 11212:0.'],
    [['-X', '11212:'], 'ERROR: Invalid replication port number 11212:.'],
    [['-S'], 'repcache: -S needs -Y <auth_file> (user:password lines): SASL users are read from that file, not from a sasldb'],
    [['-S', '-Y', 'f', '-U', '11211'], 'ERROR: Cannot enable UDP while using binary SASL authentication.'],
    [['-Y', 'f', '-U', '11211'], 'Cannot use UDP with ascii authentication enabled (-U 0 to disable)'],
    [['-e', ''], 'repcache: -e needs a file name'],
    [['-N', 'x'], 'repcache: -N (--napi-ids) is not supported'],
  ];
  it.each(clearer)('%j', (argv, message) => {
    expect(failure(...argv)).toEqual({ message, exitCode: 64 });
  });

  it('-e names the memory file of a warm restart', () => {
    expect(parseRepcacheArgs(['-e', '/var/lib/repcache/memory']).config.memoryFile).toBe('/var/lib/repcache/memory');
    expect(parseRepcacheArgs(['--memory-file=/m']).config.memoryFile).toBe('/m');
    expect(parseRepcacheArgs([]).config.memoryFile).toBeNull();
  });

  it('-S and -Y set SASL and the auth file', () => {
    const { config } = parseRepcacheArgs(['-S', '-Y', '/etc/repcache-auth']);
    expect(config.saslEnabled).toBe(true);
    expect(config.authFile).toBe('/etc/repcache-auth');
    expect(parseRepcacheArgs(['--auth-file=/a']).config).toMatchObject({ saslEnabled: false, authFile: '/a' });
  });

  it('-Z and the ssl_ options', () => {
    const { config } = parseRepcacheArgs(['-Z', '-o', 'ssl_chain_cert=/c.pem,ssl_key=/k.pem,ssl_verify_mode=2,ssl_min_version=3,ssl_session_cache']);
    expect(config.sslEnabled).toBe(true);
    expect(config.extended).toMatchObject({ ssl_chain_cert: '/c.pem', ssl_key: '/k.pem', ssl_verify_mode: '2', ssl_min_version: '3', ssl_session_cache: true });
    expect(parseRepcacheArgs(['-Z', '-l', 'notls:127.0.0.1:11311,127.0.0.1']).config.listen).toEqual(['notls:127.0.0.1:11311', '127.0.0.1']);
  });

  it.each([
    [['-o', 'ssl_verify_mode=4'], 'Invalid ssl_verify_mode. Use help to see valid options.', 1],
    [['-o', 'ssl_min_version=5'], 'Invalid ssl_min_version. Use help to see valid options.', 1],
    [['-o', 'ssl_min_version=x'], 'could not parse argument to ssl_min_version', 1],
    [['-o', 'ssl_key'], 'Missing ssl_key argument', 1],
    [['-o', 'ssl_bogus=1'], 'Illegal suboption "ssl_bogus=1"', 1],
    [['-o', 'ssl_keyformat=2'], 'repcache: ssl_keyformat: only PEM (1) is supported', 1],
    [['-Z', '-p', '0'], 'ERROR: You cannot enable SSL without a TCP port.', 64],
    [['-l', 'notls:127.0.0.1'], "'notls' option is valid only when SSL is enabled", 71],
  ])('%j is refused', (argv, message, exitCode) => {
    expect(failure(...argv)).toEqual({ message, exitCode });
  });

  it('a stray argument', () => {
    expect(failure('stray')).toEqual({ message: "repcache: unexpected argument 'stray'", exitCode: 1 });
  });
});

describe('repcache options: ports', () => {
  it('-p -1 / -U -1 ask for a port the system picks, 0 turns the listener off (memcached 1.6.18)', () => {
    const o = parseRepcacheArgs(['-p', '-1', '-U', '-1']);
    expect([o.config.port, o.config.udpPort]).toEqual([-1, -1]);
    const off = parseRepcacheArgs(['-p', '0', '-U', '0']);
    expect([off.config.port, off.config.udpPort]).toEqual([0, 0]);
  });

  it('-U -1 counts as UDP on for the checks that refuse UDP with authentication', () => {
    expect(() => parseRepcacheArgs(['-Y', '/nonexistent', '-U', '-1'])).toThrow(/Cannot use UDP with ascii authentication/);
  });
});

describe('repcache options: the default -t', () => {
  it('is memcached\'s 4, capped at the CPUs the process may use', () => {
    expect(parseRepcacheArgs([], 1).config.threads).toBe(1);
    expect(parseRepcacheArgs([], 2).config.threads).toBe(2);
    expect(parseRepcacheArgs([], 3).config.threads).toBe(3);
    expect(parseRepcacheArgs([], 4).config.threads).toBe(4);
    expect(parseRepcacheArgs([], 8).config.threads).toBe(4);
    expect(parseRepcacheArgs([], 64).config.threads).toBe(4);
    expect(parseRepcacheArgs(['-p', '0', '-s', '/tmp/x.sock'], 8).config.threads).toBe(4);
    expect(defaultThreads(0)).toBe(1);
  });

  it('follows os.availableParallelism() when no CPU count is passed', async () => {
    const { availableParallelism } = await import('node:os');
    expect(parse().config.threads).toBe(Math.min(4, availableParallelism()));
  });

  it('does not warn about the CPUs: the default never exceeds them', () => {
    for (const cpus of [1, 2, 8]) expect(parseRepcacheArgs([], cpus).warnings).toEqual([]);
  });

  it('an explicit -t is taken as given on any number of CPUs', () => {
    for (const cpus of [1, 2, 8]) {
      expect(parseRepcacheArgs(['-t', '1'], cpus).config.threads).toBe(1);
      expect(parseRepcacheArgs(['-t', '4'], cpus).config.threads).toBe(4);
      expect(parseRepcacheArgs(['--threads=6'], cpus).config.threads).toBe(6);
    }
  });

  it('an explicit -t above the CPUs is warned about, once', () => {
    expect(parseRepcacheArgs(['-t', '4'], 2).warnings).toEqual([threadsOverCpusWarning(4, 2)]);
    expect(parseRepcacheArgs(['-t', '2'], 1).warnings).toEqual([threadsOverCpusWarning(2, 1)]);
    expect(parseRepcacheArgs(['-t', '2'], 2).warnings).toEqual([]);
    expect(parseRepcacheArgs(['-t', '4'], 8).warnings).toEqual([]);
    // memcached's own warning above 64 comes first
    const w = parseRepcacheArgs(['-t', '65'], 8).warnings;
    expect(w).toHaveLength(2);
    expect(w[0]).toMatch(/^WARNING: Setting a high number of workerthreads/);
    expect(w[1]).toBe(threadsOverCpusWarning(65, 8));
  });

  it('-h names the default', () => {
    expect(usage()).toContain('-t, --threads=<num>       number of threads to use (default: 4, fewer if fewer CPUs)\n');
  });
});

describe('repcache options: -t above the CPUs', () => {
  it('says nothing while the workers fit on the CPUs', () => {
    expect(threadsOverCpusWarning(1, 1)).toBeNull();
    expect(threadsOverCpusWarning(2, 2)).toBeNull();
    expect(threadsOverCpusWarning(4, 8)).toBeNull();
  });

  it('warns with N and the CPUs when the workers outnumber them', () => {
    expect(threadsOverCpusWarning(4, 2)).toBe('WARNING: -t 4 is more worker threads than the 2 CPUs this process may use; the threads beyond them add CPU per request, not throughput.');
    expect(threadsOverCpusWarning(2, 1)).toContain('than the 1 CPU this process');
  });
});
