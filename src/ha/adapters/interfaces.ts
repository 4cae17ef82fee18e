import { existsSync, readdirSync } from 'node:fs';
import { networkInterfaces } from 'node:os';

/** The host's network interfaces (up or down), sorted: /sys/class/net, else those with an address. */
export function hostInterfaces(): string[] {
  try {
    return readdirSync('/sys/class/net').sort();
  } catch {
    return Object.keys(networkInterfaces()).sort();
  }
}

export function interfaceExists(name: string): boolean {
  return existsSync(`/sys/class/net/${name}`) || name in networkInterfaces();
}

/** "interface eth0 does not exist (this host has: lo, ens3)" */
export function missingInterfaceMessage(name: string, existing: readonly string[] = hostInterfaces()): string {
  return `interface ${name} does not exist (this host has: ${existing.join(', ') || 'none'})`;
}

/** Why an instance's interface gives it no IPv4 address: missing, or present without an IPv4 address. */
export function noIPv4Reason(name: string): string {
  return interfaceExists(name) ? `interface ${name} has no IPv4 address` : missingInterfaceMessage(name);
}

/** Why an IPv6 instance's interface gives it no link-local address to send multicast adverts from. */
export function noIPv6Reason(name: string): string {
  return interfaceExists(name)
    ? `interface ${name} has no IPv6 link-local address (IPv6 disabled? sysctl net.ipv6.conf.${name}.disable_ipv6)`
    : missingInterfaceMessage(name);
}
