// A `version` probe in a process of its own, so that what it measures is the server's delay, not the test
// process's: sends `version`, waits for the answer, pauses, again. On "stop" (a line on stdin) it prints
// {"worstMs", "answers", "failures"} as one JSON line and exits. Arguments: port, pause in ms.
import { connect } from 'node:net';
import { createInterface } from 'node:readline';

const port = Number(process.argv[2]);
const pauseMs = Number(process.argv[3] ?? 20);
let worst = 0;
let sentAt = 0;
let answers = 0;
let failures = 0;
let stopped = false;
let socket = null;

function open() {
  let buf = '';
  const s = connect({ port, host: '127.0.0.1' });
  socket = s;
  s.setNoDelay(true);
  s.on('connect', send);
  s.on('data', (d) => {
    buf += d.toString('latin1');
    if (!buf.endsWith('\r\n')) return;
    buf = '';
    answers++;
    worst = Math.max(worst, performance.now() - sentAt);
    sentAt = 0;
    setTimeout(send, pauseMs);
  });
  s.on('error', () => {});
  s.on('close', () => {
    if (stopped) return;
    failures++;
    setTimeout(open, pauseMs);
  });
}

function send() {
  if (stopped) return;
  sentAt = performance.now();
  socket.write('version\r\n');
}

open();
process.stdout.write('ready\n');
createInterface({ input: process.stdin }).once('line', () => {
  stopped = true;
  const waiting = sentAt > 0 ? performance.now() - sentAt : 0;
  process.stdout.write(`${JSON.stringify({ worstMs: Math.max(worst, waiting), answers, failures })}\n`);
  socket?.destroy();
  process.exit(0);
});
