/**
 * A stand-in cache for haved's cache_daemon in e2e tests: answers `version` and `stats`, and reports
 * `replication_state syncing` for SYNC_MS after it starts (then `streaming`), so a test controls how long
 * a restarted cache stays cold. PORT (default 11211), HOST (default 0.0.0.0).
 */
import { createServer } from 'node:net';

process.title = 'e5fakecache';
const port = Number(process.env.PORT ?? 11211);
const host = process.env.HOST ?? '0.0.0.0';
const syncMs = Number(process.env.SYNC_MS ?? 0);
const started = Date.now();

createServer((s) => {
  let buf = '';
  s.on('error', () => {});
  s.on('data', (d) => {
    buf += d.toString('latin1');
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      const line = buf.slice(0, i).trim();
      buf = buf.slice(i + 1);
      if (line === 'stats') {
        const state = Date.now() - started < syncMs ? 'syncing' : 'streaming';
        s.write(`STAT pid ${process.pid}\r\nSTAT replication_state ${state}\r\nEND\r\n`);
      } else if (line === 'version') s.write('VERSION 1.6.18-e5fake\r\n');
      else if (line === 'quit') s.end();
      else s.write('ERROR\r\n');
    }
  });
}).listen(port, host, () => console.log(`fake cache on ${host} ${port}, syncing for ${syncMs} ms`));
