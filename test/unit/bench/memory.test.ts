/** The memory benchmark's reading of /proc/PID/smaps and its breakdown arithmetic. */
import { describe, expect, it } from 'vitest';
import { breakdown, parseSmaps } from '../../../scripts/bench/memory.ts';

const SMAPS = `00400000-00c00000 r-xp 00000000 08:01 123 /usr/bin/node
Size:               8192 kB
Rss:                4000 kB
Anonymous:             0 kB
1cabe000-1d0fe000 rw-p 00000000 00:00 0                                  [heap]
Size:               6400 kB
Anonymous:          6256 kB
7f13a4efd000-7f13ab5bd000 rw-p 00000000 00:00 0 
Size:             105216 kB
Anonymous:         65600 kB
7f13e4000000-7f13e4300000 rw-p 00000000 00:00 0 
Size:               3072 kB
Anonymous:          3000 kB
7ffd1000-7ffd2000 rw-p 00000000 00:00 0                                  [stack]
Anonymous:           132 kB
`;

describe('memory bench', () => {
  it("reads each mapping's size and anonymous part", () => {
    const maps = parseSmaps(SMAPS);
    expect(maps.map((m) => [m.name, m.sizeKB, m.anonKB])).toEqual([
      ['/usr/bin/node', 8192, 0],
      ['[heap]', 6400, 6256],
      ['', 105216, 65600],
      ['', 3072, 3000],
      ['[stack]', 4, 132],
    ]);
  });

  it('splits RssAnon into slab pages, hash index, V8 heap and the rest', () => {
    const b = breakdown(parseSmaps(SMAPS), { rssAnonMB: 92, totalMalloced: 64 * 1024 * 1024, hashBytes: 2 * 1024 * 1024, v8HeapMB: 13.5 });
    expect(b).toMatchObject({ rssAnon: 92, slabs: 64, hashIndex: 2, v8Heap: 13.5, rest: 12.5 });
    expect(b.mallocHeap).toBeCloseTo(6256 / 1024);
    expect(b.bigMappings).toEqual(['64.1 of 102.8 MiB (the largest)', '2.9 of 3.0 MiB']);
  });
});
