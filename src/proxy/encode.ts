/**
 * Requests as the proxy writes them to a backend, rebuilt from the parsed command: a well-formed request gets
 * exactly one reply, which is what keeps a shared, pipelined connection in step. `noreply` is never sent: the
 * proxy reads the reply and drops it itself.
 */
import type { ArithCommand, DeleteCommand, GetOp, OtherCommand, StoreCommand, TouchCommand } from '../proto/text/commands.ts';
import type { OutBuffer } from '../net/out-buffer.ts';

const SP = 0x20;
const MN = Buffer.from('mn\r\n', 'latin1');

/** `get|gets <key>\r\n` or `gat|gats <exptime> <key>\r\n` with the key b[start, end). */
export function encodeGetOne(out: OutBuffer, op: GetOp, exptime: number, b: Uint8Array, start: number, end: number): void {
  getHead(out, op, exptime);
  out.byte(SP);
  out.slice(b, start, end);
  out.crlf();
}

/** A get of keys[i] for each i of `which` (all keys when null). */
export function encodeGet(out: OutBuffer, op: GetOp, exptime: number, keys: readonly Uint8Array[], which: readonly number[] | null): void {
  getHead(out, op, exptime);
  if (which === null) {
    for (const k of keys) {
      out.byte(SP);
      out.bytes(k);
    }
  } else {
    for (const i of which) {
      out.byte(SP);
      out.bytes(keys[i]!);
    }
  }
  out.crlf();
}

function getHead(out: OutBuffer, op: GetOp, exptime: number): void {
  out.latin1(op);
  if (op === 'gat' || op === 'gats') {
    out.byte(SP);
    int(out, exptime);
  }
}

export function encodeStore(out: OutBuffer, c: StoreCommand): void {
  out.latin1(c.op);
  out.byte(SP);
  out.bytes(c.key);
  out.byte(SP);
  out.uint(c.flags);
  out.byte(SP);
  int(out, c.exptime);
  out.byte(SP);
  out.uint(c.data.length);
  if (c.op === 'cas') {
    out.byte(SP);
    out.bigint(c.cas);
  }
  out.crlf();
  out.bytes(c.data);
  out.crlf();
}

export function encodeDelete(out: OutBuffer, c: DeleteCommand): void {
  out.latin1('delete ');
  out.bytes(c.key);
  out.crlf();
}

export function encodeArith(out: OutBuffer, c: ArithCommand): void {
  out.latin1(c.op);
  out.byte(SP);
  out.bytes(c.key);
  out.byte(SP);
  out.bigint(c.delta);
  out.crlf();
}

export function encodeTouch(out: OutBuffer, c: TouchCommand): void {
  out.latin1('touch ');
  out.bytes(c.key);
  out.byte(SP);
  int(out, c.exptime);
  out.crlf();
}

export function encodeFlush(out: OutBuffer, delay: number): void {
  out.latin1('flush_all');
  if (delay > 0) {
    out.byte(SP);
    out.uint(delay);
  }
  out.crlf();
}

/** `stats [args]`. */
export function encodeStats(out: OutBuffer, args: readonly string[]): void {
  out.latin1('stats');
  for (const a of args) {
    out.byte(SP);
    out.latin1(a);
  }
  out.crlf();
}

/** A meta command as the client sent it, its data block (ms), and `mn` after a quiet one. */
export function encodeMeta(out: OutBuffer, c: OtherCommand, quiet: boolean): void {
  out.bytes(c.line);
  out.crlf();
  if (c.data !== undefined) {
    out.bytes(c.data);
    out.crlf();
  }
  if (quiet) out.bytes(MN);
}

function int(out: OutBuffer, n: number): void {
  if (n < 0) {
    out.byte(0x2d);
    out.uint(-n);
  } else out.uint(n);
}
