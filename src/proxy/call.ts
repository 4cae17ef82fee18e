import type { BinaryResponse } from '../proto/binary/response-parser.ts';
import type { ReplyElement } from '../proto/text/reply-parser.ts';

/** One element of a reply: a text-protocol element, or a binary-protocol response packet. */
export type Element = ReplyElement | BinaryResponse;

/** What a call's reply looks like, so that a backend connection knows where one reply ends. */
export const Shape = {
  /** One element: a status line, a number, a meta reply (VA with its data included). */
  ONE: 0,
  /** VALUE elements, then END (get, gets, gat, gats); an error line ends it too. */
  GET: 1,
  /** STAT lines, then END; an error line ends it too. */
  STATS: 2,
  /** A quiet meta command followed by `mn`: any elements (maybe none), then MN, which is not passed on. */
  QUIET: 3,
  /** Binary protocol: one response packet. */
  BIN_ONE: 4,
  /** Binary protocol, a quiet command followed by a NOOP: any responses (maybe none), then the NOOP's, not passed on. */
  BIN_QUIET: 5,
} as const;
export type Shape = (typeof Shape)[keyof typeof Shape];

/**
 * One request to one backend, queued on a backend connection until its reply is complete. The connection calls
 * element() for each element of the reply (END included for GET and STATS; the closing MN of a QUIET call
 * excluded), then done(); or fail() when no complete reply will come.
 */
export interface Call {
  readonly shape: Shape;
  /** When it was queued (the proxy clock, ms): its timeout runs from here. */
  queuedAt: number;
  element(e: Element): void;
  done(): void;
  /**
   * No (complete) reply will come: `reason` for the client's SERVER_ERROR; `sent` false when the server never
   * got the request (it was not connected), so trying it elsewhere cannot apply it twice.
   */
  fail(reason: string, sent: boolean): void;
}
