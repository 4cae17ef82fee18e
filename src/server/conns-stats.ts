/**
 * `stats conns` with repcache -t N: the node lists every worker's connections, as memcached lists all its threads'.
 * The worker a request reached (over TCP or UDP) asks the others through the main thread (WorkerLink.askConns)
 * and formats the reply once all have answered or CONNS_WAIT_MS has passed.
 */

import type { Clock } from '../clock.ts';

/** One worker's part of `stats conns`: its UDP sockets, and its connections as [id, addr, listen_addr, state, secs]. */
export interface ConnsAnswer {
  udp: string[];
  conns: Array<[number, string, string, string, number]>;
}

/**
 * How long `stats conns` waits for the other workers' connections before it answers with those that came: a worker
 * answers within a turn of its event loop, so one that takes this long is stalled, and the reply must not stall too.
 */
export const CONNS_WAIT_MS = 250;

/** The asks of one worker's `stats conns` still waiting for the other workers' answers. */
export class ConnsGathering {
  readonly #clock: Clock;
  readonly #asks = new Map<number, { answers: ConnsAnswer[]; others: number; done: () => void }>();
  #nextAsk = 1;

  /** clock: the server's (CacheClock.timers), on which the wait for stalled workers runs. */
  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /**
   * Asks the `others` workers (ask(id) sends the question) and resolves with format(the answers that came): once
   * all have answered, or after CONNS_WAIT_MS with those that came in time (a stalled worker's connections are left
   * out rather than the reply held).
   */
  gather(ask: (id: number) => void, others: number, format: (answers: ConnsAnswer[]) => string): Promise<string> {
    const id = this.#nextAsk++;
    const answers: ConnsAnswer[] = [];
    const reply = new Promise<string>((resolve) => {
      const timer = this.#clock.setTimer(CONNS_WAIT_MS, () => done());
      const done = () => {
        this.#clock.clearTimer(timer);
        this.#asks.delete(id);
        resolve(format(answers));
      };
      this.#asks.set(id, { answers, others, done });
    });
    ask(id);
    return reply;
  }

  /** Another worker's answer to ask `id`. */
  answered(id: number, answer: ConnsAnswer): void {
    const ask = this.#asks.get(id);
    if (ask === undefined) return; // it came too late: the reply has left
    ask.answers.push(answer);
    if (ask.answers.length >= ask.others) ask.done();
  }
}

/** Who asked: a TCP connection (its id), or a UDP request (the index of its socket in `own.udp`, and the client). */
export type ConnsAsker = { conn: number } | { udp: number; client: string } | null;

/** What `stats conns` lists, from the worker that answers. */
export interface ConnsView {
  /** Clock seconds now, and when the listeners opened. */
  now: number;
  listenedAt: number;
  /** This worker's TCP (or unix) listeners' addresses. */
  listeners: string[];
  own: ConnsAnswer;
  others: ConnsAnswer[];
  self: ConnsAsker;
}

/**
 * The lines of `stats conns` (without END), as memcached: listeners, UDP sockets, then every connection by id. The
 * asking connection is in conn_parse_cmd; a UDP socket serving the request is listed as memcached lists its UDP
 * conn then: the client's address, the socket's as listen_addr, conn_parse_cmd.
 */
export function formatConns(v: ConnsView): string {
  let s = '';
  let fd = 0;
  const line = (id: number, k: string, val: string | number) => (s += `STAT ${id}:${k} ${val}\r\n`);
  for (const addr of v.listeners) {
    const id = ++fd;
    line(id, 'addr', addr);
    line(id, 'state', 'conn_listening');
    line(id, 'secs_since_last_cmd', v.now - v.listenedAt);
  }
  const self = v.self;
  const all = [v.own, ...v.others];
  for (const a of all) {
    for (const [i, addr] of a.udp.entries()) {
      const id = ++fd;
      line(id, 'UDP', 'UDP');
      if (a === v.own && self !== null && 'udp' in self && self.udp === i) {
        line(id, 'addr', self.client);
        line(id, 'listen_addr', addr);
        line(id, 'state', 'conn_parse_cmd');
        line(id, 'secs_since_last_cmd', 0);
      } else {
        line(id, 'addr', addr);
        line(id, 'state', 'conn_read');
        line(id, 'secs_since_last_cmd', v.now - v.listenedAt);
      }
    }
  }
  const mine = self !== null && 'conn' in self ? self.conn : -1;
  const conns = all.flatMap((a) => a.conns).sort((a, b) => a[0] - b[0]);
  for (const [cid, addr, listenAddr, state, secs] of conns) {
    const id = fd + cid;
    line(id, 'addr', addr);
    line(id, 'listen_addr', listenAddr);
    line(id, 'state', cid === mine ? 'conn_parse_cmd' : state);
    line(id, 'secs_since_last_cmd', secs);
  }
  return s;
}
