/**
 * One replication link's state machine, as a plain object: the adapter feeds it events (connected, handshake
 * done, bytes received, failure) and calls tick() from a timer; it calls back into LinkEffects for I/O.
 * Time comes from an injected clock so tests drive it by hand.
 *
 *   connecting → handshaking → syncing → streaming
 *        ↑             └→ waiting ┘          │ (error, close, silent peer)
 *        └──────────── backoff ←─────────────┘
 *
 * `waiting`: a copy was asked for but the sender is still joining itself (it answered NOT_READY); the link stays
 * up with heartbeats until the sender is ready and the copy or the stream begins.
 *
 * Links we dial reconnect with exponential backoff; links a peer dialed end in `closed` (the peer redials).
 */
export type LinkState = 'idle' | 'connecting' | 'handshaking' | 'waiting' | 'syncing' | 'streaming' | 'backoff' | 'closed';

export interface LinkEffects {
  connect(): void;
  close(reason: string): void;
  heartbeat(): void;
  stateChanged(from: LinkState, to: LinkState, reason: string): void;
}

export interface LinkTiming {
  /** Give up a connect or handshake after this long. */
  connectTimeoutMs: number;
  /** Idle links send a HEARTBEAT this often: haved's failback gate needs a live link heard within 0.5 s. */
  heartbeatMs: number;
  /** A peer silent for this long is dead. */
  deadAfterMs: number;
  backoffMinMs: number;
  backoffMaxMs: number;
}

export const defaultTiming: Readonly<LinkTiming> = Object.freeze({
  connectTimeoutMs: 3000,
  heartbeatMs: 100,
  deadAfterMs: 3000,
  backoffMinMs: 100,
  backoffMaxMs: 5000,
});

export class LinkMachine {
  readonly dials: boolean;
  readonly timing: LinkTiming;
  readonly #now: () => number;
  readonly #fx: LinkEffects;
  #state: LinkState = 'idle';
  #since = 0;
  #lastRx = 0;
  #lastTx = 0;
  #attempts = 0;
  #retryAt = 0;
  fullSyncs = 0;
  resumes = 0;
  failures = 0;
  /** TCP connections established (a peer that was reachable at least once). */
  connects = 0;
  lastError = '';

  constructor(opts: { dials: boolean; effects: LinkEffects; now: () => number; timing?: Partial<LinkTiming> }) {
    this.dials = opts.dials;
    this.#fx = opts.effects;
    this.#now = opts.now;
    this.timing = { ...defaultTiming, ...opts.timing };
  }

  get state(): LinkState {
    return this.#state;
  }

  /** True once data flows (a copy or the live stream). */
  get up(): boolean {
    return this.#state === 'syncing' || this.#state === 'streaming';
  }

  get retryAt(): number {
    return this.#retryAt;
  }

  /** When the peer's last bytes arrived (on the clock given as `now`). */
  get lastReceivedAt(): number {
    return this.#lastRx;
  }

  #go(to: LinkState, reason: string): void {
    const from = this.#state;
    if (from === to) return;
    this.#state = to;
    this.#since = this.#now();
    this.#fx.stateChanged(from, to, reason);
  }

  /** Dialing side: start connecting. */
  start(): void {
    if (this.#state !== 'idle' && this.#state !== 'backoff') return;
    this.#go('connecting', this.#attempts === 0 ? 'start' : `retry ${this.#attempts}`);
    this.#fx.connect();
  }

  /** Socket connected (dialing side) or accepted (listening side): the HELLO exchange begins. */
  connected(): void {
    const now = this.#now();
    this.#lastRx = now;
    this.#lastTx = now;
    this.connects++;
    this.#go('handshaking', 'connected');
  }

  /** Handshake complete, but the sender is still joining: no copy yet (NOT_READY). */
  waiting(reason: string): void {
    if (this.#state !== 'handshaking') return;
    this.#go('waiting', reason);
  }

  /** Handshake complete (or the wait is over): a full copy follows (or is expected), or the stream resumes where it stopped. */
  handshakeDone(fullCopy: boolean): void {
    if (this.#state !== 'handshaking' && this.#state !== 'waiting') return;
    if (fullCopy) {
      this.fullSyncs++;
      this.#go('syncing', 'full copy');
    } else {
      this.resumes++;
      this.#attempts = 0;
      this.#go('streaming', 'resumed');
    }
  }

  /** A full copy started again on a live link (the peer's cursor fell out of the log). */
  resync(reason: string): void {
    if (this.#state !== 'streaming') return;
    this.fullSyncs++;
    this.#go('syncing', reason);
  }

  syncDone(): void {
    if (this.#state !== 'syncing') return;
    this.#attempts = 0;
    this.#go('streaming', 'copy complete');
  }

  received(): void {
    this.#lastRx = this.#now();
  }

  sent(): void {
    this.#lastTx = this.#now();
  }

  /** Any failure: socket error or close, protocol error, refused handshake, silent peer. */
  failed(reason: string): void {
    if (this.#state === 'closed' || this.#state === 'backoff' || this.#state === 'idle') return;
    this.failures++;
    this.lastError = reason;
    this.#fx.close(reason);
    if (!this.dials) {
      this.#go('closed', reason);
      return;
    }
    const delay = Math.min(this.timing.backoffMaxMs, this.timing.backoffMinMs * 2 ** Math.min(this.#attempts, 20));
    this.#attempts++;
    this.#retryAt = this.#now() + delay;
    this.#go('backoff', `${reason}; retry in ${delay} ms`);
  }

  /** Reconnect now instead of waiting out the backoff (e.g. the peer just dialed us, so it is back). */
  kick(): void {
    if (this.#state !== 'backoff') return;
    this.#retryAt = this.#now();
    this.tick();
  }

  stop(reason = 'shutdown'): void {
    if (this.#state === 'closed') return;
    if (this.#state !== 'idle' && this.#state !== 'backoff') this.#fx.close(reason);
    this.#go('closed', reason);
  }

  tick(): void {
    const now = this.#now();
    switch (this.#state) {
      case 'backoff':
        if (now >= this.#retryAt) this.start();
        return;
      case 'connecting':
      case 'handshaking':
        if (now - this.#since >= this.timing.connectTimeoutMs) this.failed(`${this.#state} timed out after ${this.timing.connectTimeoutMs} ms`);
        return;
      case 'waiting':
      case 'syncing':
      case 'streaming':
        if (now - this.#lastRx >= this.timing.deadAfterMs) {
          this.failed(`peer silent for ${now - this.#lastRx} ms`);
          return;
        }
        if (now - this.#lastTx >= this.timing.heartbeatMs) {
          this.#lastTx = now;
          this.#fx.heartbeat();
        }
        return;
      default:
        return;
    }
  }
}
