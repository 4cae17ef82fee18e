/**
 * A client connection as the proxy core sees it: parsed commands in, replies out in request order however the
 * backends' answers interleave. Pure: the socket is behind ClientTransport.
 */

/** The client's connection (a TCP or unix socket in the daemon, a fake in tests). */
export interface ClientTransport {
  /** Sends bytes; true when they are all taken already (the buffer may be reused), false when queued. */
  write(data: Buffer): boolean;
  /** Writes what is queued, then closes. */
  end(): void;
  /** Stops / restarts delivering the client's bytes (back-pressure). */
  pause(): void;
  resume(): void;
}

/**
 * One client request: it owns its place in the reply order. While it is the oldest unanswered request its reply
 * goes straight to the output; until then it is held here.
 */
export class Pending {
  next: Pending | null = null;
  /** The reply is complete. */
  answered = false;
  /** Reply bytes written while an earlier request was still unanswered (copies). */
  held: Buffer[] | null = null;
  readonly session: Session;
  /** noreply: no reply is written, and the request takes no place in the order. */
  readonly silent: boolean;
  /** The client is closed once this request's reply is out (quit, a line that closes the connection). */
  closes = false;
  /** The reply for a request no backend could answer; null: `SERVER_ERROR <reason>` (the text protocol's). */
  errorReply: ((reason: string) => Uint8Array) | null = null;

  constructor(session: Session, silent: boolean) {
    this.session = session;
    this.silent = silent;
  }
}

/** Requests answered but not yet sent, beyond which the client is not read until it reads its replies. */
export const MAX_QUEUED = 2048;
/** Bytes of replies held for the client beyond which it is not read until it reads them. */
export const MAX_HELD_BYTES = 8 * 1024 * 1024;
const INITIAL_OUT = 2048;
const EMPTY = Buffer.alloc(0);

export interface SessionHost {
  /** The session has replies to send at the end of this event-loop turn. */
  dirty(s: Session): void;
}

export class Session {
  readonly id: number;
  readonly #host: SessionHost;
  readonly #transport: ClientTransport;
  #head: Pending | null = null;
  #tail: Pending | null = null;
  #queued = 0;
  #heldBytes = 0;
  /** Replies ready to send: #out[0, #len). */
  #out: Buffer = EMPTY;
  #len = 0;
  /** Where the head's reply starts in #out (to drop it if its server fails mid-reply). */
  #mark = 0;
  /** The head wrote part of its reply: hold the output until it is complete, so a retry can take it back. */
  #partial = false;
  #dirty = false;
  #paused = false;
  #closing = false;
  #dead = false;

  constructor(id: number, host: SessionHost, transport: ClientTransport) {
    this.id = id;
    this.#host = host;
    this.#transport = transport;
  }

  /** Requests waiting for their reply to be sent. */
  get queued(): number {
    return this.#queued;
  }

  /** The client went away (or quit): nothing more is sent; requests still at the backends just complete. */
  get dead(): boolean {
    return this.#dead;
  }

  /** No more requests are read (quit or a closing line); the client is closed once the replies are out. */
  get closing(): boolean {
    return this.#closing;
  }

