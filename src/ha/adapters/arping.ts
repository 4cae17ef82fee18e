import { accessSync, constants } from 'node:fs';
import { join } from 'node:path';

/**
 * Debian ships two arping programs that cannot be installed together: iputils-arping (`/usr/bin/arping`,
 * `-I IFACE`; also BusyBox's applet) and Thomas Habets' arping (package `arping`, `/usr/sbin/arping`,
 * `-i IFACE`, `-S SOURCE`). Their gratuitous ARP command lines differ, and so does success: Habets' arping
 * exits 1 when nobody answers, which an unsolicited ARP never expects.
 */
export type ArpingFlavour = 'iputils' | 'habets';

/** The flavour from the output of `arping -V` (iputils, BusyBox: a version; Habets: its usage banner). */
export function arpingFlavour(output: string): ArpingFlavour | null {
  if (/Thomas Habets|^ARPing \d/m.test(output)) return 'habets';
  if (/iputils|BusyBox/i.test(output)) return 'iputils';
  return null;
}

/** One gratuitous ARP (a request from and for `address`, to the broadcast MAC) on `dev`. */
export function garpArgs(flavour: ArpingFlavour, dev: string, address: string): string[] {
  return flavour === 'habets' ? ['-U', '-c', '1', '-i', dev, '-S', address, address] : ['-U', '-c', '1', '-I', dev, address];
}

/** Did the gratuitous ARP leave? iputils: exit 0. Habets: "1 packets transmitted" (exit 1 = no reply, normal). */
export function garpSent(flavour: ArpingFlavour, r: { exitCode: number; stdout?: string }): boolean {
  if (flavour === 'iputils') return r.exitCode === 0;
  return (r.exitCode === 0 || r.exitCode === 1) && /\b[1-9]\d* packets? transmitted/.test(r.stdout ?? '');
}

/** The first executable `name` on PATH, or null. */
export function findOnPath(name: string, path = process.env.PATH ?? ''): string | null {
  for (const dir of path.split(':')) {
    if (!dir) continue;
    const file = join(dir, name);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      /* not here */
    }
  }
  return null;
}
