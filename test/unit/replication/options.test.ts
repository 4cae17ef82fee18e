import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parsePeer, replicationFromArgs, ReplicationConfigError } from '../../../src/replication/options.ts';

describe('replication options', () => {
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
  });

  it('reads the extended options and the secret file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rp-opt-'));
    const file = join(dir, 'secret');
    writeFileSync(file, 's3cret\n');
    const o = replicationFromArgs({ peers: ['b'], port: 16000 }, { repl_secret_file: file, repl_sync: true, repl_sync_timeout: '250', repl_node_id: '7', repl_queue: '1024' }, 1 << 20)!;
    expect(o).toMatchObject({ peers: [{ host: 'b', port: 16000 }], secret: 's3cret', syncMode: true, syncTimeoutMs: 250, nodeId: 7, logCapacity: 1024 });
  });

  it('repl_sync: bare, 1 or on turn it on; 0 or off leave it off', () => {
    const sync = (v: string | true) => replicationFromArgs({ peers: ['b'], port: 1 }, { repl_sync: v }, 1)!.syncMode;
    expect([sync(true), sync('1'), sync('on')]).toEqual([true, true, true]);
    expect(['0', 'off'].map((v) => sync(v))).toEqual([false, false]);
  });

  it('repl_complete: the operator declares the node complete from the start', () => {
    const complete = (ext: Record<string, string | true>) => replicationFromArgs({ peers: ['b'], port: 1 }, ext, 1)!.startComplete;
    expect([complete({}), complete({ repl_complete: true }), complete({ repl_complete: 'off' })]).toEqual([false, true, false]);
    expect(() => complete({ repl_complete: 'always' })).toThrow("-o repl_complete takes no value or one of 1, on, 0, off, got 'always'");
  });

  it('refuses bad values', () => {
    const r = (ext: Record<string, string | true>) => () => replicationFromArgs({ peers: ['b'], port: 1 }, ext, 1);
    expect(r({ repl_node_id: '0' })).toThrow(/repl_node_id needs an integer 1..1023/);
    expect(r({ repl_sync_timeout: 'soon' })).toThrow(/repl_sync_timeout/);
    expect(r({ repl_queue: '4' })).toThrow(/repl_queue/);
    expect(r({ repl_secret_file: '/nonexistent/secret' })).toThrow(/cannot read the replication secret file/);
    expect(r({ repl_sync: 'yes' })).toThrow("-o repl_sync takes no value or one of 1, on, 0, off, got 'yes'");
  });
});
