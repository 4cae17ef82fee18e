/**
 * The proxy core with fake sockets: backends are small in-memory memcacheds that a test can stop, mute or
 * slow down; clients collect what the proxy sends them; time is a FakeClock.
 */
import pino from 'pino';
import type { TextCommand } from '../../../src/proto/text/commands.ts';
import { TextParser } from '../../../src/proto/text/parser.ts';
import type { BackendTransport, TransportEvents } from '../../../src/proxy/backend.ts';
import { ProxyCore, type ClientHandle, type ProxyConfig } from '../../../src/proxy/core.ts';
import type { BackupMode } from '../../../src/proxy/placement.ts';
import type { ClientTransport } from '../../../src/proxy/session.ts';
import { serverName, type ServerSpec } from '../../../src/routing/servers.ts';
import { FakeClock } from '../../support/fake-clock.ts';

/** Lets every pending setImmediate/microtask chain run (the proxy's turn flushes and the fakes' replies). */
export async function settle(rounds = 20): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise<void>((r) => setImmediate(r));
}

interface Item { value: Buffer; flags: number; cas: number }

/** One fake memcached: accepts connections unless down, answers unless muted. */
export class FakeServer {
  readonly name: string;
  readonly items = new Map<string, Item>();
  /** Refuse new connections; with `kill()` also drop the open ones. */
  down = false;
  /** Accept and read, never answer. */
  muted = false;
  /** Keep replies until release(). */
  hold = false;
  readonly #held: (() => void)[] = [];
  /** Every request line received, in order. */
  readonly log: string[] = [];
  connections = 0;
  readonly #open = new Set<{ close(): void }>();
  #cas = 1;

  constructor(name: string) {
    this.name = name;
  }

