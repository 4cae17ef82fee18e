import { describe, expect, it } from 'vitest';
import { OWN_SETTINGS_NAMES } from '../../src/server/stats.ts';
import { McClient, mcRequest } from '../support/mc-client.ts';
import { useReferenceAndOurs } from '../support/reference-pair.ts';

const statNames = (reply: string) => [...reply.matchAll(/^STAT (\S+) /gm)].map((m) => m[1]);
const statMap = (reply: string) => new Map([...reply.matchAll(/^STAT (\S+) (.*)\r$/gm)].map((m) => [m[1], m[2]]));

describe('stats', () => {
  const servers = useReferenceAndOurs();

  it("has memcached's field names in memcached's order", async () => {
    const [theirs, mine] = await Promise.all([mcRequest(servers.ref, 'stats\r\n', 'END\r\n'), mcRequest(servers.ours, 'stats\r\n', 'END\r\n')]);
    expect(statNames(theirs).length).toBeGreaterThan(80);
    expect(statNames(mine).slice(0, statNames(theirs).length)).toEqual(statNames(theirs));
    const s = statMap(mine);
    expect(s.get('version')).toBe('1.6.18');
    expect(s.get('pid')).toBe(String(process.pid));
    expect(Number(s.get('uptime'))).toBeGreaterThanOrEqual(2);
    expect(Math.abs(Number(s.get('time')) - Date.now() / 1000)).toBeLessThan(5);
    expect(s.get('threads')).toBe('1');
    expect(s.get('limit_maxbytes')).toBe(String(64 * 1024 * 1024));
  });

  it("stats settings has memcached's names in memcached's order", async () => {
    const [theirs, mine] = await Promise.all([
      mcRequest(servers.ref, 'stats settings\r\n', 'END\r\n'), mcRequest(servers.ours, 'stats settings\r\n', 'END\r\n'),
    ]);
    // repcache's own limits follow memcached's names
    expect(statNames(mine)).toEqual([...statNames(theirs), ...OWN_SETTINGS_NAMES]);
    const s = statMap(mine);
    expect(s.get('tcpport')).toBe(String(servers.ours));
    expect(s.get('inter')).toBe('127.0.0.1');
    expect(s.get('item_size_max')).toBe('1048576');
    // values that do not depend on the port or process match memcached's defaults
    const t = statMap(theirs);
    for (const name of ['maxbytes', 'maxconns', 'umask', 'growth_factor', 'chunk_size', 'cas_enabled', 'binding_protocol', 'slab_chunk_max', 'flush_enabled']) {
      expect(s.get(name), name).toBe(t.get(name));
    }
  });

  it('counts connections, keys fetched, hits and bytes', async () => {
    const c = await McClient.connect(servers.ours);
    try {
      await c.request('stats reset\r\n');
      const before = statMap(await c.request('stats\r\n', 'END\r\n'));
      await c.request('set a 0 0 1\r\na\r\n');
      await c.request('get a b c\r\n', 'END\r\n');
      await c.request('flush_all 100\r\n');
      const other = await McClient.connect(servers.ours);
      const s = statMap(await c.request('stats\r\n', 'END\r\n'));
      other.close();
      expect(s.get('cmd_get')).toBe('3');
      expect(s.get('get_hits')).toBe('1');
      expect(s.get('get_misses')).toBe('2');
      expect(s.get('cmd_set')).toBe('1');
      expect(s.get('cmd_flush')).toBe('1');
      expect(s.get('curr_connections')).toBe('2');
      expect(Number(s.get('bytes_read'))).toBeGreaterThan(Number(before.get('bytes_read')));
      expect(Number(s.get('bytes_written'))).toBeGreaterThan(0);
      expect(Number(s.get('curr_items'))).toBeGreaterThanOrEqual(1);
    } finally {
      c.close();
    }
  });

  it('stats conns lists the listener and each connection', async () => {
    const reply = await mcRequest(servers.ours, 'stats conns\r\n', 'END\r\n');
    expect(reply).toMatch(/^STAT \d+:addr tcp:127\.0\.0\.1:\d+\r\nSTAT \d+:state conn_listening\r\n/);
    expect(reply).toMatch(new RegExp(`STAT \\d+:listen_addr tcp:127\\.0\\.0\\.1:${servers.ours}\\r\\nSTAT \\d+:state conn_parse_cmd\\r\\n`));
  });

  it('stats conns shows each connection in memcached\'s state: conn_new_cmd before its first command, then conn_read', async () => {
    const states = async (port: number) => {
      const fresh = await McClient.connect(port);
      const used = await McClient.connect(port);
      const asker = await McClient.connect(port);
      try {
        await used.request('version\r\n');
        // (memcached lists a connection once its thread has taken it up)
        await new Promise((r) => setTimeout(r, 100));
        const reply = await asker.request('stats conns\r\n', 'END\r\n');
        const stateOf = (c: McClient) => new RegExp(`STAT (\\d+):addr tcp:127\\.0\\.0\\.1:${c.socket.localPort}\r\nSTAT \\1:listen_addr \\S+\r\nSTAT \\1:state (\\S+)`).exec(reply)?.[2];
        return [stateOf(fresh), stateOf(used), stateOf(asker)];
      } finally {
        for (const c of [fresh, used, asker]) c.close();
      }
    };
    expect(await states(servers.ref)).toEqual(['conn_new_cmd', 'conn_read', 'conn_parse_cmd']);
    expect(await states(servers.ours)).toEqual(['conn_new_cmd', 'conn_read', 'conn_parse_cmd']);
  });

  it('stats items, slabs and sizes use STAT lines', async () => {
    const c = await McClient.connect(servers.ours);
    try {
      await c.request('set it 0 0 3\r\nabc\r\n');
      expect(await c.request('stats items\r\n', 'END\r\n')).toMatch(/^STAT items:\d+:number \d+\r\n/);
      const slabs = await c.request('stats slabs\r\n', 'END\r\n');
      expect(slabs).toMatch(/^STAT \d+:chunk_size \d+\r\n/);
      expect(slabs).toMatch(/STAT active_slabs \d+\r\nSTAT total_malloced \d+\r\nEND\r\n$/);
      expect(await c.request('stats sizes\r\n', 'END\r\n')).toBe('STAT sizes_status disabled\r\nEND\r\n');
    } finally {
      c.close();
    }
  });
});
