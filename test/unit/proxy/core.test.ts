import { describe, expect, it } from 'vitest';
import { MAX_QUEUED } from '../../../src/proxy/session.ts';
import { Rig, settle } from './harness.ts';

const A = '10.0.0.1:11211';
const B = '10.0.0.2:11211';
const C = '10.0.0.3:11211';

/** Keys whose main server is `server`. */
function keysOn(rig: Rig, server: string, n: number, prefix = 'k'): string[] {
  const out: string[] = [];
  for (let i = 0; out.length < n; i++) if (rig.mainOf(`${prefix}${i}`) === server) out.push(`${prefix}${i}`);
  return out;
}

const set = (k: string, v: string, extra = '') => `set ${k} 0 0 ${v.length}${extra}\r\n${v}\r\n`;

describe('routing and re-assembly', () => {
  it('each key goes to its ketama server only; a get comes back from there', async () => {
    const rig = new Rig({ main: [A, B, C] });
    const c = rig.client();
    let req = '';
    for (let i = 0; i < 300; i++) req += set(`key:${i}`, `v${i}`);
    expect(await rig.ask(c, req)).toBe('STORED\r\n'.repeat(300));
    for (let i = 0; i < 300; i++) {
      const home = rig.mainOf(`key:${i}`);
      for (const [name, s] of rig.servers) expect(s.items.has(`key:${i}`), `key:${i} on ${name}`).toBe(name === home);
    }
    const counts = [A, B, C].map((n) => rig.server(n).items.size);
    expect(Math.min(...counts)).toBeGreaterThan(60); // spread over all three
    expect(await rig.ask(c, 'get key:7\r\n')).toBe('VALUE key:7 0 2\r\nv7\r\nEND\r\n');
  });

  it('a multi-get is split per server and re-assembled in request order, duplicates and misses included', async () => {
    const rig = new Rig({ main: [A, B, C] });
    const c = rig.client();
    const keys = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'];
    await rig.ask(c, keys.map((k) => set(k, k.toUpperCase())).join(''));
    // the servers answer in the opposite order of the request
    for (const s of rig.servers.values()) s.hold = true;
    c.send('gets h miss a b a c zz d e f g h\r\n');
    await settle();
    for (const n of [C, B, A]) {
      rig.server(n).release();
      await settle();
    }
    const got = c.take();
    const order = [...got.matchAll(/^VALUE (\S+) /gm)].map((m) => m[1]);
    expect(order).toEqual(['h', 'a', 'b', 'a', 'c', 'd', 'e', 'f', 'g', 'h']);
    expect(got.endsWith('END\r\n')).toBe(true);
    expect(got).toMatch(/^VALUE h 0 1 \d+\r\nH\r\n/);
    // one request per server that holds some of the keys
    const getsSent = [...rig.servers.values()].flatMap((s) => s.log.filter((l) => l.startsWith('gets')));
    expect(getsSent.length).toBe(3);
    expect(rig.stat('cmd_get')).toBe('12');
    expect(rig.stat('get_hits')).toBe('10');
  });

  it('pipelined requests get their replies in order although the servers answer out of order', async () => {
    const rig = new Rig({ main: [A, B] });
    const c = rig.client();
    const onA = keysOn(rig, A, 3);
    const onB = keysOn(rig, B, 3);
    await rig.ask(c, [...onA, ...onB].map((k) => set(k, '10')).join(''));
    rig.server(A).hold = true;
    c.send(`get ${onA[0]}\r\nget ${onB[0]}\r\nincr ${onA[1]} 5\r\nincr ${onB[1]} 1\r\nversion\r\nget ${onA[2]} ${onB[2]}\r\n`);
    await settle();
    expect(c.received).toBe(''); // B answered, but A's reply comes first
    rig.server(A).release();
    await settle();
    expect(c.take()).toBe(
      `VALUE ${onA[0]} 0 2\r\n10\r\nEND\r\nVALUE ${onB[0]} 0 2\r\n10\r\nEND\r\n15\r\n11\r\n` +
        'VERSION 1.6.18-repcache-proxy-0.1.0\r\n' +
        `VALUE ${onA[2]} 0 2\r\n10\r\nEND\r\n`.replace('END\r\n', `VALUE ${onB[2]} 0 2\r\n10\r\nEND\r\n`),
    );
  });

  it('10,000 pipelined commands in one write come back in order', async () => {
    const rig = new Rig({ main: [A, B, C] });
    const c = rig.client();
    let req = '';
    let want = '';
    for (let i = 0; i < 5000; i++) {
      req += set(`p${i}`, String(i)) + `get p${i}\r\n`;
      want += `STORED\r\nVALUE p${i} 0 ${String(i).length}\r\n${i}\r\nEND\r\n`;
    }
    c.send(req);
    await settle(50);
    expect(c.received.length).toBe(want.length);
    expect(c.take() === want).toBe(true);
    expect(c.paused).toBe(false);
  });

  it('noreply is honoured: the write happens, nothing is sent back, later replies are not shifted', async () => {
    const rig = new Rig({ main: [A, B] });
    const c = rig.client();
    expect(await rig.ask(c, `${set('x', 'hello', ' noreply')}delete nope noreply\r\nincr x 1 noreply\r\ntouch x 5 noreply\r\nget x\r\n`)).toBe('VALUE x 0 5\r\nhello\r\nEND\r\n');
    // the backend never sees noreply: the proxy reads and drops the reply
    expect(rig.server(rig.mainOf('x')).log).toContain('set x');
    expect(await rig.ask(c, 'flush_all noreply\r\nverbosity 1 noreply\r\nget x\r\n')).toBe('END\r\n');
  });
});

