import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ConfigError, loadConfig, parseConfigText, type LoadOptions } from '../../../src/config/load.ts';
import type { HavedConfig } from '../../../src/config/model.ts';

export const fixture = (name: string): string => fileURLToPath(new URL(`../../fixtures/${name}`, import.meta.url));
export const fixtureText = (name: string): string => readFileSync(fixture(name), 'utf8');

/** Parse as "haved.conf" with no local addresses but 127.0.0.1. */
export function parse(text: string, opts: LoadOptions = {}): HavedConfig {
  return parseConfigText(text, 'haved.conf', { localAddresses: [], configId: 'node1', ...opts });
}

export function load(name: string, opts: LoadOptions = {}): HavedConfig {
  return loadConfig(fixture(name), { localAddresses: [], configId: 'node1', ...opts });
}

/** The ConfigError message parse() throws (fails the test if it does not throw one). */
export function errorOf(text: string, opts: LoadOptions = {}): string {
  try {
    parse(text, opts);
  } catch (e) {
    if (e instanceof ConfigError) return e.message;
    throw e;
  }
  throw new Error('expected a ConfigError');
}

/** Drop every `where` (and warnings) so configs written with different layouts compare equal. */
export function shape(c: HavedConfig): unknown {
  return JSON.parse(
    JSON.stringify({ ...c, scripts: [...c.scripts.values()], warnings: undefined }, (k, v) => (k === 'where' ? undefined : v)),
  );
}

/** A minimal valid instance around `body`. */
export const instance = (body: string, head = 'vrrp_instance VI_1 {\n  interface eth0\n  virtual_router_id 51\n'): string =>
  `${head}${body}\n  virtual_ipaddress {\n    10.0.0.1\n  }\n}\n`;
