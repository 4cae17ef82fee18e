/**
 * Property tests of every codec (test/fuzz/): round trips, any split of the bytes, and arbitrary input that may
 * only ever raise the codec's own error. FUZZ_RUNS sets the inputs per property (default 150); FUZZ_SEED replays
 * a failure (fast-check prints the seed and path).
 */
import fc from 'fast-check';
import { describe, it } from 'vitest';
import { CODECS } from '../../fuzz/codecs.ts';

const numRuns = Number(process.env.FUZZ_RUNS ?? 150);
const seed = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED);

for (const [codec, properties] of Object.entries(CODECS)) {
  describe(codec, () => {
    for (const p of properties) it(p.name, () => fc.assert(p.property, { numRuns, seed }), 60_000);
  });
}
