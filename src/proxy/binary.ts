/**
 * Clients that speak memcached's binary protocol: requests are checked as memcached checks them (a malformed
 * one is answered here and the client closed, so a backend connection never gets one), then forwarded as
 * binary on binary connections to the key's server. A quiet request is followed by a NOOP on the backend, so
 * the proxy knows where its (maybe empty) answer ends; replies go back in request order like the text ones.
 */
import {
  HEADER_LENGTH, MAX_KEY_LENGTH, Op, QUIET_OF, Status, STATUS_TEXT, writeResponse, type BinaryParser, type BinaryRequest,
} from '../proto/binary/codec.ts';
import type { OutBuffer } from '../net/out-buffer.ts';
import { Shape } from './call.ts';
import { Broadcast } from './requests.ts';
import type { BinaryRequestId, Router } from './router.ts';
import { Pending, type Session } from './session.ts';
import { VERSION_STRING } from './version.ts';

/** memcached's "temporary failure": the reply to a request no backend could answer, with the reason as its value. */
export const ETMPFAIL = 0x86;

/** A response packet as a Buffer. */
function packet(opcode: number, status: number, opaque: number, key: Uint8Array | null, value: Uint8Array | null): Buffer {
  const sink = new PacketSink(HEADER_LENGTH + (key?.length ?? 0) + (value?.length ?? 0));
  writeResponse(sink, opcode, status, opaque, 0n, null, key, value);
  return sink.buf;
}

class PacketSink {
  readonly buf: Buffer;
  offset = 0;
  constructor(n: number) {
    this.buf = Buffer.allocUnsafe(n);
  }
  reserve(): Buffer {
    return this.buf;
  }
  advance(n: number): void {
    this.offset += n;
  }
}

/** The error response the session sends when no backend answered. */
export function binaryFailure(id: BinaryRequestId): (reason: string) => Uint8Array {
  return (reason) => packet(id.opcode, ETMPFAIL, id.opaque, null, Buffer.from(reason, 'latin1'));
}

const errorPacket = (req: BinaryRequest, status: number) => packet(req.opcode, status, req.opaque, null, Buffer.from(STATUS_TEXT[status] ?? '', 'latin1'));
const NOOP_REQUEST = (() => {
  const b = Buffer.alloc(HEADER_LENGTH);
  b[0] = 0x80;
  b[1] = Op.NOOP;
  return b;
})();

/** The request as the client sent it (its opaque included: the backend echoes it), and a NOOP after a quiet one. */
function encodeRequest(out: OutBuffer, req: BinaryRequest, opcode: number, quiet: boolean): void {
  const e = req.extras.length;
  const k = req.key.length;
  const v = req.value?.length ?? 0;
  const buf = out.reserve(HEADER_LENGTH);
  const at = out.offset;
  buf[at] = 0x80;
  buf[at + 1] = opcode;
  buf.writeUInt16BE(k, at + 2);
  buf[at + 4] = e;
  buf[at + 5] = 0;
  buf.writeUInt16BE(0, at + 6);
  buf.writeUInt32BE(e + k + v, at + 8);
  buf.writeUInt32BE(req.opaque >>> 0, at + 12);
  buf.writeBigUInt64BE(req.cas, at + 16);
  out.advance(HEADER_LENGTH);
  if (e > 0) out.bytes(req.extras);
  out.bytes(req.key);
  if (req.value !== null && v > 0) out.bytes(req.value);
  if (quiet) out.bytes(NOOP_REQUEST);
}

/** A reply the proxy gives itself, in its place in the order; `closes`: then close the client. */
function answer(s: Session, bytes: Uint8Array | null, closes = false): void {
  const p = new Pending(s, false);
  s.add(p);
  if (bytes !== null) s.writeAll(p, bytes);
  if (closes) s.closeAfterReplies(p);
  s.finish(p);
}

/** memcached's answer to a malformed request: "Invalid arguments", and the connection closed. */
function invalid(s: Session, req: BinaryRequest, parser: BinaryParser): void {
  parser.stop();
  answer(s, errorPacket(req, Status.EINVAL), true);
}

const SET_FAMILY = new Set<number>([Op.SET, Op.ADD, Op.REPLACE]);

