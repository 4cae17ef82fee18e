import { readFileSync, writeFileSync } from 'node:fs';
import { isIPv6 } from 'node:net';
import { execa } from 'execa';
import type { VirtualAddress } from '../../config/model.ts';
import { arpingFlavour, findOnPath, garpArgs, garpSent, type ArpingFlavour } from './arping.ts';

export class VipError extends Error {
  override name = 'VipError';
}

/** Runs a command; resolves its exit code, stderr and stdout. Injected in tests. */
export type CommandRunner = (file: string, args: string[], timeoutMs: number) => Promise<{ exitCode: number; stderr: string; stdout?: string }>;

export const execaRunner: CommandRunner = async (file, args, timeoutMs) => {
  const r = await execa(file, args, { reject: false, timeout: timeoutMs, stdin: 'ignore' });
  if (r.timedOut) return { exitCode: -1, stderr: `timed out after ${timeoutMs} ms` };
  const code = (r as { code?: string }).code;
  return { exitCode: r.exitCode ?? -1, stderr: String(r.stderr ?? '').trim() || code || r.shortMessage || 'failed', stdout: String(r.stdout ?? '') };
};

/** How gratuitous ARPs are sent: the arping found at start and its flavour, or why none can be. */
export type Announcer = { file: string; flavour: ArpingFlavour; note?: string } | { unavailable: string };

export interface VipManagerOptions {
  run?: CommandRunner;
  timeoutMs?: number;
  /** Why VIPs are not managed (e.g. no CAP_NET_ADMIN): every operation succeeds without running `ip`. */
  disabled?: string | null;
  /** Finds `arping` (default: on PATH). */
  findArping?: () => string | null;
  /** Writes one sysctl under /proc/sys (default: the real file). Injected in tests. */
  writeSysctl?: (path: string, value: string) => void;
}

/**
 * The sysctls that make the kernel announce an IPv6 address it adds: an unsolicited neighbour advertisement
 * (override flag, to all nodes) goes out when the address becomes valid if ndisc_notify is on; with DAD off on
 * the interface (accept_dad 0) that is at once. An address added with `nodad` gets none (checked on Linux 6.x).
 * Node has no raw ICMPv6 socket and Debian has no tool that sends one, so this is how haved announces IPv6 VIPs.
 */
export const NDISC_SYSCTLS = [
  ['ndisc_notify', '1'],
  ['accept_dad', '0'],
] as const;

const defaultWriteSysctl = (path: string, value: string): void => writeFileSync(path, value);

/** "198.18.0.100/32 dev hv0 label hv0:1" — for logs and the state dump. */
export function describeVip(v: VirtualAddress, defaultDev: string): string {
  return `${v.address}/${v.prefix} dev ${v.dev ?? defaultDev}${v.label ? ` label ${v.label}` : ''}`;
}

/** The `ip` command line that adds a VIP; IPv6 without DAD: `nodad` unless DAD is off on the interface. */
export function addArgs(v: VirtualAddress, dev: string, ipv6Announced = false): string[] {
  if (isIPv6(v.address)) {
    const args = ['-6', 'addr', 'add', `${v.address}/${v.prefix}`, 'dev', dev];
    if (v.scope) args.push('scope', v.scope);
    if (!ipv6Announced) args.push('nodad');
    return args;
  }
  const args = ['addr', 'add', `${v.address}/${v.prefix}`, 'dev', dev];
  if (v.brd) args.push('broadcast', v.brd);
  if (v.scope) args.push('scope', v.scope);
  if (v.label) args.push('label', v.label);
  return args;
}

export function delArgs(v: VirtualAddress, dev: string): string[] {
  return [...(isIPv6(v.address) ? ['-6'] : []), 'addr', 'del', `${v.address}/${v.prefix}`, 'dev', dev];
}

/**
 * Adds and removes virtual addresses with iproute2 and announces them with arping (either Debian flavour,
 * found by detectArping() at start). "Address already assigned" on add and "Address not found" on delete
 * mean the work is already done.
 */
export class VipManager {
  readonly #run: CommandRunner;
  readonly #timeoutMs: number;
  readonly #findArping: () => string | null;
  readonly #writeSysctl: (path: string, value: string) => void;
  /** Per interface: null = IPv6 VIPs are announced by the kernel, else why they cannot be. */
  readonly #ndisc = new Map<string, string | null>();
  /** Until detectArping() ran: `arping` on PATH with the iputils syntax. */
  #announcer: Announcer = { file: 'arping', flavour: 'iputils' };
  /** Non-null: VIP management is off for this reason (the election still runs). */
  readonly disabled: string | null;

  constructor(opts: VipManagerOptions = {}) {
    this.#run = opts.run ?? execaRunner;
    this.#timeoutMs = opts.timeoutMs ?? 3000;
    this.disabled = opts.disabled ?? null;
    this.#findArping = opts.findArping ?? (() => findOnPath('arping'));
    this.#writeSysctl = opts.writeSysctl ?? defaultWriteSysctl;
  }

  /**
   * Turns on the kernel's unsolicited neighbour advertisement for IPv6 addresses added on `dev` (see
   * NDISC_SYSCTLS), once per interface. Null when done, else why IPv6 VIPs on `dev` cannot be announced
   * (they are then added with `nodad` and clients find the new MAC only when their entry goes stale).
   */
  prepareIPv6(dev: string): string | null {
    if (this.disabled) return null;
    const known = this.#ndisc.get(dev);
    if (known !== undefined) return known;
    let reason: string | null = null;
    for (const [name, value] of NDISC_SYSCTLS) {
      const path = `/proc/sys/net/ipv6/conf/${dev}/${name}`;
      try {
        this.#writeSysctl(path, value);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        reason = code === 'ENOENT' ? `interface ${dev} has no IPv6 (${path} does not exist: IPv6 disabled or no such interface)` : `cannot set ${path} to ${value}: ${(e as Error).message}`;
        break;
      }
    }
    this.#ndisc.set(dev, reason);
    return reason;
  }

