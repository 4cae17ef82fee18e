import { connect } from 'node:net';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { SlabStore } from '../../../src/cache/store.ts';
import { CacheClock } from '../../../src/clock.ts';
import { CacheServer } from '../../../src/server/cache-server.ts';
import { defaultServerConfig, storeOptionsFor, type ServerConfig } from '../../../src/server/config.ts';
import { CONNS_WAIT_MS, ConnsGathering, formatConns, type ConnsAnswer } from '../../../src/server/conns-stats.ts';
import { WorkerCounterTable } from '../../../src/server/worker-counters.ts';
import { WorkerSignals } from '../../../src/server/worker-signals.ts';
import { SharedSettings } from '../../../src/server/shared-settings.ts';
import { SharedPrefixStats } from '../../../src/server/shared-prefix-stats.ts';
import { FakeClock } from '../../support/fake-clock.ts';

const own: ConnsAnswer = { udp: ['udp:127.0.0.1:11211'], conns: [[3, 'tcp:127.0.0.1:5001', 'tcp:127.0.0.1:11211', 'conn_read', 2]] };
const other: ConnsAnswer = { udp: [], conns: [[2, 'tcp:127.0.0.1:5000', 'tcp:127.0.0.1:11211', 'conn_new_cmd', 0]] };
const base = { now: 10, listenedAt: 4, listeners: ['tcp:127.0.0.1:11211'], own, others: [other] };

describe('stats conns: the lines', () => {
  it('lists the listeners, the UDP sockets, then every worker\'s connections by id; the asking one as conn_parse_cmd', () => {
    expect(formatConns({ ...base, self: { conn: 3 } })).toBe([
      'STAT 1:addr tcp:127.0.0.1:11211', 'STAT 1:state conn_listening', 'STAT 1:secs_since_last_cmd 6',
      'STAT 2:UDP UDP', 'STAT 2:addr udp:127.0.0.1:11211', 'STAT 2:state conn_read', 'STAT 2:secs_since_last_cmd 6',
      'STAT 4:addr tcp:127.0.0.1:5000', 'STAT 4:listen_addr tcp:127.0.0.1:11211', 'STAT 4:state conn_new_cmd', 'STAT 4:secs_since_last_cmd 0',
      'STAT 5:addr tcp:127.0.0.1:5001', 'STAT 5:listen_addr tcp:127.0.0.1:11211', 'STAT 5:state conn_parse_cmd', 'STAT 5:secs_since_last_cmd 2',
      '',
    ].join('\r\n'));
  });

  it('a UDP request: its socket is listed as memcached lists a UDP conn serving one (the client, listen_addr, conn_parse_cmd)', () => {
    const lines = formatConns({ ...base, self: { udp: 0, client: 'udp:127.0.0.1:40000' } });
    expect(lines).toContain('STAT 2:UDP UDP\r\nSTAT 2:addr udp:127.0.0.1:40000\r\nSTAT 2:listen_addr udp:127.0.0.1:11211\r\nSTAT 2:state conn_parse_cmd\r\nSTAT 2:secs_since_last_cmd 0\r\n');
    expect(lines).toContain('STAT 5:state conn_read\r\n');
    expect(lines).not.toContain('conn_parse_cmd\r\nSTAT 5');
  });
});

describe('stats conns: gathering the other workers\' answers (on the server\'s clock)', () => {
  it('resolves at once when every other worker answered, its timer cancelled; a late answer is dropped', async () => {
    const clock = new FakeClock();
    const g = new ConnsGathering(clock);
    const asked: number[] = [];
    const reply = g.gather((id) => asked.push(id), 2, (answers) => `${answers.length}`);
    expect(asked).toHaveLength(1);
    expect(clock.pending).toBe(1);
    g.answered(asked[0], other);
    g.answered(asked[0], other);
    expect(clock.pending).toBe(0);
    expect(await reply).toBe('2');
    g.answered(asked[0], other); // too late: nothing waits for it
  });

  it('a worker that never answers: after CONNS_WAIT_MS, and not before, the reply has what came', async () => {
    const clock = new FakeClock();
    const g = new ConnsGathering(clock);
    let id = 0;
    let settled: string | null = null;
    void g.gather((i) => (id = i), 3, (answers) => `${answers.length}`).then((r) => (settled = r));
    g.answered(id, other);
    clock.advance(CONNS_WAIT_MS - 1);
    await Promise.resolve();
    expect(settled).toBeNull();
    clock.advance(1);
    await Promise.resolve();
    expect(settled).toBe('1');
    expect(clock.pending).toBe(0);
  });
});

describe('stats conns with a worker that never answers: the connection closes meanwhile', () => {
  const servers: CacheServer[] = [];
  afterEach(async () => {
    for (const s of servers.splice(0)) await s.close();
  });

  it('the reply known later is neither written to it nor counted in bytes_written', async () => {
    const clock = new FakeClock();
    const cacheClock = new CacheClock(clock);
    const config: ServerConfig = { ...defaultServerConfig, listen: ['127.0.0.1'], threads: 2, extended: {}, port: -1, udpPort: 0 };
    const store = new SlabStore(storeOptionsFor(config, cacheClock));
    const base = { threads: 2, store: store.buffers, lock: new SharedArrayBuffer(4), counters: WorkerCounterTable.allocate(2), signals: WorkerSignals.allocate(2), settings: SharedSettings.allocate(), prefixes: SharedPrefixStats.allocate() };
    for (const worker of [0, 1]) servers.push(new CacheServer(config, { logger: pino({ level: 'silent' }), clock: cacheClock, shared: { ...base, worker } }));
    const asker = servers[0];
    let asked = false;
    asker.setWorkerLink({ askConns: () => (asked = true), sendWatch: () => {} }); // the other worker never answers
    for (const s of servers) await s.listen();
    const port = Number(asker.addresses()[0].split(':').pop());
    const bytesWritten = () => asker.generalStats().find(([name]) => name === 'bytes_written')?.[1];

    const c = connect({ port, host: '127.0.0.1' });
    let received = '';
    c.on('data', (d: Buffer) => (received += d.toString('latin1')));
    const closed = new Promise((r) => c.once('close', r));
    c.on('error', () => {});
    c.write('stats conns\r\n');
    await until(() => asked); // the server waits for the other worker
    const before = bytesWritten();
    for (const s of servers) await s.close(); // (a server that stops closes its connections, and its own timer)
    expect(clock.pending).toBe(1);
    clock.advance(CONNS_WAIT_MS);
    await closed;
    await new Promise((r) => setImmediate(r));
    expect(clock.pending).toBe(0);
    expect(received).toBe('');
    expect(bytesWritten()).toBe(before);
  });
});

async function until(ok: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
}
