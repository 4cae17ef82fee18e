/**
 * Warm restart cost, measured with real processes: bin/repcache -m MB -e FILE is filled with N items of SIZE
 * bytes (pipelined sets), stopped with SIGUSR1, and started again; prints the save and load times the daemon
 * logs, the file size, the time from SIGUSR1 to exit and from start to the port answering, and checks that every
 * item came back.
 *
 *   node scripts/measure-warm-restart.ts [--items 100000] [--size 1024] [--memory 1024]
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { mcRequest } from '../test/support/mc-client.ts';
import { startCache, parseStats } from '../test/integration/repcache-harness.ts';
import { stopAll } from '../test/support/daemon.ts';
import { McClient } from '../test/support/mc-client.ts';

const { values } = parseArgs({ options: { items: { type: 'string', default: '100000' }, size: { type: 'string', default: '1024' }, memory: { type: 'string', default: '1024' } } });
const items = Number(values.items);
const size = Number(values.size);
const memory = values.memory!;

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warm-measure-'));
fs.chmodSync(dir, 0o777);
const file = path.join(dir, 'memory');
const args = ['-m', memory, '-e', file, '-v'];

/** The `ms` field of the daemon's log line whose message matches. */
function loggedMs(output: string, message: RegExp): number {
  for (const line of output.split('\n')) {
    if (!message.test(line)) continue;
    const ms = /"ms":(\d+)/.exec(line);
    if (ms) return Number(ms[1]);
  }
  throw new Error(`no log line ${message}:\n${output}`);
}

try {
  const a = await startCache('repcache', args);
  const c = await McClient.connect(a.port);
  const value = 'v'.repeat(size);
  const BATCH = 500;
  for (let i = 0; i < items; i += BATCH) {
    let req = '';
    const n = Math.min(BATCH, items - i);
    for (let j = 0; j < n; j++) req += `set key:${i + j} ${j} 0 ${size} noreply\r\n${value}\r\n`;
    await c.request(`${req}mn\r\n`, 'MN\r\n', 30_000);
  }
  c.close();
  const before = parseStats(await mcRequest(a.port, 'stats\r\n', 'END\r\n'));
  const t0 = performance.now();
  a.daemon.proc.kill('SIGUSR1');
  await a.daemon.exited;
  const stopMs = performance.now() - t0;
  const saveMs = loggedMs(a.daemon.output(), /items saved/);
  const fileBytes = fs.statSync(file).size;

  const t1 = performance.now();
  const b = await startCache('repcache', args);
  const startMs = performance.now() - t1;
  const loadMs = loggedMs(b.daemon.output(), /items loaded/);
  const after = parseStats(await mcRequest(b.port, 'stats\r\n', 'END\r\n'));
  const probe = await mcRequest(b.port, `get key:0 key:${items - 1}\r\n`, 'END\r\n');
  await b.daemon.stop();
  const ok = after.get('curr_items') === before.get('curr_items') && after.get('bytes') === before.get('bytes') && probe.split('VALUE').length === 3;
  console.log(JSON.stringify({
    items, size, memoryMB: Number(memory),
    currItems: Number(before.get('curr_items')), bytes: Number(before.get('bytes')),
    saveMs, sigusr1ToExitMs: Math.round(stopMs), fileBytes, fileMiB: +(fileBytes / 1048576).toFixed(1),
    loadMs, startToListeningMs: Math.round(startMs), restoredCurrItems: Number(after.get('curr_items')), identical: ok,
  }, null, 2));
} finally {
  await stopAll();
  fs.rmSync(dir, { recursive: true, force: true });
}
