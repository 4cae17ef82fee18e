import { defineConfig } from 'vitest/config';

// Integration files run two at a time but one per lane (test/support/lane.ts): a timed or machine-loading file
// beside a loopback one. A third worker keeps both lanes busy while one waits for its lane.
const integration = { pool: 'forks' as const, testTimeout: 60_000, hookTimeout: 60_000, setupFiles: 'test/support/lane.ts' };

export default defineConfig({
  test: {
    maxWorkers: 3,
    projects: [
      {
        extends: true,
        test: { name: 'unit', include: ['test/unit/**/*.test.ts'] },
      },
      {
        extends: true,
        test: { name: 'integration', include: ['test/integration/**/*.test.ts'], ...integration },
      },
      {
        // the differential suites and a few replication suites again with repcache -t 4 on both sides (worker threads
        // over one store; with replication, a replication thread beside them), after the rest
        extends: true,
        test: {
          name: 'integration-t4',
          include: [
            'test/integration/repcache-differential.test.ts',
            'test/integration/repcache-binary-differential.test.ts',
            'test/integration/repcache-random-differential.test.ts',
            'test/integration/repcache-stats-differential.test.ts',
            'test/integration/repcache-admin-differential.test.ts',
            'test/integration/repcache-memjs.test.ts',
            'test/integration/repcache-compat.test.ts',
            'test/integration/replication-counters.test.ts',
            'test/integration/replication-binary.test.ts',
            'test/integration/replication-pair.test.ts',
            'test/integration/repcache-metrics.test.ts',
            'test/integration/replication-tls.test.ts',
            'test/integration/replication-strangers.test.ts',
          ],
          env: { REPCACHE_TEST_THREADS: '4' },
          sequence: { groupOrder: 1 },
          ...integration,
        },
      },
    ],
  },
});
