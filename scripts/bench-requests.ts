// Micro-benchmark of one request's work inside repcache (not a test): text parser -> dispatcher -> reply
// buffer, without sockets, on memcaslap's kind of traffic. Prints ns per request, the best of several rounds.
// Usage: node scripts/bench-requests.ts [keys=512] [keyLength=64] [setsPerTen=1] [rounds=7]
// (512 keys stay in the CPU cache, so the figure is the code's own cost; 16000 keys add memory misses.)
import { CacheClock } from '../src/clock.ts';
import { SlabStore } from '../src/cache/store.ts';
import { TextParser } from '../src/proto/text/parser.ts';
import { defaultServerConfig, storeOptionsFor } from '../src/server/config.ts';
import { Dispatcher } from '../src/server/dispatch.ts';
import type { DispatchHost } from '../src/server/host.ts';
import { WatchLog } from '../src/server/watch.ts';
import { OutBuffer } from '../src/net/out-buffer.ts';
import { PrefixStats, ServerCounters } from '../src/server/stats.ts';

const [keyCount, keyLength, setsPerTen, rounds] = [512, 64, 1, 7].map((d, i) => Number(process.argv[2 + i] ?? d));
const VALUE_LENGTH = 1024;
const REQUESTS_PER_ROUND = 500_000;

const clock = new CacheClock();
const store = new SlabStore(storeOptionsFor(defaultServerConfig, clock));
const host: DispatchHost = {
  store, config: defaultServerConfig, counters: new ServerCounters(), verbosity: 0, detail: null,
  prefixStats: new PrefixStats(defaultServerConfig.statKeyPrefix), setDetail() {}, generalStats: () => [],
  connStats: () => '', resetStats() {}, requestShutdown() {}, sasl: null, clientRefused() {}, refreshCerts: () => '',
  watch: new WatchLog(0), startWatch: () => 'NOT_A_CONNECTION' as const, settingsChanged: () => {},
};
const dispatcher = new Dispatcher(host);
const out = new OutBuffer();
const parser = new TextParser({ maxItemSize: defaultServerConfig.pageSize }, (cmd) => dispatcher.handle(cmd, out, null));

let seed = 12345;
const random = (n: number) => {
  seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
  return (seed >>> 8) % n;
};
const keys = Array.from({ length: keyCount }, () => String.fromCharCode(...Array.from({ length: keyLength }, () => 0x21 + random(90))));
const value = 'v'.repeat(VALUE_LENGTH);
const set = (k: string) => Buffer.from(`set ${k} 0 0 ${VALUE_LENGTH}\r\n${value}\r\n`, 'latin1');
const requests = Array.from({ length: 4096 }, (_, i) => (i % 10 < setsPerTen ? set(keys[random(keyCount)]) : Buffer.from(`get ${keys[random(keyCount)]}\r\n`, 'latin1')));

// As a connection does: each request lands at the start of a reused read buffer; the replies leave at once.
const readBuffer = Buffer.allocUnsafe(16 * 1024);
function request(i: number): void {
  const n = requests[i & 4095].copy(readBuffer, 0);
  parser.push(readBuffer, n);
  out.take();
  out.recycle();
}

for (const k of keys) {
  parser.push(set(k));
  out.take();
}
for (let i = 0; i < 300_000; i++) request(i);
const ns: number[] = [];
for (let r = 0; r < rounds; r++) {
  const start = process.hrtime.bigint();
  for (let i = 0; i < REQUESTS_PER_ROUND; i++) request(i);
  ns.push(Number(process.hrtime.bigint() - start) / REQUESTS_PER_ROUND);
}
ns.sort((a, b) => a - b);
console.log(`${keyCount} keys of ${keyLength} bytes, ${VALUE_LENGTH}-byte values, ${setsPerTen * 10}% sets: ` +
  `${ns[0].toFixed(0)} ns/request (best of ${rounds}; all: ${ns.map((x) => x.toFixed(0)).join(' ')})`);
