import { describe, expect, it } from 'vitest';
import {
  ControlProtocolError, LineBuffer, MAX_REQUEST_BYTES, decodeReply, decodeRequest, encodeReply, encodeRequest, type ControlRequest,
} from '../../../src/proto/control/codec.ts';

describe('control protocol (JSON lines)', () => {
  it.each<ControlRequest>([
    { verb: 'status' },
    { verb: 'dump' },
    { verb: 'reload' },
    { verb: 'priority', instance: 'VI_1', priority: 50 },
    { verb: 'priority', instance: 'VI_1', priority: null },
    { verb: 'maintenance', on: true },
    { verb: 'maintenance', on: false },
  ])('round-trips %j', (req) => {
    const line = encodeRequest(req);
    expect(line.endsWith('\n')).toBe(true);
    expect(line.slice(0, -1)).not.toContain('\n');
    expect(decodeRequest(line.slice(0, -1))).toEqual(req);
  });

  it('a reset is written as "reset": true', () => {
    expect(encodeRequest({ verb: 'priority', instance: 'A', priority: null })).toBe('{"verb":"priority","instance":"A","reset":true}\n');
  });

  it.each([
    ['', 'bad request: not a JSON object'],
    ['\u0000\u00ff\u0001garbage', 'bad request: not a JSON object'],
    ['[1,2]', 'bad request: not a JSON object'],
    ['"status"', 'bad request: not a JSON object'],
    ['null', 'bad request: not a JSON object'],
    ['{}', 'bad request: unknown verb (none) (verbs: status, dump, reload, priority, maintenance)'],
    ['{"verb":"shutdown"}', 'bad request: unknown verb "shutdown" (verbs: status, dump, reload, priority, maintenance)'],
    ['{"verb":"status","x":1}', 'bad request: unexpected field "x" for status'],
    ['{"verb":"priority","priority":5}', 'bad request: priority needs "instance" (a vrrp_instance name)'],
    ['{"verb":"priority","instance":"A"}', 'bad request: priority needs "priority" (an integer) or "reset": true'],
    ['{"verb":"priority","instance":"A","priority":"5"}', 'bad request: priority needs "priority" (an integer) or "reset": true'],
    ['{"verb":"priority","instance":"A","priority":1.5}', 'bad request: priority needs "priority" (an integer) or "reset": true'],
    ['{"verb":"priority","instance":"A","reset":true,"priority":3}', 'bad request: unexpected field "priority" for priority'],
    ['{"verb":"maintenance","on":"yes"}', 'bad request: maintenance needs "on": true or false'],
  ])('refuses %j: %s', (line, message) => {
    expect(() => decodeRequest(line)).toThrow(new ControlProtocolError(message));
  });

  it('replies: ok with a result, or an error line', () => {
    expect(decodeReply(encodeReply({ ok: true, result: { a: 1 } }).trimEnd())).toEqual({ ok: true, result: { a: 1 } });
    expect(decodeReply(encodeReply({ ok: false, error: 'no' }).trimEnd())).toEqual({ ok: false, error: 'no' });
    expect(() => decodeReply('{"ok":1}')).toThrow(ControlProtocolError);
    expect(() => decodeReply('nope')).toThrow(ControlProtocolError);
  });
});

describe('LineBuffer', () => {
  it('joins chunks up to the newline, drops a CR and what follows the line', () => {
    const b = new LineBuffer(100);
    expect(b.push(Buffer.from('{"verb":'))).toBeNull();
    expect(b.push(Buffer.from('"status"}\r\n{"verb":"reload"}\n'))).toEqual({ line: '{"verb":"status"}' });
  });

  it('refuses a line longer than the bound, even before its newline arrives', () => {
    const b = new LineBuffer(MAX_REQUEST_BYTES);
    expect(b.push(Buffer.alloc(MAX_REQUEST_BYTES - 1, 0x61))).toBeNull();
    expect(b.push(Buffer.from('\n'))).toEqual({ line: 'a'.repeat(MAX_REQUEST_BYTES - 1) });
    const c = new LineBuffer(MAX_REQUEST_BYTES);
    expect(c.push(Buffer.alloc(MAX_REQUEST_BYTES - 1, 0x61))).toBeNull();
    expect(c.push(Buffer.from('aa'))).toEqual({ error: `request too long (more than ${MAX_REQUEST_BYTES} bytes)` });
    expect(new LineBuffer(10).push(Buffer.alloc(1 << 20))).toEqual({ error: 'request too long (more than 10 bytes)' });
  });
});