  /** Takes the request's place in the reply order (call before anything is written for it). */
  add(p: Pending): void {
    if (p.silent) return;
    this.#queued++;
    if (this.#tail === null) {
      this.#head = this.#tail = p;
      this.#mark = this.#len;
    } else {
      this.#tail.next = p;
      this.#tail = p;
    }
    if (this.#queued > MAX_QUEUED) this.#pause();
  }

  /** Appends b[start, end) to p's reply. */
  write(p: Pending, b: Uint8Array, start: number, end: number): void {
    if (p.silent || this.#dead) return;
    if (p === this.#head) {
      this.#append(b, start, end);
      this.#partial = true;
      return;
    }
    const copy = Buffer.allocUnsafe(end - start);
    copy.set(b.subarray(start, end));
    (p.held ??= []).push(copy);
    this.#heldBytes += copy.length;
    if (this.#heldBytes > MAX_HELD_BYTES) this.#pause();
  }

  writeAll(p: Pending, b: Uint8Array): void {
    this.write(p, b, 0, b.length);
  }

  /** p's reply is complete. */
  finish(p: Pending): void {
    if (p.answered) return;
    p.answered = true;
    if (p.silent || this.#dead) return;
    if (p === this.#head) this.#advance();
  }

  /** `SERVER_ERROR <reason>` (or p's errorReply) as p's whole reply. */
  fail(p: Pending, reason: string): void {
    this.drop(p);
    this.writeAll(p, p.errorReply !== null ? p.errorReply(reason) : Buffer.from(`SERVER_ERROR ${reason}\r\n`, 'latin1'));
    this.finish(p);
  }

  /** Forgets what p's reply has so far (its server failed mid-reply; it is asked again elsewhere). */
  drop(p: Pending): void {
    if (p.silent || this.#dead) return;
    if (p === this.#head) {
      this.#len = this.#mark;
      this.#partial = false;
    } else if (p.held !== null) {
      for (const b of p.held) this.#heldBytes -= b.length;
      p.held = null;
    }
  }

  /** Stop reading requests; close once every reply before this point is sent. */
  closeAfterReplies(p: Pending): void {
    this.#closing = true;
    p.closes = true;
  }

  #advance(): void {
    let p = this.#head;
    while (p !== null && p.answered) {
      this.#queued--;
      const closes = p.closes;
      p = p.next;
      if (closes) {
        this.#end();
        return;
      }
      this.#head = p;
      this.#mark = this.#len;
      this.#partial = false;
      if (p !== null && p.held !== null) {
        for (const b of p.held) {
          this.#append(b, 0, b.length);
          this.#heldBytes -= b.length;
        }
        p.held = null;
        this.#partial = !p.answered;
      }
    }
    if (p === null) this.#tail = null;
    if (!this.#dirty && this.#len > 0) {
      this.#dirty = true;
      this.#host.dirty(this);
    }
    if (this.#paused && this.#queued <= MAX_QUEUED / 2 && this.#heldBytes <= MAX_HELD_BYTES / 2) this.#resume();
  }

  /** Sends the replies ready (the end of an event-loop turn). */
  flush(): void {
    this.#dirty = false;
    if (this.#dead || this.#partial || this.#len === 0) return;
    const out = this.#out.subarray(0, this.#len);
    const taken = this.#transport.write(out);
    if (!taken) this.#out = EMPTY; // the transport holds it
    this.#len = 0;
    this.#mark = 0;
  }

  /** The client closed the connection (or it failed). */
  closed(): void {
    this.#dead = true;
    this.#head = this.#tail = null;
    this.#queued = 0;
    this.#heldBytes = 0;
    this.#out = EMPTY;
    this.#len = 0;
  }

  /** The transport can take more (after it reported a full buffer). */
  drained(): void {
    if (this.#paused && this.#queued <= MAX_QUEUED / 2 && this.#heldBytes <= MAX_HELD_BYTES / 2) this.#resume();
  }

  #end(): void {
    if (this.#len > 0) this.#transport.write(this.#out.subarray(0, this.#len));
    this.#out = EMPTY;
    this.#len = 0;
    this.#transport.end();
    this.closed();
  }

  #pause(): void {
    if (this.#paused) return;
    this.#paused = true;
    this.#transport.pause();
  }

  #resume(): void {
    this.#paused = false;
    this.#transport.resume();
  }

  #append(b: Uint8Array, start: number, end: number): void {
    const n = end - start;
    const need = this.#len + n;
    if (need > this.#out.length) {
      let size = Math.max(INITIAL_OUT, this.#out.length * 2);
      while (size < need) size *= 2;
      const next = Buffer.allocUnsafe(size);
      if (this.#len > 0) this.#out.copy(next, 0, 0, this.#len);
      this.#out = next;
    }
    const out = this.#out;
    if (n < 64) {
      let o = this.#len;
      for (let i = start; i < end; i++) out[o++] = b[i]!;
    } else {
      out.set(b.subarray(start, end), this.#len);
    }
    this.#len = need;
  }
}
