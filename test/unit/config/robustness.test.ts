import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/config/load.ts';
import { fixture, fixtureText, parse } from './helpers.ts';

/** Whatever is cut off or mangled, the reader answers with a ConfigError or a config, never a crash. */
describe('truncated and mangled input', () => {
  const seeds = readdirSync(fixture('seeds'));
  // The other seeds are the same files with other values.
  const distinct = ['000-memcached1-master.conf', '000-memcached2-as-printed.conf', '001-mamcache1-master.conf', '003-mem-master.conf'];

  it.each(distinct)('%s cut at every character', (name) => {
    const text = fixtureText(`seeds/${name}`);
    for (let cut = 0; cut <= text.length; cut++) {
      try {
        parse(text.slice(0, cut));
      } catch (e) {
        if (!(e instanceof ConfigError)) throw new Error(`cut at ${cut}: ${String(e)}`);
        expect(e.message).toMatch(/^haved\.conf:\d+: /);
      }
    }
  });

  it.each(seeds)('%s with each line dropped', (name) => {
    const lines = fixtureText(`seeds/${name}`).split('\n');
    for (let i = 0; i < lines.length; i++) {
      try {
        parse([...lines.slice(0, i), ...lines.slice(i + 1)].join('\n'));
      } catch (e) {
        if (!(e instanceof ConfigError)) throw new Error(`without line ${i + 1}: ${String(e)}`);
      }
    }
  });
});