/** Handles one binary request from a client (memcached 1.6's checks, as repcache's BinaryDispatcher has them). */
export function dispatchBinary(core: Router, s: Session, req: BinaryRequest, parser: BinaryParser): void {
  if (s.closing || s.dead) return;
  const extlen = req.extras.length;
  const keylen = req.key.length;
  const bodylen = req.bodyLength;
  if (keylen + extlen > bodylen) {
    parser.stop();
    return answer(s, errorPacket(req, Status.UNKNOWN_COMMAND), true);
  }
  if (keylen > MAX_KEY_LENGTH) return invalid(s, req, parser);
  const base = QUIET_OF.get(req.opcode);
  const quiet = base !== undefined;
  const cmd = base ?? req.opcode;
  const bare = extlen === 0 && keylen === 0 && bodylen === 0;
  const id: BinaryRequestId = { opcode: req.opcode, opaque: req.opaque };
  const shape = quiet ? Shape.BIN_QUIET : Shape.BIN_ONE;
  const forward = (out: OutBuffer) => encodeRequest(out, req, req.opcode, quiet);
  const commands = core.counters.commands;
  switch (cmd) {
    case Op.VERSION:
      if (!bare) return invalid(s, req, parser);
      return answer(s, packet(req.opcode, Status.SUCCESS, req.opaque, null, Buffer.from(VERSION_STRING, 'latin1')));
    case Op.NOOP:
      if (!bare) return invalid(s, req, parser);
      return answer(s, packet(req.opcode, Status.SUCCESS, req.opaque, null, null));
    case Op.QUIT:
      if (!bare) return invalid(s, req, parser);
      parser.stop();
      return answer(s, quiet ? null : packet(req.opcode, Status.SUCCESS, req.opaque, null, null), true);
    case Op.FLUSH: {
      if (keylen !== 0 || bodylen !== extlen || (extlen !== 0 && extlen !== 4)) return invalid(s, req, parser);
      commands.flush!++;
      const p = new Broadcast(core, s, false, quiet ? null : packet(req.opcode, Status.SUCCESS, req.opaque, null, null), true);
      p.errorReply = binaryFailure(id);
      s.add(p);
      const down: string[] = [];
      for (const b of core.backends) {
        if (!b.up) {
          down.push(b.name);
          continue;
        }
        const conn = b.binConn();
        encodeRequest(conn.out, req, Op.FLUSH, false);
        conn.enqueue(p.call(b));
      }
      return p.sealed(down);
    }
    case Op.SET: case Op.ADD: case Op.REPLACE: case Op.APPEND: case Op.PREPEND: {
      const setFamily = SET_FAMILY.has(cmd);
      if (setFamily ? extlen !== 8 || keylen === 0 || bodylen < keylen + 8 : keylen === 0 || extlen !== 0) return invalid(s, req, parser);
      commands.set!++;
      if (req.value === null) {
        // longer than -I: memcached refuses it, and drops the old value of a set
        answer(s, errorPacket(req, Status.E2BIG));
        if (cmd === Op.SET) unlink(core, s, req);
        return;
      }
      return core.routeWrite(s, req.key, false, shape, cmd === Op.SET, forward, id);
    }
    case Op.GET: case Op.GETK:
      if (extlen !== 0 || bodylen !== keylen || keylen === 0) return invalid(s, req, parser);
      commands.get!++;
      core.counters.getKeys++;
      return core.routeRead(s, req.key, shape, forward, id);
    case Op.TOUCH: case Op.GAT: case Op.GATK:
      if (extlen !== 4 || keylen === 0) return invalid(s, req, parser);
      if (cmd === Op.TOUCH) {
        commands.touch!++;
        return core.routeWrite(s, req.key, false, shape, true, forward, id);
      }
      commands.get!++;
      core.counters.getKeys++;
      return core.routeRead(s, req.key, shape, forward, id);
    case Op.DELETE:
      if (keylen === 0 || extlen !== 0 || bodylen !== keylen) return invalid(s, req, parser);
      commands.delete!++;
      return core.routeWrite(s, req.key, false, shape, true, forward, id);
    case Op.INCREMENT: case Op.DECREMENT:
      if (keylen === 0 || extlen !== 20 || bodylen !== keylen + extlen) return invalid(s, req, parser);
      commands.incr_decr!++;
      return core.routeWrite(s, req.key, false, shape, false, forward, id);
    case Op.STAT:
      if (extlen !== 0) return invalid(s, req, parser);
      return stats(core, s, req);
    case Op.SASL_LIST_MECHS:
      if (!bare) return invalid(s, req, parser);
      return answer(s, errorPacket(req, Status.UNKNOWN_COMMAND));
    case Op.SASL_AUTH: case Op.SASL_STEP:
      if (extlen !== 0 || keylen === 0) return invalid(s, req, parser);
      answer(s, errorPacket(req, Status.UNKNOWN_COMMAND));
      // the parser reads the SASL data as a value (or discards it when too long); otherwise it is still to come
      if (req.value === null && req.skipped === 0) parser.swallow(bodylen - keylen);
      return;
    default:
      answer(s, errorPacket(req, Status.UNKNOWN_COMMAND));
      // as memcached: the whole body length, counted after the extras and key already read
      parser.swallow(bodylen);
  }
}

/** A set refused for its size drops the key's old value on its servers (a DELETE whose reply nobody gets). */
function unlink(core: Router, s: Session, req: BinaryRequest): void {
  const del: BinaryRequest = { ...req, opcode: Op.DELETE, extras: req.extras.subarray(0, 0), value: null, cas: 0n, bodyLength: req.key.length };
  core.routeWrite(s, req.key, true, Shape.BIN_ONE, true, (out) => encodeRequest(out, del, Op.DELETE, false), { opcode: Op.DELETE, opaque: req.opaque });
}

/** The proxy's stats as STAT packets (group "" all, "settings", "backends", "reset"), then the empty one. */
function stats(core: Router, s: Session, req: BinaryRequest): void {
  const group = req.key.toString('latin1');
  let text: string;
  if (group === '') text = core.statsText();
  else if (group === 'settings') text = core.statsText(false, true);
  else if (group === 'backends') text = core.statsText(true);
  else if (group === 'reset') {
    core.resetStats();
    text = '';
  } else return answer(s, errorPacket(req, Status.KEY_ENOENT));
  const parts: Buffer[] = [];
  for (const m of text.matchAll(/^STAT (\S+) (.*)\r$/gm)) parts.push(packet(req.opcode, Status.SUCCESS, req.opaque, Buffer.from(m[1]!, 'latin1'), Buffer.from(m[2]!, 'latin1')));
  parts.push(packet(req.opcode, Status.SUCCESS, req.opaque, null, null));
  answer(s, Buffer.concat(parts));
}
