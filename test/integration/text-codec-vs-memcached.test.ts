/**
 * Differential check of the text-protocol parser against Debian's memcached 1.6.18: every byte
 * fixture is replayed to a real memcached, and the number and kind of replies it sends (and
 * whether it closes) must match what our parser decided for the same bytes.
 */
import { execFileSync } from 'node:child_process';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TextCommand } from '../../src/proto/text/commands.ts';
import { TextParser } from '../../src/proto/text/parser.ts';
import { startProcess, stopAll, waitForPort } from '../support/daemon.ts';
import { freePort } from '../support/ports.ts';
import { fixtures, randomPipeline, rng, type Fixture } from '../unit/proto/text-fixtures.ts';

const MAX_ITEM_SIZE = 1024 * 1024; // memcached's default -I
const CHUNK_GAP_MS = 200; // lets memcached read each chunk on its own
const IDLE_MS = 400; // no reply bytes for this long: memcached is done
const FIXTURE_TIMEOUT_MS = 5000;

function memcachedPath(): string | null {
  try {
    return execFileSync('sh', ['-c', 'command -v memcached'], { encoding: 'utf8' }).trim() || null;
  } catch {
    return null;
  }
}

const memcached = memcachedPath();
if (!memcached && process.env.CI === 'true') throw new Error('Debian memcached is required under CI=true (apt-get install memcached)');

interface Exchange { replies: Buffer; closed: boolean }

/** Sends a fixture's chunks on a fresh connection and collects everything memcached answers. */
function exchange(port: number, f: Fixture): Promise<Exchange> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, '127.0.0.1');
    const got: Buffer[] = [];
    let closed = false;
    let idle: NodeJS.Timeout | undefined;
    let sentAll = false;
    const finish = () => {
      clearTimeout(idle);
      clearTimeout(hard);
      sock.destroy();
      resolve({ replies: Buffer.concat(got), closed });
    };
    const armIdle = () => {
      clearTimeout(idle);
      if (sentAll) idle = setTimeout(finish, IDLE_MS);
    };
    const hard = setTimeout(() => reject(new Error(`${f.name}: no idle point within ${FIXTURE_TIMEOUT_MS} ms`)), FIXTURE_TIMEOUT_MS);
    sock.on('data', (d) => { got.push(d); armIdle(); });
    sock.on('end', () => { closed = true; finish(); });
    sock.on('close', () => { closed = true; finish(); });
    sock.on('error', () => { closed = true; finish(); });
    sock.once('connect', async () => {
      for (let i = 0; i < f.chunks.length; i++) {
        if (i > 0) await new Promise((r) => setTimeout(r, CHUNK_GAP_MS));
        if (sock.destroyed) return;
        sock.write(Buffer.from(f.chunks[i], 'latin1'));
      }
      sentAll = true;
      armIdle();
    });
  });
}

/** memcached's reply stream as units: a VALUE...END block, a STAT...END block, or one line. */
function replyUnits(b: Buffer): string[] {
  const units: string[] = [];
  let pos = 0;
  let block: 'VALUES' | 'STATS' | null = null;
  while (pos < b.length) {
    const eol = b.indexOf('\r\n', pos);
    if (eol === -1) {
      units.push(`<partial ${JSON.stringify(b.toString('latin1', pos))}>`);
      break;
    }
    const line = b.toString('latin1', pos, eol);
    pos = eol + 2;
    if (line.startsWith('VALUE ')) {
      pos += Number(line.split(' ')[3]) + 2;
      block = 'VALUES';
    } else if (line.startsWith('STAT ')) {
      block = 'STATS';
    } else if (line === 'END' && block) {
      units.push(block);
      block = null;
    } else {
      units.push(line);
    }
  }
  return units;
}

const STORE = /^(STORED|NOT_STORED|EXISTS|NOT_FOUND)$/;
const ANY = /^.+$/;

/** What memcached must answer for a command our parser emitted (null: nothing). */
function expectedReply(cmd: TextCommand): RegExp | string | null {
  const quiet = 'noreply' in cmd && cmd.noreply;
  switch (cmd.kind) {
    case 'error': return cmd.reply.length === 0 ? null : cmd.reply.toString('latin1').trimEnd();
    case 'store': return quiet ? null : STORE;
    case 'too_large': return quiet ? null : 'SERVER_ERROR object too large for cache';
    case 'get': return /^(VALUES|END)$/;
    case 'delete': return quiet ? null : /^(DELETED|NOT_FOUND)$/;
    case 'arith': return quiet ? null : /^(\d+|NOT_FOUND|CLIENT_ERROR cannot increment or decrement non-numeric value)$/;
    case 'touch': return quiet ? null : /^(TOUCHED|NOT_FOUND)$/;
    case 'flush_all': case 'verbosity': return quiet ? null : 'OK';
    case 'version': return /^VERSION /;
    case 'stats': return ANY;
    case 'shutdown': return 'ERROR: shutdown not enabled';
    case 'other': return cmd.tooLarge ? 'SERVER_ERROR object too large for cache' : ANY;
    case 'quit': case 'close': return null;
  }
}

function ourView(f: Fixture): { expected: (RegExp | string)[]; closes: boolean } {
  const cmds: TextCommand[] = [];
  const p = new TextParser({ maxItemSize: MAX_ITEM_SIZE }, (c) => cmds.push(c));
  for (const c of f.chunks) p.push(Buffer.from(c, 'latin1'));
  const expected = cmds.map(expectedReply).filter((e): e is RegExp | string => e !== null);
  return { expected, closes: cmds.some((c) => c.kind === 'quit' || c.kind === 'close') };
}

describe.skipIf(!memcached)('text codec vs Debian memcached 1.6.18', () => {
  let port = 0;

  beforeAll(async () => {
    port = await freePort();
    const args = ['-p', String(port), '-l', '127.0.0.1', '-U', '0', '-t', '2'];
    if (process.getuid?.() === 0) args.push('-u', 'nobody');
    const d = startProcess(memcached!, args);
    await waitForPort(port, '127.0.0.1', 10_000, d);
  });

  afterAll(stopAll);

  it('answers every fixture and 40 random pipelines with the replies and closes our parser predicts', async () => {
    const r = rng(0xc0dec);
    const random = Array.from({ length: 40 }, (_, i) => ({ ...randomPipeline(r, MAX_ITEM_SIZE, { tooLarge: false }), name: `random pipeline ${i}` }));
    const all = [...fixtures, ...random];
    const results = await Promise.all(all.map(async (f) => ({ f, ex: await exchange(port, f) })));
    const theirs = [];
    const predicted = [];
    for (const { f, ex } of results) {
      const ours = ourView(f);
      const units = replyUnits(ex.replies);
      // Matched units show as our pattern, so the diff points at the odd ones out.
      const shown = units.map((u, i) => {
        const e = ours.expected[i];
        return e !== undefined && (typeof e === 'string' ? e === u : e.test(u)) ? String(e) : u;
      });
      theirs.push({ fixture: f.name, replies: shown, closed: ex.closed });
      predicted.push({ fixture: f.name, replies: ours.expected.map(String), closed: ours.closes });
    }
    expect(theirs).toEqual(predicted);
  });
});
