/**
 * Finds listening TCP sockets that another process shares with this one through SO_REUSEPORT (Linux lets two
 * processes of the same user bind the same address and port when both set it: a second repcache -t N on a port
 * the first already serves would quietly take half its connections). Read from the kernel's socket tables
 * (/proc/net/tcp, /proc/net/tcp6: every socket of this network namespace) and this process's descriptors, once the
 * listeners are bound, so that the port is never bound for a check and let go again.
 */
import { readdir, readFile, readlink } from 'node:fs/promises';

const TCP_LISTEN = '0A';

export interface ListeningSocket {
  /** The local address as the kernel prints it (hex address:port), prefixed by its table ('tcp' or 'tcp6'). */
  local: string;
  inode: string;
}

/** The listening sockets of one table's text (/proc/net/tcp or tcp6). */
export function parseListening(table: 'tcp' | 'tcp6', text: string): ListeningSocket[] {
  const out: ListeningSocket[] = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10 || f[3] !== TCP_LISTEN) continue;
    out.push({ local: `${table}:${f[1]}`, inode: f[9] });
  }
  return out;
}

/** The local addresses (as `address:port`) where a socket of ours listens beside another process's socket. */
export function sharedWithOthers(listening: ListeningSocket[], ours: Set<string>): string[] {
  const mine = new Set(listening.filter((s) => ours.has(s.inode)).map((s) => s.local));
  const shared = new Set(listening.filter((s) => !ours.has(s.inode) && mine.has(s.local)).map((s) => s.local));
  return [...shared].map(decodeLocal);
}

/** `tcp:0100007F:2BCB` → `127.0.0.1:11211`; `tcp6:<32 hex>:2BCB` → `[::1]:11211` (each 32-bit word in host order). */
export function decodeLocal(local: string): string {
  const [table, hex, portHex] = local.split(':');
  const port = parseInt(portHex, 16);
  const bytes = (hex.match(/../g) ?? []).map((b) => parseInt(b, 16));
  // the kernel prints each 32-bit word of the address as a number: little-endian on the hosts we run on
  const words: number[] = [];
  for (let i = 0; i < bytes.length; i += 4) words.push(...bytes.slice(i, i + 4).reverse());
  if (table === 'tcp') return `${words.join('.')}:${port}`;
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((words[i] << 8) | words[i + 1]).toString(16));
  return `[${groups.join(':').replace(/(^|:)0(:0)+(:|$)/, '::')}]:${port}`;
}

/** The inodes of this process's sockets (its threads share the descriptor table). */
async function ownSocketInodes(): Promise<Set<string>> {
  const inodes = new Set<string>();
  for (const fd of await readdir('/proc/self/fd')) {
    const target = await readlink(`/proc/self/fd/${fd}`).catch(() => '');
    const m = /^socket:\[(\d+)\]$/.exec(target);
    if (m) inodes.add(m[1]);
  }
  return inodes;
}

/**
 * The addresses where this process listens together with another one; empty when none, or where the kernel's
 * tables cannot be read (not Linux: no SO_REUSEPORT sharing to find either).
 */
export async function portsSharedWithAnotherProcess(): Promise<string[]> {
  const tables = await Promise.all((['tcp', 'tcp6'] as const).map(async (t) => parseListening(t, await readFile(`/proc/net/${t}`, 'utf8').catch(() => ''))));
  const listening = tables.flat();
  if (listening.length === 0) return [];
  return sharedWithOthers(listening, await ownSocketInodes());
}