describe('backup servers', () => {
  it('copy mode (magent): writes land on the main and the backup, reads come from the main', async () => {
    const rig = new Rig({ main: [A, B], backup: [C] });
    const c = rig.client();
    expect(await rig.ask(c, set('k1', 'one') + set('k2', 'two'))).toBe('STORED\r\nSTORED\r\n');
    for (const k of ['k1', 'k2']) {
      expect(rig.server(rig.mainOf(k)).items.has(k)).toBe(true);
      expect(rig.backupOf(k)).toBe(C);
      expect(rig.server(C).items.has(k)).toBe(true);
    }
    rig.server(C).items.set('k1', { value: Buffer.from('stale'), flags: 0, cas: 1 });
    expect(await rig.ask(c, 'get k1\r\n')).toBe('VALUE k1 0 3\r\none\r\nEND\r\n');
    expect(rig.server(C).log.filter((l) => l.startsWith('get'))).toEqual([]);
  });

  it("a mirrored backup pool never puts a key's backup on its main", async () => {
    const rig = new Rig({ main: [A, B], backup: [B, A] });
    for (let i = 0; i < 200; i++) {
      const k = `m${i}`;
      expect(rig.backupOf(k)).toBe(rig.mainOf(k) === A ? B : A);
    }
  });

  it('main killed: reads are answered by the backup, writes keep landing; marked down after 2 failures; back up after a retry', async () => {
    const rig = new Rig({ main: [A, B], backup: [B, A], failureLimit: 2, retryInitialMs: 500 });
    const c = rig.client();
    const onA = keysOn(rig, A, 5);
    await rig.ask(c, onA.map((k) => set(k, 'v')).join(''));
    expect(rig.server(B).items.has(onA[0]!)).toBe(true); // the copy
    rig.server(A).kill();
    await settle();
    // the open connection to A closed while idle: not a failure yet
    expect(rig.stat('backend_0_state')).toBe('up');
    for (const k of onA.slice(0, 3)) expect(await rig.ask(c, `get ${k}\r\n`)).toBe(`VALUE ${k} 0 1\r\nv\r\nEND\r\n`);
    expect(rig.stat('backend_0_state')).toBe('down');
    expect(rig.lines.some((l) => /backend 10.0.0.1:11211 marked down: 2 consecutive failures, the last: connect ECONNREFUSED/.test(l))).toBe(true);
    const connectsWhileDown = rig.server(B).connections;
    // while down: straight to the backup, reads and writes, without trying A
    expect(await rig.ask(c, `${set(onA[4]!, 'new')}get ${onA[4]} ${onA[3]}\r\n`)).toBe(
      `STORED\r\nVALUE ${onA[4]} 0 3\r\nnew\r\nEND\r\n`.replace('END\r\n', `VALUE ${onA[3]} 0 1\r\nv\r\nEND\r\n`),
    );
    expect(rig.server(B).connections).toBe(connectsWhileDown);
    expect(Number(rig.stat('backup_fallbacks'))).toBeGreaterThanOrEqual(5);
    // retries: refused at 500 ms, then 1000 ms later; the third one finds it back
    rig.clock.advance(500);
    await settle();
    expect(rig.stat('backend_0_state')).toBe('down');
    expect(rig.stat('backend_0_retry_in_ms')).toBe('1000');
    rig.server(A).revive();
    rig.clock.advance(1000);
    await settle();
    expect(rig.stat('backend_0_state')).toBe('up');
    expect(rig.server(A).log.at(-1)).toBe('version');
    expect(rig.lines).toContain('backend 10.0.0.1:11211 is up again');
    // A is back (empty, as magent's main would be): reads go there again
    expect(await rig.ask(c, `get ${onA[0]}\r\n`)).toBe('END\r\n');
  });

  it("copy mode: when the main fails after the write was sent, the backup copy's reply answers", async () => {
    const rig = new Rig({ main: [A], backup: [B], timeoutMs: 1000 });
    const c = rig.client();
    rig.server(A).muted = true;
    c.send(set('w', 'x'));
    await settle();
    expect(c.received).toBe('');
    rig.clock.advance(1000);
    await settle();
    expect(c.take()).toBe('STORED\r\n');
    expect(rig.server(B).items.get('w')?.value.toString()).toBe('x');
  });

  it('pairs mode (repcache pairs): writes go to the main only; the backup takes writes and reads while the main is down', async () => {
    const rig = new Rig({ main: [A, B], backup: [B, A], mode: 'pairs' });
    const c = rig.client();
    const onA = keysOn(rig, A, 2);
    await rig.ask(c, set(onA[0]!, 'v'));
    expect(rig.server(A).items.has(onA[0]!)).toBe(true);
    expect(rig.server(B).items.has(onA[0]!)).toBe(false);
    rig.server(A).kill();
    await settle();
    // A refuses: the writes never reached it, so it is safe to make them on B (which would replicate them to A)
    expect(await rig.ask(c, `${set(onA[1]!, '5')}incr ${onA[1]} 1\r\n`)).toBe('STORED\r\n6\r\n');
    expect(rig.server(B).items.get(onA[1]!)?.value.toString()).toBe('6');
    expect(await rig.ask(c, `get ${onA[0]}\r\n`)).toBe('END\r\n'); // B never had it: pairs replicate themselves
    expect(rig.stat('backend_0_state')).toBe('down');
  });

  it('pairs mode: an incr the main got but did not answer is not repeated on the backup', async () => {
    const rig = new Rig({ main: [A], backup: [B], mode: 'pairs', timeoutMs: 500 });
    const c = rig.client();
    await rig.ask(c, set('n', '1'));
    rig.server(A).muted = true;
    c.send('incr n 1\r\nget n\r\n');
    await settle();
    rig.clock.advance(500);
    await settle();
    // the get is a read: it is asked again on B (which has nothing here; a real pair would)
    expect(c.take()).toBe('SERVER_ERROR no reply from 10.0.0.1:11211 within 500 ms\r\nEND\r\n');
    expect(rig.server(B).log).toEqual(['get n']);
  });
});

