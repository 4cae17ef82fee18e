import { BlockList, isIP } from 'node:net';
import { networkInterfaces } from 'node:os';

/** An address as the kernel reports it for an IPv4 peer on a dual-stack socket, made plain. */
export function plainAddress(addr: string): string {
  return addr.startsWith('::ffff:') && isIP(addr.slice(7)) === 4 ? addr.slice(7) : addr;
}

/** 127.0.0.0/8, ::1, ::ffff:127.x and the name localhost. */
export function isLoopback(host: string): boolean {
  const h = plainAddress(host.replace(/^\[|\]$/g, ''));
  if (h === 'localhost' || h === '::1') return true;
  return isIP(h) === 4 && h.startsWith('127.');
}

/** `addr` or `addr/bits`, IPv4 or IPv6. Throws a RangeError naming the entry when it is neither. */
export function parseAllowEntry(entry: string): { address: string; bits: number; family: 'ipv4' | 'ipv6' } {
  const m = /^([^/]+)(?:\/(\d{1,3}))?$/.exec(entry.trim());
  const address = m ? m[1]!.replace(/^\[|\]$/g, '') : '';
  const v = isIP(address);
  if (!m || v === 0) throw new RangeError(`'${entry}' is not an address or address/prefix`);
  const max = v === 4 ? 32 : 128;
  const bits = m[2] === undefined ? max : Number(m[2]);
  if (bits > max) throw new RangeError(`'${entry}': a prefix of ${bits} bits is too long for IPv${v}`);
  return { address, bits, family: v === 4 ? 'ipv4' : 'ipv6' };
}

/** Every address configured on this host's interfaces (loopback included). */
export function hostAddresses(): Set<string> {
  const out = new Set<string>();
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) out.add(plainAddress(a.address.replace(/%.*$/, '')));
  return out;
}

/**
 * Who may open a replication connection to this node, decided from the source address before a byte is read or
 * sent: the peers named with -x (their resolved addresses, and the address each dial actually reached), the
 * entries of the allow list, and — on a node that names no peer (the first node of a repcached pair) — this
 * host's own listen addresses: the -l addresses, or every address of this host when the port listens on all
 * interfaces.
 */
export class AccessList {
  readonly #list = new BlockList();
  readonly #described: string[] = [];
  readonly #own: (() => Set<string>) | null;
  #ownCache: { at: number; set: Set<string> } | null = null;
  readonly #now: () => number;

  /**
   * @param own this host's addresses a node without -x accepts peers from (null: none). Called at most once
   *   a second: interfaces (a VIP) come and go.
   */
  constructor(opts: { allow?: string[]; own?: (() => Set<string>) | null; now?: () => number } = {}) {
    this.#own = opts.own ?? null;
    this.#now = opts.now ?? (() => performance.now());
    for (const e of opts.allow ?? []) this.addEntry(e);
  }

  /** An allow-list entry, `addr` or `addr/bits`. */
  addEntry(entry: string): void {
    const { address, bits, family } = parseAllowEntry(entry);
    this.#list.addSubnet(address, bits, family);
    this.#described.push(bits === (family === 'ipv4' ? 32 : 128) ? address : `${address}/${bits}`);
  }

  /** A peer's address (from -x, resolved, or the address a dial reached). */
  addAddress(address: string): void {
    const a = plainAddress(address);
    const v = isIP(a);
    if (v === 0 || this.#list.check(a, v === 4 ? 'ipv4' : 'ipv6')) return;
    this.#list.addAddress(a, v === 4 ? 'ipv4' : 'ipv6');
    this.#described.push(a);
  }

  allows(remote: string | undefined): boolean {
    if (!remote) return false;
    const a = plainAddress(remote);
    const v = isIP(a);
    if (v === 0) return false;
    if (this.#list.check(a, v === 4 ? 'ipv4' : 'ipv6')) return true;
    return this.#own !== null && this.#ownAddresses().has(a);
  }

  #ownAddresses(): Set<string> {
    const now = this.#now();
    if (!this.#ownCache || now - this.#ownCache.at >= 1000) this.#ownCache = { at: now, set: this.#own!() };
    return this.#ownCache.set;
  }

  /** For the start-up log line. */
  describe(): string {
    const parts = [...this.#described];
    if (this.#own) parts.push(`this host's own listen addresses (${[...this.#ownAddresses()].join(', ')})`);
    return parts.length ? parts.join(', ') : 'nobody';
  }
}
