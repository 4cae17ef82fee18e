/**
 * The control socket's protocol: one JSON object per line each way, one request per connection.
 *
 *   → {"verb":"status"}                                   ← {"ok":true,"result":{…the state dump…}}
 *   → {"verb":"dump"}                                     ← {"ok":true,"result":{"file":…,"state":{…}}}
 *   → {"verb":"reload"}                                   ← {"ok":true,"result":{"kept":[…],"started":[…],…}}
 *   → {"verb":"priority","instance":"VI_1","priority":50} ← {"ok":true,"result":{…}}
 *   → {"verb":"priority","instance":"VI_1","reset":true}
 *   → {"verb":"maintenance","on":true}
 *   ← {"ok":false,"error":"one line for the operator"}
 *
 * A request line is at most MAX_REQUEST_BYTES (newline included). Pure: no sockets, no timers.
 */
export const MAX_REQUEST_BYTES = 4096;

export type ControlRequest =
  | { verb: 'status' }
  | { verb: 'dump' }
  | { verb: 'reload' }
  | { verb: 'priority'; instance: string; priority: number | null }
  | { verb: 'maintenance'; on: boolean };

export type ControlReply = { ok: true; result: unknown } | { ok: false; error: string };

export const VERBS = ['status', 'dump', 'reload', 'priority', 'maintenance'] as const;

export class ControlProtocolError extends Error {
  override name = 'ControlProtocolError';
}

export function encodeRequest(req: ControlRequest): string {
  const wire =
    req.verb === 'priority'
      ? req.priority === null
        ? { verb: 'priority', instance: req.instance, reset: true }
        : { verb: 'priority', instance: req.instance, priority: req.priority }
      : req;
  return `${JSON.stringify(wire)}\n`;
}

/** A request line (without its newline). Throws ControlProtocolError saying what is wrong. */
export function decodeRequest(line: string): ControlRequest {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    throw new ControlProtocolError('bad request: not a JSON object');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ControlProtocolError('bad request: not a JSON object');
  const o = v as Record<string, unknown>;
  const allow = (...keys: string[]) => {
    const extra = Object.keys(o).find((k) => k !== 'verb' && !keys.includes(k));
    if (extra !== undefined) throw new ControlProtocolError(`bad request: unexpected field ${JSON.stringify(extra).slice(0, 40)} for ${String(o.verb)}`);
  };
  switch (o.verb) {
    case 'status':
    case 'dump':
    case 'reload':
      allow();
      return { verb: o.verb };
    case 'priority': {
      if (typeof o.instance !== 'string' || o.instance === '' || o.instance.length > 256) {
        throw new ControlProtocolError('bad request: priority needs "instance" (a vrrp_instance name)');
      }
      if (o.reset === true) {
        allow('instance', 'reset');
        return { verb: 'priority', instance: o.instance, priority: null };
      }
      allow('instance', 'priority');
      if (typeof o.priority !== 'number' || !Number.isInteger(o.priority)) {
        throw new ControlProtocolError('bad request: priority needs "priority" (an integer) or "reset": true');
      }
      return { verb: 'priority', instance: o.instance, priority: o.priority };
    }
    case 'maintenance':
      allow('on');
      if (typeof o.on !== 'boolean') throw new ControlProtocolError('bad request: maintenance needs "on": true or false');
      return { verb: 'maintenance', on: o.on };
    default:
      throw new ControlProtocolError(
        `bad request: unknown verb ${typeof o.verb === 'string' ? JSON.stringify(o.verb.slice(0, 40)) : '(none)'} (verbs: ${VERBS.join(', ')})`,
      );
  }
}

export function encodeReply(reply: ControlReply): string {
  return `${JSON.stringify(reply)}\n`;
}

/** A reply line (without its newline). Throws ControlProtocolError on anything but a reply. */
export function decodeReply(line: string): ControlReply {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    throw new ControlProtocolError('the daemon sent a reply that is not JSON');
  }
  const o = v as Record<string, unknown> | null;
  if (o && o.ok === true && 'result' in o) return { ok: true, result: o.result };
  if (o && o.ok === false && typeof o.error === 'string') return { ok: false, error: o.error };
  throw new ControlProtocolError('the daemon sent a malformed reply');
}

/**
 * Collects bytes up to the first newline, at most `max` bytes (newline included): `{ line }` once it is
 * complete, `{ error }` when it grows too long, null while more is needed. Bytes after the line are ignored.
 */
export class LineBuffer {
  readonly #max: number;
  #chunks: Buffer[] = [];
  #size = 0;

  constructor(max: number) {
    this.#max = max;
  }

  push(chunk: Buffer): { line: string } | { error: string } | null {
    const nl = chunk.indexOf(0x0a);
    const take = nl < 0 ? chunk : chunk.subarray(0, nl);
    if (this.#size + take.length + (nl < 0 ? 0 : 1) > this.#max) return { error: `request too long (more than ${this.#max} bytes)` };
    this.#chunks.push(take);
    this.#size += take.length;
    if (nl < 0) return null;
    const line = Buffer.concat(this.#chunks).toString('utf8');
    return { line: line.endsWith('\r') ? line.slice(0, -1) : line };
  }
}