describe('failures reach the client as SERVER_ERROR, never as silence', () => {
  it('a server that accepts and never answers: SERVER_ERROR after the timeout, for every request queued on it', async () => {
    const rig = new Rig({ main: [A], timeoutMs: 800 });
    const c = rig.client();
    rig.server(A).muted = true;
    c.send('get a\r\nset b 0 0 1\r\nx\r\nget c d\r\n');
    await settle();
    rig.clock.advance(799);
    await settle();
    expect(c.received).toBe('');
    rig.clock.advance(1);
    await settle();
    expect(c.take()).toBe('SERVER_ERROR no reply from 10.0.0.1:11211 within 800 ms\r\n'.repeat(3));
    expect(rig.stat('backend_0_timeouts')).toBe('1');
    expect(rig.stat('backend_0_inflight')).toBe('0');
    expect(rig.stat('proxy_server_errors')).toBe('3');
  });

  it('a down server without a backup: SERVER_ERROR at once', async () => {
    const rig = new Rig({ main: [A, B], failureLimit: 1 });
    const c = rig.client();
    rig.server(A).kill();
    const k = keysOn(rig, A, 2);
    expect(await rig.ask(c, `get ${k[0]}\r\n`)).toBe('SERVER_ERROR connect ECONNREFUSED\r\n');
    expect(await rig.ask(c, `get ${k[1]}\r\nset ${k[1]} 0 0 1\r\nx\r\n`)).toBe('SERVER_ERROR backend 10.0.0.1:11211 is down\r\n'.repeat(2));
    // a multi-get with a key on the dead server fails as a whole, not with a silent miss
    const onB = keysOn(rig, B, 1)[0];
    expect(await rig.ask(c, `get ${onB} ${k[0]}\r\n`)).toBe('SERVER_ERROR 10.0.0.1:11211 is down\r\n');
  });

  it('flush_all goes to every server; one down makes it SERVER_ERROR', async () => {
    const rig = new Rig({ main: [A, B], backup: [C], failureLimit: 1 });
    const c = rig.client();
    expect(await rig.ask(c, 'flush_all\r\n')).toBe('OK\r\n');
    for (const s of rig.servers.values()) expect(s.log).toEqual(['flush_all']);
    rig.server(C).kill();
    await settle();
    expect(await rig.ask(c, 'flush_all\r\n')).toBe('SERVER_ERROR connect ECONNREFUSED\r\n');
    expect(await rig.ask(c, 'flush_all 10\r\n')).toBe('SERVER_ERROR 10.0.0.3:11211 is down\r\n');
  });

  it('a client gone mid multi-get leaves nothing behind', async () => {
    const rig = new Rig({ main: [A, B, C] });
    const c = rig.client();
    for (const s of rig.servers.values()) s.hold = true;
    c.send('get a b c d e f g\r\nget h\r\n');
    await settle();
    c.handle.closed();
    expect(rig.stat('curr_connections')).toBe('0');
    for (const s of rig.servers.values()) s.release();
    await settle();
    for (let i = 0; i < 3; i++) expect(rig.stat(`backend_${i}_inflight`)).toBe('0');
    const d = rig.client();
    expect(await rig.ask(d, 'get a\r\n')).toBe('END\r\n');
  });
});

