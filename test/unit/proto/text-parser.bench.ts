/**
 * Throughput of the text parser alone (no sockets): `node test/unit/proto/text-parser.bench.ts`.
 * Streams are pre-built and fed in 16 KiB reads, as a socket would deliver them.
 */
import { TextParser } from '../../../src/proto/text/parser.ts';

function reads(stream: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < stream.length; i += size) out.push(stream.subarray(i, i + size));
  return out;
}

function run(name: string, request: (i: number) => string | Buffer, count: number, readSize = 16 * 1024): void {
  const parts = Array.from({ length: count }, (_, i) => request(i));
  const stream = Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : p)));
  const chunks = reads(stream, readSize);
  let seen = 0;
  const p = new TextParser({ maxItemSize: 1024 * 1024 }, () => { seen++; });
  for (const c of chunks.slice(0, Math.ceil(chunks.length / 10))) p.push(c); // warm-up
  let best = Infinity;
  for (let round = 0; round < 5; round++) {
    seen = 0;
    const parser = new TextParser({ maxItemSize: 1024 * 1024 }, () => { seen++; });
    const t0 = process.hrtime.bigint();
    for (const c of chunks) parser.push(c);
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e9);
    if (seen !== count) throw new Error(`${name}: ${seen} commands, expected ${count}`);
  }
  const mb = stream.length / 1024 / 1024;
  console.log(`${name.padEnd(34)} ${(count / best / 1e6).toFixed(2).padStart(6)} M cmd/s  ${(mb / best).toFixed(0).padStart(6)} MiB/s`);
}

const key = (i: number) => `key:${String(i % 100000).padStart(8, '0')}`;
const value100 = 'v'.repeat(100);
const value1m = Buffer.alloc(1024 * 1024, 0x76);

run('get <key>', (i) => `get ${key(i)}\r\n`, 1_000_000);
run('get <50 keys>', (i) => `get ${Array.from({ length: 50 }, (_, k) => key(i * 50 + k)).join(' ')}\r\n`, 50_000);
run('set <key> 0 0 100', (i) => `set ${key(i)} 0 0 100\r\n${value100}\r\n`, 500_000);
run('incr <key> 1 noreply', (i) => `incr ${key(i)} 1 noreply\r\n`, 1_000_000);
run('set 1 MiB values, 64 KiB reads', (i) => Buffer.concat([Buffer.from(`set big${i} 0 0 ${value1m.length}\r\n`), value1m, Buffer.from('\r\n')]), 200, 64 * 1024);
