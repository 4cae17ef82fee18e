import { FakeCacheTime } from '../../support/fake-clock.ts';
import { SlabStore, type StoreOptions } from '../../../src/cache/store.ts';
import { defaultServerConfig, storeOptionsFor } from '../../../src/server/config.ts';

export const MB = 1024 * 1024;
export const STARTED = 1_700_000_000;

export function makeStore(over: Partial<StoreOptions> = {}): { store: SlabStore; clock: FakeCacheTime } {
  const clock = new FakeCacheTime(STARTED);
  // memcached's defaults (-m 64 and so on), as repcache starts with no flags.
  const store = new SlabStore({ ...storeOptionsFor(defaultServerConfig, clock.clock), ...over });
  return { store, clock };
}

export const k = (s: string): Buffer => Buffer.from(s);

/** The value stored under key, or null on a miss (counts as a get). */
export function getValue(store: SlabStore, key: string): string | null {
  const h = store.get(k(key));
  if (h === -1) return null;
  const out = Buffer.alloc(store.itemValueLength(h));
  store.copyValue(h, out, 0);
  return out.toString('latin1');
}

export function set(store: SlabStore, key: string, value: string | Buffer, flags = 0, exptime = 0): string {
  return store.store('set', k(key), flags, exptime, typeof value === 'string' ? k(value) : value, 0n);
}

export function stat(entries: ReadonlyArray<readonly [string, unknown]>, name: string): unknown {
  const e = entries.find(([n]) => n === name);
  if (!e) throw new Error(`no stat ${name}`);
  return e[1];
}