  /** Stops it: open connections are reset, new ones refused, the items are gone. */
  kill(): void {
    this.down = true;
    this.items.clear();
    for (const c of this.#open) c.close();
  }

  /** Sends the replies kept while `hold` was set, and stops holding. */
  release(): void {
    this.hold = false;
    for (const f of this.#held.splice(0)) f();
  }

  revive(): void {
    this.down = false;
    this.muted = false;
  }

  connect(events: TransportEvents): BackendTransport {
    let open = true;
    const conn = { close: () => { if (open) { open = false; this.#open.delete(conn); setImmediate(() => events.closed('ECONNRESET')); } } };
    if (this.down) {
      setImmediate(() => events.closed('connect ECONNREFUSED'));
      return { write: () => true, destroy() { open = false; } };
    }
    this.connections++;
    this.#open.add(conn);
    setImmediate(() => open && events.connected());
    const parser = new TextParser({ maxItemSize: 64 * 1024 * 1024 }, (cmd) => {
      const reply = this.#answer(cmd);
      if (reply !== null && !this.muted) {
        const b = Buffer.from(reply, 'latin1');
        const send = () => open && events.data(b, b.length);
        if (this.hold) this.#held.push(send);
        else setImmediate(send);
      }
    });
    return {
      write: (data) => {
        if (open) parser.push(Buffer.from(data));
        return true;
      },
      destroy: () => {
        open = false;
        this.#open.delete(conn);
      },
    };
  }

  #answer(cmd: TextCommand): string | null {
    const str = (b: Buffer) => b.toString('latin1');
    switch (cmd.kind) {
      case 'get': {
        this.log.push(`${cmd.op} ${cmd.keys.map(str).join(' ')}`);
        let out = '';
        for (const k of cmd.keys) {
          const it = this.items.get(str(k));
          if (it) out += `VALUE ${str(k)} ${it.flags} ${it.value.length}${cmd.op.endsWith('s') ? ` ${it.cas}` : ''}\r\n${str(it.value)}\r\n`;
        }
        return `${out}END\r\n`;
      }
      case 'store': {
        const key = str(cmd.key);
        this.log.push(`${cmd.op} ${key}`);
        const it = this.items.get(key);
        if ((cmd.op === 'add' && it) || ((cmd.op === 'replace' || cmd.op === 'append' || cmd.op === 'prepend') && !it)) return 'NOT_STORED\r\n';
        if (cmd.op === 'cas' && !it) return 'NOT_FOUND\r\n';
        if (cmd.op === 'cas' && BigInt(it!.cas) !== cmd.cas) return 'EXISTS\r\n';
        const value = cmd.op === 'append' ? Buffer.concat([it!.value, cmd.data]) : cmd.op === 'prepend' ? Buffer.concat([cmd.data, it!.value]) : Buffer.from(cmd.data);
        this.items.set(key, { value, flags: cmd.op === 'append' || cmd.op === 'prepend' ? it!.flags : cmd.flags, cas: this.#cas++ });
        return cmd.noreply ? null : 'STORED\r\n';
      }
      case 'delete':
        this.log.push(`delete ${str(cmd.key)}`);
        return this.items.delete(str(cmd.key)) ? 'DELETED\r\n' : 'NOT_FOUND\r\n';
      case 'arith': {
        this.log.push(`${cmd.op} ${str(cmd.key)}`);
        const it = this.items.get(str(cmd.key));
        if (!it) return 'NOT_FOUND\r\n';
        if (!/^\d+$/.test(str(it.value))) return 'CLIENT_ERROR cannot increment or decrement non-numeric value\r\n';
        const n = BigInt(str(it.value)) + (cmd.op === 'incr' ? cmd.delta : -cmd.delta);
        it.value = Buffer.from(String(n < 0n ? 0n : n));
        return `${it.value}\r\n`;
      }
      case 'touch':
        this.log.push(`touch ${str(cmd.key)}`);
        return this.items.has(str(cmd.key)) ? 'TOUCHED\r\n' : 'NOT_FOUND\r\n';
      case 'flush_all':
        this.log.push('flush_all');
        this.items.clear();
        return 'OK\r\n';
      case 'version':
        this.log.push('version');
        return 'VERSION 1.6.18\r\n';
      case 'stats':
        this.log.push(`stats ${cmd.args.join(' ')}`.trimEnd());
        return `STAT pid 1\r\nSTAT curr_items ${this.items.size}\r\nEND\r\n`;
      case 'other': {
        this.log.push(str(cmd.line));
        const quiet = cmd.tokens.includes('q');
        const key = cmd.tokens[0] ?? '';
        if (cmd.name === 'mn') return 'MN\r\n';
        if (cmd.name === 'mg') {
          const it = this.items.get(key);
          if (!it) return quiet ? null : 'EN\r\n';
          return cmd.tokens.includes('v') ? `VA ${it.value.length}\r\n${str(it.value)}\r\n` : 'HD\r\n';
        }
        if (cmd.name === 'ms') {
          this.items.set(key, { value: Buffer.from(cmd.data!), flags: 0, cas: this.#cas++ });
          return quiet ? null : 'HD\r\n';
        }
        if (cmd.name === 'md') return this.items.delete(key) ? (quiet ? null : 'HD\r\n') : 'NF\r\n';
        return 'ERROR\r\n';
      }
      default:
        return 'ERROR\r\n';
    }
  }
}

/** What one client of the proxy received. */
export class FakeClient implements ClientTransport {
  received = '';
  ended = false;
  paused = false;
  handle!: ClientHandle;

  write(data: Buffer): boolean {
    this.received += data.toString('latin1');
    return true;
  }
  end(): void {
    this.ended = true;
  }
  pause(): void {
    this.paused = true;
  }
  resume(): void {
    this.paused = false;
  }
  send(s: string | Buffer): void {
    const b = typeof s === 'string' ? Buffer.from(s, 'latin1') : s;
    this.handle.data(b, b.length);
  }
  /** Returns and clears what was received. */
  take(): string {
    const r = this.received;
    this.received = '';
    return r;
  }
}

export interface RigOptions {
  main: string[];
  backup?: string[];
  mode?: BackupMode;
  timeoutMs?: number;
  failureLimit?: number;
  retryInitialMs?: number;
  connections?: number;
}

export function spec(name: string): ServerSpec {
  const [host, port] = name.split(':');
  return { host: host!, port: Number(port ?? 11211), weight: 1 };
}

/** A proxy core over fake servers named host:port. */
export class Rig {
  readonly clock = new FakeClock(1000);
  readonly servers = new Map<string, FakeServer>();
  readonly core: ProxyCore;
  readonly lines: string[] = [];

  constructor(o: RigOptions) {
    for (const n of [...o.main, ...(o.backup ?? [])]) if (!this.servers.has(n)) this.servers.set(n, new FakeServer(n));
    const config: ProxyConfig = {
      placement: { main: o.main.map(spec), backup: (o.backup ?? []).map(spec), distribution: 'ketama', hash: 'md5', backupMode: o.mode ?? 'copy' },
      timeoutMs: o.timeoutMs ?? 1000,
      health: { failureLimit: o.failureLimit ?? 2, retryInitialMs: o.retryInitialMs ?? 500, retryMaxMs: 8000 },
      connections: o.connections ?? 1,
      maxItemSize: 1024 * 1024,
    };
    const log = pino({ level: 'info' }, { write: (s: string) => void this.lines.push(JSON.parse(s).msg) });
    this.core = new ProxyCore(config, {
      clock: this.clock,
      connect: (s, events) => this.servers.get(serverName(s))!.connect(events),
      defer: (fn) => setImmediate(fn),
      log,
      unixTime: () => 1_700_000_000,
    });
  }

  server(name: string): FakeServer {
    return this.servers.get(name)!;
  }

  client(): FakeClient {
    const c = new FakeClient();
    c.handle = this.core.open(c);
    return c;
  }

  /** Sends, lets everything settle, returns what the client received. */
  async ask(c: FakeClient, s: string): Promise<string> {
    c.send(s);
    await settle();
    return c.take();
  }

  /** The key's main server name. */
  mainOf(key: string): string {
    const h = this.core.placement.hash(Buffer.from(key));
    return this.core.backends[this.core.placement.mainOf(h)]!.name;
  }

  backupOf(key: string): string | null {
    const h = this.core.placement.hash(Buffer.from(key));
    const b = this.core.placement.backupOf(h, this.core.placement.mainOf(h));
    return b < 0 ? null : this.core.backends[b]!.name;
  }

  stat(name: string): string | undefined {
    return new RegExp(`^STAT ${name} (.*)\r$`, 'm').exec(this.core.statsText())?.[1];
  }
}
