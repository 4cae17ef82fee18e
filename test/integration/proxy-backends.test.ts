/**
 * repcache-proxy with real backends: three memcacheds (magent's copy mode), a backend that never answers,
 * repcache pairs (--no-backup-writes), large values, long pipelines, clients that leave mid-request.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Placement } from '../../src/proxy/placement.ts';
import { parseServerSpec } from '../../src/routing/servers.ts';
import { stopAll } from '../support/daemon.ts';
import { McClient } from '../support/mc-client.ts';
import { freePort } from '../support/ports.ts';
import { waitFor } from '../support/wait.ts';
import { eventually, startNode, type RepNode } from './replication-cluster.ts';
import { ask, proxyStats, startMemcached, startProxy, type Proc } from './proxy-harness.ts';

const set = (k: string, v: string) => `set ${k} 0 0 ${v.length}\r\n${v}\r\n`;

describe('three memcacheds, each the backup of another (copy mode)', () => {
  const backends: Proc[] = [];
  let proxy: Proc;
  let placement: Placement;
  const keys = Array.from({ length: 300 }, (_, i) => `key:${i}`);

  beforeAll(async () => {
    for (let i = 0; i < 3; i++) backends.push(await startMemcached(['-I', '2m']));
    const servers = backends.map((b) => `127.0.0.1:${b.port}`);
    proxy = await startProxy([...servers.flatMap((s) => ['-s', s]), ...servers.flatMap((s) => ['-b', s]), '--timeout', '500', '--failure-limit', '2', '--retry-timeout', '100', '-I', '2m']);
    const specs = servers.map(parseServerSpec);
    placement = new Placement({ main: specs, backup: specs, distribution: 'ketama', hash: 'md5', backupMode: 'copy' });
  });
  afterAll(stopAll);

  const where = (key: string) => {
    const h = placement.hash(Buffer.from(key));
    const main = placement.mainOf(h);
    return { main, backup: placement.backupOf(h, main) };
  };

  it('spreads the keys by ketama and copies each one to its backup', async () => {
    expect(await ask(proxy.port, keys.map((k) => set(k, `v-${k}`)).join(''), (s) => s.split('STORED').length > keys.length)).toBe('STORED\r\n'.repeat(keys.length));
    const perServer = [0, 0, 0];
    for (const k of keys.slice(0, 60)) {
      const { main, backup } = where(k);
      perServer[main]!++;
      expect(backup).not.toBe(main);
      for (const [i, b] of backends.entries()) {
        const got = await ask(b.port, `get ${k}\r\n`, 'END\r\n');
        expect(got.includes(`v-${k}`), `${k} on backend ${i} (main ${main}, backup ${backup})`).toBe(i === main || i === backup);
      }
    }
    expect(Math.min(...perServer)).toBeGreaterThan(5);
  });

  it('a main killed: every key still reads back (from the backups), writes keep landing, the server is marked down', async () => {
    backends[0]!.daemon.proc.kill('SIGKILL');
    await backends[0]!.daemon.exited;
    const all = await ask(proxy.port, `get ${keys.join(' ')}\r\n`, 'END\r\n');
    expect([...all.matchAll(/^VALUE (\S+) /gm)].map((m) => m[1])).toEqual(keys);
    expect(await ask(proxy.port, keys.map((k) => set(k, `w-${k}`)).join(''), (s) => s.split('STORED').length > keys.length)).toBe('STORED\r\n'.repeat(keys.length));
    for (const k of keys.slice(0, 30)) expect(await ask(proxy.port, `get ${k}\r\n`, 'END\r\n')).toBe(`VALUE ${k} 0 ${k.length + 2}\r\nw-${k}\r\nEND\r\n`);
    const s = await proxyStats(proxy.port);
    expect(s.get('backend_0_state')).toBe('down');
    expect(Number(s.get('backup_fallbacks'))).toBeGreaterThan(0);
    expect(s.get('proxy_server_errors')).toBe('0');
  });

  it('restarted, it is marked up again and takes its keys back', async () => {
    backends[0] = await startMemcached(['-I', '2m'], backends[0]!.port);
    await waitFor('backend 0 up', async () => (await proxyStats(proxy.port)).get('backend_0_state') === 'up', 10_000, 50);
    const onA = keys.find((k) => where(k).main === 0)!;
    expect(await ask(proxy.port, set(onA, 'again'))).toBe('STORED\r\n');
    expect(await ask(backends[0]!.port, `get ${onA}\r\n`, 'END\r\n')).toContain('again');
  });

  it('a 1 MB value passes through', async () => {
    const value = Buffer.alloc(1024 * 1024, 'abcdefgh');
    const c = await McClient.connect(proxy.port);
    try {
      c.send(Buffer.concat([Buffer.from(`set big 7 0 ${value.length}\r\n`), value, Buffer.from('\r\nget big\r\n')]));
      const got = await c.readUntil((s) => s.endsWith('END\r\n'), 10_000);
      expect(got.length).toBe('STORED\r\n'.length + `VALUE big 7 ${value.length}\r\n`.length + value.length + 2 + 5);
      expect(got.startsWith(`STORED\r\nVALUE big 7 ${value.length}\r\n`)).toBe(true);
      expect(got.slice(-(value.length + 7), -7) === value.toString('latin1')).toBe(true);
    } finally {
      c.close();
    }
  });

  it('10,000 pipelined commands come back in order', async () => {
    let req = '';
    let want = '';
    for (let i = 0; i < 5000; i++) {
      req += `${set(`p:${i}`, String(i))}get p:${i}\r\n`;
      want += `STORED\r\nVALUE p:${i} 0 ${String(i).length}\r\n${i}\r\nEND\r\n`;
    }
    const got = await ask(proxy.port, req, (s) => s.length >= want.length, 20_000);
    expect(got === want).toBe(true);
  });

  it('a client that leaves mid multi-get leaves no backend state behind', async () => {
    for (let i = 0; i < 20; i++) {
      const c = await McClient.connect(proxy.port);
      c.send(`get ${keys.join(' ')}\r\nget ${keys.slice(0, 50).join(' ')}\r\n`);
      c.close();
    }
    await waitFor('the backends to drain', async () => {
      const s = await proxyStats(proxy.port);
      return [0, 1, 2].every((i) => s.get(`backend_${i}_inflight`) === '0') && s.get('curr_connections') === '1';
    }, 10_000, 50);
    // --timeout 500 on a loaded host may have marked a backend down meanwhile, so its reads go to the backup: ask
    // for a key with both copies (backend 0 came back empty above)
    const key = keys.find((k) => where(k).main !== 0 && where(k).backup !== 0)!;
    let last = '';
    for (const deadline = performance.now() + 5000; performance.now() < deadline; await new Promise((r) => setTimeout(r, 100))) {
      last = await ask(proxy.port, `get ${key}\r\n`, (r) => r.endsWith('END\r\n') || r.startsWith('SERVER_ERROR'));
      if (last.startsWith(`VALUE ${key}`)) break;
    }
    expect(last).toMatch(new RegExp(`^VALUE ${key} `));
  });
});

describe('failures the client sees', () => {
  let silent: Server;
  const held: Socket[] = [];
  afterAll(async () => {
    for (const s of held) s.destroy();
    silent?.close();
    await stopAll();
  });

  it('a backend that accepts and never answers: SERVER_ERROR within the timeout, not a hang', async () => {
    const port = await freePort();
    silent = createServer((s) => { held.push(s); s.on('data', () => {}); });
    await new Promise<void>((r) => silent.listen(port, '127.0.0.1', r));
    const proxy = await startProxy(['-s', `127.0.0.1:${port}`, '--timeout', '300']);
    const t0 = performance.now();
    expect(await ask(proxy.port, 'get x\r\nset y 0 0 1\r\nz\r\n', (s) => s.split('\r\n').length > 2)).toBe(
      `SERVER_ERROR no reply from 127.0.0.1:${port} within 300 ms\r\n`.repeat(2),
    );
    const ms = performance.now() - t0;
    expect(ms).toBeGreaterThanOrEqual(290);
    expect(ms).toBeLessThan(2000);
  });

  it('a backend that is not there: SERVER_ERROR with the reason, then "is down" at once', async () => {
    const port = await freePort();
    const proxy = await startProxy(['-s', `127.0.0.1:${port}`, '--failure-limit', '3']);
    const replies: string[] = [];
    for (let i = 0; i < 5; i++) replies.push(await ask(proxy.port, 'get x\r\n'));
    // the proxy's own first connection counts as a failure too
    const refused = replies.filter((r) => r === 'SERVER_ERROR connect ECONNREFUSED\r\n').length;
    expect(refused).toBeGreaterThanOrEqual(1);
    expect(refused).toBeLessThanOrEqual(3);
    expect(replies.slice(refused)).toEqual(Array(5 - refused).fill(`SERVER_ERROR backend 127.0.0.1:${port} is down\r\n`));
  });

  it('-n: a connection over the limit gets memcached\'s error', async () => {
    const m = await startMemcached();
    const proxy = await startProxy(['-s', `127.0.0.1:${m.port}`, '-n', '2']);
    const a = await McClient.connect(proxy.port);
    const b = await McClient.connect(proxy.port);
    try {
      expect(await a.request('version\r\n')).toMatch(/^VERSION /);
      expect(await ask(proxy.port, 'version\r\n')).toBe('ERROR Too many open connections\r\n');
      b.close();
      await waitFor('a free slot', async () => (await ask(proxy.port, 'version\r\n')).startsWith('VERSION '), 5000, 50);
    } finally {
      a.close();
      b.close();
    }
  });
});

describe('repcache pairs behind the proxy (--no-backup-writes)', () => {
  let a: RepNode;
  let b: RepNode;
  let proxy: Proc;
  afterAll(stopAll);

  beforeAll(async () => {
    const [pa, ra, pb, rb] = [await freePort(), await freePort(), await freePort(), await freePort()];
    [a, b] = await Promise.all([startNode({ port: pa, rport: ra, peers: [rb] }), startNode({ port: pb, rport: rb, peers: [ra] })]);
    const A = `127.0.0.1:${a.port}`;
    const B = `127.0.0.1:${b.port}`;
    proxy = await startProxy(['-s', A, '-s', B, '-b', B, '-b', A, '--no-backup-writes', '--retry-timeout', '100']);
  });

  it('writes go to the key\'s main only and reach the peer by replication; with the main killed, the peer serves reads and writes; back, it is resynced and marked up', async () => {
    const keys = Array.from({ length: 200 }, (_, i) => `r:${i}`);
    expect(await ask(proxy.port, keys.map((k) => set(k, k)).join(''), (s) => s.split('STORED').length > keys.length)).toBe('STORED\r\n'.repeat(keys.length));
    const s = await proxyStats(proxy.port);
    // each write went to one server: the calls add up to the keys (plus nothing for backups)
    expect(Number(s.get('backend_0_calls')) + Number(s.get('backend_1_calls'))).toBe(keys.length);
    await eventually(async () => (await ask(b.port, `get ${keys.join(' ')}\r\n`, 'END\r\n')).split('VALUE').length === keys.length + 1, 'replication to b');
    a.daemon.proc.kill('SIGKILL');
    await a.daemon.exited;
    const all = await ask(proxy.port, `get ${keys.join(' ')}\r\n`, 'END\r\n');
    expect(all.split('VALUE').length - 1).toBe(keys.length);
    expect(await ask(proxy.port, keys.map((k) => set(k, `2-${k}`)).join(''), (s2) => s2.split('STORED').length > keys.length)).toBe('STORED\r\n'.repeat(keys.length));
    // a comes back, copies everything from b before it opens its port, and the proxy uses it again
    a = await startNode({ port: a.port, rport: a.rport, peers: [b.rport] });
    await waitFor('a up in the proxy', async () => (await proxyStats(proxy.port)).get('backend_0_state') === 'up', 10_000, 50);
    const back = await ask(proxy.port, `get ${keys.join(' ')}\r\n`, 'END\r\n');
    expect([...back.matchAll(/^VALUE (\S+) 0 \d+\r\n(\S+)\r$/gm)].every((m) => m[2] === `2-${m[1]}`)).toBe(true);
    expect(back.split('VALUE').length - 1).toBe(keys.length);
  });
});
