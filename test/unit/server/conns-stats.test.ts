import { describe, expect, it } from 'vitest';
import { CONNS_WAIT_MS, ConnsGathering, formatConns, type ConnsAnswer } from '../../../src/server/conns-stats.ts';
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
