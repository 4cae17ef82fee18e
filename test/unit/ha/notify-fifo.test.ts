/**
 * notify_fifo: keepalived's line format and the bounded, non-blocking queue on fake time; then the real FIFO
 * (created, refused, reused) with reader processes, and whole daemons writing their transitions to it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chownSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync, writeFileSync, chmodSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfigText } from '../../../src/config/load.ts';
import type { NotifyFifo } from '../../../src/config/model.ts';
import { FifoQueue, fifoLine } from '../../../src/ha/core/fifo-queue.ts';
import { NotifyFifoChannel, NotifyFifoError } from '../../../src/ha/adapters/notify-fifo.ts';
import { execaNotifySpawner } from '../../../src/ha/adapters/notify-spawner.ts';
import { VipManager } from '../../../src/ha/adapters/vip-manager.ts';
import { HaDaemon } from '../../../src/ha/daemon/daemon.ts';
import { AdvertNet, FakeIp } from '../../support/advert-net.ts';
import { FakeClock } from '../../support/fake-clock.ts';
import { settleTurns, waitFor, whileTimeRuns } from '../../support/wait.ts';

const cleanup: Array<() => void | Promise<void>> = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'haved-fifo-'));
  cleanup.push(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

/** `cat FIFO > OUT`: a reader process, killed at the end of the test. */
/** A `cat FIFO > OUT` reader, returned once it holds the FIFO open (lines written before that could be lost with the FIFO). */
async function reader(fifo: string, out: string): Promise<ChildProcess> {
  const p = spawn('/bin/sh', ['-c', 'exec cat "$0" > "$1"', fifo, out], { stdio: 'ignore' });
  cleanup.push(() => void p.kill('SIGKILL'));
  const holdsFifo = () => {
    try {
      return readdirSync(`/proc/${p.pid}/fd`).some((fd) => readlinkSafe(`/proc/${p.pid}/fd/${fd}`) === fifo);
    } catch {
      return false;
    }
  };
  await waitFor(`a reader holding ${fifo} open`, holdsFifo, 5000);
  return p;
}

function readlinkSafe(path: string): string | null {
  try {
    return readlinkSync(path);
  } catch {
    return null;
  }
}

const silent = pino({ level: 'silent' });
const fifoConfig = (path: string, extra: Partial<NotifyFifo> = {}): NotifyFifo => ({
  keyword: 'notify_fifo', path, user: null, group: null, script: null, where: 'haved.conf:2', ...extra,
});

describe('fifo lines (keepalived format)', () => {
  it('INSTANCE with its priority, GROUP always 0', () => {
    expect(fifoLine('INSTANCE', 'VI_1', 'MASTER', 100)).toBe('INSTANCE "VI_1" MASTER 100\n');
    expect(fifoLine('INSTANCE', 'VI_1', 'MASTER_RX_LOWER_PRI', 150)).toBe('INSTANCE "VI_1" MASTER_RX_LOWER_PRI 150\n');
    expect(fifoLine('GROUP', 'G1', 'BACKUP', 150)).toBe('GROUP "G1" BACKUP 0\n');
  });
});

describe('FifoQueue', () => {
  it('writes in order; a full pipe holds the lines, retried on the clock; the oldest are dropped past the bound', () => {
    const clock = new FakeClock();
    const pipe: string[] = [];
    let room = 2;
    const drops: number[] = [];
    const q = new FifoQueue({
      clock,
      maxQueued: 3,
      retryMs: 100,
      sink: (l) => (room > 0 ? (room--, pipe.push(l), 'ok') : 'again'),
      onDrop: (n) => drops.push(n),
    });
    for (const l of ['a', 'b', 'c', 'd', 'e', 'f']) q.write(l);
    expect(pipe).toEqual(['a', 'b']);
    expect(q.queued).toBe(3);
    expect(drops).toEqual([1]); // c dropped when f came
    expect(q.counts).toEqual({ written: 2, dropped: 1 });
    clock.advance(99);
    room = 10;
    expect(pipe).toEqual(['a', 'b']);
    clock.advance(1);
    expect(pipe).toEqual(['a', 'b', 'd', 'e', 'f']);
    q.write('g');
    expect(pipe.at(-1)).toBe('g');
    room = 0;
    q.write('h');
    expect(q.close()).toEqual(['h']);
    clock.advance(1000);
    q.write('i');
    expect(pipe.at(-1)).toBe('g');
  });
});

