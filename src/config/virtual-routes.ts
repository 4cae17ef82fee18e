import { whereOf, type Token } from './lexer.ts';
import type { VirtualRoute } from './model.ts';
import { checkIPv4, type Reader } from './reader.ts';

const ROUTE_TYPES = new Set(['blackhole', 'unreachable', 'prohibit', 'throw']);
const SCOPES = new Set(['site', 'link', 'host', 'nowhere', 'global']);
/** keepalived's route options that haved does not apply: an error, so a route is never installed half right. */
const UNSUPPORTED = new Set([
  'or', 'nexthop', 'tos', 'dsfield', 'mtu', 'hoplimit', 'advmss', 'rtt', 'rttvar', 'reordering', 'window', 'cwnd',
  'ssthresh', 'realms', 'rto_min', 'initcwnd', 'initrwnd', 'features', 'quickack', 'congctl', 'fastopen_no_cookie',
  'pref', 'vrf', 'encap', 'track_group', 'lock', 'append', 'ttl-propagate', 'expires', 'multipath',
]);

/**
 * One `virtual_routes` entry, keepalived's syntax for the common cases:
 * `[TYPE] [src IP] [to] DEST[/PREFIX]|default [via|gw IP] [dev IF] [src IP] [table ID] [metric|priority|preference N]
 * [scope SCOPE] [protocol|proto P] [onlink] [no_track]` (TYPE: blackhole, unreachable, prohibit, throw).
 */
export function readVirtualRoute(r: Reader, first: Token): VirtualRoute {
  const route: VirtualRoute = {
    type: null, to: '', via: null, dev: null, src: null, table: null, metric: null, scope: null, protocol: null, onlink: false,
    where: whereOf(first),
  };
  let t: Token | undefined = first;
  const nextWord = (what: string): Token => r.arg(first, what);
  if (ROUTE_TYPES.has(t.text)) {
    route.type = t.text;
    t = nextWord('a destination after the route type');
  }
  if (t.text === 'src') {
    route.src = checkIPv4(r, nextWord('an IPv4 address after src'), 'virtual_routes src');
    t = nextWord('a destination');
  }
  if (t.text === 'to') t = nextWord('a destination after to');
  route.to = destination(r, t);

  for (let o; (o = r.optional(first, null)); ) {
    const value = () => r.arg(o!, `a value after ${o!.text}`);
    switch (o.text) {
      case 'via':
      case 'gw':
        route.via = checkIPv4(r, value(), `virtual_routes ${o.text}`);
        break;
      case 'dev':
      case 'oif':
        route.dev = value().text;
        break;
      case 'src':
        route.src = checkIPv4(r, value(), 'virtual_routes src');
        break;
      case 'table': {
        const v = value();
        if (!/^(\d{1,10}|[A-Za-z_][\w.-]*)$/.test(v.text) || (/^\d+$/.test(v.text) && Number(v.text) > 0xffffffff)) {
          r.fail(v, `virtual_routes table must be a number 0..4294967295 or a name from rt_tables, got "${v.text}"`);
        }
        route.table = v.text;
        break;
      }
      case 'metric':
      case 'priority':
      case 'preference': {
        const v = value();
        if (!/^\d{1,10}$/.test(v.text) || Number(v.text) > 0xffffffff) r.fail(v, `virtual_routes ${o.text} must be an integer 0..4294967295, got "${v.text}"`);
        route.metric = Number(v.text);
        break;
      }
      case 'scope': {
        const v = value();
        if (!SCOPES.has(v.text) && !/^\d{1,3}$/.test(v.text)) r.fail(v, `virtual_routes scope must be site, link, host, nowhere or global, got "${v.text}"`);
        route.scope = v.text;
        break;
      }
      case 'protocol':
      case 'proto': {
        const v = value();
        if (!/^(\d{1,3}|[A-Za-z_][\w.-]*)$/.test(v.text)) r.fail(v, `virtual_routes ${o.text} must be a number or a name, got "${v.text}"`);
        route.protocol = v.text;
        break;
      }
      case 'onlink':
        route.onlink = true;
        break;
      case 'no_track':
        break; // haved never leaves MASTER because a route was deleted behind its back: no_track is its behaviour
      default:
        if (UNSUPPORTED.has(o.text)) r.fail(o, `virtual_routes option '${o.text}' is not supported by haved (remove it, or use a notify_master script)`);
        r.fail(o, `unknown virtual_routes option '${o.text}' (haved reads: via/gw, dev, src, table, metric, scope, protocol, onlink, no_track, and the types ${[...ROUTE_TYPES].join(', ')})`);
    }
  }
  if (route.type === null && route.via === null && route.dev === null) {
    r.fail(first, `virtual_routes entry ${route.to} needs 'via ADDRESS' or 'dev IFNAME' (or a type: ${[...ROUTE_TYPES].join(', ')})`);
  }
  if (route.type !== null && route.via !== null) r.fail(first, `virtual_routes: a ${route.type} route cannot have a gateway (via ${route.via})`);
  return route;
}

/** Appends a route read at `first`; the same destination in the same table twice is an error (`ip` keeps one). */
export function addVirtualRoute(r: Reader, routes: VirtualRoute[], first: Token): void {
  const route = readVirtualRoute(r, first);
  const key = (v: VirtualRoute) => `${v.to} table ${v.table ?? 'main'} metric ${v.metric ?? 0}`;
  const dup = routes.find((v) => key(v) === key(route));
  if (dup) r.fail(first, `virtual_routes ${route.to}${route.table ? ` table ${route.table}` : ''} is listed twice (first at ${dup.where})`);
  routes.push(route);
}

/** DEST[/PREFIX] (no host bits set, as `ip route` requires) or `default`; a bare address is /32. */
function destination(r: Reader, t: Token): string {
  if (t.text === 'default') return 'default';
  const [addr, mask, extra] = t.text.split('/');
  checkIPv4(r, { ...t, text: addr! }, 'virtual_routes destination');
  if (extra !== undefined || (mask !== undefined && (!/^\d{1,2}$/.test(mask) || Number(mask) > 32))) {
    r.fail(t, `virtual_routes destination must be IP[/PREFIX] with PREFIX 0..32 or "default", got "${t.text}"`);
  }
  const prefix = mask === undefined ? 32 : Number(mask);
  const n = addr!.split('.').reduce((a, b) => a * 256 + Number(b), 0);
  const hostBits = prefix === 0 ? n : n % 2 ** (32 - prefix);
  if (hostBits !== 0) r.fail(t, `virtual_routes destination ${t.text} has host bits set (did you mean ${network(n - hostBits)}/${prefix}?)`);
  return `${addr}/${prefix}`;
}

const network = (n: number) => [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');
