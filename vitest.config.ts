import { defineConfig } from 'vitest/config';

// Two projects: unit tests are pure and fast; integration tests share one real Temporal
// dev server and one real PostgreSQL started by test/integration/globalSetup.ts.
export default defineConfig({
  test: {
    reporters: ['default', './test/support/countReporter.ts'],
    projects: [
      {
        test: {
          name: 'unit',
          include: [
            '{domain,ledger,workflows,activities,agencies,api,cli,infra,web}/**/*.test.ts',
            'test/unit/**/*.test.ts',
          ],
          environment: 'node',
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          globalSetup: ['test/integration/globalSetup.ts'],
          // Forks, one file at a time: Temporal workers are heavy and the threads pool has
          // crashed with WebAssembly out-of-memory errors (shared/TEMPORAL-NOTES.md).
          pool: 'forks',
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 600_000,
        },
      },
    ],
  },
});
