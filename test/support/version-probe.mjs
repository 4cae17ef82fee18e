// A probe in a process of its own, so that what it measures is the server's delay, not the test process's:
// sends `version` (or, in mode "setget", a set and a get of a small value), waits for the answer, pauses,
// again. On "stop" (a line on stdin) it prints {"worstMs", "answers", "failures"} as one JSON line and exits.
// Arguments: port, pause in ms, mode ("version" or "setget").
import { connect } from 'node:net';
import { createInterface } from 'node:readline';

const port = Number(process.argv[2]);
const pauseMs = Number(process.argv[3] ?? 20);
const setget = process.argv[4] === 'setget';
const request = setget ? 'set probe 0 0 5\r\nvalue\r\nget probe\r\n' : 'version\r\n';
const answered = (buf) => (setget ? buf.endsWith('END\r\n') : buf.endsWith('\r\n'));
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
    if (!answered(buf)) return;
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
  socket.write(request);
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
