/**
 * Anti-replay for HMAC-authenticated adverts.
 *
 * Sender: the sequence is time-based, `max(last + 1, wallMs × 2^20)`. It is strictly increasing while the
 * process runs (a wall-clock step back only slows it to +1 per message), and a restart starts above every
 * number the previous run used unless the previous run sent more than 2^20 messages per millisecond of its
 * lifetime or the wall clock went back by more than the downtime (the pitfall keepalived 2.4.3 fixed for
 * auth_hmac: after such a step peers drop our adverts as replays until the clock catches up; keep NTP sane).
 *
 * Receiver: an IPsec-style sliding window per sender: a sequence above the highest seen is accepted and moves
 * the window; one inside the window (64 below the highest) is accepted once; anything older is rejected.
 * `firstContactMaxSkewMs` optionally bounds the first sequence seen from a sender against our wall clock,
 * which stops replays of old captures right after our own restart (off by default: it needs synced clocks).
 */
export const SEQUENCE_TIME_SHIFT = 20n;
const WINDOW = 64n;
const WINDOW_MASK = (1n << WINDOW) - 1n;
const U64_MAX = 0xffff_ffff_ffff_ffffn;

export class SequenceCounter {
  #wallNow: () => number;
  #last = 0n;

  constructor(wallNow: () => number = Date.now) {
    this.#wallNow = wallNow;
  }

  next(): bigint {
    const fromClock = BigInt(Math.max(0, Math.floor(this.#wallNow()))) << SEQUENCE_TIME_SHIFT;
    const next = fromClock > this.#last ? fromClock : this.#last + 1n;
    this.#last = next > U64_MAX ? U64_MAX : next;
    return this.#last;
  }
}

export type ReplayVerdict = 'ok' | 'replayed' | 'too-old' | 'stale-first-contact';

interface SenderWindow {
  highest: bigint;
  seen: bigint; // bit i = highest - i was accepted
}

export interface ReplayWindowOptions {
  /** Reject the first sequence from a sender whose time part is further than this from our wall clock. */
  firstContactMaxSkewMs?: number | null;
  wallNow?: () => number;
  /** Senders remembered; the least recently accepted is forgotten beyond this. */
  maxSenders?: number;
}

export class ReplayWindow {
  #senders = new Map<string, SenderWindow>();
  #maxSkew: number | null;
  #wallNow: () => number;
  #maxSenders: number;

  constructor(opts: ReplayWindowOptions = {}) {
    this.#maxSkew = opts.firstContactMaxSkewMs ?? null;
    this.#wallNow = opts.wallNow ?? Date.now;
    this.#maxSenders = opts.maxSenders ?? 1024;
  }

  /** Checks and records `seq` for `sender`. Call only after the advert authenticated. */
  accept(sender: string, seq: bigint): ReplayVerdict {
    const w = this.#senders.get(sender);
    if (w === undefined) {
      if (this.#maxSkew !== null) {
        const senderMs = Number(seq >> SEQUENCE_TIME_SHIFT);
        if (Math.abs(senderMs - this.#wallNow()) > this.#maxSkew) return 'stale-first-contact';
      }
      this.#remember(sender, { highest: seq, seen: 1n });
      return 'ok';
    }
    if (seq > w.highest) {
      const shift = seq - w.highest;
      w.seen = shift >= WINDOW ? 1n : ((w.seen << shift) | 1n) & WINDOW_MASK;
      w.highest = seq;
      this.#remember(sender, w);
      return 'ok';
    }
    const age = w.highest - seq;
    if (age >= WINDOW) return 'too-old';
    const bit = 1n << age;
    if (w.seen & bit) return 'replayed';
    w.seen |= bit;
    return 'ok';
  }

  forget(sender: string): void {
    this.#senders.delete(sender);
  }

  get size(): number {
    return this.#senders.size;
  }

  #remember(sender: string, w: SenderWindow): void {
    this.#senders.delete(sender);
    this.#senders.set(sender, w);
    if (this.#senders.size > this.#maxSenders) {
      const oldest = this.#senders.keys().next().value;
      if (oldest !== undefined) this.#senders.delete(oldest);
    }
  }
}
