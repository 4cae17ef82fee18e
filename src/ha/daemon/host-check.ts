import type { HavedConfig } from '../../config/model.ts';
import { hostInterfaces, interfaceExists } from '../adapters/interfaces.ts';

/**
 * Interfaces the config names that this host does not have (an instance's interface, a tracked interface,
 * a VIP's dev), as "file:line: …" findings. Such an instance runs in FAULT until the interface appears; a
 * config checked on another host may be fine where it runs, so these are warnings.
 */
export function missingInterfaces(
  cfg: HavedConfig,
  exists: (name: string) => boolean = interfaceExists,
  list: () => string[] = hostInterfaces,
): string[] {
  const out: string[] = [];
  const check = (where: string, what: string, name: string) => {
    if (!exists(name)) out.push(`${where}: ${what} ${name} does not exist on this host (it has: ${list().join(', ') || 'none'})`);
  };
  for (const i of cfg.instances) {
    check(i.where, `vrrp_instance ${i.name}: interface`, i.interface);
    for (const t of i.trackInterfaces) check(t.where, `vrrp_instance ${i.name}: track_interface`, t.name);
    for (const v of i.virtualIpAddresses) if (v.dev && v.dev !== i.interface) check(v.where, `vrrp_instance ${i.name}: virtual_ipaddress ${v.address} dev`, v.dev);
    for (const v of i.virtualIpAddressesExcluded) if (v.dev && v.dev !== i.interface) check(v.where, `vrrp_instance ${i.name}: virtual_ipaddress_excluded ${v.address} dev`, v.dev);
    for (const r of i.virtualRoutes) if (r.dev && r.dev !== i.interface) check(r.where, `vrrp_instance ${i.name}: virtual_routes ${r.to} dev`, r.dev);
  }
  return out;
}
