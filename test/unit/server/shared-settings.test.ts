import { describe, expect, it } from 'vitest';
import { defaultServerConfig, type ServerConfig } from '../../../src/server/config.ts';
import { applyRuntimeSettings, runtimeSettingsOf, SharedSettings } from '../../../src/server/shared-settings.ts';

const configOf = (): ServerConfig => ({ ...defaultServerConfig, listen: [], extended: { temporary_ttl: '61', tail_repair_time: '0' } });

describe('SharedSettings (repcache -t N: one settings for every worker)', () => {
  it('what one worker publishes, another adopts once; its own publication is nothing new to it', () => {
    const buffer = SharedSettings.allocate();
    const a = new SharedSettings(buffer);
    const b = new SharedSettings(buffer);
    expect(b.changed).toBe(false);
    expect(b.adopt()).toBeNull();
    const mine = configOf();
    mine.lruCrawler = false;
    mine.memoryLimitMB = 20;
    mine.extended.slab_automove_ratio = '0.50';
    delete mine.extended.temporary_ttl;
    a.publish(runtimeSettingsOf(mine, 2, true));
    expect(a.changed).toBe(false);
    expect(b.changed).toBe(true);
    const s = b.adopt()!;
    expect(s).toMatchObject({ lruCrawler: false, memoryLimitMB: 20, verbosity: 2, detail: true });
    expect(b.adopt()).toBeNull();
    const theirs = configOf();
    applyRuntimeSettings(theirs, s);
    expect(theirs.lruCrawler).toBe(false);
    expect(theirs.memoryLimitMB).toBe(20);
    // a setting unset there is unset here; what no command changes (tail_repair_time) is left alone
    expect(theirs.extended).toEqual({ slab_automove_ratio: '0.50', tail_repair_time: '0' });
  });

  it('a worker attached after a publication (the first serves before the last is up) adopts it', () => {
    const buffer = SharedSettings.allocate();
    const mine = configOf();
    mine.lruCrawler = false;
    new SharedSettings(buffer).publish(runtimeSettingsOf(mine, 0, false));
    const late = new SharedSettings(buffer);
    expect(late.changed).toBe(true);
    expect(late.adopt()).toMatchObject({ lruCrawler: false });
  });
});