describe('what the proxy answers itself', () => {
  it('memcached\'s errors for bad requests, version, verbosity, mn, shutdown, unsupported admin commands', async () => {
    const rig = new Rig({ main: [A] });
    const c = rig.client();
    expect(await rig.ask(c, 'bogus\r\n')).toBe('ERROR\r\n');
    expect(await rig.ask(c, `get ${'k'.repeat(251)}\r\n`)).toBe('CLIENT_ERROR bad command line format\r\n');
    expect(await rig.ask(c, 'set a 0 0 x\r\n')).toBe('CLIENT_ERROR bad command line format\r\n');
    expect(await rig.ask(c, 'set a 0 0 1\r\nxyz\r\n')).toBe('CLIENT_ERROR bad data chunk\r\nERROR\r\n');
    expect(await rig.ask(c, 'incr a x\r\n')).toBe('CLIENT_ERROR invalid numeric delta argument\r\n');
    expect(await rig.ask(c, 'gat 10\r\n')).toBe('END\r\n'); // no key: memcached answers END
    expect(await rig.ask(c, 'version\r\nverbosity 1\r\nmn\r\nshutdown\r\nslabs reassign 1 2\r\n')).toBe(
      'VERSION 1.6.18-repcache-proxy-0.1.0\r\nOK\r\nMN\r\nERROR: shutdown not enabled\r\nSERVER_ERROR slabs is not supported by the proxy\r\n',
    );
    // a value above -I is refused and its data block skipped, as memcached does
    const big = 2 * 1024 * 1024;
    expect(await rig.ask(c, `set big 0 0 ${big}\r\n${'x'.repeat(big)}\r\nversion\r\n`)).toBe('SERVER_ERROR object too large for cache\r\nVERSION 1.6.18-repcache-proxy-0.1.0\r\n');
    // memcached unlinks the old value of a key whose set was too large: the proxy has it deleted
    expect(rig.server(A).log).toEqual(['delete big']);
  });

  it('quit closes after the replies before it', async () => {
    const rig = new Rig({ main: [A] });
    const c = rig.client();
    rig.server(A).hold = true;
    c.send('get a\r\nquit\r\nget b\r\n');
    await settle();
    expect(c.ended).toBe(false);
    rig.server(A).release();
    await settle();
    expect(c.take()).toBe('END\r\n');
    expect(c.ended).toBe(true);
    expect(rig.server(A).log).toEqual(['get a']);
  });

  it('stats: the proxy\'s own, per backend, and a backend\'s own through `stats backend`', async () => {
    const rig = new Rig({ main: [A, B], backup: [C] });
    const c = rig.client();
    await rig.ask(c, `${set('a', '1')}get a b\r\n`);
    const stats = await rig.ask(c, 'stats\r\n');
    expect(stats).toMatch(/^STAT pid \d+\r\nSTAT uptime 0\r\nSTAT time 1700000000\r\nSTAT version repcache-proxy-0.1.0\r\n/);
    expect(stats).toContain('STAT curr_connections 1\r\nSTAT total_connections 1\r\n');
    expect(stats).toContain('STAT cmd_get 2\r\nSTAT get_hits 1\r\nSTAT get_misses 1\r\nSTAT cmd_set 1\r\n');
    expect(stats).toContain('STAT backend_2_addr 10.0.0.3:11211\r\nSTAT backend_2_pool backup\r\nSTAT backend_2_state up\r\n');
    expect(stats.endsWith('END\r\n')).toBe(true);
    expect(await rig.ask(c, 'stats backend 10.0.0.2:11211\r\n')).toMatch(/^STAT pid 1\r\nSTAT curr_items \d\r\nEND\r\n$/);
    expect(await rig.ask(c, 'stats backend 2 items\r\n')).toMatch(/^STAT pid 1\r\n/);
    expect(rig.server(C).log.at(-1)).toBe('stats items');
    expect(await rig.ask(c, 'stats backend 9\r\n')).toMatch(/^CLIENT_ERROR no such backend/);
    expect(await rig.ask(c, 'stats backends\r\n')).toMatch(/^STAT backend_0_addr 10.0.0.1:11211\r\n/);
    expect(await rig.ask(c, 'stats settings\r\n')).toContain('STAT timeout_ms 1000\r\n');
    expect(await rig.ask(c, 'stats reset\r\n')).toBe('RESET\r\n');
    expect(rig.stat('cmd_get')).toBe('0');
    expect(await rig.ask(c, 'stats nonsense\r\n')).toBe('ERROR\r\n');
  });
});