  get announcer(): Announcer {
    return this.#announcer;
  }

  /**
   * Finds arping and its flavour (`arping -V`), once at start. Without a usable arping the VIPs still move,
   * but no gratuitous ARP tells the clients: the result says why, for a clear start-up message.
   */
  async detectArping(): Promise<Announcer> {
    const file = this.#findArping();
    if (!file) {
      this.#announcer = { unavailable: 'no arping on PATH (install iputils-arping or arping)' };
      return this.#announcer;
    }
    let r: { exitCode: number; stderr: string; stdout?: string };
    try {
      r = await this.#run(file, ['-V'], 3000);
    } catch (e) {
      this.#announcer = { unavailable: `${file} -V failed: ${(e as Error).message}` };
      return this.#announcer;
    }
    const output = `${r.stdout ?? ''}\n${r.stderr}`;
    const flavour = arpingFlavour(output);
    if (flavour) this.#announcer = { file, flavour };
    else if (r.exitCode === -1 || /ENOENT|EACCES/.test(r.stderr)) this.#announcer = { unavailable: `${file} does not run: ${r.stderr}` };
    else {
      const first = output.trim().split('\n')[0]?.slice(0, 80) ?? '';
      this.#announcer = { file, flavour: 'iputils', note: `unrecognised arping (${JSON.stringify(first)}): using the iputils syntax` };
    }
    return this.#announcer;
  }

  /** Throws VipError (no such device, no permission, timeout) so the caller can go to FAULT. */
  async add(v: VirtualAddress, defaultDev: string): Promise<void> {
    if (this.disabled) return;
    const dev = v.dev ?? defaultDev;
    const args = addArgs(v, dev, isIPv6(v.address) && this.prepareIPv6(dev) === null);
    const r = await this.#run('ip', args, this.#timeoutMs);
    if (r.exitCode === 0 || /already assigned|File exists/i.test(r.stderr)) return;
    const hint = isIPv6(v.address) && /Permission denied/i.test(r.stderr) ? ` (is IPv6 disabled on ${dev}? sysctl net.ipv6.conf.${dev}.disable_ipv6)` : '';
    throw new VipError(`ip ${args.join(' ')}: ${r.stderr}${hint}`);
  }

  async remove(v: VirtualAddress, defaultDev: string): Promise<void> {
    if (this.disabled) return;
    const args = delArgs(v, v.dev ?? defaultDev);
    const r = await this.#run('ip', args, this.#timeoutMs);
    if (r.exitCode === 0 || /not found|Cannot assign requested address/i.test(r.stderr)) return;
    throw new VipError(`ip ${args.join(' ')}: ${r.stderr}`);
  }

  /** Adds every VIP; on the first failure removes those already added and rethrows. */
  async addAll(vips: readonly VirtualAddress[], defaultDev: string): Promise<void> {
    const done: VirtualAddress[] = [];
    try {
      for (const v of vips) {
        await this.add(v, defaultDev);
        done.push(v);
      }
    } catch (e) {
      await this.removeAll(done, defaultDev);
      throw e;
    }
  }

  /** Removes every VIP; returns the failures instead of stopping at the first. */
  async removeAll(vips: readonly VirtualAddress[], defaultDev: string): Promise<VipError[]> {
    const errors: VipError[] = [];
    for (const v of vips) {
      try {
        await this.remove(v, defaultDev);
      } catch (e) {
        errors.push(e as VipError);
      }
    }
    return errors;
  }

  /**
   * One burst of `repeat` gratuitous ARPs per VIP. Each `arping -U -c 1` lingers ~1 s waiting for a reply,
   * so they run concurrently and are not awaited by the election. Nothing is sent without an arping (the
   * start-up log said so).
   */
  garp(vips: readonly VirtualAddress[], defaultDev: string, repeat: number, onError?: (e: VipError) => void): void {
    const a = this.#announcer;
    if (this.disabled || 'unavailable' in a) return;
    for (const v of vips) {
      const dev = v.dev ?? defaultDev;
      if (dev === 'lo') continue; // no ARP on loopback
      if (isIPv6(v.address)) continue; // announced by the kernel when added (prepareIPv6)
      for (let i = 0; i < Math.max(1, repeat); i++) {
        const args = garpArgs(a.flavour, dev, v.address);
        this.#run(a.file, args, 3000).then(
          (r) => { if (!garpSent(a.flavour, r) && i === 0) onError?.(new VipError(`${a.file} ${args.join(' ')}: exit ${r.exitCode}: ${r.stderr || r.stdout?.trim()}`)); },
          (e: Error) => { if (i === 0) onError?.(new VipError(`${a.file}: ${e.message}`)); },
        );
      }
    }
  }
}

const CAP_NET_ADMIN = 12;

/** Null when this process may change addresses (CAP_NET_ADMIN), else why not; reads /proc/self/status. */
export function vipManagementUnavailable(statusText?: string): string | null {
  let text = statusText;
  if (text === undefined) {
    try {
      text = readFileSync('/proc/self/status', 'utf8');
    } catch {
      return process.getuid?.() === 0 ? null : 'not root';
    }
  }
  const hex = /^CapEff:\s*([0-9a-f]+)/im.exec(text)?.[1];
  if (hex === undefined) return process.getuid?.() === 0 ? null : 'not root';
  return (BigInt(`0x${hex}`) >> BigInt(CAP_NET_ADMIN)) & 1n ? null : 'no CAP_NET_ADMIN (not root)';
}
