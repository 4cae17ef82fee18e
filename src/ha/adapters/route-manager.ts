import type { VirtualRoute } from '../../config/model.ts';
import { execaRunner, type CommandRunner } from './vip-manager.ts';

/** The routing protocol number iproute2 names `keepalived`: haved's routes show as keepalived's do. */
export const KEEPALIVED_PROTO = '18';

/** What `ip route add|del` gets: the route, tagged `proto keepalived` unless it names its own protocol. */
const ipArgs = (v: VirtualRoute): string[] => [...routeArgs(v), ...(v.protocol ? [] : ['proto', KEEPALIVED_PROTO])];

export class RouteError extends Error {
  override name = 'RouteError';
}

/** The `ip route` arguments after add/del, in iproute2's order. */
export function routeArgs(v: VirtualRoute): string[] {
  const a: string[] = [];
  if (v.type) a.push(v.type);
  a.push(v.to);
  if (v.via) a.push('via', v.via);
  if (v.dev) a.push('dev', v.dev);
  if (v.src) a.push('src', v.src);
  if (v.table) a.push('table', v.table);
  if (v.metric !== null) a.push('metric', String(v.metric));
  if (v.scope) a.push('scope', v.scope);
  if (v.protocol) a.push('proto', v.protocol);
  if (v.onlink) a.push('onlink');
  return a;
}

/** "198.18.10.0/24 via 198.18.0.254 dev eth0" — for logs; also the identity of a route across reloads. */
export const describeRoute = (v: VirtualRoute): string => routeArgs(v).join(' ');

/**
 * virtual_routes with iproute2. "File exists" on add and "No such process" on delete mean the work is already
 * done. A route that fails is reported, not fatal: the addresses (what clients reach) stay in place.
 */
export class RouteManager {
  readonly #run: CommandRunner;
  readonly #timeoutMs: number;
  readonly disabled: string | null;

  constructor(opts: { run?: CommandRunner; timeoutMs?: number; disabled?: string | null } = {}) {
    this.#run = opts.run ?? execaRunner;
    this.#timeoutMs = opts.timeoutMs ?? 3000;
    this.disabled = opts.disabled ?? null;
  }

  async add(v: VirtualRoute): Promise<void> {
    if (this.disabled) return;
    const args = ['route', 'add', ...ipArgs(v)];
    const r = await this.#run('ip', args, this.#timeoutMs);
    if (r.exitCode === 0 || /File exists/i.test(r.stderr)) return;
    throw new RouteError(`ip ${args.join(' ')}: ${r.stderr} (${v.where})`);
  }

  async remove(v: VirtualRoute): Promise<void> {
    if (this.disabled) return;
    const args = ['route', 'del', ...ipArgs(v)];
    const r = await this.#run('ip', args, this.#timeoutMs);
    if (r.exitCode === 0 || /No such process|not found|Cannot find device/i.test(r.stderr)) return;
    throw new RouteError(`ip ${args.join(' ')}: ${r.stderr} (${v.where})`);
  }

  /** Each route in order; returns the failures instead of stopping at the first. */
  async addAll(routes: readonly VirtualRoute[]): Promise<RouteError[]> {
    return this.#each(routes, (v) => this.add(v));
  }

  /** In reverse order (a route through another one goes first); returns the failures. */
  async removeAll(routes: readonly VirtualRoute[]): Promise<RouteError[]> {
    return this.#each([...routes].reverse(), (v) => this.remove(v));
  }

  async #each(routes: readonly VirtualRoute[], op: (v: VirtualRoute) => Promise<void>): Promise<RouteError[]> {
    const errors: RouteError[] = [];
    for (const v of routes) {
      try {
        await op(v);
      } catch (e) {
        errors.push(e instanceof RouteError ? e : new RouteError((e as Error).message));
      }
    }
    return errors;
  }
}