describe('meta commands', () => {
  it('go to the key\'s server; quiet ones answer only what q does not hide, in order', async () => {
    const rig = new Rig({ main: [A, B] });
    const c = rig.client();
    expect(await rig.ask(c, 'ms mk 2\r\nhi\r\nmg mk v\r\nmg none v\r\n')).toBe('HD\r\nVA 2\r\nhi\r\nEN\r\n');
    expect(rig.server(rig.mainOf('mk')).items.has('mk')).toBe(true);
    expect(await rig.ask(c, 'mg none v q\r\nmg mk v q\r\nms q1 1 q\r\nx\r\nmd none q\r\nmn\r\n')).toBe('VA 2\r\nhi\r\nNF\r\nMN\r\n');
    // the backend got `mn` after each quiet command, so the proxy knows where its reply ends
    expect(rig.server(rig.mainOf('none')).log).toContain('mn');
    // a base64 key is placed by its bytes, as the same key in a classic command
    const b64 = Buffer.from('mk').toString('base64');
    expect(await rig.ask(c, `mg ${b64} b v\r\n`)).toBe('EN\r\n'); // the fake server does not decode it
    expect(rig.server(rig.mainOf('mk')).log.at(-1)).toBe(`mg ${b64} b v`);
    expect(await rig.ask(c, 'mg\r\nme\r\n')).toBe('ERROR\r\nCLIENT_ERROR bad command line format\r\n');
  });
});

describe('back-pressure', () => {
  it('a client that sends without reading is paused, and resumed once its replies are out', async () => {
    const rig = new Rig({ main: [A] });
    const c = rig.client();
    rig.server(A).hold = true;
    c.send('get x\r\n'.repeat(MAX_QUEUED + 10));
    await settle();
    expect(c.paused).toBe(true);
    rig.server(A).release();
    await settle(50);
    expect(c.paused).toBe(false);
    expect(c.take()).toBe('END\r\n'.repeat(MAX_QUEUED + 10));
  });
});