describe('the FIFO', () => {
  it('created 0600 if absent, lines reach a reader in order, unlinked on close', async () => {
    const dir = tempDir();
    const path = join(dir, 'notify.fifo');
    const ch = await NotifyFifoChannel.open(fifoConfig(path), { clock: new FakeClock(), log: silent, spawn: async () => ({ code: 0 }) });
    cleanup.push(() => ch.close());
    const st = statSync(path);
    expect(st.isFIFO()).toBe(true);
    expect(st.mode & 0o777).toBe(0o600);
    ch.write('INSTANCE "VI_1" BACKUP 100\n'); // before any reader: waits in the pipe
    const out = join(dir, 'out');
    await reader(path, out);
    ch.write('INSTANCE "VI_1" MASTER 100\n');
    await waitFor('two lines', () => existsSync(out) && readFileSync(out, 'utf8').split('\n').length > 2, 5000);
    expect(readFileSync(out, 'utf8')).toBe('INSTANCE "VI_1" BACKUP 100\nINSTANCE "VI_1" MASTER 100\n');
    ch.close();
    expect(existsSync(path)).toBe(false);
  }, 20_000);

  it('nobody reads: writes never block; past the pipe and the queue the oldest are dropped; a late reader gets the pipe', async () => {
    const dir = tempDir();
    const path = join(dir, 'notify.fifo');
    const clock = new FakeClock();
    const ch = await NotifyFifoChannel.open(fifoConfig(path), { clock, log: silent, spawn: async () => ({ code: 0 }) });
    cleanup.push(() => ch.close());
    const t0 = performance.now();
    for (let i = 0; i < 10_000; i++) ch.write(fifoLine('INSTANCE', 'VI_1', i % 2 ? 'MASTER' : 'BACKUP', i % 256));
    expect(performance.now() - t0).toBeLessThan(5000); // no write waited for a reader
    const c = ch.counts;
    expect(c.queued).toBe(1024);
    expect(c.written + c.queued + c.dropped).toBe(10_000);
    expect(c.written).toBeGreaterThan(1000); // the pipe's 64 KiB
    const out = join(dir, 'out');
    await reader(path, out);
    await waitFor('the pipe drained', () => existsSync(out) && readFileSync(out).length >= c.written * 25, 5000);
    for (let i = 0; i < 50 && ch.counts.queued > 0; i++) {
      clock.advance(100);
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(ch.counts.queued).toBe(0);
    await waitFor('every kept line', () => readFileSync(out, 'utf8').split('\n').length - 1 === c.written + 1024, 5000);
    const lines = readFileSync(out, 'utf8').trimEnd().split('\n');
    expect(lines[0]).toBe('INSTANCE "VI_1" BACKUP 0');
    expect(lines.at(-1)).toBe('INSTANCE "VI_1" MASTER 15'); // 9999 % 256, the newest: kept
  }, 20_000);

  it('refuses a path that is not a FIFO, or a FIFO of another user; reuses our own FIFO and leaves it in place', async () => {
    const dir = tempDir();
    const file = join(dir, 'plain');
    writeFileSync(file, 'data');
    const deps = { clock: new FakeClock(), log: silent, spawn: async () => ({ code: 0 }) };
    await expect(NotifyFifoChannel.open(fifoConfig(file), deps)).rejects.toThrow(
      new NotifyFifoError(`haved.conf:2: notify_fifo ${file} exists and is not a FIFO (it is a regular file): refusing to write to it`),
    );
    expect(readFileSync(file, 'utf8')).toBe('data');
    await expect(NotifyFifoChannel.open(fifoConfig(dir), deps)).rejects.toThrow(/exists and is not a FIFO \(it is a directory\)/);
    const mine = join(dir, 'mine.fifo');
    const first = await NotifyFifoChannel.open(fifoConfig(mine), deps);
    // a second channel on the FIFO the first created: reused as is
    const again = await NotifyFifoChannel.open(fifoConfig(mine), deps);
    again.close();
    expect(statSync(mine).isFIFO()).toBe(true);
    first.close();
    expect(existsSync(mine)).toBe(false);
    if (process.getuid?.() === 0) {
      // as root: a FIFO planted by another user is not ours to write to
      const planted = join(dir, 'planted.fifo');
      const ch = await NotifyFifoChannel.open(fifoConfig(planted), deps);
      chownSync(planted, 65534, 65534);
      await expect(NotifyFifoChannel.open(fifoConfig(planted), deps)).rejects.toThrow(
        `haved.conf:2: notify_fifo ${planted} is a FIFO owned by uid 65534, not by haved or the configured user: refusing it`,
      );
      ch.close();
      // created for a user: owned by that user (and group), as keepalived's chown
      const given = join(dir, 'given.fifo');
      const g = await NotifyFifoChannel.open(fifoConfig(given, { user: '65534', group: '65534' }), deps);
      expect([statSync(given).uid, statSync(given).gid]).toEqual([65534, 65534]);
      g.close();
    }
  }, 20_000);

  it('notify_fifo_script runs with the FIFO path as its last argument and reads the lines; stopped on close', async () => {
    const dir = tempDir();
    const path = join(dir, 'notify.fifo');
    const out = join(dir, 'out');
    const script = join(dir, 'reader.sh');
    writeFileSync(script, `#!/bin/sh\necho "args: $*" > ${out}\nexec cat "$2" >> ${out}\n`);
    chmodSync(script, 0o755);
    const ch = await NotifyFifoChannel.open(fifoConfig(path, { script: { argv: [script, '-v'], user: null, where: 'haved.conf:3' } }), {
      clock: new FakeClock(), log: silent, spawn: execaNotifySpawner,
    });
    cleanup.push(() => ch.close());
    ch.write('GROUP "G1" MASTER 0\n');
    await waitFor('the script read the line', () => existsSync(out) && readFileSync(out, 'utf8').includes('GROUP'), 5000);
    expect(readFileSync(out, 'utf8')).toBe(`args: -v ${path}\nGROUP "G1" MASTER 0\n`);
  }, 20_000);
});

describe('haved writes its transitions to the FIFO', () => {
  it('BACKUP, MASTER, then STOP on shutdown, for the instance and its sync group', async () => {
    const dir = tempDir();
    const path = join(dir, 'notify.fifo');
    const out = join(dir, 'out');
    const KEY = 'fifo-test-key-0123456789abcdef';
    const inst = (name: string, vrid: number) => `vrrp_instance ${name} {\n interface hv0\n virtual_router_id ${vrid}\n priority 150\n advert_int 0.1\n authentication {\n  auth_type HMAC\n  auth_pass ${KEY}\n }\n virtual_ipaddress {\n  198.18.0.${vrid}/32\n }\n garp_master_delay 0\n}\n`;
    const text = `global_defs {\n notify_fifo ${path}\n}\n${inst('VI_1', 51)}${inst('VI_2', 52)}vrrp_sync_group G1 {\n group {\n  VI_1\n  VI_2\n }\n}\n`;
    const clock = new FakeClock();
    const net = new AdvertNet(clock);
    const ip = new FakeIp();
    const d = new HaDaemon({
      log: silent, stateFile: null, configFile: 'a.conf', clock,
      vips: new VipManager({ run: ip.run, findArping: () => '/usr/sbin/arping' }),
      spawn: async () => ({ code: 0 }),
      transport: net.transport('198.18.0.1'),
      interfaceAddress: () => '198.18.0.1',
      interfaceUp: async () => null,
    });
    await d.start(parseConfigText(text, 'a.conf', { localAddresses: ['198.18.0.1'] }));
    await reader(path, out);
    for (let t = 0; t < 1000; t += 10) {
      clock.advance(10);
      await settleTurns(10);
    }
    await whileTimeRuns(d.stop('SIGTERM'), async () => {
      clock.advance(10);
      await settleTurns(10);
    });
    await waitFor('the STOP lines', () => existsSync(out) && readFileSync(out, 'utf8').split('\n').filter((l) => l.includes('STOP')).length >= 2, 5000);
    const lines = readFileSync(out, 'utf8').trimEnd().split('\n');
    const of = (who: string) => lines.filter((l) => l.includes(`"${who}"`));
    expect(of('VI_1')).toEqual(['INSTANCE "VI_1" BACKUP 150', 'INSTANCE "VI_1" MASTER 150', 'INSTANCE "VI_1" STOP 150']);
    expect(of('VI_2')).toEqual(['INSTANCE "VI_2" BACKUP 150', 'INSTANCE "VI_2" MASTER 150', 'INSTANCE "VI_2" STOP 150']);
    expect(of('G1')[0]).toBe('GROUP "G1" BACKUP 0');
    expect(of('G1')).toContain('GROUP "G1" MASTER 0');
    expect(existsSync(path)).toBe(false);
  }, 20_000);

  it('a reload that moves the FIFO closes (and removes) the old one and writes the next lines to the new one', async () => {
    const dir = tempDir();
    const oldPath = join(dir, 'old.fifo');
    const newPath = join(dir, 'new.fifo');
    const KEY = 'fifo-test-key-0123456789abcdef';
    const text = (fifo: string, priority: number) =>
      `global_defs {\n notify_fifo ${fifo}\n}\nvrrp_instance VI_1 {\n interface hv0\n virtual_router_id 51\n priority ${priority}\n advert_int 0.1\n authentication {\n  auth_type HMAC\n  auth_pass ${KEY}\n }\n virtual_ipaddress {\n  198.18.0.100/32\n }\n}\n`;
    const parse = (t: string) => parseConfigText(t, 'a.conf', { localAddresses: ['198.18.0.1'] });
    const clock = new FakeClock();
    const net = new AdvertNet(clock);
    const ip = new FakeIp();
    const d = new HaDaemon({
      log: silent, stateFile: null, configFile: 'a.conf', clock,
      vips: new VipManager({ run: ip.run, findArping: () => '/usr/sbin/arping' }),
      spawn: async () => ({ code: 0 }),
      transport: net.transport('198.18.0.1'),
      interfaceAddress: () => '198.18.0.1',
      interfaceUp: async () => null,
    });
    const run = async (ms: number) => {
      for (let t = 0; t < ms; t += 10) {
        clock.advance(10);
        await settleTurns(10);
      }
    };
    await d.start(parse(text(oldPath, 150)));
    const stop = () => whileTimeRuns(d.stop('SIGTERM'), () => run(10));
    cleanup.push(stop);
    await run(1000);
    const oldOut = join(dir, 'old.out');
    await reader(oldPath, oldOut);
    await waitFor('the old lines', () => existsSync(oldOut) && readFileSync(oldOut, 'utf8').includes('MASTER'), 5000);
    const p = d.reload(parse(text(newPath, 150)));
    await p;
    expect(existsSync(oldPath)).toBe(false);
    expect(statSync(newPath).isFIFO()).toBe(true);
    const newOut = join(dir, 'new.out');
    await reader(newPath, newOut);
    await d.reload(parse(text(newPath, 140))); // priority change: updated in place, no transition, no line
    await stop();
    await waitFor('the STOP line on the new FIFO', () => existsSync(newOut) && readFileSync(newOut, 'utf8').includes('STOP'), 5000);
    expect(readFileSync(oldOut, 'utf8')).toBe('INSTANCE "VI_1" BACKUP 150\nINSTANCE "VI_1" MASTER 150\n');
    expect(readFileSync(newOut, 'utf8')).toBe('INSTANCE "VI_1" STOP 140\n');
  }, 20_000);
});
